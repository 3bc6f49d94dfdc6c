/*-------------------------------------------------------------------------
 *
 * decode_sql.c
 *		walbridge.decode(bytea) RETURNS jsonb: one msgpack record as the
 *		JSON that format=json would have written for it.
 *
 * The record is validated in full by common/record.c before anything is
 * rendered, so any malformed input is an ERROR naming what was wrong and
 * where, never a crash.
 *
 * IDENTIFICATION
 *		plugin/decode_sql.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"

#include "json.h"
#include "record.h"
#include "writer.h"

PG_FUNCTION_INFO_V1(walbridge_decode);

static TimestampTz
from_unix_usecs(int64_t usecs)
{
	return (TimestampTz) (usecs - WB_PG_EPOCH_OFFSET_USECS);
}

/* Record strings are UTF-8; the text we hand back is in the database's. */
static char *
to_cstring(wb_str s)
{
	char	   *converted;

	if (s.ptr == NULL)
		return NULL;
	/* verifies the bytes (a NUL or bad UTF-8 is an ERROR) and converts */
	converted = pg_any_to_server(s.ptr, (int) s.len, PG_UTF8);
	if (converted == s.ptr)
		converted = pnstrdup(s.ptr, s.len);
	return converted;
}

static void
value_from_msgpack(const wb_value *in, WalbridgeValue *out)
{
	const wb_mpobj *obj = &in->obj;

	if (in->unchanged_toast)
	{
		out->type = WB_VALUE_UNCHANGED_TOAST;
		return;
	}
	if (in->timestamp_ext != 0)
	{
		out->type = in->timestamp_ext == WB_EXT_TIMESTAMP ?
			WB_VALUE_TIMESTAMP : WB_VALUE_TIMESTAMPTZ;
		out->v.ts = in->timestamp;	/* PostgreSQL epoch, as stored */
		return;
	}
	switch (obj->type)
	{
		case WB_MP_NIL:
			out->type = WB_VALUE_NULL;
			break;
		case WB_MP_BOOL:
			out->type = WB_VALUE_BOOL;
			out->v.b = obj->v.b;
			break;
		case WB_MP_UINT:
			out->type = WB_VALUE_UINT;
			out->v.u = obj->v.u;
			break;
		case WB_MP_INT:
			out->type = WB_VALUE_INT;
			out->v.i = obj->v.i;
			break;
		case WB_MP_FLOAT32:
			out->type = WB_VALUE_FLOAT4;
			out->v.f4 = obj->v.f32;
			break;
		case WB_MP_FLOAT64:
			out->type = WB_VALUE_FLOAT8;
			out->v.f8 = obj->v.f64;
			break;
		case WB_MP_BIN:
			out->type = WB_VALUE_BYTES;
			out->v.s.ptr = obj->v.raw.ptr;
			out->v.s.len = obj->v.raw.len;
			break;
		default:
			{
				char	   *text = to_cstring((wb_str)
											  {obj->v.raw.ptr, obj->v.raw.len});

				out->type = WB_VALUE_TEXT;
				out->v.s.ptr = text;
				out->v.s.len = strlen(text);
				break;
			}
	}
}

static void
render_tuple(StringInfo out, const wb_tuple *tuple, char old_kind)
{
	wb_mpcur	cur = tuple->values;

	json_tuple_start(out, old_kind);
	for (uint32_t i = 0; i < tuple->count; i++)
	{
		wb_value	in;
		WalbridgeValue value;

		wb_record_next_value(&cur, &in);
		value_from_msgpack(&in, &value);
		json_tuple_value(out, (int) i, &value);
	}
	json_tuple_end(out);
}

static void
render_change(StringInfo out, const wb_record *rec)
{
	json_change_start(out, rec->tag, rec->u.change.relid);
	if (rec->tag == WB_REC_UPDATE || rec->tag == WB_REC_DELETE)
	{
		if (rec->u.change.old_kind == '\0')
			json_change_no_old(out);
		else
			render_tuple(out, &rec->u.change.old, rec->u.change.old_kind);
	}
	if (rec->tag != WB_REC_DELETE)
		render_tuple(out, &rec->u.change.new, '\0');
	if (rec->tag == WB_REC_SNAPSHOT)
		json_change_commit_time(out, rec->u.change.commit_time == 0 ? 0 :
								from_unix_usecs(rec->u.change.commit_time));
	json_change_end(out);
}

