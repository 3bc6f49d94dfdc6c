/*-------------------------------------------------------------------------
 *
 * resync_apply.c
 *		walbridge.resync() on the node that asked: the copy's messages
 *		applied, its phases recorded, and gaps it covers passed over.
 *
 * The peer publishes the copy into its own topic (kind "resync"), each
 * key range at the place of a watermark in its WAL, so whatever it
 * commits after reading a range follows the range in the topic.  Only
 * the node that asked applies it: wb.for names the node, wb.request the
 * request, which must be the one walbridge.apply_progress.resync_id holds
 * now (resync() again makes a new one: the older copy is passed over).
 * Rows are SNAPSHOT records and go exactly as an initial copy's
 * (apply.c); a key range's last message ends with a MESSAGE record of
 * prefix WB_RESYNC_PREFIX whose JSON content is a phase (envelope.h):
 * begin, chunk (the range's keys and the peer's tombstones in it), done.
 * A chunk deletes, in the same local transaction as its last rows and the
 * Kafka offset, what this node has in the range and the peer has not
 * (walbridge.resync_prune(): the rows the peer wrote under
 * last_writer_wins, every one under apply_remote, none under keep_local
 * and error).
 *
 * IDENTIFICATION
 *		forwarder/apply/resync_apply.c
 *
 *-------------------------------------------------------------------------
 */
#include "resync_apply.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "apply.h"
#include "dispatch.h"
#include "exec.h"
#include "log.h"
#include "wb.h"

/*
 * One phase record: $1 peer, $2 request, $3 the prune rule (NULL: none),
 * $4 the JSON content.  The JSON values go to resync_prune() as they are;
 * a JSON null (an unbounded end) becomes SQL NULL.  The chunk's tombstones
 * were applied before (resync_apply_tombstones()).  The
 * chunk's table is the one of the same name here, as relmap.c maps the
 * peer's tables.  A request that is no longer the current one changes
 * nothing.
 */
#define PHASE_SQL \
	"UPDATE walbridge.apply_progress AS a" \
	"   SET resync_state = CASE m.phase WHEN 'done' THEN 'done' ELSE 'copying' END," \
	"       resync_finished_at = CASE m.phase WHEN 'done' THEN now() END," \
	"       resync_table = CASE m.phase WHEN 'chunk' THEN m.j->>'table' ELSE a.resync_table END," \
	"       resync_rows = coalesce(a.resync_rows, 0) + CASE m.phase WHEN 'chunk'" \
	"         THEN jsonb_array_length(coalesce(nullif(m.j->'keys', 'null'), '[]')) ELSE 0 END," \
	"       resync_deleted = coalesce(a.resync_deleted, 0) + CASE WHEN m.phase = 'chunk' AND $3::text IS NOT NULL" \
	"         THEN walbridge.resync_prune((m.j->>'table')::regclass, a.peer, nullif(m.j->'after', 'null')," \
	"              nullif(m.j->'through', 'null'), nullif(m.j->'keys', 'null')," \
	"              $3::text, nullif(m.j->'key_columns', 'null'))" \
	"         ELSE 0 END" \
	"  FROM (SELECT $4::jsonb AS j, $4::jsonb->>'phase' AS phase) AS m" \
	" WHERE a.peer = $1 AND a.resync_id = $2 AND m.phase IN ('begin', 'chunk', 'done')"

static wb_resync_apply_state
state_parse(const char *s)
{
	if (strcmp(s, "requested") == 0)
		return WB_RA_REQUESTED;
	if (strcmp(s, "copying") == 0)
		return WB_RA_COPYING;
	if (strcmp(s, "done") == 0)
		return WB_RA_DONE;
	return WB_RA_NONE;
}

static void
set_id(wb_resync_apply *rs, const char *id)
{
	free(rs->id);
	rs->id = id && id[0] ? xstrdup(id) : NULL;
}

int
resync_apply_load(wb_applier *ap)
{
	const char *values[1] = {ap->peer};
	PGresult   *res = stmts_exec(&ap->stmts,
								 "SELECT resync_id, coalesce(resync_state, '')"
								 " FROM walbridge.apply_progress WHERE peer = $1", 1, values);
	int			rc = WB_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		wb_log(WB_LOG_ERROR, "could not read the resync request for node \"%s\": %s",
			   ap->peer, PQerrorMessage(ap->conn));
		rc = WB_ERR;
	}
	else
	{
		set_id(&ap->resync, PQgetisnull(res, 0, 0) ? NULL : PQgetvalue(res, 0, 0));
		ap->resync.state = state_parse(PQgetvalue(res, 0, 1));
	}
	PQclear(res);
	return rc;
}

