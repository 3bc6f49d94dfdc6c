/*-------------------------------------------------------------------------
 *
 * write_json.c
 *		The json writer: one JSON object per record, the same shape that
 *		walbridge.decode() gives for a msgpack record (docs/FORMAT.md).
 *
 * Numbers stay numbers, except float NaN and infinities, which JSON cannot
 * hold: they are the strings "NaN", "Infinity" and "-Infinity", as in
 * PostgreSQL's own float output.  bytea is its hex text form.  An
 * unchanged TOASTed value is {"unchanged_toast": true}, which no column
 * value can be (json and jsonb values are sent as their text).
 *
 * IDENTIFICATION
 *		plugin/write_json.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "format.h"
#include "json.h"
#include "writer.h"

/*
 * A JSON string from len bytes.  Control characters are escaped; bytes
 * above 0x7f pass through, so multibyte text stays as it is.
 */
void
json_append_string(StringInfo out, const char *ptr, Size len)
{
	appendStringInfoCharMacro(out, '"');
	for (Size i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) ptr[i];

		switch (c)
		{
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			default:
				if (c < 0x20)
					appendStringInfo(out, "\\u%04x", c);
				else
					appendStringInfoCharMacro(out, (char) c);
				break;
		}
	}
	appendStringInfoCharMacro(out, '"');
}


static void
json_append_cstring(StringInfo out, const char *s)
{
	if (s == NULL)
		appendStringInfoString(out, "null");
	else
		json_append_string(out, s, strlen(s));
}

/* The float's shortest exact text; non-finite ones as JSON strings. */
static void
json_append_float(StringInfo out, const char *text)
{
	if (strcmp(text, "NaN") == 0 || strcmp(text, "Infinity") == 0 ||
		strcmp(text, "-Infinity") == 0)
		json_append_cstring(out, text);
	else
		appendStringInfoString(out, text);
}

void
json_append_value(StringInfo out, const WalbridgeValue *value)
{
	switch (value->type)
	{
		case WB_VALUE_NULL:
			appendStringInfoString(out, "null");
			break;
		case WB_VALUE_UNCHANGED_TOAST:
			appendStringInfoString(out, "{\"unchanged_toast\": true}");
			break;
		case WB_VALUE_BOOL:
			appendStringInfoString(out, value->v.b ? "true" : "false");
			break;
		case WB_VALUE_INT:
			appendStringInfo(out, INT64_FORMAT, value->v.i);
			break;
		case WB_VALUE_UINT:
			appendStringInfo(out, UINT64_FORMAT, value->v.u);
			break;
		case WB_VALUE_FLOAT4:
			json_append_float(out,
							  DatumGetCString(DirectFunctionCall1(float4out,
																  Float4GetDatum(value->v.f4))));
			break;
		case WB_VALUE_FLOAT8:
			json_append_float(out, float8out_internal(value->v.f8));
			break;
		case WB_VALUE_BYTES:
			/* bytea's hex text form, its backslash escaped for JSON */
			appendStringInfoString(out, "\"\\\\x");
			value_append_hex_digits(out, value->v.s.ptr, value->v.s.len);
			appendStringInfoCharMacro(out, '"');
			break;
		case WB_VALUE_TEXT:
			json_append_string(out, value->v.s.ptr, value->v.s.len);
			break;
		case WB_VALUE_TIMESTAMP:
		case WB_VALUE_TIMESTAMPTZ:
			json_append_cstring(out, value_timestamp_text(value));
			break;
	}
}

static void
json_append_lsn(StringInfo out, XLogRecPtr lsn)
{
	appendStringInfo(out, "\"%X/%X\"", LSN_FORMAT_ARGS(lsn));
}

static void
json_append_timestamp(StringInfo out, TimestampTz t)
{
	json_append_cstring(out, timestamptz_to_str(t));
}

static const char *
replident_name(char replident)
{
	switch (replident)
	{
		case WB_REPLIDENT_DEFAULT:
			return "default";
		case WB_REPLIDENT_FULL:
			return "full";
		case WB_REPLIDENT_INDEX:
			return "index";
		case WB_REPLIDENT_NOTHING:
			return "nothing";
	}
	return "unknown";
}

static void
json_write_begin(StringInfo out, const WalbridgeBegin *begin)
{
	appendStringInfo(out,
					 "{\"kind\": \"begin\", \"format_version\": %d, \"xid\": %u, \"commit_lsn\": ",
					 WALBRIDGE_FORMAT_VERSION, begin->xid);
	json_append_lsn(out, begin->commit_lsn);
	appendStringInfoString(out, ", \"commit_time\": ");
	json_append_timestamp(out, begin->commit_time);
	if (begin->has_origin)
	{
		appendStringInfo(out, ", \"origin_id\": %d, \"origin\": ", begin->origin_id);
		json_append_cstring(out, begin->origin_name);
		appendStringInfoString(out, ", \"origin_lsn\": ");
		json_append_lsn(out, begin->origin_lsn);
	}
	else
		appendStringInfoString(out, ", \"origin_id\": null, \"origin\": null, \"origin_lsn\": null");
	appendStringInfoChar(out, '}');
}

