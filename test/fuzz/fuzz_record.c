/*
 * fuzz_record.c: libFuzzer target for the record reader shared by
 * walbridge.decode() and walbridged (common/mpread.c, common/record.c),
 * fed a whole Kafka message: records back to back, as apply reads them.
 * Every record that parses is walked to its last value and each value
 * turned into the text apply would send, so a reader that accepted what
 * it cannot walk shows up here (AddressSanitizer, UBSan).
 */
#include <stddef.h>
#include <stdint.h>

#include "sqltext.h"
#include "fuzz_message.h"

static void
walk_tuple(const wb_tuple *t, wb_buf *text)
{
	wb_mpcur	cur;

	if (!t->present)
		return;
	cur = t->values;
	for (uint32_t i = 0; i < t->count; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		buf_reset(text);
		if (!v.unchanged_toast)
			(void) sqltext_value(text, &v);
	}
}

static void
walk(const wb_record *rec, void *arg)
{
	wb_buf	   *text = arg;
	wb_mpcur	cur;

	switch (rec->tag)
	{
		case WB_REC_RELATION:
			cur = rec->u.relation.columns;
			for (uint32_t i = 0; i < rec->u.relation.ncolumns; i++)
			{
				wb_column	col;

				wb_record_next_column(&cur, &col);
				buf_reset(text);
				buf_append(text, col.name.ptr, col.name.len);
			}
			break;
		case WB_REC_INSERT:
		case WB_REC_SNAPSHOT:
		case WB_REC_UPDATE:
		case WB_REC_DELETE:
			walk_tuple(&rec->u.change.old, text);
			walk_tuple(&rec->u.change.new, text);
			break;
		case WB_REC_TRUNCATE:
			cur = rec->u.truncate.relids;
			for (uint32_t i = 0; i < rec->u.truncate.nrelids; i++)
				(void) wb_record_next_relid(&cur);
			break;
		default:
			break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static wb_buf text;

	for_each_record(data, size, walk, &text);
	return 0;
}
