/*-------------------------------------------------------------------------
 *
 * apply.c
 *		Apply a peer's messages: one local transaction per source
 *		transaction, exactly once.
 *
 * Exactly once: the session runs under the replication origin
 * walbridge_<peer>; a transaction's last chunk sets the origin's LSN and
 * timestamp (pg_replication_origin_xact_setup) and records the Kafka offset
 * and commit LSN in walbridge.apply_progress, all in the same local
 * transaction.  After any crash, consumption restarts at the recorded
 * offset + 1, and a transaction whose commit LSN is not above the last one
 * applied (the publisher sent it twice) is passed over.
 *
 * Loop-free: changes made under an origin are never published again (the
 * publish half streams with only_local).
 *
 * Bad input (a message that does not decode, a table or column missing
 * here, a value the column rejects) rolls the transaction back and pauses
 * this peer at its first message; nothing after it is applied.  The pause
 * is retried every few seconds (so a fix is picked up by itself) until it
 * works, or until walbridge.skip() passes over it.
 *
 * IDENTIFICATION
 *		forwarder/apply/apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "apply.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "conflict.h"
#include "fit.h"
#include "log.h"
#include "pgstream.h"
#include "record.h"
#include "wb.h"

#define RETRY_PAUSED_US		(5 * INT64_C(1000000))
#define MAX_PARAMS			2000

/* SQLSTATEs apply explains in the words of the table */
#define UNIQUE_VIOLATION		"23505"
#define STRING_TOO_LONG			"22001"
#define NUMERIC_OUT_OF_RANGE	"22003"
#define BIT_LENGTH_MISMATCH		"22026"

/* --------------------------------------------------------------- helpers */

static PGresult *
run(wb_applier *ap, const char *sql, int nparams, const char *const *values)
{
	return stmts_exec(&ap->stmts, sql, nparams, values);
}

/*
 * What a statement said, read from its result once: how many rows it
 * touched, and its first row's first value (a query's answer).
 */
typedef struct wb_answer
{
	long		touched;		/* rows touched (0 for a query) */
	bool		has_row;		/* a query returned a row */
	char		value[16];		/* its first value, truncated */
} wb_answer;

/*
 * A statement expected to succeed; false with the error copied to err.
 * With answer: what it said.
 */
static bool
run_ok(wb_applier *ap, const char *sql, int nparams, const char *const *values,
	   char *err, size_t errlen, wb_answer *answer)
{
	PGresult   *res = run(ap, sql, nparams, values);
	ExecStatusType st = PQresultStatus(res);
	bool		ok = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK);

	if (!ok)
	{
		const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
		const char *detail = PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL);
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		/* the detail names the key of a unique or check violation */
		snprintf(err, errlen, "%s%s%s", msg ? msg : PQerrorMessage(ap->conn),
				 detail ? ": " : "", detail ? detail : "");
		snprintf(ap->sqlstate, sizeof(ap->sqlstate), "%s", state ? state : "");
	}
	else if (answer)
	{
		answer->has_row = st == PGRES_TUPLES_OK && PQntuples(res) > 0;
		answer->touched = st == PGRES_TUPLES_OK ? 0 : strtol(PQcmdTuples(res), NULL, 10);
		snprintf(answer->value, sizeof(answer->value), "%s", answer->has_row ? PQgetvalue(res, 0, 0) : "");
	}
	PQclear(res);
	return ok;
}

/*
 * Into the pipeline (expect_rows: how many rows it must touch, or -1);
 * false with what went wrong first once something did.
 */
static bool
pipeline_send(wb_applier *ap, const char *sql, int nparams, const char *const *values,
			  int expect_rows, char *err, size_t errlen)
{
	if (stmts_send(&ap->stmts, sql, nparams, values, expect_rows))
		return true;
	snprintf(err, errlen, "%s", ap->stmts.why);
	return false;
}

/*
 * A statement whose result needs no look: run now, or, in a pipeline,
 * sent (expect_one: it must touch one row).
 */
static bool
exec_or_send(wb_applier *ap, const char *sql, int nparams, const char *const *values,
			 bool expect_one, char *err, size_t errlen)
{
	if (!ap->fast)
		return run_ok(ap, sql, nparams, values, err, errlen, NULL);
	return pipeline_send(ap, sql, nparams, values, expect_one ? 1 : -1, err, errlen);
}

static bool
connection_lost(wb_applier *ap)
{
	return PQstatus(ap->conn) != CONNECTION_OK;
}

static void
rollback(wb_applier *ap)
{
	PGresult   *res = PQexec(ap->conn, "ROLLBACK");

	PQclear(res);
	ap->in_txn = false;
}

/* --------------------------------------------------------------- changes */

typedef struct params
{
	int			n;
	const char *values[MAX_PARAMS];
	size_t		offsets[MAX_PARAMS];	/* into ap->text, fixed up last */
	bool		isnull[MAX_PARAMS];
} params;

static int
param_text(wb_applier *ap, params *p, const wb_value *val)
{
	size_t		start = ap->text.len;

	if (p->n >= MAX_PARAMS - 4)
		return -1;
	p->isnull[p->n] = !sqltext_value(&ap->text, val);
	buf_append(&ap->text, "", 1);	/* keep the terminator */
	p->offsets[p->n] = start;
	return ++p->n;
}

static int
param_string(wb_applier *ap, params *p, const char *s)
{
	size_t		start = ap->text.len;

	buf_append(&ap->text, s, strlen(s) + 1);
	p->isnull[p->n] = false;
	p->offsets[p->n] = start;
	return ++p->n;
}

static void
params_fix(wb_applier *ap, params *p)
{
	for (int i = 0; i < p->n; i++)
		p->values[i] = p->isnull[i] ? NULL : ap->text.data + p->offsets[i];
}

/*
 * The condition under which the peer's change may overwrite a local row
 * (row: how the statement names the target table's xmin).
 * last_writer_wins: walbridge.remote_wins(), in C, as it runs per row.
 * keep_local and error: only rows this peer wrote last (or unknown).
 */
static void
append_condition(wb_applier *ap, params *p, const char *row)
{
	switch (ap->policy)
	{
		case WB_POLICY_APPLY_REMOTE:
			buf_puts(&ap->sql, "true");
			return;
		case WB_POLICY_LAST_WRITER_WINS:
			{
				int			a = param_string(ap, p, ap->txn_time);
				int			b = param_string(ap, p, ap->origin_oid);
				int			c = param_string(ap, p, ap->peer);

				buf_printf(&ap->sql, "walbridge.remote_wins(%sxmin, $%d::timestamptz, $%d::oid, $%d::text)",
						   row, a, b, c);
				return;
			}
		case WB_POLICY_KEEP_LOCAL:
		case WB_POLICY_ERROR:
			/* only rows this peer wrote last (or unknown) */
			buf_printf(&ap->sql, "(SELECT c.timestamp IS NULL OR c.roident = $%d::oid"
					   " FROM pg_catalog.pg_xact_commit_timestamp_origin(%sxmin) c)",
					   param_string(ap, p, ap->origin_oid), row);
			return;
	}
}

/*
 * A change's key values, in turn: from the old tuple when given, else new
 * (relmap_key_flag() says which columns).
 */
