/*-------------------------------------------------------------------------
 *
 * batch.c
 *		Consecutive changes of the same shape gathered into one text[]
 *		literal per column.
 *
 * A batch's rows are applied by one statement over unnest() of these
 * arrays, cast to the local column types.  Its result must count every
 * row: a key met twice, a conflict or an error all show as a different
 * count or a failure, and the caller then applies the transaction one
 * change at a time, so bulk never decides anything differently.
 *
 * IDENTIFICATION
 *		forwarder/apply/batch.c
 *
 *-------------------------------------------------------------------------
 */
#include "batch.h"
#include "wb.h"

#include <stdlib.h>
#include <string.h>

static bool
is_insert(char tag)
{
	return tag == WB_REC_INSERT || tag == WB_REC_SNAPSHOT;
}

static void
ensure_columns(wb_batch *b, int ncols)
{
	if (ncols + 1 <= b->ncols_alloc)
		return;
	b->ncols_alloc = ncols + 1;
	b->set = xrealloc(b->set, sizeof(bool) * b->ncols_alloc);
	b->scratch = xrealloc(b->scratch, sizeof(bool) * b->ncols_alloc);
}

/*
 * The change's shape into set[]: the columns it inserts or updates.  False
 * if it cannot be applied in bulk.
 */
static bool
shape_of(const wb_relmap *rm, const wb_record *rec, bool *set)
{
	bool		insert = is_insert(rec->tag);
	int			nset = 0;
	int			nkey = 0;

	if (!rm->batchable || rm->error)
		return false;
	if (rec->u.change.old.present && rec->u.change.old.count != relmap_old_count(rm, rec))
		return false;			/* goes alone, to be reported */
	if (!insert && rec->tag != WB_REC_UPDATE && rec->tag != WB_REC_DELETE)
		return false;
	if (rec->tag != WB_REC_DELETE)
	{
		wb_mpcur	cur = rec->u.change.new.values;

		if (!rec->u.change.new.present || rec->u.change.new.count != (uint32_t) rm->ncols)
			return false;
		for (int i = 0; i < rm->ncols; i++)
		{
			wb_value	v;

			wb_record_next_value(&cur, &v);
			/* generated here: computed, never written */
			set[i] = !v.unchanged_toast && !rm->generated[i] && (insert || !rm->always[i]);
			nset += set[i];
		}
		if (nset == 0)
			return false;
	}
	else
	{
		if (!rec->u.change.old.present)
			return false;
		memset(set, 0, sizeof(bool) * rm->ncols);
	}
	if (insert)
		return true;

	/* the key (relmap_key_flag()): all present and not TOAST markers */
	{
		const wb_tuple *t = rec->u.change.old.present ? &rec->u.change.old : &rec->u.change.new;
		wb_mpcur	cur = t->values;
		uint32_t	key = relmap_key_flag(rec);

		for (int i = 0; i < rm->ncols; i++)
		{
			wb_value	v;

			if (!relmap_in_key_tuple(rm, rec, i))
			{
				if (rm->flags[i] & key)
					return false;
				continue;
			}
			wb_record_next_value(&cur, &v);
			if (!(rm->flags[i] & key))
				continue;
			if (v.unchanged_toast || v.obj.type == WB_MP_NIL)
				return false;
			nkey++;
		}
	}
	return nkey > 0;
}

bool
batch_shape(wb_batch *b, const wb_relmap *rm, const wb_record *rec)
{
	ensure_columns(b, rm->ncols);
	return shape_of(rm, rec, b->scratch);
}

bool
batch_fits(const wb_batch *b, const wb_relmap *rm, const wb_record *rec)
{
	if (b->rows == 0)
		return true;
	return b->rm == rm &&
		is_insert(b->tag) == is_insert(rec->tag) &&
		(is_insert(b->tag) || b->tag == rec->tag) &&
		b->from_old == rec->u.change.old.present &&
		b->old_kind == rec->u.change.old_kind &&
		memcmp(b->set, b->scratch, sizeof(bool) * rm->ncols) == 0;
}