bool
resync_apply_is_ours(const wb_applier *ap, const char *for_node, const char *request)
{
	return ap->resync.id != NULL && strcmp(for_node, ap->node) == 0 &&
		strcmp(request, ap->resync.id) == 0;
}

int
resync_apply_skip_gap(wb_applier *ap, int64_t next, int64_t low)
{
	char		before[24];
	const char *values[2] = {ap->peer, before};
	PGresult   *res;
	int			rc = WB_OK;

	if (ap->in_txn)
	{
		/* the gap cut the transaction open here: its rest is gone too */
		res = PQexec(ap->conn, "ROLLBACK");
		PQclear(res);
		ap->in_txn = false;
		ap->skipping = false;
	}
	snprintf(before, sizeof(before), "%" PRId64, low - 1);
	res = stmts_exec(&ap->stmts,
					 "UPDATE walbridge.apply_progress SET kafka_offset = $2::bigint, paused_offset = NULL,"
					 " last_error = NULL, skip_offset = NULL WHERE peer = $1", 2, values);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		wb_log(WB_LOG_ERROR, "could not record where applying node \"%s\" goes on: %s",
			   ap->peer, PQerrorMessage(ap->conn));
		rc = WB_ERR;
	}
	else
	{
		wb_log(WB_LOG_WARNING, "applying node \"%s\": offsets %" PRId64 " to %" PRId64 " of topic %s are no longer in Kafka (%" PRId64 " lost); the copy walbridge.resync() asked for (request %s) covers them: going on at offset %" PRId64,
			   ap->peer, next, low - 1, ap->topic, low - next, ap->resync.id, low);
		ap->applied_offset = low - 1;
		ap->skip_offset = -1;
		ap->resync.gap_at = low;
		ap->resync.dropping = false;
	}
	PQclear(res);
	return rc;
}

int
resync_apply_request(wb_applier *ap, const char *why)
{
	const char *values[1] = {ap->peer};
	PGresult   *res = stmts_exec(&ap->stmts,
								 "UPDATE walbridge.apply_progress"
								 "   SET resync_id = gen_random_uuid()::text, resync_requested_at = now(),"
								 "       resync_sent_at = NULL, resync_state = 'requested', resync_table = NULL,"
								 "       resync_rows = 0, resync_deleted = 0, resync_finished_at = NULL"
								 " WHERE peer = $1 RETURNING resync_id", 1, values);
	int			rc = WB_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		wb_log(WB_LOG_ERROR, "could not ask node \"%s\" for a copy: %s", ap->peer,
			   PQerrorMessage(ap->conn));
		rc = WB_ERR;
	}
	else
	{
		set_id(&ap->resync, PQgetvalue(res, 0, 0));
		ap->resync.state = WB_RA_REQUESTED;
		wb_log(WB_LOG_WARNING, "applying node \"%s\": %s; asking it for a copy of its tables (resync request %s)",
			   ap->peer, why, ap->resync.id);
	}
	PQclear(res);
	return rc;
}

/*
 * One delete time's tombstones: $1 the table, $2 peer, $3 request, $4 the
 * time, $5 those tombstones.  Counted with the rows the copy deleted here;
 * a request no longer current applies nothing.
 */
#define TOMBSTONES_SQL \
	"UPDATE walbridge.apply_progress AS a" \
	"   SET resync_deleted = coalesce(a.resync_deleted, 0) + walbridge.resync_apply_tombstones(" \
	"         $1::regclass, a.peer, $5::jsonb, $4::timestamptz)" \
	" WHERE a.peer = $2 AND a.resync_id = $3"

/*
 * A chunk's tombstones ($1 its JSON) by delete time, in order: the table,
 * the time, the tombstones of that time.  A time not known (the peer's
 * commit timestamps of it are gone) or not a finite time after
 * PostgreSQL's epoch (which the origin would take for "now") is passed
 * over, as remote_wins() passes over a row of unknown time.
 */
#define TOMBSTONE_TIMES_SQL \
	"SELECT $1::jsonb->>'table', e->>1, jsonb_agg(e)::text" \
	"  FROM jsonb_array_elements(CASE WHEN $1::jsonb->>'phase' = 'chunk'" \
	"       AND jsonb_typeof($1::jsonb->'tombstones') = 'array' THEN $1::jsonb->'tombstones' END) AS e" \
	" WHERE walbridge.timestamptz_or_null(e->>1) > '2000-01-01 00:00:00+00'" \
	" GROUP BY e->>1 ORDER BY e->>1"

/*
 * A copy's chunk applies the peer's deletes in its range before its rows
 * (in any order they would converge: a row older than a tombstone is
 * refused, a tombstone deletes a row older than it).  Each delete time is
 * its own transaction because a tombstone's time is its transaction's
 * commit time.  They record no offset: after a crash the chunk comes
 * again and they are applied again, changing nothing the second time.
 */
