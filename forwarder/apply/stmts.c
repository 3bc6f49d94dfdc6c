/*-------------------------------------------------------------------------
 *
 * stmts.c
 *		Statements on the apply connection: each shape prepared once per
 *		session, run one at a time or sent as a pipeline.
 *
 * The statements apply runs have few shapes (table, kind of change,
 * columns sent), so each is parsed and planned once per session under a
 * name that never changes.  A pipeline sends a whole message's changes
 * without waiting for each result; the results are read at a sync point
 * every PIPELINE_SYNC_EVERY commands, which also bounds how much the server
 * has to hold for us, so neither side can block the other.
 *
 * IDENTIFICATION
 *		forwarder/apply/stmts.c
 *
 *-------------------------------------------------------------------------
 */
#include "stmts.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "log.h"
#include "wb.h"

#define PIPELINE_SYNC_EVERY	500
#define MAX_SHAPES			4096

void
stmts_init(wb_stmts *st, PGconn *conn)
{
	memset(st, 0, sizeof(*st));
	st->conn = conn;
}

/* Free everything; the connection is already gone. */
void
stmts_close(wb_stmts *st)
{
	st->conn = NULL;
	stmts_forget(st);
	free(st->pending);
	memset(st, 0, sizeof(*st));
}

/* Forget every prepared statement, here and on the server. */
void
stmts_forget(wb_stmts *st)
{
	for (size_t i = 0; i < st->cap; i++)
		free(st->entries[i].sql);
	free(st->entries);
	st->entries = NULL;
	st->cap = st->used = 0;
	if (st->conn && PQstatus(st->conn) == CONNECTION_OK && !st->pipelining)
		PQclear(PQexec(st->conn, "DEALLOCATE ALL"));
}

static size_t
slot_for(const wb_stmt_entry *entries, size_t cap, const char *sql)
{
	size_t		i = wb_hash_bytes(sql, strlen(sql)) & (cap - 1);

	while (entries[i].sql != NULL && strcmp(entries[i].sql, sql) != 0)
		i = (i + 1) & (cap - 1);
	return i;
}

static void
grow(wb_stmts *st)
{
	size_t		cap = st->cap ? st->cap * 2 : 64;
	wb_stmt_entry *entries = xcalloc(cap, sizeof(wb_stmt_entry));

	for (size_t i = 0; i < st->cap; i++)
		if (st->entries[i].sql != NULL)
			entries[slot_for(entries, cap, st->entries[i].sql)] = st->entries[i];
	free(st->entries);
	st->entries = entries;
	st->cap = cap;
}

/* The entry for sql, made (not yet prepared) on first use. */
static wb_stmt_entry *
lookup(wb_stmts *st, const char *sql)
{
	size_t		i;

	/* a pathological number of shapes: start over rather than grow forever */
	if (st->used >= MAX_SHAPES && !st->pipelining)
		stmts_forget(st);
	if (st->used * 2 >= st->cap)
		grow(st);
	i = slot_for(st->entries, st->cap, sql);
	if (st->entries[i].sql == NULL)
	{
		st->entries[i].sql = xstrdup(sql);
		st->entries[i].id = st->next_id++;
		st->entries[i].ready = false;
		st->used++;
	}
	return &st->entries[i];
}

static void
entry_name(const wb_stmt_entry *e, char *name, size_t namelen)
{
	snprintf(name, namelen, "wb%u", (unsigned) e->id);
}