static void
json_write_relation(StringInfo out, const WalbridgeRelation *rel)
{
	appendStringInfo(out, "{\"kind\": \"relation\", \"relid\": %u, \"schema\": ", rel->relid);
	json_append_cstring(out, rel->schema);
	appendStringInfoString(out, ", \"table\": ");
	json_append_cstring(out, rel->table);
	appendStringInfo(out, ", \"replica_identity\": \"%s\", \"columns\": [",
					 replident_name(rel->replident));
	for (int i = 0; i < rel->ncolumns; i++)
	{
		const WalbridgeColumn *col = &rel->columns[i];

		appendStringInfoString(out, i > 0 ? ", {\"name\": " : "{\"name\": ");
		json_append_cstring(out, col->name);
		appendStringInfo(out, ", \"type_oid\": %u, \"type\": ", col->typid);
		json_append_cstring(out, col->typname);
		appendStringInfo(out, ", \"typmod\": %d, \"identity\": %s, \"primary_key\": %s}",
						 col->typmod,
						 (col->flags & WB_COLUMN_IDENTITY) ? "true" : "false",
						 (col->flags & WB_COLUMN_PRIMARY_KEY) ? "true" : "false");
	}
	appendStringInfoString(out, "]}");
}

void
json_change_start(StringInfo out, char tag, Oid relid)
{
	const char *kind = (tag == WB_REC_INSERT) ? "insert" :
		(tag == WB_REC_UPDATE) ? "update" :
		(tag == WB_REC_SNAPSHOT) ? "snapshot" : "delete";

	appendStringInfo(out, "{\"kind\": \"%s\", \"relid\": %u", kind, relid);
}

void
json_change_no_old(StringInfo out)
{
	appendStringInfoString(out, ", \"old_kind\": null, \"old\": null");
}

/* old_kind '\0' starts the new tuple, anything else the old one. */
void
json_tuple_start(StringInfo out, char old_kind)
{
	if (old_kind == '\0')
		appendStringInfoString(out, ", \"new\": [");
	else
		appendStringInfo(out, ", \"old_kind\": \"%s\", \"old\": [",
						 old_kind == WB_OLD_FULL ? "full" : "key");
}

void
json_tuple_value(StringInfo out, int index, const WalbridgeValue *value)
{
	if (index > 0)
		appendStringInfoString(out, ", ");
	json_append_value(out, value);
}

void
json_tuple_end(StringInfo out)
{
	appendStringInfoChar(out, ']');
}

/* SNAPSHOT's commit time: null when not known (0). */
void
json_change_commit_time(StringInfo out, TimestampTz t)
{
	appendStringInfoString(out, ", \"commit_time\": ");
	if (t == 0)
		appendStringInfoString(out, "null");
	else
		json_append_timestamp(out, t);
}

void
json_change_end(StringInfo out)
{
	appendStringInfoChar(out, '}');
}

static void
json_write_tuple(StringInfo out, const WalbridgeChange *change,
				 const WalbridgeTuple *tuple, char old_kind)
{
	const WalbridgeRelation *rel = change->rel;
	int			n = 0;

	json_tuple_start(out, old_kind);
	for (int i = 0; i < rel->ncolumns; i++)
	{
		WalbridgeValue value;

		if (old_kind != '\0' && !writer_column_in_old(change, &rel->columns[i]))
			continue;
		value_extract(&rel->columns[i], tuple, &value);
		json_tuple_value(out, n++, &value);
	}
	json_tuple_end(out);
}

static void
json_write_change(StringInfo out, const WalbridgeChange *change)
{
	json_change_start(out, change->tag, change->rel->relid);
	if (change->tag == WB_REC_UPDATE || change->tag == WB_REC_DELETE)
	{
		if (change->old_kind == '\0')
			json_change_no_old(out);
		else
			json_write_tuple(out, change, change->old, change->old_kind);
	}
	if (change->tag != WB_REC_DELETE)
		json_write_tuple(out, change, change->new, '\0');
	if (change->tag == WB_REC_SNAPSHOT)
		json_change_commit_time(out, change->commit_time);
	json_change_end(out);
}

static void
json_write_truncate(StringInfo out, int nrels,
					WalbridgeRelation *const *rels, uint32 flags)
{
	appendStringInfo(out,
					 "{\"kind\": \"truncate\", \"cascade\": %s, \"restart_identity\": %s, \"relids\": [",
					 (flags & WB_TRUNCATE_CASCADE) ? "true" : "false",
					 (flags & WB_TRUNCATE_RESTART_SEQS) ? "true" : "false");
	for (int i = 0; i < nrels; i++)
		appendStringInfo(out, i > 0 ? ", %u" : "%u", rels[i]->relid);
	appendStringInfoString(out, "]}");
}

static void
json_write_message(StringInfo out, const WalbridgeMessage *message)
{
	WalbridgeValue content;

	appendStringInfo(out, "{\"kind\": \"message\", \"transactional\": %s, \"lsn\": ",
					 message->transactional ? "true" : "false");
	json_append_lsn(out, message->lsn);
	appendStringInfoString(out, ", \"prefix\": ");
	json_append_cstring(out, message->prefix);
	appendStringInfoString(out, ", \"content\": ");
	content.type = WB_VALUE_BYTES;
	content.v.s.ptr = message->content;
	content.v.s.len = message->content_size;
	json_append_value(out, &content);
	appendStringInfoChar(out, '}');
}

static void
json_write_commit(StringInfo out, const WalbridgeCommit *commit)
{
	appendStringInfo(out, "{\"kind\": \"commit\", \"xid\": %u, \"commit_lsn\": ", commit->xid);
	json_append_lsn(out, commit->commit_lsn);
	appendStringInfoString(out, ", \"end_lsn\": ");
	json_append_lsn(out, commit->end_lsn);
	appendStringInfoString(out, ", \"commit_time\": ");
	json_append_timestamp(out, commit->commit_time);
	appendStringInfoChar(out, '}');
}

const WalbridgeWriter json_writer = {
	.begin = json_write_begin,
	.relation = json_write_relation,
	.change = json_write_change,
	.truncate = json_write_truncate,
	.message = json_write_message,
	.commit = json_write_commit,
};