bool
resync_apply_tombstones(wb_applier *ap, const char *payload, size_t len, char *err, size_t errlen)
{
	wb_str		content;
	wb_buf		json = {0};
	const char *values[5];
	PGresult   *times;
	bool		ok = true;

	if (ap->resync.id == NULL || !dispatch_find_message(payload, len, WB_RESYNC_PREFIX, &content))
		return true;
	buf_append(&json, content.ptr ? content.ptr : "", content.len);
	values[0] = json.data ? json.data : "";
	times = stmts_exec(&ap->stmts, TOMBSTONE_TIMES_SQL, 1, values);
	if (PQresultStatus(times) != PGRES_TUPLES_OK)
	{
		snprintf(err, errlen, "the tombstones of the copy's chunk do not read: %s", PQerrorMessage(ap->conn));
		ok = false;
	}
	for (int i = 0; ok && i < PQntuples(times); i++)
	{
		char		why[768];

		values[0] = PQgetvalue(times, i, 0);
		values[1] = ap->peer;
		values[2] = ap->resync.id;
		values[3] = PQgetvalue(times, i, 1);
		values[4] = PQgetvalue(times, i, 2);
		ok = exec_run(ap, "BEGIN", 0, NULL, why, sizeof(why), NULL) &&
			exec_run(ap, "SELECT pg_replication_origin_xact_setup('0/0', $1::timestamptz)",
					 1, &values[3], why, sizeof(why), NULL) &&
			exec_run(ap, TOMBSTONES_SQL, 5, values, why, sizeof(why), NULL) &&
			exec_run(ap, "COMMIT", 0, NULL, why, sizeof(why), NULL);
		if (!ok)
		{
			snprintf(err, errlen, "applying the copy's tombstones of table %s deleted at %s: %s",
					 values[0], values[3], why);
			if (PQtransactionStatus(ap->conn) != PQTRANS_IDLE)
				PQclear(PQexec(ap->conn, "ROLLBACK"));
		}
	}
	PQclear(times);
	buf_free(&json);
	return ok;
}

bool
resync_apply_phase(wb_applier *ap, const wb_record *rec, char *err, size_t errlen)
{
	wb_buf		content = {0};
	const char *values[4];
	bool		ok;

	if (!ap->exec->flush(ap, err, errlen))
		return false;
	buf_append(&content, rec->u.message.content.ptr ? rec->u.message.content.ptr : "",
			   rec->u.message.content.len);
	values[0] = ap->peer;
	values[1] = ap->resync.id;
	values[2] = ap->cx.policy == WB_POLICY_LAST_WRITER_WINS ? "peer_rows" :
		ap->cx.policy == WB_POLICY_APPLY_REMOTE ? "all" : NULL;
	values[3] = content.data ? content.data : "";
	ok = ap->exec->statement(ap, PHASE_SQL, 4, values, false, err, errlen);
	buf_free(&content);
	ap->resync.saw_phase = true;
	return ok;
}

void
resync_apply_phase_applied(wb_applier *ap)
{
	const char *values[2] = {ap->peer, ap->resync.id};
	PGresult   *res = stmts_exec(&ap->stmts,
								 "SELECT coalesce(resync_state, ''), resync_rows, resync_deleted, coalesce(resync_table, '')"
								 " FROM walbridge.apply_progress WHERE peer = $1 AND resync_id = $2",
								 2, values);
	wb_resync_apply_state was = ap->resync.state;

	ap->resync.saw_phase = false;
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		PQclear(res);
		return;					/* resync() asked again meanwhile: reloaded on the NOTIFY */
	}
	ap->resync.state = state_parse(PQgetvalue(res, 0, 0));
	if (ap->resync.state == WB_RA_COPYING && was != WB_RA_COPYING)
		wb_log(WB_LOG_INFO, "node \"%s\" is sending the copy this node asked for (resync request %s)",
			   ap->peer, ap->resync.id);
	else if (ap->resync.state == WB_RA_COPYING)
		wb_log(WB_LOG_DEBUG, "copy from node \"%s\": %s rows so far, %s deleted here, at %s",
			   ap->peer, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2), PQgetvalue(res, 0, 3));
	if (ap->resync.state == WB_RA_DONE && was != WB_RA_DONE)
		wb_log(WB_LOG_INFO, "copy from node \"%s\" complete (resync request %s): %s rows, %s deleted here",
			   ap->peer, ap->resync.id, PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2));
	PQclear(res);
}

void
resync_apply_free(wb_resync_apply *rs)
{
	free(rs->id);
	memset(rs, 0, sizeof(*rs));
}