PGresult *
stmts_exec(wb_stmts *st, const char *sql, int nparams, const char *const *values)
{
	wb_stmt_entry *e;
	char		name[24];

	if (nparams == 0)
		return PQexecParams(st->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	e = lookup(st, sql);
	entry_name(e, name, sizeof(name));
	if (!e->ready)
	{
		PGresult   *res = PQprepare(st->conn, name, sql, nparams, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			return res;			/* the real error, not a later "aborted" */
		PQclear(res);
		e->ready = true;
	}
	return PQexecPrepared(st->conn, name, nparams, values, NULL, NULL, 0);
}

/* ------------------------------------------------------------- pipeline */

static void
differs(wb_stmts *st, const char *fmt, const char *detail)
{
	if (!st->differs)
		snprintf(st->why, sizeof(st->why), fmt, detail);
	st->differs = true;
}

static void
push_pending(wb_stmts *st, int entry, int expect_rows)
{
	if (st->npending == st->pending_cap)
	{
		st->pending_cap = st->pending_cap ? st->pending_cap * 2 : 64;
		st->pending = xrealloc(st->pending, sizeof(wb_stmt_pending) * st->pending_cap);
	}
	st->pending[st->npending++] = (wb_stmt_pending) {.entry = entry, .expect_rows = expect_rows};
}

/*
 * Read the results of every command sent since the last sync point, up to
 * the sync itself.  A PREPARE that did not happen (it failed, or an earlier
 * error skipped it) is marked so, to be sent again next time.
 */
static void
collect(wb_stmts *st)
{
	int			k = 0;
	int			nulls = 0;

	for (;;)
	{
		PGresult   *res = PQgetResult(st->conn);
		ExecStatusType status;
		const wb_stmt_pending *p;

		if (res == NULL)
		{
			/* one NULL ends each command's results; two mean nothing is coming */
			if (++nulls > 1)
			{
				differs(st, "%s", PQerrorMessage(st->conn));
				break;
			}
			continue;
		}
		nulls = 0;
		status = PQresultStatus(res);
		if (status == PGRES_PIPELINE_SYNC)
		{
			PQclear(res);
			break;
		}
		p = k < st->npending ? &st->pending[k] : NULL;
		k++;
		if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK)
		{
			if (p && p->expect_rows >= 0 && atol(PQcmdTuples(res)) != p->expect_rows)
			{
				char		what[96];

				snprintf(what, sizeof(what), "%d change(s) touched %s row(s)", p->expect_rows,
						 PQcmdTuples(res)[0] ? PQcmdTuples(res) : "no");
				differs(st, "%s (a conflict)", what);
			}
		}
		else
		{
			if (p && p->entry >= 0)
				st->entries[p->entry].ready = false;
			if (status != PGRES_PIPELINE_ABORTED)
				differs(st, "%s", PQresultErrorMessage(res));
		}
		PQclear(res);
	}
	st->npending = 0;
}

bool
stmts_pipeline_begin(wb_stmts *st)
{
	st->differs = false;
	st->why[0] = '\0';
	st->npending = 0;
	if (!PQenterPipelineMode(st->conn))
		return false;
	st->pipelining = true;
	return true;
}

bool
stmts_send(wb_stmts *st, const char *sql, int nparams, const char *const *values, int expect_rows)
{
	int			sent;

	if (st->differs)
		return false;
	if (nparams == 0)
		sent = PQsendQueryParams(st->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
	else
	{
		wb_stmt_entry *e = lookup(st, sql);
		char		name[24];

		entry_name(e, name, sizeof(name));
		if (!e->ready)
		{
			if (!PQsendPrepare(st->conn, name, sql, nparams, NULL))
			{
				differs(st, "%s", PQerrorMessage(st->conn));
				return false;
			}
			push_pending(st, (int) (e - st->entries), -1);
			e->ready = true;	/* the next use in this pipeline must not prepare again */
		}
		sent = PQsendQueryPrepared(st->conn, name, nparams, values, NULL, NULL, 0);
	}
	if (!sent)
	{
		differs(st, "%s", PQerrorMessage(st->conn));
		return false;
	}
	push_pending(st, -1, expect_rows);

	if (st->npending >= PIPELINE_SYNC_EVERY)
	{
		if (!PQpipelineSync(st->conn))
		{
			differs(st, "%s", PQerrorMessage(st->conn));
			return false;
		}
		collect(st);
	}
	return !st->differs;
}

wb_pipeline_result
stmts_pipeline_end(wb_stmts *st)
{
	if (st->npending > 0)
	{
		if (PQpipelineSync(st->conn))
			collect(st);
		else
			differs(st, "%s", PQerrorMessage(st->conn));
	}
	st->npending = 0;
	if (!PQexitPipelineMode(st->conn))
		differs(st, "%s", PQerrorMessage(st->conn));
	st->pipelining = false;
	if (PQstatus(st->conn) != CONNECTION_OK)
		return WB_PIPELINE_LOST;
	return st->differs ? WB_PIPELINE_DIFFERS : WB_PIPELINE_OK;
}
