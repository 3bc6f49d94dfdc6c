/*-------------------------------------------------------------------------
 *
 * writer.h
 *		The table of record writers, one per output format.
 *
 * walbridge.c decides what to send and brackets each record with
 * OutputPluginPrepareWrite/OutputPluginWrite; a writer only encodes one
 * record into ctx->out.  Writers get plain structs, not reorder buffer
 * internals, so walbridge.decode() can render through the same code.
 *
 * IDENTIFICATION
 *		plugin/writer.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_WRITER_H
#define WALBRIDGE_WRITER_H

#include "access/xlogdefs.h"
#include "lib/stringinfo.h"
#include "utils/timestamp.h"

#include "format.h"
#include "options.h"
#include "relcache.h"
#include "value.h"

typedef struct WalbridgeBegin
{
	TransactionId xid;
	XLogRecPtr	commit_lsn;
	TimestampTz commit_time;
	bool		has_origin;
	int			origin_id;
	const char *origin_name;	/* NULL without origin */
	XLogRecPtr	origin_lsn;
} WalbridgeBegin;

typedef struct WalbridgeCommit
{
	TransactionId xid;
	XLogRecPtr	commit_lsn;
	XLogRecPtr	end_lsn;
	TimestampTz commit_time;
} WalbridgeCommit;

typedef struct WalbridgeChange
{
	char		tag;			/* WB_REC_INSERT, _UPDATE, _DELETE or
								 * _SNAPSHOT */
	const WalbridgeRelation *rel;
	char		old_kind;		/* WB_OLD_KEY, WB_OLD_FULL, '\0' for none */
	const WalbridgeTuple *old;	/* NULL when old_kind is '\0' */
	const WalbridgeTuple *new;	/* NULL for DELETE */
	TimestampTz commit_time;	/* SNAPSHOT: when the row was written on
								 * this server; 0 when not known */
} WalbridgeChange;

typedef struct WalbridgeMessage
{
	bool		transactional;
	XLogRecPtr	lsn;
	const char *prefix;
	const char *content;
	Size		content_size;
} WalbridgeMessage;

typedef struct WalbridgeWriter
{
	void		(*begin) (StringInfo out, const WalbridgeBegin *begin);
	void		(*relation) (StringInfo out, const WalbridgeRelation *rel);
	void		(*change) (StringInfo out, const WalbridgeChange *change);
	void		(*truncate) (StringInfo out, int nrels,
							 WalbridgeRelation *const *rels, uint32 flags);
	void		(*message) (StringInfo out, const WalbridgeMessage *message);
	void		(*commit) (StringInfo out, const WalbridgeCommit *commit);
} WalbridgeWriter;

extern const WalbridgeWriter msgpack_writer;
extern const WalbridgeWriter text_writer;
extern const WalbridgeWriter json_writer;

/* Whether the old tuple holds only the identity columns or all of them. */
static inline bool
writer_column_in_old(const WalbridgeChange *change, const WalbridgeColumn *col)
{
	return change->old_kind == WB_OLD_FULL || (col->flags & WB_COLUMN_IDENTITY) != 0;
}

#endif							/* WALBRIDGE_WRITER_H */
