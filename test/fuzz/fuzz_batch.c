/*
 * fuzz_batch.c: libFuzzer target for the bulk path of apply
 * (forwarder/batch.c) behind the record reader.  The first bytes describe
 * a relation (column count, flags, which columns are identity columns
 * GENERATED ALWAYS); the rest is a message whose changes are gathered as
 * apply gathers them, whatever their tuples hold.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../forwarder/batch.h"
#include "mpread.h"
#include "record.h"

#define MAX_COLS 16

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *names[MAX_COLS] = {"a", "b", "c", "d", "e", "f", "g", "h",
	"i", "j", "k", "l", "m", "n", "o", "p"};
	static char *types[MAX_COLS];
	uint32_t	flags[MAX_COLS];
	bool		always[MAX_COLS];
	wb_relmap	rm;
	wb_batch	b;
	wb_mpcur	cur;
	int			ncols;

	if (size < 1 + 2 * MAX_COLS)
		return 0;
	for (int i = 0; i < MAX_COLS; i++)
		types[i] = "text";
	ncols = data[0] % (MAX_COLS + 1);
	memset(&rm, 0, sizeof(rm));
	for (int i = 0; i < MAX_COLS; i++)
	{
		flags[i] = data[1 + i] & (WB_COLUMN_IDENTITY | WB_COLUMN_PRIMARY_KEY);
		always[i] = (data[1 + MAX_COLS + i] & 1) != 0;
		if (i < ncols)
		{
			rm.nidentity += (flags[i] & WB_COLUMN_IDENTITY) != 0;
			rm.any_always |= always[i];
		}
	}
	rm.relid = 16384;
	rm.local = "t";
	rm.ncols = ncols;
	rm.cols = names;
	rm.types = types;
	rm.flags = flags;
	rm.always = always;
	rm.batchable = true;
	data += 1 + 2 * MAX_COLS;
	size -= 1 + 2 * MAX_COLS;

	memset(&b, 0, sizeof(b));
	wb_mp_init(&cur, (const char *) data, size);
	while (!wb_mp_at_end(&cur))
	{
		size_t		start = wb_mp_offset(&cur);
		wb_record	rec;
		char		err[WB_RECORD_ERRLEN];

		if (wb_mp_skip(&cur) != WB_MP_OK)
			break;
		if (!wb_record_parse((const char *) data + start, wb_mp_offset(&cur) - start, &rec, err, sizeof(err)))
			continue;
		if (rec.tag != WB_REC_INSERT && rec.tag != WB_REC_SNAPSHOT &&
			rec.tag != WB_REC_UPDATE && rec.tag != WB_REC_DELETE)
			continue;
		/* apply checks the new tuple's width before anything else */
		if (rec.u.change.new.present && rec.u.change.new.count != (uint32_t) ncols)
			continue;
		if (b.rows > 0 && !batch_accepts(&b, &rm, &rec))
			batch_reset(&b);
		if (batch_accepts(&b, &rm, &rec))
			batch_add(&b, &rm, &rec);
		if (batch_full(&b))
			batch_reset(&b);
	}
	for (int i = 0; b.rows > 0 && i < b.nset + b.nkey; i++)
		(void) batch_array(&b, i);
	batch_free(&b);
	return 0;
}