typedef struct key_cursor
{
	wb_mpcur	cur;
	int			col;			/* the next column to look at */
} key_cursor;

static void
key_start(key_cursor *k, const wb_record *rec)
{
	k->cur = rec->u.change.old.present ? rec->u.change.old.values : rec->u.change.new.values;
	k->col = 0;
}

/* The next key column (*col) and its value; false after the last. */
static bool
key_next(key_cursor *k, const wb_relmap *rm, const wb_record *rec, int *col, wb_value *v)
{
	while (k->col < rm->ncols)
	{
		int			i = k->col++;

		if (!relmap_in_key_tuple(rm, rec, i))
			continue;
		wb_record_next_value(&k->cur, v);
		if (relmap_is_key(rm, rec, i))
		{
			*col = i;
			return true;
		}
	}
	return false;
}

/* WHERE key columns = values. */
static bool
append_key(wb_applier *ap, params *p, const wb_relmap *rm, const wb_record *rec)
{
	key_cursor	k;
	int			col;
	wb_value	v;
	int			nkey = 0;

	key_start(&k, rec);
	while (key_next(&k, rm, rec, &col, &v))
		buf_printf(&ap->sql, "%s%s = $%d", nkey++ > 0 ? " AND " : "", rm->cols[col],
				   param_text(ap, p, &v));
	return nkey > 0;
}

/* The remote row as JSON, for the conflict record: the new one, or the old (key) of a DELETE. */
static void
remote_json(wb_applier *ap, wb_buf *out, const wb_relmap *rm, const wb_record *rec)
{
	bool		is_new = rec->u.change.new.present;
	wb_mpcur	cur = is_new ? rec->u.change.new.values : rec->u.change.old.values;
	int			n = 0;

	buf_puts(out, "{");
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;
		wb_buf		val = {0};

		if (!is_new && !relmap_in_key_tuple(rm, rec, i))
			continue;
		wb_record_next_value(&cur, &v);
		if (n++ > 0)
			buf_puts(out, ", ");
		sqltext_json_string(out, rm->cols[i], strlen(rm->cols[i]));
		buf_puts(out, ": ");
		if (v.unchanged_toast)
			buf_puts(out, "\"(unchanged)\"");
		else if (sqltext_value(&val, &v))
			sqltext_json_string(out, val.data, val.len);
		else
			buf_puts(out, "null");
		buf_free(&val);
	}
	buf_puts(out, "}");
}

/*
 * Record a conflict: the local row as it is now (fetched by key), the
 * remote one, and the decision.
 */
static bool
log_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, wb_conflict_kind kind,
			 wb_resolution decision, char *err, size_t errlen)
{
	wb_buf		remote = {0};
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	bool		ok;

	p.n = 0;
	remote_json(ap, &remote, rm, rec);

	buf_reset(&ap->sql);
	buf_reset(&ap->text);
	buf_printf(&ap->sql,
			   "INSERT INTO walbridge.conflicts (peer, table_name, kind, decision, local_row,"
			   " local_commit_time, remote_row, remote_commit_time, remote_commit_lsn)"
			   " SELECT $1, $2, $3, $4, (SELECT to_jsonb(t) FROM %s t WHERE ", rm->local);
	param_string(ap, &p, ap->peer);
	param_string(ap, &p, rm->display);
	param_string(ap, &p, wb_conflict_kind_names[kind]);
	param_string(ap, &p, wb_resolution_names[decision]);
	append_key(ap, &p, rm, rec);
	buf_printf(&ap->sql, "), coalesce((SELECT (walbridge.row_writer(t.xmin)).commit_time FROM %s t WHERE ", rm->local);
	append_key(ap, &p, rm, rec);
	if (rm->tombstones && relmap_key_is_primary(rm, rec))
	{
		/* a row deleted here: when */
		buf_printf(&ap->sql, "), (SELECT (walbridge.row_writer(t.xmin)).commit_time FROM %s t WHERE ",
				   rm->tombstones);
		append_key(ap, &p, rm, rec);
	}
	buf_printf(&ap->sql, ")), $%d::jsonb, $%d::timestamptz, $%d::pg_lsn",
			   param_string(ap, &p, remote.data), param_string(ap, &p, ap->txn_time),
			   param_string(ap, &p, ap->txn_lsn));
	params_fix(ap, &p);
	ok = run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, NULL);
	buf_free(&remote);
	ap->conflicts++;
	return ok;
}

/* A fresh statement: empty SQL, parameter text and list. */
static void
start_statement(wb_applier *ap, params *p)
{
	buf_reset(&ap->sql);
	buf_reset(&ap->text);
	p->n = 0;					/* only the first n entries are read */
}

/* Whether the row with the change's key exists here. */
static int
row_exists(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	wb_answer	got;

	p.n = 0;
	buf_reset(&ap->sql);
	buf_reset(&ap->text);
	buf_printf(&ap->sql, "SELECT count(*) FROM %s WHERE ", rm->local);
	append_key(ap, &p, rm, rec);
	params_fix(ap, &p);
	if (!run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, &got))
		return -1;
	return strtol(got.value, NULL, 10) != 0;
}

/*
 * The condition under which a change of the row whose key the statement
 * names (key: the SQL for each key column in turn, from the caller's
 * list) is not lost to a later delete here: no tombstone of that key the
 * policy's condition prefers.
 */
static void
append_not_deleted(wb_applier *ap, params *p, const wb_relmap *rm, const char *key_match)
{
	buf_printf(&ap->sql, "NOT EXISTS (SELECT FROM %s wb_d WHERE %s AND NOT ", rm->tombstones, key_match);
	append_condition(ap, p, "wb_d.");
	buf_puts(&ap->sql, ")");
}

/*
 * INSERT of every column the tuple carries (unchanged TOAST left out);
 * with its deletes tracked, only if no later delete here removed the key.
 */
static bool
build_insert(wb_applier *ap, params *p, const wb_relmap *rm, const wb_tuple *t, bool do_nothing)
{
	wb_mpcur	cur = t->values;
	wb_buf		cols = {0};
	wb_buf		vals = {0};
	wb_buf		keys = {0};
	int			n = 0;

	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;
		int			param;

		wb_record_next_value(&cur, &v);
		if (v.unchanged_toast || rm->generated[i])
			continue;
		param = param_text(ap, p, &v);
		buf_printf(&cols, "%s%s", n > 0 ? ", " : "", rm->cols[i]);
		if (rm->tombstones)
			buf_printf(&vals, "%s$%d::%s", n > 0 ? ", " : "", param, rm->types[i]);
		else
			buf_printf(&vals, "%s$%d", n > 0 ? ", " : "", param);
		if (rm->tombstones && (rm->flags[i] & WB_COLUMN_PRIMARY_KEY))
			buf_printf(&keys, "%swb_d.%s = $%d::%s", keys.len > 0 ? " AND " : "", rm->cols[i],
					   param, rm->types[i]);
		n++;
	}
	/* the peer's identity values are the row's, even where generated always here */
	buf_printf(&ap->sql, "INSERT INTO %s (%s)%s", rm->local, cols.data ? cols.data : "",
			   rm->any_always ? " OVERRIDING SYSTEM VALUE" : "");
	if (rm->tombstones && keys.len > 0)
	{
		buf_printf(&ap->sql, " SELECT %s WHERE ", vals.data);
		append_not_deleted(ap, p, rm, keys.data);
	}
	else
		buf_printf(&ap->sql, " VALUES (%s)", vals.data ? vals.data : "");
	/*
	 * Only the primary key may say "this row is here already": a row that
	 * collides on another unique key here fails, and is reported, never
	 * dropped.
	 */
	if (do_nothing && rm->primary_key)
		buf_printf(&ap->sql, " ON CONFLICT (%s) DO NOTHING", rm->primary_key);
	buf_free(&cols);
	buf_free(&vals);
	buf_free(&keys);
	return n > 0;
}

