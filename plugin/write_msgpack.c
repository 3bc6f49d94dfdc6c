/*-------------------------------------------------------------------------
 *
 * write_msgpack.c
 *		The msgpack writer: compact binary records (docs/FORMAT.md).
 *
 * The packer appends straight into ctx->out, so a record is never built
 * twice.  msgpack-c's pack functions are header-only and do not allocate.
 * Strings are sent as UTF-8 whatever the database encoding, as msgpack
 * requires of str.
 *
 * IDENTIFICATION
 *		plugin/write_msgpack.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <msgpack.h>

#include "mb/pg_wchar.h"

#include "format.h"
#include "writer.h"

static int
append_to_stringinfo(void *data, const char *buf, size_t len)
{
	appendBinaryStringInfo((StringInfo) data, buf, (int) len);
	return 0;
}

static inline void
packer_init(msgpack_packer *pk, StringInfo out)
{
	msgpack_packer_init(pk, out, append_to_stringinfo);
}

static void
pack_text(msgpack_packer *pk, const char *ptr, Size len)
{
	int			encoding = GetDatabaseEncoding();

	if (encoding != PG_UTF8 && encoding != PG_SQL_ASCII)
	{
		char	   *utf8 = pg_server_to_any(ptr, (int) len, PG_UTF8);

		if (utf8 != ptr)
		{
			ptr = utf8;
			len = strlen(utf8);
		}
	}
	msgpack_pack_str_with_body(pk, ptr, len);
}

static void
pack_cstring(msgpack_packer *pk, const char *s)
{
	pack_text(pk, s, strlen(s));
}

static int64
unix_usecs(TimestampTz t)
{
	return (int64) t + WB_PG_EPOCH_OFFSET_USECS;
}

static void
msgpack_write_begin(StringInfo out, const WalbridgeBegin *begin)
{
	msgpack_packer pk;

	packer_init(&pk, out);
	msgpack_pack_array(&pk, WB_BEGIN_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_BEGIN);
	msgpack_pack_uint32(&pk, WALBRIDGE_FORMAT_VERSION);
	msgpack_pack_uint32(&pk, begin->xid);
	msgpack_pack_uint64(&pk, begin->commit_lsn);
	msgpack_pack_int64(&pk, unix_usecs(begin->commit_time));
	if (begin->has_origin)
	{
		msgpack_pack_uint32(&pk, (uint32) begin->origin_id);
		pack_cstring(&pk, begin->origin_name);
		msgpack_pack_uint64(&pk, begin->origin_lsn);
	}
	else
	{
		msgpack_pack_nil(&pk);
		msgpack_pack_nil(&pk);
		msgpack_pack_nil(&pk);
	}
}

static void
msgpack_write_relation(StringInfo out, const WalbridgeRelation *rel)
{
	msgpack_packer pk;

	packer_init(&pk, out);
	msgpack_pack_array(&pk, WB_RELATION_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_RELATION);
	msgpack_pack_uint32(&pk, rel->relid);
	pack_cstring(&pk, rel->schema);
	pack_cstring(&pk, rel->table);
	msgpack_pack_uint8(&pk, (uint8) rel->replident);
	msgpack_pack_array(&pk, rel->ncolumns);
	for (int i = 0; i < rel->ncolumns; i++)
	{
		const WalbridgeColumn *col = &rel->columns[i];

		msgpack_pack_array(&pk, WB_COLUMN_NFIELDS);
		pack_cstring(&pk, col->name);
		msgpack_pack_uint32(&pk, col->typid);
		pack_cstring(&pk, col->typname);
		msgpack_pack_int32(&pk, col->typmod);
		msgpack_pack_uint8(&pk, col->flags);
	}
}

static void
pack_value(msgpack_packer *pk, const WalbridgeValue *value)
{
	switch (value->type)
	{
		case WB_VALUE_NULL:
			msgpack_pack_nil(pk);
			break;
		case WB_VALUE_UNCHANGED_TOAST:
			msgpack_pack_ext(pk, 0, WB_EXT_UNCHANGED_TOAST);
			break;
		case WB_VALUE_BOOL:
			if (value->v.b)
				msgpack_pack_true(pk);
			else
				msgpack_pack_false(pk);
			break;
		case WB_VALUE_INT:
			msgpack_pack_int64(pk, value->v.i);
			break;
		case WB_VALUE_UINT:
			msgpack_pack_uint64(pk, value->v.u);
			break;
		case WB_VALUE_FLOAT4:
			msgpack_pack_float(pk, value->v.f4);
			break;
		case WB_VALUE_FLOAT8:
			msgpack_pack_double(pk, value->v.f8);
			break;
		case WB_VALUE_BYTES:
			msgpack_pack_bin_with_body(pk, value->v.s.ptr, value->v.s.len);
			break;
		case WB_VALUE_TIMESTAMP:
		case WB_VALUE_TIMESTAMPTZ:
			{
				char		body[WB_EXT_TIMESTAMP_LEN];
				uint64		bits = (uint64) value->v.ts;	/* PostgreSQL epoch */

				for (int i = WB_EXT_TIMESTAMP_LEN - 1; i >= 0; i--, bits >>= 8)
					body[i] = (char) (bits & 0xff);
				msgpack_pack_ext_with_body(pk, body, sizeof(body),
										   value->type == WB_VALUE_TIMESTAMP ?
										   WB_EXT_TIMESTAMP : WB_EXT_TIMESTAMPTZ);
				break;
			}
		case WB_VALUE_TEXT:
			pack_text(pk, value->v.s.ptr, value->v.s.len);
			break;
	}
}

