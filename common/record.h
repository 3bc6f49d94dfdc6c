/*-------------------------------------------------------------------------
 *
 * record.h
 *		Parse and validate one walbridge record (common/format.h).
 *
 * wb_record_parse() checks the whole record: its tag, the number and types
 * of its fields, every column description and every tuple value, and that
 * nothing follows it.  After it succeeds, the cursors it leaves in the
 * struct can be walked with wb_record_next_column() and wb_record_next_value()
 * without further error handling.  Nothing is allocated: strings point into
 * the caller's buffer, which must outlive the struct.
 *
 * IDENTIFICATION
 *		common/record.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_RECORD_H
#define WALBRIDGE_RECORD_H

#include "format.h"
#include "mpread.h"

typedef struct wb_str
{
	const char *ptr;			/* NULL for nil; not NUL-terminated */
	uint32_t	len;
} wb_str;

/* A tuple: count values, read one by one from the cursor. */
typedef struct wb_tuple
{
	bool		present;		/* false where the field is nil */
	uint32_t	count;
	wb_mpcur	values;
} wb_tuple;

typedef struct wb_column
{
	wb_str		name;
	uint32_t	type_oid;
	wb_str		type_name;
	int32_t		typmod;
	uint32_t	flags;			/* WB_COLUMN_* */
} wb_column;

typedef struct wb_value
{
	wb_mpobj	obj;			/* nil, bool, int, float, str, bin or ext */
	bool		unchanged_toast;	/* the WB_EXT_UNCHANGED_TOAST marker */
	int			timestamp_ext;	/* WB_EXT_TIMESTAMP(TZ), or 0 */
	int64_t		timestamp;		/* usecs since 2000-01-01, when set */
} wb_value;

typedef struct wb_record
{
	char		tag;			/* WB_REC_* */
	union
	{
		struct
		{
			uint32_t	version;
			uint32_t	xid;
			uint64_t	commit_lsn;
			int64_t		commit_time;	/* usecs since the Unix epoch */
			bool		has_origin;
			uint32_t	origin_id;
			wb_str		origin_name;	/* ptr NULL without origin */
			uint64_t	origin_lsn;
		}			begin;
		struct
		{
			uint32_t	relid;
			wb_str		schema;
			wb_str		table;
			char		replident;		/* WB_REPLIDENT_* */
			uint32_t	ncolumns;
			wb_mpcur	columns;
		}			relation;
		struct
		{
			uint32_t	relid;
			char		old_kind;		/* WB_OLD_* or '\0' for none */
			wb_tuple	old;
			wb_tuple	new;			/* absent for DELETE */
			int64_t		commit_time;	/* SNAPSHOT: the row's commit time on
										 * its source, usecs since the Unix
										 * epoch; 0 when unknown (frozen,
										 * older than track_commit_timestamp,
										 * or a record from before the field) */
		}			change;
		struct
		{
			uint32_t	flags;			/* WB_TRUNCATE_* */
			uint32_t	nrelids;
			wb_mpcur	relids;
		}			truncate;
		struct
		{
			bool		transactional;
			uint64_t	lsn;
			wb_str		prefix;
			wb_str		content;
		}			message;
		struct
		{
			uint32_t	xid;
			uint64_t	commit_lsn;
			uint64_t	end_lsn;
			int64_t		commit_time;
		}			commit;
	}			u;
} wb_record;

#define WB_RECORD_ERRLEN	256

extern bool wb_record_parse(const void *buf, size_t len, wb_record *rec,
							char *errbuf, size_t errlen);
extern void wb_record_next_column(wb_mpcur *cur, wb_column *col);
extern void wb_record_next_value(wb_mpcur *cur, wb_value *val);
extern uint32_t wb_record_next_relid(wb_mpcur *cur);
extern const char *wb_record_tag_name(char tag);

#endif							/* WALBRIDGE_RECORD_H */