/*
 * Whether a later delete here wins over the change (its key's tombstone,
 * and the policy's condition): 1 if so, 0 if not (or no tombstone), -1 on
 * error.
 */
static int
deleted_later(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	wb_answer	got;

	if (rm->tombstones == NULL || !relmap_key_is_primary(rm, rec))
		return 0;
	start_statement(ap, &p);
	buf_puts(&ap->sql, "SELECT NOT ");
	append_condition(ap, &p, "wb_d.");
	buf_printf(&ap->sql, " FROM %s wb_d WHERE ", rm->tombstones);
	append_key(ap, &p, rm, rec);
	params_fix(ap, &p);
	if (!run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, &got))
		return -1;
	return got.value[0] == 't';
}

/*
 * A peer deleted a row that is already gone here: remember its delete
 * too, unless a tombstone the policy prefers is there, so that an older
 * change arriving later from another peer loses to it.
 */
static bool
record_tombstone(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	key_cursor	k;
	int			col;
	wb_value	v;
	wb_buf		cols = {0};
	wb_buf		vals = {0};
	const char *first = NULL;

	if (rm->tombstones == NULL || !relmap_key_is_primary(rm, rec))
		return true;
	start_statement(ap, &p);
	key_start(&k, rec);
	while (key_next(&k, rm, rec, &col, &v))
	{
		if (first == NULL)
			first = rm->cols[col];
		buf_printf(&cols, "%s%s", cols.len > 0 ? ", " : "", rm->cols[col]);
		buf_printf(&vals, "%s$%d", vals.len > 0 ? ", " : "", param_text(ap, &p, &v));
	}
	if (first != NULL)
	{
		buf_printf(&ap->sql, "INSERT INTO %s AS wb_d (%s) VALUES (%s) ON CONFLICT (%s)"
				   " DO UPDATE SET %s = excluded.%s WHERE ",
				   rm->tombstones, cols.data, vals.data, cols.data, first, first);
		append_condition(ap, &p, "wb_d.");
	}
	buf_free(&cols);
	buf_free(&vals);
	if (first == NULL)
		return true;
	params_fix(ap, &p);
	return run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, NULL);
}

static bool
build_update(wb_applier *ap, params *p, const wb_relmap *rm, const wb_record *rec)
{
	wb_mpcur	cur = rec->u.change.new.values;
	int			n = 0;

	buf_printf(&ap->sql, "UPDATE %s SET ", rm->local);
	for (int i = 0; i < rm->ncols; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (v.unchanged_toast)
			continue;			/* left as it is here, never NULLed */
		if (rm->always[i] || rm->generated[i])
			continue;			/* cannot be set; the key finds the row */
		buf_printf(&ap->sql, "%s%s = $%d", n++ > 0 ? ", " : "", rm->cols[i], param_text(ap, p, &v));
	}
	buf_puts(&ap->sql, " WHERE ");
	if (!append_key(ap, p, rm, rec))
		return false;
	buf_puts(&ap->sql, " AND ");
	append_condition(ap, p, "");
	return n > 0;
}

/* Run the statement built so far: 1 if it touched one row, 0 if none, -1 on error. */
static int
run_touched(wb_applier *ap, params *p, char *err, size_t errlen)
{
	wb_answer	got;

	params_fix(ap, p);
	if (!run_ok(ap, ap->sql.data, p->n, p->values, err, errlen, &got))
		return -1;
	return got.touched == 1;
}

/*
 * In a pipeline: send the change's statement, which must touch one row;
 * whether it did is known when the pipeline ends.
 */
static bool
send_change(wb_applier *ap, params *p, char *err, size_t errlen)
{
	params_fix(ap, p);
	return pipeline_send(ap, ap->sql.data, p->n, p->values, 1, err, errlen);
}

/*
 * Send the batch gathered so far as one statement over unnest() of its
 * arrays, which must touch every one of its rows.
 */
static bool
flush_batch(wb_applier *ap, char *err, size_t errlen)
{
	wb_batch   *b = &ap->batch;
	const wb_relmap *rm = b->rm;
	params		p;
	int			rows = b->rows;
	int			n = b->nset + b->nkey;
	bool		insert = b->tag == WB_REC_INSERT || b->tag == WB_REC_SNAPSHOT;

	if (rows == 0)
		return true;
	start_statement(ap, &p);
	if (insert)
	{
		buf_printf(&ap->sql, "INSERT INTO %s (", rm->local);
		for (int i = 0; i < b->nset; i++)
			buf_printf(&ap->sql, "%s%s", i > 0 ? ", " : "", rm->cols[b->col[i]]);
		buf_printf(&ap->sql, ")%s SELECT * FROM ", rm->any_always ? " OVERRIDING SYSTEM VALUE" : "");
	}
	else if (b->tag == WB_REC_UPDATE)
	{
		buf_printf(&ap->sql, "UPDATE %s wb_t SET ", rm->local);
		for (int i = 0; i < b->nset; i++)
			buf_printf(&ap->sql, "%s%s = wb_v.p%d", i > 0 ? ", " : "", rm->cols[b->col[i]], i + 1);
		buf_puts(&ap->sql, " FROM ");
	}
	else
		buf_printf(&ap->sql, "DELETE FROM %s wb_t USING ", rm->local);

	buf_puts(&ap->sql, "unnest(");
	for (int i = 0; i < n; i++)
		buf_printf(&ap->sql, "%s$%d::%s[]", i > 0 ? ", " : "",
				   param_string(ap, &p, batch_array(b, i)), rm->types[b->col[i]]);
	buf_puts(&ap->sql, ")");

	/*
	 * A plain INSERT, not ON CONFLICT DO NOTHING: speculative insertion
	 * costs about 40% more per row, and a key that exists here fails the
	 * statement, which sends the transaction one change at a time anyway
	 * (the server logs that error).
	 */
	if (insert && rm->tombstones)
	{
		/* with deletes tracked: only keys no later delete here removed */
		wb_buf		keys = {0};

		buf_puts(&ap->sql, " AS wb_v(");
		for (int i = 0; i < n; i++)
		{
			buf_printf(&ap->sql, "%sp%d", i > 0 ? ", " : "", i + 1);
			if (rm->flags[b->col[i]] & WB_COLUMN_PRIMARY_KEY)
				buf_printf(&keys, "%swb_d.%s = wb_v.p%d", keys.len > 0 ? " AND " : "",
						   rm->cols[b->col[i]], i + 1);
		}
		buf_puts(&ap->sql, ") WHERE ");
		if (keys.len > 0)
			append_not_deleted(ap, &p, rm, keys.data);
		else
			buf_puts(&ap->sql, "true");
		buf_free(&keys);
	}
	if (!insert)
	{
		buf_puts(&ap->sql, " AS wb_v(");
		for (int i = 0; i < n; i++)
			buf_printf(&ap->sql, "%sp%d", i > 0 ? ", " : "", i + 1);
		buf_puts(&ap->sql, ") WHERE ");
		for (int i = b->nset; i < n; i++)
			buf_printf(&ap->sql, "wb_t.%s = wb_v.p%d AND ", rm->cols[b->col[i]], i + 1);
		append_condition(ap, &p, "wb_t.");
	}
	batch_reset(b);
	params_fix(ap, &p);
	return pipeline_send(ap, ap->sql.data, p.n, p.values, rows, err, errlen);
}

