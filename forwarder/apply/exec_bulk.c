/*-------------------------------------------------------------------------
 *
 * exec_bulk.c
 *		The pipeline executor: every statement of a message sent without
 *		waiting, changes of one table and shape gathered into one
 *		statement over unnest() of arrays (batch.c), each statement told
 *		how many rows it must touch.  Whether all did is known when the
 *		pipeline ends (apply.c); anything else is applied again one change
 *		at a time (exec_row.c), where conflicts are decided.
 *
 * IDENTIFICATION
 *		forwarder/apply/exec_bulk.c
 *
 *-------------------------------------------------------------------------
 */
#include "exec.h"

#include <stdio.h>

#include "sqlgen.h"

/*
 * Into the pipeline (expect_rows: how many rows it must touch, or -1);
 * false with what went wrong first once something did.
 */
static bool
send(wb_applier *ap, const char *sql, int nparams, const char *const *values, int expect_rows,
	 char *err, size_t errlen)
{
	if (stmts_send(&ap->stmts, sql, nparams, values, expect_rows))
		return true;
	snprintf(err, errlen, "%s", ap->stmts.why);
	return false;
}

/* Send the statement built in ap->q. */
static bool
send_built(wb_applier *ap, int expect_rows, char *err, size_t errlen)
{
	sqlgen_finish(&ap->q);
	return send(ap, ap->q.sql.data, ap->q.n, ap->q.values, expect_rows, err, errlen);
}

/*
 * Send the batch gathered so far as one statement, which must touch every
 * one of its rows.
 */
static bool
bulk_flush(wb_applier *ap, char *err, size_t errlen)
{
	int			rows = ap->batch.rows;

	if (rows == 0)
		return true;
	sqlgen_start(&ap->q);
	sqlgen_batch(&ap->q, &ap->cx, &ap->batch);
	return send_built(ap, rows, err, errlen);
}

/*
 * Gather the change into the batch, sending what was gathered first when
 * the change does not fit it, and the batch when it is full.  *taken
 * false: the change cannot go in bulk; the batch is then empty, so its
 * own statement comes after everything before it.
 */
static bool
batch_change(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, bool *taken,
			 char *err, size_t errlen)
{
	bool		bulk = batch_shape(&ap->batch, rm, rec);

	*taken = false;
	if ((!bulk || !batch_fits(&ap->batch, rm, rec)) && !bulk_flush(ap, err, errlen))
		return false;
	if (!bulk)
		return true;
	*taken = true;
	batch_add(&ap->batch, rm, rec);
	return !batch_full(&ap->batch) || bulk_flush(ap, err, errlen);
}

/* In bulk where it can; else its own statement, which must touch one row. */
static bool
bulk_change(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	bool		taken;

	/*
	 * An UPDATE cannot set a key GENERATED ALWAYS here: its statement would
	 * touch its row and leave the key where it was.  Moved one change at a
	 * time (exec_row.c), as the delete of the old key and the insert of the
	 * new.
	 */
	if (relmap_key_always(rm) && sqlgen_moves_key(rm, rec))
	{
		snprintf(err, errlen, "an UPDATE of %s moves a key GENERATED ALWAYS here", rm->display);
		return false;
	}
	if (!batch_change(ap, rm, rec, &taken, err, errlen))
		return false;
	switch (taken ? WB_BUILT_NOTHING : exec_build_change(ap, rm, rec, err, errlen))
	{
		case WB_BUILT:
			return send_built(ap, 1, err, errlen);
		case WB_BUILT_NOTHING:
			return true;
		case WB_BUILD_FAILED:
			break;
	}
	return false;
}

static bool
bulk_statement(wb_applier *ap, const char *sql, int nparams, const char *const *values,
			   bool expect_one, char *err, size_t errlen)
{
	return send(ap, sql, nparams, values, expect_one ? 1 : -1, err, errlen);
}

const wb_executor wb_exec_bulk = {
	.name = "pipeline",
	.statement = bulk_statement,
	.change = bulk_change,
	.flush = bulk_flush,
};
