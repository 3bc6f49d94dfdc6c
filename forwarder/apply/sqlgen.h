/*-------------------------------------------------------------------------
 *
 * sqlgen.h
 *		The SQL apply sends, as pure functions: a change's statement with
 *		the policy's row condition, the closer looks a conflict needs, the
 *		bulk statement of a batch and the conflict record.  No libpq: each
 *		builds text and parameter values into a wb_sql, which the executors
 *		send (unit-tested in test/unit/test_sqlgen.c).
 *
 * IDENTIFICATION
 *		forwarder/apply/sqlgen.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_SQLGEN_H
#define WB_SQLGEN_H

#include <stdbool.h>
#include <stddef.h>

#include "batch.h"
#include "conflict.h"
#include "record.h"
#include "relmap.h"
#include "wb.h"

#define WB_SQL_MAX_PARAMS	2000

/* A statement being built: its text and its parameters' values. */
typedef struct wb_sql
{
	wb_buf		sql;
	wb_buf		text;			/* parameter values, NUL-separated */
	int			n;				/* parameters so far */
	const char *values[WB_SQL_MAX_PARAMS];	/* set by sqlgen_finish() */
	size_t		offsets[WB_SQL_MAX_PARAMS]; /* into text */
	bool		isnull[WB_SQL_MAX_PARAMS];
} wb_sql;

/* What every statement of one source transaction from one peer shares. */
typedef struct wb_sqlctx
{
	wb_conflict_policy policy;
	const char *peer;			/* the peer's node name */
	const char *origin_oid;		/* its replication origin's oid, as text */
	const char *txn_time;		/* the source commit time, timestamptz text */
	const char *txn_lsn;		/* the source commit LSN, pg_lsn text */
	bool		copy;			/* copied rows (an initial copy, resync()):
								 * last writer wins by time alone
								 * (walbridge.copy_wins()) */
} wb_sqlctx;

/* Empty q for a new statement; sqlgen_finish() before sending it. */
extern void sqlgen_start(wb_sql *q);
extern void sqlgen_finish(wb_sql *q);
extern void sqlgen_free(wb_sql *q);

/* A parameter ($n, returned): a value (NULL for SQL NULL), or a string. */
extern int	sqlgen_param_value(wb_sql *q, const wb_value *val);
extern int	sqlgen_param(wb_sql *q, const char *s);

/*
 * The condition under which the peer's change may overwrite a local row
 * (row: how the statement names the target table, "" or "alias.").
 */
extern void sqlgen_condition(wb_sql *q, const wb_sqlctx *cx, const char *row);

/* "key columns = values" of the change's row; false if it has no key. */
extern bool sqlgen_key(wb_sql *q, const wb_relmap *rm, const wb_record *rec);

/*
 * INSERT of tuple t; with its deletes tracked, only if no later delete
 * here removed the key; do_nothing: ON CONFLICT on the primary key DO
 * NOTHING.  A value t leaves out (TOAST unchanged) is fill[column]'s text
 * when fill has one, else the column is left out.  False if no column is
 * set.
 */
extern bool sqlgen_insert(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_tuple *t,
						  bool do_nothing, const char *const *fill);

/*
 * SELECT of the columns an UPDATE left out (TOAST values it did not
 * touch) from its row here, found by its old key; returns how many (0:
 * none, nothing to run).
 */
extern int	sqlgen_unchanged_values(wb_sql *q, const wb_relmap *rm, const wb_record *rec);

/*
 * UPDATE of the change's row under the condition.  False if it has no key
 * (the statement is then unfinished) or sets no column.
 */
extern bool sqlgen_update(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec,
						  const char *const *fill);

/* DELETE of the change's row under the condition. */
extern void sqlgen_delete(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec);

/* SELECT count(*) of the rows with the change's key. */
extern void sqlgen_row_exists(wb_sql *q, const wb_relmap *rm, const wb_record *rec);

/*
 * Who wrote the row with an inserted key: 'same' (this peer), 'remote'
 * (the change wins), 'local'; no row if none.
 */
extern void sqlgen_insert_owner(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm,
								const wb_record *rec);

/*
 * Whether a later delete here wins over the change (its tombstone, under
 * the condition): one boolean.  False (no statement) when the table keeps
 * no tombstones or the key is not the primary key.
 */
extern bool sqlgen_deleted_later(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm,
								 const wb_record *rec);

/*
 * Remember a peer's delete of a row gone here (unless a tombstone the
 * policy prefers is there).  False (no statement) when there is nothing
 * to remember.
 */
extern bool sqlgen_tombstone(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm,
							 const wb_record *rec);

/* The batch as one statement over unnest() of its arrays; the batch is then empty. */
extern void sqlgen_batch(wb_sql *q, const wb_sqlctx *cx, wb_batch *b);

/* The remote row as JSON: the new one, or the old (key) of a DELETE. */
extern void sqlgen_remote_json(wb_buf *out, const wb_relmap *rm, const wb_record *rec);

/*
 * The walbridge.conflicts row of a decided conflict: the local row as it
 * is when the statement runs (by key), the remote one and the decision.
 */
extern void sqlgen_conflict(wb_sql *q, const wb_sqlctx *cx, const wb_relmap *rm, const wb_record *rec,
							wb_conflict_kind kind, wb_resolution decision);

/*
 * Whether another row than the one moved (the UPDATE moved, by its old
 * key) holds rec's key: SELECT count(*).  Not the moved row itself, which
 * its identity may find under the new key too (a key equal but not
 * byte-identical, an identity index other than the primary key).
 */
extern void sqlgen_key_taken(wb_sql *q, const wb_relmap *rm, const wb_record *rec,
							 const wb_record *moved);

/* Whether an UPDATE moves its row to another key (old key values differ). */
extern bool sqlgen_moves_key(const wb_relmap *rm, const wb_record *rec);

#endif							/* WB_SQLGEN_H */