/*
 * In a pipeline: gather the change into the batch, sending what was
 * gathered first when the change does not fit it, and the batch when it
 * is full.  *taken false: the change cannot go in bulk; the batch is then
 * empty, so its own statement comes after everything before it.
 */
static bool
batch_change(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, bool *taken,
			 char *err, size_t errlen)
{
	bool		bulk = batch_shape(&ap->batch, rm, rec);

	*taken = false;
	if ((!bulk || !batch_fits(&ap->batch, rm, rec)) && !flush_batch(ap, err, errlen))
		return false;
	if (!bulk)
		return true;
	*taken = true;
	batch_add(&ap->batch, rm, rec);
	return !batch_full(&ap->batch) || flush_batch(ap, err, errlen);
}

/*
 * Decide a conflict of this kind by the node's policy (remote_wins: see
 * conflict_decide()); false with the policy's error in err when it is
 * "error".  Recorded by log_conflict() once the decision is carried out.
 */
static bool
decide(wb_applier *ap, const wb_relmap *rm, wb_conflict_kind kind, bool remote_wins,
	   wb_resolution *decision, char *err, size_t errlen)
{
	*decision = conflict_decide(kind, ap->policy, remote_wins);
	if (*decision != WB_RESOLVE_ERROR)
		return true;
	conflict_error_text(err, errlen, kind, rm->display);
	return false;
}

/* Who wrote the row an insert found in its way (the policy's condition says who wins). */
typedef enum wb_row_owner
{
	ROW_GONE,					/* no row (deleted meanwhile) */
	ROW_SAME_PEER,				/* this peer wrote it last: no conflict */
	ROW_REMOTE_WINS,			/* another writer; the change wins */
	ROW_LOCAL_WINS				/* another writer; the row wins */
} wb_row_owner;

static bool
insert_owner(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, wb_row_owner *owner,
			 char *err, size_t errlen)
{
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	wb_answer	got;

	start_statement(ap, &p);
	buf_printf(&ap->sql, "SELECT CASE WHEN (SELECT c.roident = $%d::oid FROM pg_xact_commit_timestamp_origin(xmin) c)"
			   " THEN 'same' WHEN ", param_string(ap, &p, ap->origin_oid));
	append_condition(ap, &p, "");
	buf_printf(&ap->sql, " THEN 'remote' ELSE 'local' END FROM %s WHERE ", rm->local);
	append_key(ap, &p, rm, rec);
	buf_puts(&ap->sql, " FOR UPDATE");
	params_fix(ap, &p);
	if (!run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, &got))
		return false;
	*owner = !got.has_row ? ROW_GONE :
		strcmp(got.value, "same") == 0 ? ROW_SAME_PEER :
		strcmp(got.value, "remote") == 0 ? ROW_REMOTE_WINS : ROW_LOCAL_WINS;
	return true;
}

/*
 * An INSERT (or snapshot row), one at a time.  The key exists here:
 * written last by this same peer (its snapshot, sent again), simply the
 * newer version; otherwise two nodes inserted the same key (or a later
 * delete here removed it): decide, record, apply.
 */
static bool
insert_one(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	wb_answer	got;
	wb_row_owner owner;
	wb_conflict_kind kind;
	wb_resolution decision;

	start_statement(ap, &p);
	build_insert(ap, &p, rm, &rec->u.change.new, true);
	params_fix(ap, &p);
	if (!run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, &got))
		return false;
	if (got.touched == 1)
		return true;
	if (!insert_owner(ap, rm, rec, &owner, err, errlen))
		return false;
	if (owner != ROW_SAME_PEER)
	{
		kind = owner == ROW_GONE && rm->tombstones ? WB_CONFLICT_INSERT_DELETED : WB_CONFLICT_INSERT_EXISTS;
		if (!decide(ap, rm, kind, owner == ROW_REMOTE_WINS, &decision, err, errlen) ||
			!log_conflict(ap, rm, rec, kind, decision, err, errlen))
			return false;
		if (decision != WB_RESOLVE_APPLY_REMOTE)
			return true;
	}
	start_statement(ap, &p);
	build_update(ap, &p, rm, rec);
	params_fix(ap, &p);
	/* the decision is made: apply whatever the condition says now */
	return run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, NULL);
}

/*
 * An UPDATE, one at a time, that touched no row: the row here is newer,
 * or missing (deleted here later: it stays deleted; else inserted).
 */
static bool
update_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	int			exists;
	int			deleted;
	wb_conflict_kind kind;
	wb_resolution decision;

	if ((exists = row_exists(ap, rm, rec, err, errlen)) < 0)
		return false;
	kind = exists ? WB_CONFLICT_UPDATE_DIFFERS : WB_CONFLICT_UPDATE_MISSING;
	if (!decide(ap, rm, kind, false, &decision, err, errlen))
		return false;
	if (!exists)
	{
		if ((deleted = deleted_later(ap, rm, rec, err, errlen)) < 0)
			return false;
		if (deleted)
		{
			kind = WB_CONFLICT_UPDATE_DELETED;
			decision = conflict_decide(kind, ap->policy, false);
		}
	}
	if (decision == WB_RESOLVE_INSERT_REMOTE)
	{
		start_statement(ap, &p);
		build_insert(ap, &p, rm, &rec->u.change.new, false);
		params_fix(ap, &p);
		if (!run_ok(ap, ap->sql.data, p.n, p.values, err, errlen, NULL))
			return false;
	}
	return log_conflict(ap, rm, rec, kind, decision, err, errlen);
}

/*
 * A DELETE, one at a time, that touched no row: the row here is newer
 * (kept), or gone already (its delete remembered as a tombstone).
 */
static bool
delete_conflict(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	int			exists;
	wb_conflict_kind kind;
	wb_resolution decision;

	if ((exists = row_exists(ap, rm, rec, err, errlen)) < 0)
		return false;
	kind = exists ? WB_CONFLICT_DELETE_DIFFERS : WB_CONFLICT_DELETE_MISSING;
	if (!decide(ap, rm, kind, false, &decision, err, errlen))
		return false;
	if (!exists && !record_tombstone(ap, rm, rec, err, errlen))
		return false;
	return log_conflict(ap, rm, rec, kind, decision, err, errlen);
}

