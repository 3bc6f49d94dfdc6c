/*-------------------------------------------------------------------------
 *
 * batch.h
 *		Consecutive changes of the same shape (table, kind, columns sent)
 *		gathered into one array per column, so a pipeline applies them
 *		with one statement (unnest) instead of one per row.  Pure.
 *
 * IDENTIFICATION
 *		forwarder/apply/batch.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_BATCH_H
#define WB_BATCH_H

#include <stdbool.h>

#include "relmap.h"
#include "sqltext.h"

#define BATCH_MAX_ROWS		1000
#define BATCH_MAX_BYTES		(4 * 1024 * 1024)

typedef struct wb_batch
{
	const wb_relmap *rm;
	char		tag;			/* WB_REC_INSERT (snapshot rows too), UPDATE or DELETE */
	bool		from_old;		/* the key is taken from the old tuple */
	char		old_kind;
	int			rows;
	size_t		bytes;

	/* per column of rm: set (inserted, updated) by this batch's rows */
	bool	   *set;
	bool	   *scratch;		/* the shape of the change looked at */
	int			ncols_alloc;

	/* the arrays: the columns set, then the key columns, in column order */
	int			nset;
	int			nkey;
	int		   *col;			/* rm's column index of each array */
	wb_buf	   *arrays;			/* text[] literals, without the closing brace */
	int			narrays_alloc;
	wb_buf		value;			/* one value's text, before quoting */
} wb_batch;

/*
 * The shape of rec (kept in the batch for batch_fits and batch_add);
 * false if it cannot go in bulk at all (array columns, no key, nothing to
 * set): it goes alone, one statement.
 */
extern bool batch_shape(wb_batch *b, const wb_relmap *rm, const wb_record *rec);

/* After batch_shape(rec): whether rec can join (an empty batch takes it). */
extern bool batch_fits(const wb_batch *b, const wb_relmap *rm, const wb_record *rec);

/* batch_shape() and batch_fits() in one. */
extern bool batch_accepts(wb_batch *b, const wb_relmap *rm, const wb_record *rec);

/* Add rec, the change batch_shape() last looked at. */
extern void batch_add(wb_batch *b, const wb_relmap *rm, const wb_record *rec);
extern bool batch_full(const wb_batch *b);

/* Close array i (append the brace): its literal is arrays[i].data. */
extern const char *batch_array(wb_batch *b, int i);

extern void batch_reset(wb_batch *b);
extern void batch_free(wb_batch *b);

#endif							/* WB_BATCH_H */