/* A tuple: the relation's columns, or only its identity columns. */
static void
pack_tuple(msgpack_packer *pk, const WalbridgeChange *change,
		   const WalbridgeTuple *tuple, bool old)
{
	const WalbridgeRelation *rel = change->rel;
	int			count = 0;

	for (int i = 0; i < rel->ncolumns; i++)
		if (!old || writer_column_in_old(change, &rel->columns[i]))
			count++;

	msgpack_pack_array(pk, count);
	for (int i = 0; i < rel->ncolumns; i++)
	{
		WalbridgeValue value;

		if (old && !writer_column_in_old(change, &rel->columns[i]))
			continue;
		value_extract(&rel->columns[i], tuple, &value);
		pack_value(pk, &value);
	}
}

static void
msgpack_write_change(StringInfo out, const WalbridgeChange *change)
{
	msgpack_packer pk;

	packer_init(&pk, out);
	switch (change->tag)
	{
		case WB_REC_INSERT:
			msgpack_pack_array(&pk, WB_INSERT_NFIELDS);
			break;
		case WB_REC_SNAPSHOT:
			msgpack_pack_array(&pk, WB_SNAPSHOT_NFIELDS);
			break;
		case WB_REC_UPDATE:
			msgpack_pack_array(&pk, WB_UPDATE_NFIELDS);
			break;
		default:
			msgpack_pack_array(&pk, WB_DELETE_NFIELDS);
			break;
	}
	msgpack_pack_uint8(&pk, (uint8) change->tag);
	msgpack_pack_uint32(&pk, change->rel->relid);

	if (change->tag == WB_REC_UPDATE || change->tag == WB_REC_DELETE)
	{
		if (change->old_kind == '\0')
		{
			msgpack_pack_nil(&pk);
			msgpack_pack_nil(&pk);
		}
		else
		{
			msgpack_pack_uint8(&pk, (uint8) change->old_kind);
			pack_tuple(&pk, change, change->old, true);
		}
	}
	if (change->tag != WB_REC_DELETE)
		pack_tuple(&pk, change, change->new, false);
	if (change->tag == WB_REC_SNAPSHOT)
	{
		if (change->commit_time == 0)
			msgpack_pack_nil(&pk);
		else
			msgpack_pack_int64(&pk, unix_usecs(change->commit_time));
	}
}

static void
msgpack_write_truncate(StringInfo out, int nrels,
					   WalbridgeRelation *const *rels, uint32 flags)
{
	msgpack_packer pk;

	packer_init(&pk, out);
	msgpack_pack_array(&pk, WB_TRUNCATE_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_TRUNCATE);
	msgpack_pack_uint32(&pk, flags);
	msgpack_pack_array(&pk, nrels);
	for (int i = 0; i < nrels; i++)
		msgpack_pack_uint32(&pk, rels[i]->relid);
}

static void
msgpack_write_message(StringInfo out, const WalbridgeMessage *message)
{
	msgpack_packer pk;

	packer_init(&pk, out);
	msgpack_pack_array(&pk, WB_MESSAGE_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_MESSAGE);
	if (message->transactional)
		msgpack_pack_true(&pk);
	else
		msgpack_pack_false(&pk);
	msgpack_pack_uint64(&pk, message->lsn);
	pack_cstring(&pk, message->prefix);
	msgpack_pack_bin_with_body(&pk, message->content, message->content_size);
}

static void
msgpack_write_commit(StringInfo out, const WalbridgeCommit *commit)
{
	msgpack_packer pk;

	packer_init(&pk, out);
	msgpack_pack_array(&pk, WB_COMMIT_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_COMMIT);
	msgpack_pack_uint32(&pk, commit->xid);
	msgpack_pack_uint64(&pk, commit->commit_lsn);
	msgpack_pack_uint64(&pk, commit->end_lsn);
	msgpack_pack_int64(&pk, unix_usecs(commit->commit_time));
}

const WalbridgeWriter msgpack_writer = {
	.begin = msgpack_write_begin,
	.relation = msgpack_write_relation,
	.change = msgpack_write_change,
	.truncate = msgpack_write_truncate,
	.message = msgpack_write_message,
	.commit = msgpack_write_commit,
};