/* Whether the change can be applied to rm at all: false with err if not. */
static bool
change_fits(const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	if (rm == NULL)
	{
		snprintf(err, errlen, "%s record for relid %u without its RELATION record",
				 wb_record_tag_name(rec->tag), rec->u.change.relid);
		return false;
	}
	if (rm->error)
	{
		snprintf(err, errlen, "%s", rm->error);
		return false;
	}
	if (rec->u.change.new.present && rec->u.change.new.count != (uint32_t) rm->ncols)
	{
		snprintf(err, errlen, "%s record for %s has %u values for %d columns",
				 wb_record_tag_name(rec->tag), rm->display, rec->u.change.new.count, rm->ncols);
		return false;
	}
	if (rec->u.change.old.present && rec->u.change.old.count != relmap_old_count(rm, rec))
	{
		snprintf(err, errlen, "%s record for %s has %u old values for %u %scolumns",
				 wb_record_tag_name(rec->tag), rm->display, rec->u.change.old.count,
				 relmap_old_count(rm, rec), rec->u.change.old_kind == WB_OLD_FULL ? "" : "identity ");
		return false;
	}
	return true;
}

/*
 * One change.  In a pipeline (ap->fast): only the statement that applies
 * it when nothing conflicts, in bulk where it can.  One at a time: one
 * statement that applies unless the local row belongs to a newer write
 * (the policy's condition); only when it touches no row do we look
 * closer, decide and record the conflict.
 */
static bool
apply_change(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	wb_relmap  *rm = relmaps_find(&ap->maps, rec->u.change.relid);
	params		p;				/* 34 kB: never zeroed, only p.n is read first */
	int			touched;

	if (!change_fits(rm, rec, err, errlen))
		return false;
	if (ap->fast)
	{
		bool		taken;

		if (!batch_change(ap, rm, rec, &taken, err, errlen))
			return false;
		if (taken)
			return true;
	}

	start_statement(ap, &p);
	switch (rec->tag)
	{
		case WB_REC_INSERT:
		case WB_REC_SNAPSHOT:
			if (!ap->fast)
				return insert_one(ap, rm, rec, err, errlen);
			build_insert(ap, &p, rm, &rec->u.change.new, true);
			return send_change(ap, &p, err, errlen);

		case WB_REC_UPDATE:
			if (!build_update(ap, &p, rm, rec))
			{
				if (!rec->u.change.old.present && rm->ncols > 0)
					return true;	/* only unchanged TOAST values: nothing to do */
				snprintf(err, errlen, "UPDATE of %s without a primary key value", rm->display);
				return false;
			}
			if (ap->fast)
				return send_change(ap, &p, err, errlen);
			if ((touched = run_touched(ap, &p, err, errlen)) != 0)
				return touched > 0;
			return update_conflict(ap, rm, rec, err, errlen);

		case WB_REC_DELETE:
			if (!rec->u.change.old.present)
			{
				snprintf(err, errlen, "DELETE from %s without its key (replica identity nothing?)", rm->display);
				return false;
			}
			buf_printf(&ap->sql, "DELETE FROM %s WHERE ", rm->local);
			append_key(ap, &p, rm, rec);
			buf_puts(&ap->sql, " AND ");
			append_condition(ap, &p, "");
			if (ap->fast)
				return send_change(ap, &p, err, errlen);
			if ((touched = run_touched(ap, &p, err, errlen)) != 0)
				return touched > 0;
			return delete_conflict(ap, rm, rec, err, errlen);
		default:
			return true;
	}
}

/*
 * The first value of the change that does not fit its column here (too
 * long for varchar(n) or char(n), too many bits or digits): err then names
 * the column, the value's size and the column's type, which the server's
 * own message does not.  False if every value fits.
 */
static bool
name_misfit(wb_applier *ap, const wb_relmap *rm, const wb_record *rec, char *err, size_t errlen)
{
	wb_mpcur	cur = rec->u.change.new.values;
	wb_buf		text = {0};
	bool		found = false;

	if (!rec->u.change.new.present)
		return false;
	for (int i = 0; i < rm->ncols && !found; i++)
	{
		wb_value	v;
		char		why[64];

		wb_record_next_value(&cur, &v);
		buf_reset(&text);
		if (rm->cols[i] == NULL || rm->generated[i] || v.unchanged_toast || !sqltext_value(&text, &v))
			continue;
		if (!fit_check(rm->basetypes[i], rm->typmods[i], text.data, why, sizeof(why)))
		{
			char		server[512];

			snprintf(server, sizeof(server), "%s", err);
			snprintf(err, errlen, "the value of column %s of table %s does not fit here: %s for %s (%s)",
					 rm->cols[i], rm->display, why, rm->declared[i], server);
			found = true;
		}
	}
	buf_free(&text);
	return found;
}

/*
 * A change failed, applied one at a time: say what was wrong in the words
 * of this node's table.  A value too large for its column names the
 * column; a row that collides here on a unique key other than the primary
 * key is a conflict (apply never drops the row, nor overwrites the other
 * one): recorded in walbridge.conflicts when apply pauses on it.
 */
static void
explain_failure(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	const wb_relmap *rm = relmaps_find(&ap->maps, rec->u.change.relid);
	char		server[768];

	if (rm == NULL || rm->error)
		return;
	if (strcmp(ap->sqlstate, STRING_TOO_LONG) == 0 || strcmp(ap->sqlstate, NUMERIC_OUT_OF_RANGE) == 0 ||
		strcmp(ap->sqlstate, BIT_LENGTH_MISMATCH) == 0)
		(void) name_misfit(ap, rm, rec, err, errlen);
	else if (strcmp(ap->sqlstate, UNIQUE_VIOLATION) == 0)
	{
		snprintf(server, sizeof(server), "%s", err);
		snprintf(err, errlen, "conflict: the %s row collides in %s with another row on a unique key (%s); change or remove one of the two rows on one node, or skip this transaction",
				 wb_record_tag_name(rec->tag), rm->display, server);
		buf_reset(&ap->pending_conflict);
		remote_json(ap, &ap->pending_conflict, rm, rec);
		free(ap->pending_conflict_table);
		ap->pending_conflict_table = xstrdup(rm->display);
	}
}

/*
 * The unique key conflict apply just paused on, in walbridge.conflicts
 * (outside the rolled back transaction): decision "pause".
 */
static void
record_pause_conflict(wb_applier *ap)
{
	const char *values[5] = {ap->peer, ap->pending_conflict_table, ap->pending_conflict.data,
	ap->txn_time, ap->txn_lsn};
	PGresult   *res = run(ap,
						  "INSERT INTO walbridge.conflicts (peer, table_name, kind, decision, remote_row,"
						  " remote_commit_time, remote_commit_lsn)"
						  " VALUES ($1, $2, 'unique_conflict', 'pause', $3::jsonb, $4::timestamptz, $5::pg_lsn)",
						  5, values);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		wb_log(WB_LOG_WARNING, "could not record the conflict of node \"%s\": %s", ap->peer,
			   PQerrorMessage(ap->conn));
	PQclear(res);
}

