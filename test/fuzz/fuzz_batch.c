/*
 * fuzz_batch.c: libFuzzer target for the bulk path of apply
 * (forwarder/apply/batch.c) behind the record reader.  The first bytes
 * describe a relation (column count, flags, which columns are identity
 * columns GENERATED ALWAYS (bit 0) or generated here (bit 1)); the rest is
 * a message whose changes are gathered as apply gathers them, whatever
 * their tuples hold.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "batch.h"
#include "fuzz_message.h"

#define MAX_COLS 16

typedef struct gather
{
	wb_relmap  *rm;
	wb_batch   *b;
} gather;

/* As apply_change() does in a pipeline, after its checks. */
static void
gather_change(const wb_record *rec, void *arg)
{
	gather	   *g = arg;

	if (rec->tag != WB_REC_INSERT && rec->tag != WB_REC_SNAPSHOT &&
		rec->tag != WB_REC_UPDATE && rec->tag != WB_REC_DELETE)
		return;
	/* apply checks the new tuple's width before anything else */
	if (rec->u.change.new.present && rec->u.change.new.count != (uint32_t) g->rm->ncols)
		return;
	if (g->b->rows > 0 && !batch_accepts(g->b, g->rm, rec))
		batch_reset(g->b);
	if (batch_accepts(g->b, g->rm, rec))
		batch_add(g->b, g->rm, rec);
	if (batch_full(g->b))
		batch_reset(g->b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char *names[MAX_COLS] = {"a", "b", "c", "d", "e", "f", "g", "h",
	"i", "j", "k", "l", "m", "n", "o", "p"};
	static char *types[MAX_COLS];
	uint32_t	flags[MAX_COLS];
	bool		always[MAX_COLS];
	bool		generated[MAX_COLS];
	wb_relmap	rm;
	wb_batch	b;
	gather		g;
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
		generated[i] = (data[1 + MAX_COLS + i] & 2) != 0;
		if (i < ncols)
		{
			rm.nidentity += (flags[i] & WB_COLUMN_IDENTITY) != 0;
			rm.any_always |= always[i];
			/* as relmap.c: the identity is another index than the primary key */
			if (((flags[i] & WB_COLUMN_IDENTITY) != 0) != ((flags[i] & WB_COLUMN_PRIMARY_KEY) != 0))
				rm.identity_not_pk = true;
		}
	}
	rm.relid = 16384;
	rm.local = "t";
	rm.ncols = ncols;
	rm.cols = names;
	rm.types = types;
	rm.flags = flags;
	rm.always = always;
	rm.generated = generated;
	rm.batchable = true;
	data += 1 + 2 * MAX_COLS;
	size -= 1 + 2 * MAX_COLS;

	memset(&b, 0, sizeof(b));
	g.rm = &rm;
	g.b = &b;
	for_each_record(data, size, gather_change, &g);
	for (int i = 0; b.rows > 0 && i < b.nset + b.nkey; i++)
		(void) batch_array(&b, i);
	batch_free(&b);
	return 0;
}
