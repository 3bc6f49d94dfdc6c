/*-------------------------------------------------------------------------
 *
 * apply.c
 *		Apply a peer's messages: one local transaction per source
 *		transaction, exactly once.  The per-peer state machine (running,
 *		paused, rewinding; apply.h) and the choice of executor: each message
 *		goes as one pipeline first (exec_bulk.c); what that cannot settle is
 *		applied again one change at a time (exec_row.c), where conflicts are
 *		decided (conflict.c) and reported (report.c).
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
#include "dispatch.h"
#include "exec.h"
#include "log.h"
#include "record.h"
#include "report.h"
#include "sqltext.h"
#include "sqlgen.h"
#include "wb.h"

#define RETRY_PAUSED_US		(5 * INT64_C(1000000))

/* --------------------------------------------------------------- helpers */

static PGresult *
run(wb_applier *ap, const char *sql, int nparams, const char *const *values)
{
	return stmts_exec(&ap->stmts, sql, nparams, values);
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

/* ------------------------------------------------------------- progress */

/*
 * The source transaction applied from now on.  Its commit time and LSN go
 * into every conflict check, conflict record and the progress row: made
 * text once here, not per change.
 */
static void
set_txn_time(wb_applier *ap, int64_t pg_usecs)
{
	wb_buf		t = {0};

	sqltext_timestamp(&t, pg_usecs, true);
	snprintf(ap->txn_time, sizeof(ap->txn_time), "%s", t.data ? t.data : "");
	buf_free(&t);
}

static void
begin_source_txn(wb_applier *ap, const wb_msgmeta *meta, int64_t offset)
{
	ap->txn = *meta;
	ap->txn_first_offset = offset;
	ap->conflicts = 0;
	set_txn_time(ap, meta->commit_time - WB_PG_EPOCH_OFFSET_USECS);
	snprintf(ap->txn_lsn, sizeof(ap->txn_lsn), WB_LSN_FORMAT, WB_LSN_ARGS(meta->commit_lsn));
}

/*
 * The offset applied, in the local transaction of what it applied; with
 * the commit, also the source transaction's LSN and time and the origin's
 * progress.  The peer's identity goes with it (learnt from the message
 * when none was recorded: apply_check_source()), and no new one waits.
 */
static bool
record_progress(wb_applier *ap, int64_t offset, bool with_commit, char *err, size_t errlen)
{
	char		off[32];
	char		conflicts[16];
	char		timeline[12];
	const char *origin[2] = {ap->txn_lsn, ap->txn_time};
	const char *system_id = ap->source.system_id[0] ? ap->source.system_id : NULL;
	const char *tl = ap->source.timeline ? timeline : NULL;
	const char *incarnation = ap->source.incarnation[0] ? ap->source.incarnation : NULL;
	const char *offset_only[6] = {ap->peer, off, conflicts, system_id, tl, incarnation};
	const char *values[8] = {ap->peer, off, conflicts, ap->txn_lsn, ap->txn_time,
	system_id, tl, incarnation};

	snprintf(off, sizeof(off), "%" PRId64, offset);
	snprintf(conflicts, sizeof(conflicts), "%d", ap->conflicts);
	snprintf(timeline, sizeof(timeline), "%u", ap->source.timeline);
	if (!with_commit)
		return ap->exec->statement(ap,
							"UPDATE walbridge.apply_progress SET kafka_offset = $2, applied_at = now(),"
							" conflicts = conflicts + $3, paused_offset = NULL, last_error = NULL,"
							" skip_offset = NULL, source_system_id = $4, source_timeline = $5::integer,"
							" source_incarnation = $6, new_incarnation = NULL WHERE peer = $1",
							6, offset_only, true, err, errlen);
	return ap->exec->statement(ap, "SELECT pg_replication_origin_xact_setup($1::pg_lsn, $2::timestamptz)",
							   2, origin, false, err, errlen) &&
		ap->exec->statement(ap,
					 "UPDATE walbridge.apply_progress SET kafka_offset = $2, applied_at = now(),"
					 " conflicts = conflicts + $3, source_commit_lsn = $4, source_commit_time = $5,"
					 " paused_offset = NULL, last_error = NULL, skip_offset = NULL,"
					 " source_system_id = $6, source_timeline = $7::integer, source_incarnation = $8,"
					 " new_incarnation = NULL WHERE peer = $1",
					 8, values, true, err, errlen);
}

/*
 * A message that starts something to apply (a transaction's first chunk,
 * or a message standing alone) from a publisher other than the one whose
 * commit LSNs ap->applied_lsn holds: the peer was rebuilt under its name,
 * restored from a backup or failed over, and its LSNs may go back, so its
 * new transactions would be passed over as duplicates.  Pause at it, none
 * of it applied or passed over, until walbridge.resync() accepts the new
 * identity (it clears the recorded one, the retry adopts it).  An identity
 * not recorded yet is learnt here and stored with the progress; a message
 * without one (an older walbridged) is applied as before.
 */
static wb_apply_result
apply_check_source(wb_applier *ap, int64_t offset, const wb_msgmeta *meta)
{
	wb_identity_change change;
	char		what[256];
	char		seen[160];
	const char *values[2] = {ap->peer, seen};
	wb_apply_result rc;
	PGresult   *res;

	if (meta->kind == WB_MSG_SKIPPED || offset == ap->skip_offset ||
		(meta->kind == WB_MSG_TXN && meta->chunk != 0) || !identity_known(&meta->source))
		return WB_APPLY_OK;
	change = identity_compare(&ap->source, &meta->source);
	if (change == WB_IDENTITY_SAME)
	{
		(void) identity_adopt(&ap->source, &meta->source);
		return WB_APPLY_OK;
	}

	identity_explain(change, &ap->source, &meta->source, what, sizeof(what));
	rc = apply_pause_for_resync(ap, offset,
								"node \"%s\" is a new incarnation: %s. Run SELECT walbridge.resync('%s') on this node: it applies the new incarnation from here and asks \"%s\" for a fresh copy",
								ap->peer, what, ap->peer, ap->peer);
	if (rc != WB_APPLY_PAUSED)
		return rc;
	identity_describe(&meta->source, seen, sizeof(seen));
	res = run(ap, "UPDATE walbridge.apply_progress SET new_incarnation = $2 WHERE peer = $1", 2, values);
	PQclear(res);
	return connection_lost(ap) ? WB_APPLY_FAILED : rc;
}

/* --------------------------------------------------------------- public */

/*
 * Stop applying this peer at offset, with the reason logged and recorded
 * in walbridge.apply_progress; retried every few seconds.
 */
static wb_apply_result
pause_at(wb_applier *ap, int64_t offset, bool resync_only, const char *fmt, va_list va)
{
	char		reason[1024];
	char		message[1400];
	char		off[32];
	const char *values[3];
	PGresult   *res;

	vsnprintf(reason, sizeof(reason), fmt, va);
	if (ap->in_txn)
		rollback(ap);
	snprintf(message, sizeof(message), "topic %s offset %" PRId64 ": %s", ap->topic, offset, reason);
	if ((!apply_held_back(ap) || ap->paused_offset != offset) && resync_only)
		wb_log(WB_LOG_ERROR, "applying node \"%s\" paused at %s", ap->peer, message);
	else if (!apply_held_back(ap) || ap->paused_offset != offset)
		wb_log(WB_LOG_ERROR, "applying node \"%s\" paused at %s; it resumes by itself after the fix, or after SELECT walbridge.skip('%s')",
			   ap->peer, message, ap->peer);
	report_pause(ap, offset);
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

wb_apply_result
apply_pause(wb_applier *ap, int64_t offset, const char *fmt,...)
{
	va_list		va;
	wb_apply_result rc;

	va_start(va, fmt);
	rc = pause_at(ap, offset, false, fmt, va);
	va_end(va);
	return rc;
}

wb_apply_result
apply_pause_for_resync(wb_applier *ap, int64_t offset, const char *fmt,...)
{
	va_list		va;
	wb_apply_result rc;

	va_start(va, fmt);
	rc = pause_at(ap, offset, true, fmt, va);
	va_end(va);
	return rc;
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

typedef enum wb_pipelined
{
	PIPELINED,					/* applied (and committed, if STEP_COMMIT) */
	ONE_BY_ONE,					/* rolled back: apply it one change at a time */
	PIPELINE_LOST				/* the connection is gone */
} wb_pipelined;

/* What a message's local transaction does, in this order. */
typedef enum wb_step
{
	STEP_BEGIN = 1 << 0,
	STEP_STAMP = 1 << 1,		/* an initial copy run's commit time */
	STEP_UNSTAMP = 1 << 6,		/* or none: the commit's own */
	STEP_CHANGES = 1 << 2,
	STEP_PROGRESS = 1 << 3,		/* the Kafka offset in apply_progress */
	STEP_ORIGIN = 1 << 4,		/* with it, the origin's commit data */
	STEP_COMMIT = 1 << 5
} wb_step;

/*
 * Rows of the initial copy commit with the time they were committed on
 * the peer (ap->txn_time, set per run), under its origin, so that they
 * compete under last writer wins exactly as if they had been streamed.
 * The LSN is left alone: an origin's LSN only moves forward.  A message
 * applied without a time of its own (by_time false) resets what an earlier
 * transaction of this session set, which would outlive its commit: it is
 * stamped with its own commit time then.
 */
static bool
stamp_copy_run(wb_applier *ap, bool by_time, char *err, size_t errlen)
{
	const char *values[1] = {ap->txn_time};

	if (!by_time)
		return ap->exec->statement(ap, "SELECT pg_replication_origin_xact_reset()",
								   0, NULL, false, err, errlen);
	return ap->exec->statement(ap, "SELECT pg_replication_origin_xact_setup('0/0', $1::timestamptz)",
							   1, values, false, err, errlen);
}

/* The steps after BEGIN and before COMMIT, by the executor of the moment. */
static bool
run_steps(wb_applier *ap, int64_t offset, const char *payload, size_t len, int steps,
		  char *err, size_t errlen)
{
	return (!(steps & (STEP_STAMP | STEP_UNSTAMP)) ||
			stamp_copy_run(ap, (steps & STEP_STAMP) != 0, err, errlen)) &&
		(!(steps & STEP_CHANGES) || dispatch_records(ap, payload, len, err, errlen)) &&
		(!(steps & STEP_PROGRESS) ||
		 record_progress(ap, offset, (steps & STEP_ORIGIN) != 0, err, errlen));
}

/*
 * A message as one pipeline: the steps asked, all sent without waiting,
 * then COMMIT (STEP_COMMIT) once every result is in and each change
 * touched its row.  Anything else (a conflict, an error) rolls the local
 * transaction back: applied one change at a time, the same message gets
 * its conflicts resolved and its errors reported.
 */
static wb_pipelined
apply_pipelined(wb_applier *ap, int64_t offset, const char *payload, size_t len, int steps)
{
	char		err[1024] = "";
	bool		sent;
	wb_pipeline_result r;

	if ((steps & STEP_CHANGES) && !dispatch_relations(ap, payload, len, err, sizeof(err)))
		sent = false;
	else
	{
		if (!stmts_pipeline_begin(&ap->stmts))
			return connection_lost(ap) ? PIPELINE_LOST : ONE_BY_ONE;
		ap->exec = &wb_exec_bulk;
		batch_reset(&ap->batch);
		sent = (!(steps & STEP_BEGIN) || ap->exec->statement(ap, "BEGIN", 0, NULL, false, err, sizeof(err))) &&
			run_steps(ap, offset, payload, len, steps, err, sizeof(err));
		ap->exec = &wb_exec_row;
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
	if (sent && (steps & STEP_COMMIT) && exec_run(ap, "COMMIT", 0, NULL, err, sizeof(err), NULL))
	{
		ap->in_txn = false;
		return PIPELINED;
	}
	if (sent && !(steps & STEP_COMMIT))
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

/*
 * Whether a message holds a schema change (a walbridge.ddl MESSAGE
 * record).  Such a message is applied one change at a time: the tables
 * are looked up again after the change, between its records.  The byte
 * search first keeps the common case cheap (a value that holds the prefix
 * costs only the record walk).
 */
static bool
has_schema_change(const char *payload, size_t len, wb_str *content)
{
	return memmem(payload, len, WB_DDL_PREFIX, strlen(WB_DDL_PREFIX)) != NULL &&
		dispatch_find_message(payload, len, WB_DDL_PREFIX, content);
}

/*
 * A CONCURRENTLY command (CREATE or DROP INDEX) cannot run in a
 * transaction: it runs just before the transaction it came in, outside
 * any, as the role that ran it on the peer (SET ROLE, which checks that
 * walbridged's role may) under its search_path and settings, all reset
 * after (to what walbridged's connection set).
 * walbridge.ddl_outside_transaction() says whether the change is one and
 * still to be done (an index already made, or already gone, is not: a
 * crash came between the two), having parsed it as one statement of that
 * kind, which is then sent as it is.  The transaction's apply_ddl() is
 * told it ran.
 */
static bool
run_outside_transaction(wb_applier *ap, const wb_str *content, char *err, size_t errlen)
{
	wb_buf		message = {0};
	const char *values[3];
	PGresult   *res;
	bool		ok;
	char	   *command = NULL;

	buf_append(&message, content->ptr ? content->ptr : "", content->len);
	values[0] = message.data;
	res = run(ap, "SELECT m->>'command', m->>'search_path', m->>'role',"
			  " walbridge.ddl_outside_transaction(m->>'command', m->>'search_path')"
			  " FROM (SELECT $1::jsonb) AS x(m)", 1, values);
	ok = PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1;
	if (!ok)
		snprintf(err, errlen, "schema change: %s", PQresultErrorMessage(res));
	else if (strcmp(PQgetvalue(res, 0, 3), "t") == 0)
	{
		PGresult   *step;

		command = xstrdup(PQgetvalue(res, 0, 0));
		values[0] = PQgetvalue(res, 0, 1);
		values[1] = PQgetvalue(res, 0, 2);
		values[2] = message.data;
		/* the settings that decide how its literals read (plugin/ddl.c), then the role */
		step = run(ap, "SELECT set_config('search_path', $1, false),"
				   " (SELECT count(set_config(k, v, false)) FROM jsonb_each_text(CASE WHEN jsonb_typeof(m->'settings') = 'object'"
				   "   THEN m->'settings' END) AS e(k, v)"
				   "   WHERE k IN ('TimeZone', 'DateStyle', 'IntervalStyle')),"
				   " set_config('role', $2, false) FROM (SELECT $3::jsonb) AS x(m)", 3, values);
		ok = PQresultStatus(step) == PGRES_TUPLES_OK;
		PQclear(step);
		if (ok)
		{
			step = PQexec(ap->conn, command);
			ok = PQresultStatus(step) == PGRES_COMMAND_OK;
			if (!ok)
				snprintf(err, errlen, "schema change %s: %s", command, PQresultErrorMessage(step));
			PQclear(step);
		}
		else
			snprintf(err, errlen, "schema change %s: %s", command, PQerrorMessage(ap->conn));
		step = PQexec(ap->conn, "RESET role; RESET search_path; RESET TimeZone; RESET DateStyle;"
					  " RESET IntervalStyle");
		if (PQresultStatus(step) != PGRES_COMMAND_OK && ok)
		{
			snprintf(err, errlen, "resetting role and search_path: %s", PQresultErrorMessage(step));
			ok = false;
		}
		PQclear(step);
		if (ok)
			wb_log(WB_LOG_INFO, "applying node \"%s\": ran %s outside a transaction", ap->peer, command);
	}
	PQclear(res);
	free(command);
	buf_free(&message);
	if (ok)
		ap->ddl_outside_lsn = ap->txn.commit_lsn;
	return ok;
}

/*
 * Forget the source transaction whose chunks are open, rolling back what
 * of it was applied, because next came something that cannot belong to it
 * (what): a first chunk, a snapshot or a non-transactional message.  Never
 * commit it in part.  The publisher writes a transaction's chunks one
 * after the other and confirms it to its slot only once Kafka has them
 * all, so this is a publisher that restarted inside the transaction: the
 * slot streams it again, whole, from its first chunk, later in the topic
 * (after anything the slot replays before it).  Nothing is lost by
 * waiting for that copy; committing the part would leave the rest out,
 * and the whole copy would then apply its changes a second time.
 */
static void
drop_open_txn(wb_applier *ap, int64_t offset, const char *what)
{
	if (!ap->in_txn)
		return;
	if (!ap->skipping)
		wb_log(WB_LOG_WARNING, "applying node \"%s\": dropped incomplete xid %u (commit " WB_LSN_FORMAT ", topic %s offset %" PRId64 ", chunks 0 to %d): %s came at offset %" PRId64 " before its last chunk; its publisher restarted and sends it again whole",
			   ap->peer, ap->txn.xid, WB_LSN_ARGS(ap->txn.commit_lsn), ap->topic,
			   ap->txn_first_offset, ap->txn.chunk, what, offset);
	if (PQtransactionStatus(ap->conn) != PQTRANS_IDLE)
		rollback(ap);
	ap->in_txn = false;
	ap->skipping = false;
}

/*
 * Whether the statement that just failed named a table or column that this
 * session resolved earlier and that is gone by that name (42P01, 42703): a
 * rename made here, or applied from another peer, since.  The peer's
 * tables are then resolved again (by the names they had before, if need
 * be: relmap.c) and the transaction read once more, before its failure
 * counts as one.
 */
static bool
names_stale(wb_applier *ap)
{
	if (ap->names_stale_lsn == ap->txn.commit_lsn ||
		(strcmp(ap->sqlstate, "42P01") != 0 && strcmp(ap->sqlstate, "42703") != 0))
		return false;
	ap->names_stale_lsn = ap->txn.commit_lsn;
	wb_log(WB_LOG_INFO, "applying node \"%s\": a table or column it had looked up is gone by that name (SQLSTATE %s): looking the peer's tables up again and reading xid %u again",
		   ap->peer, ap->sqlstate, ap->txn.xid);
	return true;
}

/*
 * One chunk of a source transaction.  Its chunks come one after the other,
 * numbered from 0: the first opens the local transaction, the last commits
 * it with the progress.  A chunk of another transaction, or out of
 * sequence, pauses; a first chunk while one is open drops the open one
 * (drop_open_txn()).
 */
static wb_apply_result
apply_txn_message(wb_applier *ap, int64_t offset, const wb_msgmeta *meta,
				  const char *payload, size_t len)
{
	char		err[1024];
	bool		first = meta->chunk == 0;
	wb_str		ddl;
	bool		schema_change = has_schema_change(payload, len, &ddl);

	if (first)
	{
		drop_open_txn(ap, offset, "the first chunk of a transaction");
		begin_source_txn(ap, meta, offset);
		ap->skipping = (meta->commit_lsn <= ap->applied_lsn) || offset == ap->skip_offset;
	}
	else if (!ap->in_txn || meta->xid != ap->txn.xid || meta->commit_lsn != ap->txn.commit_lsn)
	{
		if (offset != ap->skip_offset)
			return apply_pause(ap, offset, "chunk %d of xid %u arrived without the chunks before it",
							   meta->chunk, meta->xid);
		/* skip() asked to pass over it: and the rest of its transaction */
		drop_open_txn(ap, offset, "a chunk skip() passes over");
		begin_source_txn(ap, meta, offset);
		ap->skipping = true;
	}
	else if (meta->chunk != ap->txn.chunk + 1 && !ap->skipping)
	{
		/* read again from its first chunk, this comes back: until skip() */
		return apply_pause(ap, ap->txn_first_offset,
						   "xid %u (commit " WB_LSN_FORMAT "): chunk %d at offset %" PRId64 " where chunk %d was expected: the topic holds this transaction's chunks out of sequence, and none of it is applied",
						   meta->xid, WB_LSN_ARGS(meta->commit_lsn), meta->chunk, offset,
						   ap->txn.chunk + 1);
	}
	ap->txn.chunk = meta->chunk;

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

	if (ap->one_by_one_lsn != meta->commit_lsn && !schema_change)
	{
		switch (apply_pipelined(ap, offset, payload, len,
								(first ? STEP_BEGIN : 0) | STEP_CHANGES |
								(meta->last ? STEP_PROGRESS | STEP_ORIGIN | STEP_COMMIT : 0)))
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

	if (first && schema_change && !run_outside_transaction(ap, &ddl, err, sizeof(err)))
	{
		if (connection_lost(ap))
			return WB_APPLY_FAILED;
		return apply_pause(ap, offset, "xid %u (commit " WB_LSN_FORMAT "): %s",
						   ap->txn.xid, WB_LSN_ARGS(ap->txn.commit_lsn), err);
	}
	if (first)
	{
		if (!exec_run(ap, "BEGIN", 0, NULL, err, sizeof(err), NULL))
			return connection_lost(ap) ? WB_APPLY_FAILED : apply_pause(ap, offset, "%s", err);
		ap->in_txn = true;
	}
	ap->sqlstate[0] = '\0';
	if (!dispatch_records(ap, payload, len, err, sizeof(err)))
	{
		if (connection_lost(ap))
			return WB_APPLY_FAILED;
		if (names_stale(ap))
		{
			rollback(ap);
			relmaps_clear(&ap->maps);
			stmts_forget(&ap->stmts);	/* out of the failed transaction */
			return apply_rewind(ap);
		}
		return apply_pause(ap, ap->txn_first_offset, "xid %u (commit " WB_LSN_FORMAT "): %s",
						   ap->txn.xid, WB_LSN_ARGS(ap->txn.commit_lsn), err);
	}
	if (!meta->last)
		return WB_APPLY_OK;

	if (!record_progress(ap, offset, true, err, sizeof(err)) ||
		!exec_run(ap, "COMMIT", 0, NULL, err, sizeof(err), NULL))
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

/*
 * A part of a message that stands alone, as one local transaction: the
 * whole message, or one run of an initial copy chunk's rows (steps say
 * whether it stamps their time and whether it is the last part, which
 * records the offset).
 */
static wb_apply_result
apply_single_part(wb_applier *ap, int64_t offset, const char *payload, size_t len, int steps)
{
	char		err[1024];

	switch (apply_pipelined(ap, offset, payload, len, STEP_BEGIN | steps | STEP_COMMIT))
	{
		case PIPELINED:
			return WB_APPLY_OK;
		case PIPELINE_LOST:
			return WB_APPLY_FAILED;
		case ONE_BY_ONE:
			break;
	}

	if (!exec_run(ap, "BEGIN", 0, NULL, err, sizeof(err), NULL))
		return connection_lost(ap) ? WB_APPLY_FAILED : apply_pause(ap, offset, "%s", err);
	ap->in_txn = true;
	if (!run_steps(ap, offset, payload, len, steps, err, sizeof(err)) ||
		!exec_run(ap, "COMMIT", 0, NULL, err, sizeof(err), NULL))
	{
		if (connection_lost(ap))
			return WB_APPLY_FAILED;
		return apply_pause(ap, offset, "%s", err);
	}
	ap->in_txn = false;
	return WB_APPLY_OK;
}

/* ap->txn_time for a copied run: its commit time, or the oldest possible. */
static void
set_copy_run_time(wb_applier *ap, int64_t unix_usecs)
{
	/*
	 * A row whose commit time the peer does not know (frozen, or older
	 * than track_commit_timestamp) is older than any change: on the peer
	 * too, remote_wins() lets anything overwrite it.  1 microsecond past
	 * PostgreSQL's epoch, since 0 would mean "now" to the origin.
	 */
	set_txn_time(ap, unix_usecs != 0 ? unix_usecs - WB_PG_EPOCH_OFFSET_USECS : 1);
}

/*
 * A message that stands alone: a snapshot chunk, a part of the copy this
 * node asked for with walbridge.resync() (resync_apply.c; the copy for
 * another node, or for an older request, is passed over), or anything
 * else.  Under last writer wins a chunk commits run by run, each run of
 * rows with one commit time in a transaction stamped with it; a crash
 * between runs applies the chunk again from its start, where rows this
 * peer wrote are simply written again.  A copy's phase record comes last,
 * so it goes with the last run, which records the offset.  Other policies
 * never compare times: one transaction.  Chunks of a transaction still
 * open before it are rolled back first, never committed with it
 * (drop_open_txn()).
 */
static wb_apply_result
apply_single_message(wb_applier *ap, int64_t offset, const wb_msgmeta *meta,
					 const char *payload, size_t len)
{
	bool		copy = meta->kind == WB_MSG_SNAPSHOT || (meta->kind == WB_MSG_RESYNC && meta->for_us);
	bool		apply = copy && offset != ap->skip_offset;
	bool		by_time = apply && ap->cx.policy == WB_POLICY_LAST_WRITER_WINS;
	wb_msgmeta	alone = {.commit_time = meta->commit_time};
	size_t		start = 0;
	wb_apply_result rc;

	drop_open_txn(ap, offset, meta->kind == WB_MSG_SNAPSHOT ? "a snapshot message" :
				  meta->kind == WB_MSG_RESYNC ? "a resync message" :
				  meta->kind == WB_MSG_SKIPPED ? "a message skip() passes over" :
				  "a non-transactional message");
	begin_source_txn(ap, &alone, offset);
	if (by_time && meta->kind == WB_MSG_RESYNC)
	{
		char		err[1024];

		if (!resync_apply_tombstones(ap, payload, len, err, sizeof(err)))
			return connection_lost(ap) ? WB_APPLY_FAILED : apply_pause(ap, offset, "%s", err);
	}
	ap->resync.in_copy = apply && meta->kind == WB_MSG_RESYNC;
	ap->resync.saw_phase = false;
	ap->cx.copy = apply;
	for (;;)
	{
		size_t		end = len;
		int64_t		commit_time;

		if (by_time)
		{
			end = dispatch_snapshot_run(payload, len, start, &commit_time);
			set_copy_run_time(ap, commit_time);
		}
		rc = apply_single_part(ap, offset, payload + start, end - start,
							   (apply ? STEP_CHANGES : 0) | (by_time ? STEP_STAMP : STEP_UNSTAMP) |
							   (end == len ? STEP_PROGRESS : 0));
		if (rc != WB_APPLY_OK || end == len)
			break;
		start = end;
	}
	ap->resync.in_copy = false;
	ap->cx.copy = false;
	if (rc == WB_APPLY_OK)
	{
		ap->applied_offset = offset;
		ap->skip_offset = -1;
		if (ap->resync.saw_phase)
			resync_apply_phase_applied(ap);
	}
	return rc;
}

wb_apply_result
apply_message(wb_applier *ap, int64_t offset, const wb_msgmeta *meta,
			  const char *payload, size_t len)
{
	wb_apply_result rc;

	if (offset <= ap->applied_offset)
		return WB_APPLY_OK;		/* already here (fetched again) */
	if ((rc = apply_check_source(ap, offset, meta)) != WB_APPLY_OK)
		return rc;
	if (meta->kind == WB_MSG_TXN)
		return apply_txn_message(ap, offset, meta, payload, len);
	return apply_single_message(ap, offset, meta, payload, len);
}

/*
 * Read this peer's row of walbridge.apply_progress: where it stands, and
 * whose commit LSNs those are (cleared by resync() when it accepts a new
 * incarnation: the LSNs then compare afresh, from 0).
 */
int
apply_reload_progress(wb_applier *ap)
{
	const char *values[1] = {ap->peer};
	PGresult   *res = run(ap,
						  "SELECT coalesce(kafka_offset, -2), coalesce(source_commit_lsn - '0/0', 0),"
						  " coalesce(skip_offset, -1), coalesce(source_system_id, ''),"
						  " coalesce(source_timeline, 0), coalesce(source_incarnation, '')"
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
		memset(&ap->source, 0, sizeof(ap->source));
		snprintf(ap->source.system_id, sizeof(ap->source.system_id), "%s", PQgetvalue(res, 0, 3));
		ap->source.timeline = (uint32_t) strtoul(PQgetvalue(res, 0, 4), NULL, 10);
		snprintf(ap->source.incarnation, sizeof(ap->source.incarnation), "%s", PQgetvalue(res, 0, 5));
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
		" -c session_replication_role=replica -c search_path=pg_catalog,pg_temp"
		" -c standard_conforming_strings=on",
		"UTF8", NULL};
	char		origin[200];
	const char *params[1] = {origin};
	PGresult   *res;

	memset(ap, 0, sizeof(*ap));
	ap->peer = xstrdup(peer);
	ap->node = xstrdup(node);
	ap->topic = xstrdup(topic);
	ap->state = WB_PEER_RUNNING;
	ap->exec = &wb_exec_row;
	ap->cx.policy = policy;
	ap->cx.peer = ap->peer;
	ap->cx.origin_oid = ap->origin_oid;
	ap->cx.txn_time = ap->txn_time;
	ap->cx.txn_lsn = ap->txn_lsn;
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
	sqlgen_free(&ap->q);
	buf_free(&ap->pending_conflict);
	free(ap->pending_conflict_table);
	free(ap->peer);
	free(ap->node);
	free(ap->topic);
	resync_apply_free(&ap->resync);
	memset(ap, 0, sizeof(*ap));
}