static bool
apply_truncate(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	wb_mpcur	cur = rec->u.truncate.relids;

	if (ap->fast && !flush_batch(ap, err, errlen))
		return false;
	buf_reset(&ap->sql);
	buf_puts(&ap->sql, "TRUNCATE ");
	for (uint32_t i = 0; i < rec->u.truncate.nrelids; i++)
	{
		wb_relmap  *rm = relmaps_find(&ap->maps, wb_record_next_relid(&cur));

		if (rm == NULL || rm->error)
		{
			snprintf(err, errlen, "%s", rm ? rm->error : "TRUNCATE of a table without its RELATION record");
			return false;
		}
		buf_printf(&ap->sql, "%s%s", i > 0 ? ", " : "", rm->local);
	}
	if (rec->u.truncate.flags & WB_TRUNCATE_RESTART_SEQS)
		buf_puts(&ap->sql, " RESTART IDENTITY");
	if (rec->u.truncate.flags & WB_TRUNCATE_CASCADE)
		buf_puts(&ap->sql, " CASCADE");
	return exec_or_send(ap, ap->sql.data, 0, NULL, false, err, errlen);
}

/*
 * The next record of a message (its bytes at payload + *start, *reclen
 * long): 1, or 0 at the end, or -1 with err if it does not decode.
 */
static int
next_record(wb_mpcur *cur, const char *payload, wb_record *rec, size_t *start, size_t *reclen,
			char *err, size_t errlen)
{
	char		perr[WB_RECORD_ERRLEN];
	int			rc;

	if (wb_mp_at_end(cur))
		return 0;
	*start = wb_mp_offset(cur);
	if ((rc = wb_mp_skip(cur)) != WB_MP_OK)
	{
		snprintf(err, errlen, "the message does not decode: byte %zu: %s", *start, wb_mp_strerror(rc));
		return -1;
	}
	*reclen = wb_mp_offset(cur) - *start;
	if (!wb_record_parse(payload + *start, *reclen, rec, perr, sizeof(perr)))
	{
		snprintf(err, errlen, "the message does not decode: %s", perr);
		return -1;
	}
	return 1;
}

/* Every record of a message, in order. */
static bool
apply_records(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen)
{
	wb_mpcur	cur;
	wb_record	rec;
	size_t		start;
	size_t		reclen;
	int			got;

	wb_mp_init(&cur, payload, len);
	while ((got = next_record(&cur, payload, &rec, &start, &reclen, err, errlen)) > 0)
	{
		switch (rec.tag)
		{
			case WB_REC_BEGIN:
			case WB_REC_COMMIT:
			case WB_REC_MESSAGE:
				break;
			case WB_REC_RELATION:
				if (!relmaps_describe(&ap->maps, &ap->stmts, payload + start, reclen, &rec, err, errlen))
					return false;
				break;
			case WB_REC_TRUNCATE:
				if (!apply_truncate(ap, &rec, err, errlen))
					return false;
				break;
			default:
				ap->sqlstate[0] = '\0';
				if (!apply_change(ap, &rec, err, errlen))
				{
					if (!ap->fast)
						explain_failure(ap, &rec, err, errlen);
					return false;
				}
				break;
		}
	}
	return got == 0 && (!ap->fast || flush_batch(ap, err, errlen));
}

/* ------------------------------------------------------------- progress */

/*
 * The source transaction applied from now on.  Its commit time and LSN go
 * into every conflict check, conflict record and the progress row: made
 * text once here, not per change.
 */
static void
begin_source_txn(wb_applier *ap, const wb_msgmeta *meta, int64_t offset)
{
	wb_buf		t = {0};

	ap->txn = *meta;
	ap->txn_first_offset = offset;
	ap->conflicts = 0;
	sqltext_timestamp(&t, meta->commit_time - WB_PG_EPOCH_OFFSET_USECS, true);
	snprintf(ap->txn_time, sizeof(ap->txn_time), "%s", t.data ? t.data : "");
	buf_free(&t);
	snprintf(ap->txn_lsn, sizeof(ap->txn_lsn), WB_LSN_FORMAT, WB_LSN_ARGS(meta->commit_lsn));
}

static bool
record_progress(wb_applier *ap, int64_t offset, bool with_commit, char *err, size_t errlen)
{
	char		off[32];
	char		conflicts[16];
	const char *origin[2] = {ap->txn_lsn, ap->txn_time};
	const char *values[5] = {ap->peer, off, conflicts, ap->txn_lsn, ap->txn_time};

	snprintf(off, sizeof(off), "%" PRId64, offset);
	snprintf(conflicts, sizeof(conflicts), "%d", ap->conflicts);
	if (!with_commit)
		return exec_or_send(ap,
							"UPDATE walbridge.apply_progress SET kafka_offset = $2, applied_at = now(),"
							" conflicts = conflicts + $3, paused_offset = NULL, last_error = NULL,"
							" skip_offset = NULL WHERE peer = $1",
							3, values, true, err, errlen);
	return exec_or_send(ap, "SELECT pg_replication_origin_xact_setup($1::pg_lsn, $2::timestamptz)",
						2, origin, false, err, errlen) &&
		exec_or_send(ap,
					 "UPDATE walbridge.apply_progress SET kafka_offset = $2, applied_at = now(),"
					 " conflicts = conflicts + $3, source_commit_lsn = $4, source_commit_time = $5,"
					 " paused_offset = NULL, last_error = NULL, skip_offset = NULL WHERE peer = $1",
					 5, values, true, err, errlen);
}

/* --------------------------------------------------------------- public */

/*
 * Stop applying this peer at offset, with the reason logged and recorded
 * in walbridge.apply_progress; retried every few seconds.
 */
wb_apply_result
apply_pause(wb_applier *ap, int64_t offset, const char *fmt,...)
{
	char		reason[1024];
	char		message[1400];
	char		off[32];
	const char *values[3];
	va_list		va;
	PGresult   *res;

	va_start(va, fmt);
	vsnprintf(reason, sizeof(reason), fmt, va);
	va_end(va);
	if (ap->in_txn)
		rollback(ap);
	snprintf(message, sizeof(message), "topic %s offset %" PRId64 ": %s", ap->topic, offset, reason);
	if (!apply_waiting(ap) || ap->paused_offset != offset)
	{
		wb_log(WB_LOG_ERROR, "applying node \"%s\" paused at %s; it resumes by itself after the fix, or after SELECT walbridge.skip('%s')",
			   ap->peer, message, ap->peer);
	}
	/* a conflict that pauses is recorded once, not at every retry */
	if (ap->pending_conflict.len > 0 && ap->conflict_recorded_offset != offset)
	{
		record_pause_conflict(ap);
		ap->conflict_recorded_offset = offset;
	}
	buf_reset(&ap->pending_conflict);
	ap->state = WB_PEER_PAUSED;
	ap->paused_offset = offset;
	ap->retry_at_us = wb_now_us() + RETRY_PAUSED_US;
	ap->skipping = false;

	snprintf(off, sizeof(off), "%" PRId64, offset);
	values[0] = ap->peer;
	values[1] = off;
	values[2] = message;
	res = run(ap, "UPDATE walbridge.apply_progress SET paused_offset = $2, last_error = $3,"
			  " last_error_at = now() WHERE peer = $1", 3, values);
	PQclear(res);
	return connection_lost(ap) ? WB_APPLY_FAILED : WB_APPLY_PAUSED;
}