static void
render_relation(StringInfo out, const wb_record *rec)
{
	WalbridgeRelation rel = {0};
	wb_mpcur	cur = rec->u.relation.columns;

	rel.relid = rec->u.relation.relid;
	rel.schema = to_cstring(rec->u.relation.schema);
	rel.table = to_cstring(rec->u.relation.table);
	rel.replident = rec->u.relation.replident;
	rel.ncolumns = (int) rec->u.relation.ncolumns;
	rel.columns = palloc0(sizeof(WalbridgeColumn) * Max(rel.ncolumns, 1));
	for (int i = 0; i < rel.ncolumns; i++)
	{
		wb_column	col;

		wb_record_next_column(&cur, &col);
		rel.columns[i].name = to_cstring(col.name);
		rel.columns[i].typid = col.type_oid;
		rel.columns[i].typname = to_cstring(col.type_name);
		rel.columns[i].typmod = col.typmod;
		rel.columns[i].flags = (uint8) col.flags;
	}
	json_writer.relation(out, &rel);
}

static void
render_truncate(StringInfo out, const wb_record *rec)
{
	int			nrels = (int) rec->u.truncate.nrelids;
	WalbridgeRelation *rels = palloc0(sizeof(WalbridgeRelation) * Max(nrels, 1));
	WalbridgeRelation **relp = palloc(sizeof(WalbridgeRelation *) * Max(nrels, 1));
	wb_mpcur	cur = rec->u.truncate.relids;

	for (int i = 0; i < nrels; i++)
	{
		rels[i].relid = wb_record_next_relid(&cur);
		relp[i] = &rels[i];
	}
	json_writer.truncate(out, nrels, relp, rec->u.truncate.flags);
}

static void
render_record(StringInfo out, const wb_record *rec)
{
	switch (rec->tag)
	{
		case WB_REC_BEGIN:
			{
				WalbridgeBegin begin;

				begin.xid = rec->u.begin.xid;
				begin.commit_lsn = rec->u.begin.commit_lsn;
				begin.commit_time = from_unix_usecs(rec->u.begin.commit_time);
				begin.has_origin = rec->u.begin.has_origin;
				begin.origin_id = (int) rec->u.begin.origin_id;
				begin.origin_name = to_cstring(rec->u.begin.origin_name);
				begin.origin_lsn = rec->u.begin.origin_lsn;
				json_writer.begin(out, &begin);
				break;
			}
		case WB_REC_RELATION:
			render_relation(out, rec);
			break;
		case WB_REC_TRUNCATE:
			render_truncate(out, rec);
			break;
		case WB_REC_MESSAGE:
			{
				WalbridgeMessage message;

				message.transactional = rec->u.message.transactional;
				message.lsn = rec->u.message.lsn;
				message.prefix = to_cstring(rec->u.message.prefix);
				message.content = rec->u.message.content.ptr;
				message.content_size = rec->u.message.content.len;
				json_writer.message(out, &message);
				break;
			}
		case WB_REC_COMMIT:
			{
				WalbridgeCommit commit;

				commit.xid = rec->u.commit.xid;
				commit.commit_lsn = rec->u.commit.commit_lsn;
				commit.end_lsn = rec->u.commit.end_lsn;
				commit.commit_time = from_unix_usecs(rec->u.commit.commit_time);
				json_writer.commit(out, &commit);
				break;
			}
		default:
			render_change(out, rec);
			break;
	}
}

Datum
walbridge_decode(PG_FUNCTION_ARGS)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	wb_record	rec;
	char		errbuf[WB_RECORD_ERRLEN];
	StringInfoData out;

	if (!wb_record_parse(VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), &rec,
						 errbuf, sizeof(errbuf)))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_BINARY_REPRESENTATION),
				 errmsg("invalid walbridge record"),
				 errdetail("%s", errbuf),
				 errhint("walbridge.decode() reads one record of the msgpack format, as returned by pg_logical_slot_get_binary_changes() for a walbridge slot.")));

	initStringInfo(&out);
	render_record(&out, &rec);
	PG_RETURN_DATUM(DirectFunctionCall1(jsonb_in, CStringGetDatum(out.data)));
}