bool
batch_accepts(wb_batch *b, const wb_relmap *rm, const wb_record *rec)
{
	return batch_shape(b, rm, rec) && batch_fits(b, rm, rec);
}

static void
start(wb_batch *b, const wb_relmap *rm, const wb_record *rec)
{
	int			n = 0;

	b->rm = rm;
	b->tag = rec->tag;
	b->from_old = rec->u.change.old.present;
	b->old_kind = rec->u.change.old_kind;
	memcpy(b->set, b->scratch, sizeof(bool) * rm->ncols);
	if (rm->ncols * 2 + 1 > b->narrays_alloc)
	{
		int			old = b->narrays_alloc;

		b->narrays_alloc = rm->ncols * 2 + 1;
		b->arrays = xrealloc(b->arrays, sizeof(wb_buf) * b->narrays_alloc);
		b->col = xrealloc(b->col, sizeof(int) * b->narrays_alloc);
		memset(b->arrays + old, 0, sizeof(wb_buf) * (b->narrays_alloc - old));
	}
	for (int i = 0; i < rm->ncols; i++)
		if (b->set[i])
			b->col[n++] = i;
	b->nset = n;
	if (!is_insert(rec->tag))
		for (int i = 0; i < rm->ncols; i++)
			if (relmap_is_key(rm, rec, i))
				b->col[n++] = i;
	b->nkey = n - b->nset;
	for (int i = 0; i < n; i++)
	{
		buf_reset(&b->arrays[i]);
		buf_puts(&b->arrays[i], "{");
	}
}

/* One element: NULL, or the value's text double-quoted. */
static void
append_element(wb_batch *b, int array, const wb_value *v)
{
	wb_buf	   *a = &b->arrays[array];
	size_t		before = a->len;

	if (b->rows > 0)
		buf_puts(a, ",");
	buf_reset(&b->value);
	if (!sqltext_value(&b->value, v))
		buf_puts(a, "NULL");
	else
	{
		const char *s = b->value.data;
		const char *run = s;

		buf_puts(a, "\"");
		for (; *s; s++)
			if (*s == '"' || *s == '\\')
			{
				buf_append(a, run, s - run);
				buf_append(a, "\\", 1);
				run = s;
			}
		buf_append(a, run, s - run);
		buf_puts(a, "\"");
	}
	b->bytes += a->len - before;
}

void
batch_add(wb_batch *b, const wb_relmap *rm, const wb_record *rec)
{
	int			array = 0;

	if (b->rows == 0)
		start(b, rm, rec);
	if (rec->tag != WB_REC_DELETE)
	{
		wb_mpcur	cur = rec->u.change.new.values;

		for (int i = 0; i < rm->ncols; i++)
		{
			wb_value	v;

			wb_record_next_value(&cur, &v);
			if (b->set[i])
				append_element(b, array++, &v);
		}
	}
	if (b->nkey > 0)
	{
		const wb_tuple *t = b->from_old ? &rec->u.change.old : &rec->u.change.new;
		wb_mpcur	cur = t->values;

		for (int i = 0; i < rm->ncols; i++)
		{
			wb_value	v;

			if (!relmap_in_key_tuple(rm, rec, i))
				continue;
			wb_record_next_value(&cur, &v);
			if (relmap_is_key(rm, rec, i))
				append_element(b, array++, &v);
		}
	}
	b->rows++;
}

bool
batch_full(const wb_batch *b)
{
	return b->rows >= BATCH_MAX_ROWS || b->bytes >= BATCH_MAX_BYTES;
}

const char *
batch_array(wb_batch *b, int i)
{
	buf_puts(&b->arrays[i], "}");
	return b->arrays[i].data;
}

void
batch_reset(wb_batch *b)
{
	b->rows = 0;
	b->bytes = 0;
	b->rm = NULL;
}

void
batch_free(wb_batch *b)
{
	for (int i = 0; i < b->narrays_alloc; i++)
		buf_free(&b->arrays[i]);
	free(b->arrays);
	free(b->col);
	free(b->set);
	free(b->scratch);
	buf_free(&b->value);
	memset(b, 0, sizeof(*b));
}