/*
 * Forget what a retry must look at afresh (the local tables may be fixed),
 * unless this only reads a transaction again to apply it one by one.
 */
void
apply_resume(wb_applier *ap)
{
	wb_peer_state was = ap->state;

	ap->state = WB_PEER_RUNNING;
	if (was == WB_PEER_REWINDING)
		return;
	relmaps_clear(&ap->maps);
	/* the tables may have changed: plan everything afresh */
	stmts_forget(&ap->stmts);
}

/*
 * A change of this transaction needs a closer look (a conflict, or an
 * error to report), but its first chunks were already read: read it again
 * from its first message, to apply it one change at a time.
 */
static wb_apply_result
apply_rewind(wb_applier *ap)
{
	ap->one_by_one_lsn = ap->txn.commit_lsn;
	ap->state = WB_PEER_REWINDING;
	ap->paused_offset = ap->txn_first_offset;
	ap->retry_at_us = 0;
	return WB_APPLY_PAUSED;
}

/* Resolve the message's RELATION records before its pipeline starts. */
static bool
describe_relations(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen)
{
	wb_mpcur	cur;
	wb_record	rec;
	size_t		start;
	size_t		reclen;
	int			got;

	wb_mp_init(&cur, payload, len);
	while ((got = next_record(&cur, payload, &rec, &start, &reclen, err, errlen)) > 0)
		if (rec.tag == WB_REC_RELATION &&
			!relmaps_describe(&ap->maps, &ap->stmts, payload + start, reclen, &rec, err, errlen))
			return false;
	return got == 0;
}

typedef enum wb_pipelined
{
	PIPELINED,					/* applied (and committed, if finish) */
	ONE_BY_ONE,					/* rolled back: apply it one change at a time */
	PIPELINE_LOST				/* the connection is gone */
} wb_pipelined;

/*
 * A message as one pipeline: BEGIN (begin), its changes (changes), the
 * progress (finish; with the origin's commit data for with_commit), all
 * sent without waiting, then COMMIT (finish) once every result is in and
 * each change touched its row.  Anything else (a conflict, an error) rolls
 * the local transaction back: applied one change at a time, the same
 * message gets its conflicts resolved and its errors reported.
 */
static wb_pipelined
apply_pipelined(wb_applier *ap, int64_t offset, const char *payload, size_t len,
				bool begin, bool changes, bool finish, bool with_commit)
{
	char		err[1024] = "";
	bool		sent;
	wb_pipeline_result r;

	if (changes && !describe_relations(ap, payload, len, err, sizeof(err)))
		sent = false;
	else
	{
		if (!stmts_pipeline_begin(&ap->stmts))
			return connection_lost(ap) ? PIPELINE_LOST : ONE_BY_ONE;
		ap->fast = true;
		batch_reset(&ap->batch);
		sent = (!begin || exec_or_send(ap, "BEGIN", 0, NULL, false, err, sizeof(err))) &&
			(!changes || apply_records(ap, payload, len, err, sizeof(err))) &&
			(!finish || record_progress(ap, offset, with_commit, err, sizeof(err)));
		ap->fast = false;
		batch_reset(&ap->batch);
		r = stmts_pipeline_end(&ap->stmts);
		if (r == WB_PIPELINE_LOST)
			return PIPELINE_LOST;
		if (r != WB_PIPELINE_OK && sent)
		{
			sent = false;
			snprintf(err, sizeof(err), "%s", ap->stmts.why);
		}
	}
	if (sent && finish && run_ok(ap, "COMMIT", 0, NULL, err, sizeof(err), NULL))
	{
		ap->in_txn = false;
		return PIPELINED;
	}
	if (sent && !finish)
	{
		ap->in_txn = true;
		return PIPELINED;
	}
	if (connection_lost(ap))
		return PIPELINE_LOST;
	wb_log(WB_LOG_DEBUG, "applying node \"%s\" at topic %s offset %" PRId64 ": %s; one change at a time",
		   ap->peer, ap->topic, offset, err);
	if (PQtransactionStatus(ap->conn) != PQTRANS_IDLE)
		rollback(ap);
	ap->in_txn = false;
	return ONE_BY_ONE;
}

static wb_apply_result
apply_txn_message(wb_applier *ap, int64_t offset, const wb_msgmeta *meta,
				  const char *payload, size_t len)
{
	char		err[1024];
	bool		first = meta->chunk == 0;

	if (first)
	{
		if (ap->in_txn)
		{
			/* the publisher restarted inside a transaction and sends it again */
			rollback(ap);
		}
		begin_source_txn(ap, meta, offset);
		ap->skipping = (meta->commit_lsn <= ap->applied_lsn) || offset == ap->skip_offset;
	}
	else if (!ap->in_txn || meta->xid != ap->txn.xid || meta->commit_lsn != ap->txn.commit_lsn)
		return apply_pause(ap, offset, "chunk %d of xid %u arrived without the chunks before it",
						   meta->chunk, meta->xid);

	if (ap->skipping)
	{
		ap->in_txn = !meta->last;
		if (!meta->last)
			return WB_APPLY_OK;
		if (offset >= ap->skip_offset && ap->skip_offset >= 0)
			wb_log(WB_LOG_WARNING, "skipped xid %u of node \"%s\" (topic %s offsets %" PRId64 "-%" PRId64 ") as walbridge.skip() asked",
				   meta->xid, ap->peer, ap->topic, ap->txn_first_offset, offset);
		if (!record_progress(ap, offset, false, err, sizeof(err)))
			return connection_lost(ap) ? WB_APPLY_FAILED : apply_pause(ap, offset, "%s", err);
		ap->skip_offset = -1;
		ap->applied_offset = offset;
		return WB_APPLY_OK;
	}

	if (ap->one_by_one_lsn != meta->commit_lsn)
	{
		switch (apply_pipelined(ap, offset, payload, len, first, true, meta->last, true))
		{
			case PIPELINED:
				if (meta->last)
				{
					ap->applied_offset = offset;
					ap->applied_lsn = meta->commit_lsn;
				}
				return WB_APPLY_OK;
			case PIPELINE_LOST:
				return WB_APPLY_FAILED;
			case ONE_BY_ONE:
				ap->one_by_one_lsn = meta->commit_lsn;
				if (!first)
					return apply_rewind(ap);
				break;
		}
	}

	if (first)
	{
		if (!run_ok(ap, "BEGIN", 0, NULL, err, sizeof(err), NULL))
			return connection_lost(ap) ? WB_APPLY_FAILED : apply_pause(ap, offset, "%s", err);
		ap->in_txn = true;
	}
	if (!apply_records(ap, payload, len, err, sizeof(err)))
	{
		if (connection_lost(ap))
			return WB_APPLY_FAILED;
		return apply_pause(ap, ap->txn_first_offset, "xid %u (commit " WB_LSN_FORMAT "): %s",
						   ap->txn.xid, WB_LSN_ARGS(ap->txn.commit_lsn), err);
	}
	if (!meta->last)
		return WB_APPLY_OK;

	if (!record_progress(ap, offset, true, err, sizeof(err)) ||
		!run_ok(ap, "COMMIT", 0, NULL, err, sizeof(err), NULL))
	{
		if (connection_lost(ap))
			return WB_APPLY_FAILED;
		return apply_pause(ap, ap->txn_first_offset, "xid %u (commit " WB_LSN_FORMAT "): %s",
						   ap->txn.xid, WB_LSN_ARGS(ap->txn.commit_lsn), err);
	}
	ap->in_txn = false;
	ap->applied_offset = offset;
	ap->applied_lsn = meta->commit_lsn;
	return WB_APPLY_OK;
}

