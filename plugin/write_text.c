/*-------------------------------------------------------------------------
 *
 * write_text.c
 *		The text writer: one readable line per record, in the manner of
 *		test_decoding, for pg_recvlogical -o format=text and for reading
 *		a slot in psql.  Not meant to be parsed; use msgpack or json.
 *
 * IDENTIFICATION
 *		plugin/write_text.c
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/float.h"

#include "format.h"
#include "writer.h"

/* A quoted literal, '' for quotes; the text is in the database encoding. */
static void
text_append_quoted(StringInfo out, const char *ptr, Size len)
{
	appendStringInfoCharMacro(out, '\'');
	for (Size i = 0; i < len; i++)
	{
		if (ptr[i] == '\'')
			appendStringInfoCharMacro(out, '\'');
		appendStringInfoCharMacro(out, ptr[i]);
	}
	appendStringInfoCharMacro(out, '\'');
}

static void
text_append_hex(StringInfo out, const char *ptr, Size len)
{
	appendStringInfoString(out, "'\\x");
	value_append_hex_digits(out, ptr, len);
	appendStringInfoCharMacro(out, '\'');
}

static void
text_append_value(StringInfo out, const WalbridgeValue *value)
{
	switch (value->type)
	{
		case WB_VALUE_NULL:
			appendStringInfoString(out, "null");
			break;
		case WB_VALUE_UNCHANGED_TOAST:
			appendStringInfoString(out, "unchanged-toast-datum");
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
			appendStringInfoString(out,
								   DatumGetCString(DirectFunctionCall1(float4out,
																	   Float4GetDatum(value->v.f4))));
			break;
		case WB_VALUE_FLOAT8:
			appendStringInfoString(out, float8out_internal(value->v.f8));
			break;
		case WB_VALUE_BYTES:
			text_append_hex(out, value->v.s.ptr, value->v.s.len);
			break;
		case WB_VALUE_TEXT:
			text_append_quoted(out, value->v.s.ptr, value->v.s.len);
			break;
		case WB_VALUE_TIMESTAMP:
		case WB_VALUE_TIMESTAMPTZ:
			{
				const char *text = value_timestamp_text(value);

				text_append_quoted(out, text, strlen(text));
				break;
			}
	}
}

static void
text_write_begin(StringInfo out, const WalbridgeBegin *begin)
{
	appendStringInfo(out, "BEGIN %u commit_lsn %X/%X commit_time %s",
					 begin->xid, LSN_FORMAT_ARGS(begin->commit_lsn),
					 timestamptz_to_str(begin->commit_time));
	if (begin->has_origin)
		appendStringInfo(out, " origin %s (id %d, lsn %X/%X)",
						 quote_identifier(begin->origin_name), begin->origin_id,
						 LSN_FORMAT_ARGS(begin->origin_lsn));
}

static void
text_append_relname(StringInfo out, const WalbridgeRelation *rel)
{
	appendStringInfoString(out,
						   quote_qualified_identifier(rel->schema, rel->table));
}

static void
text_write_relation(StringInfo out, const WalbridgeRelation *rel)
{
	const char *replident = "default";

	switch (rel->replident)
	{
		case WB_REPLIDENT_FULL:
			replident = "full";
			break;
		case WB_REPLIDENT_INDEX:
			replident = "index";
			break;
		case WB_REPLIDENT_NOTHING:
			replident = "nothing";
			break;
	}
	appendStringInfoString(out, "RELATION ");
	text_append_relname(out, rel);
	appendStringInfo(out, " (relid %u, replica identity %s):", rel->relid, replident);
	for (int i = 0; i < rel->ncolumns; i++)
	{
		const WalbridgeColumn *col = &rel->columns[i];

		appendStringInfo(out, "%s %s[%s]%s%s", i > 0 ? "," : "",
						 quote_identifier(col->name), col->typname,
						 (col->flags & WB_COLUMN_IDENTITY) ? " identity" : "",
						 (col->flags & WB_COLUMN_PRIMARY_KEY) ? " primary-key" : "");
	}
}