/* A message that stands alone: a snapshot chunk, or anything else. */
static wb_apply_result
apply_single_message(wb_applier *ap, int64_t offset, const wb_msgmeta *meta,
					 const char *payload, size_t len)
{
	char		err[1024];
	bool		apply = strcmp(meta->kind, "snapshot") == 0 && offset != ap->skip_offset;

	wb_msgmeta	alone = {.commit_time = meta->commit_time};

	begin_source_txn(ap, &alone, offset);
	switch (apply_pipelined(ap, offset, payload, len, true, apply, true, false))
	{
		case PIPELINED:
			ap->applied_offset = offset;
			ap->skip_offset = -1;
			return WB_APPLY_OK;
		case PIPELINE_LOST:
			return WB_APPLY_FAILED;
		case ONE_BY_ONE:
			break;
	}

	if (!run_ok(ap, "BEGIN", 0, NULL, err, sizeof(err), NULL))
		return connection_lost(ap) ? WB_APPLY_FAILED : apply_pause(ap, offset, "%s", err);
	ap->in_txn = true;
	if ((apply && !apply_records(ap, payload, len, err, sizeof(err))) ||
		!record_progress(ap, offset, false, err, sizeof(err)) ||
		!run_ok(ap, "COMMIT", 0, NULL, err, sizeof(err), NULL))
	{
		if (connection_lost(ap))
			return WB_APPLY_FAILED;
		return apply_pause(ap, offset, "%s", err);
	}
	ap->in_txn = false;
	ap->applied_offset = offset;
	ap->skip_offset = -1;
	return WB_APPLY_OK;
}

wb_apply_result
apply_message(wb_applier *ap, int64_t offset, const wb_msgmeta *meta,
			  const char *payload, size_t len)
{
	if (offset <= ap->applied_offset)
		return WB_APPLY_OK;		/* already here (fetched again) */
	if (strcmp(meta->kind, "txn") == 0)
		return apply_txn_message(ap, offset, meta, payload, len);
	return apply_single_message(ap, offset, meta, payload, len);
}

/* Read this peer's row of walbridge.apply_progress. */
int
apply_reload_progress(wb_applier *ap)
{
	const char *values[1] = {ap->peer};
	PGresult   *res = run(ap,
						  "SELECT coalesce(kafka_offset, -2), coalesce(source_commit_lsn - '0/0', 0),"
						  " coalesce(skip_offset, -1)"
						  " FROM walbridge.apply_progress WHERE peer = $1", 1, values);
	int			rc = WB_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		wb_log(WB_LOG_ERROR, "could not read walbridge.apply_progress for node \"%s\": %s",
			   ap->peer, PQerrorMessage(ap->conn));
		rc = WB_ERR;
	}
	else
	{
		ap->applied_offset = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		ap->applied_lsn = strtoull(PQgetvalue(res, 0, 1), NULL, 10);
		ap->skip_offset = strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	}
	PQclear(res);
	return rc;
}

/*
 * Applying a peer without the initial copy starts at its topic's end as
 * it is the first time: record that start at once, so that a restart
 * before the first message is applied starts there too, not at a later
 * end (which would pass over what arrived meanwhile).
 */
int
apply_pin_start(wb_applier *ap, int64_t next)
{
	char		before[24];
	const char *values[2] = {ap->peer, before};
	PGresult   *res;
	int			rc = WB_OK;

	snprintf(before, sizeof(before), "%" PRId64, next - 1);
	res = run(ap, "UPDATE walbridge.apply_progress SET kafka_offset = $2::bigint"
			  " WHERE peer = $1 AND kafka_offset IS NULL", 2, values);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		wb_log(WB_LOG_ERROR, "could not record where applying node \"%s\" starts: %s",
			   ap->peer, PQerrorMessage(ap->conn));
		rc = WB_ERR;
	}
	else
		ap->applied_offset = next - 1;
	PQclear(res);
	return rc;
}

int
apply_open(wb_applier *ap, const char *conninfo, const char *peer, const char *node,
		   const char *topic, wb_conflict_policy policy)
{
	const char *keys[] = {"dbname", "application_name", "options", "client_encoding", NULL};
	const char *values[] = {conninfo, "walbridged apply",
		"-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c synchronous_commit=off"
		" -c session_replication_role=replica -c search_path=pg_catalog,pg_temp",
		"UTF8", NULL};
	char		origin[200];
	const char *params[1] = {origin};
	PGresult   *res;

	memset(ap, 0, sizeof(*ap));
	ap->peer = xstrdup(peer);
	ap->node = xstrdup(node);
	ap->topic = xstrdup(topic);
	ap->policy = policy;
	ap->state = WB_PEER_RUNNING;
	ap->applied_offset = WB_OFFSET_NONE;
	ap->skip_offset = -1;
	ap->conflict_recorded_offset = -1;
	ap->conn = PQconnectdbParams(keys, values, 1);
	stmts_init(&ap->stmts, ap->conn);
	if (PQstatus(ap->conn) != CONNECTION_OK)
	{
		wb_log(WB_LOG_ERROR, "could not connect to apply node \"%s\": %s%s", peer, PQerrorMessage(ap->conn),
			   strstr(PQerrorMessage(ap->conn), "session_replication_role") ?
			   "HINT: apply runs with session_replication_role = replica (user triggers and foreign key checks do not fire, as in native logical replication); a superuser runs SELECT walbridge.grant_walbridged('<role>'), which grants SET on it" : "");
		return WB_ERR;
	}

	/*
	 * synchronous_commit off: crash safety comes from the origin's progress
	 * and the offset recorded in the same transaction, not from each commit
	 * reaching disk.  session_replication_role replica: user triggers and
	 * foreign key checks fire where a change is made, not again here.
	 * search_path pg_catalog: no function or operator a user created on
	 * the default path is picked over the built-in one (nodeinfo_connect).
	 */
	snprintf(origin, sizeof(origin), "walbridge_%s", peer);
	res = run(ap, "SELECT pg_replication_origin_session_setup($1), pg_replication_origin_oid($1)",
			  1, params);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not apply as replication origin \"%s\": %s", origin,
			   PQerrorMessage(ap->conn));
		PQclear(res);
		return WB_ERR;
	}
	snprintf(ap->origin_oid, sizeof(ap->origin_oid), "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	return apply_reload_progress(ap);
}

void
apply_close(wb_applier *ap)
{
	relmaps_clear(&ap->maps);
	batch_free(&ap->batch);
	if (ap->conn)
		PQfinish(ap->conn);
	stmts_close(&ap->stmts);
	buf_free(&ap->sql);
	buf_free(&ap->text);
	buf_free(&ap->pending_conflict);
	free(ap->pending_conflict_table);
	free(ap->peer);
	free(ap->node);
	free(ap->topic);
	memset(ap, 0, sizeof(*ap));
}