static void
text_append_tuple(StringInfo out, const WalbridgeChange *change,
				  const WalbridgeTuple *tuple, bool old)
{
	const WalbridgeRelation *rel = change->rel;

	for (int i = 0; i < rel->ncolumns; i++)
	{
		const WalbridgeColumn *col = &rel->columns[i];
		WalbridgeValue value;

		if (old && !writer_column_in_old(change, col))
			continue;
		value_extract(col, tuple, &value);
		appendStringInfo(out, " %s[%s]:", quote_identifier(col->name), col->typname);
		text_append_value(out, &value);
	}
}

static void
text_write_change(StringInfo out, const WalbridgeChange *change)
{
	appendStringInfoString(out, "table ");
	text_append_relname(out, change->rel);
	switch (change->tag)
	{
		case WB_REC_INSERT:
			appendStringInfoString(out, ": INSERT:");
			break;
		case WB_REC_UPDATE:
			appendStringInfoString(out, ": UPDATE:");
			break;
		case WB_REC_SNAPSHOT:
			appendStringInfoString(out, ": SNAPSHOT:");
			break;
		default:
			appendStringInfoString(out, ": DELETE:");
			break;
	}
	if (change->old_kind != '\0')
	{
		appendStringInfoString(out, change->old_kind == WB_OLD_FULL ?
							   " old-tuple:" : " old-key:");
		text_append_tuple(out, change, change->old, true);
	}
	if (change->tag == WB_REC_UPDATE)
		appendStringInfoString(out, " new-tuple:");
	if (change->new != NULL)
		text_append_tuple(out, change, change->new, false);
	else if (change->old_kind == '\0')
		appendStringInfoString(out, " (no-tuple-data)");
}

static void
text_write_truncate(StringInfo out, int nrels,
					WalbridgeRelation *const *rels, uint32 flags)
{
	appendStringInfoString(out, "table ");
	for (int i = 0; i < nrels; i++)
	{
		if (i > 0)
			appendStringInfoString(out, ", ");
		text_append_relname(out, rels[i]);
	}
	appendStringInfoString(out, ": TRUNCATE:");
	if (flags & WB_TRUNCATE_CASCADE)
		appendStringInfoString(out, " cascade");
	if (flags & WB_TRUNCATE_RESTART_SEQS)
		appendStringInfoString(out, " restart_seqs");
	if (flags == 0)
		appendStringInfoString(out, " (no-flags)");
}

/*
 * Message content is arbitrary bytes: shown quoted when it is valid text
 * with no control characters (so it stays on one line), else in hex.
 */
static void
text_write_message(StringInfo out, const WalbridgeMessage *message)
{
	bool		printable = pg_verifymbstr(message->content,
										   (int) message->content_size, true);

	for (Size i = 0; printable && i < message->content_size; i++)
		if ((unsigned char) message->content[i] < 0x20)
			printable = false;

	appendStringInfo(out, "MESSAGE %s lsn %X/%X prefix %s size %zu content ",
					 message->transactional ? "transactional" : "non-transactional",
					 LSN_FORMAT_ARGS(message->lsn), quote_identifier(message->prefix),
					 message->content_size);
	if (printable)
		text_append_quoted(out, message->content, message->content_size);
	else
		text_append_hex(out, message->content, message->content_size);
}

static void
text_write_commit(StringInfo out, const WalbridgeCommit *commit)
{
	appendStringInfo(out, "COMMIT %u commit_lsn %X/%X end_lsn %X/%X commit_time %s",
					 commit->xid, LSN_FORMAT_ARGS(commit->commit_lsn),
					 LSN_FORMAT_ARGS(commit->end_lsn),
					 timestamptz_to_str(commit->commit_time));
}

const WalbridgeWriter text_writer = {
	.begin = text_write_begin,
	.relation = text_write_relation,
	.change = text_write_change,
	.truncate = text_write_truncate,
	.message = text_write_message,
	.commit = text_write_commit,
};
