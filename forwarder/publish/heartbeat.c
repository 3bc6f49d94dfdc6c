/*-------------------------------------------------------------------------
 *
 * heartbeat.c
 *		This node's heartbeat (walbridge.heartbeat()) every
 *		heartbeat_interval, and the warning about a peer's clock skew.
 *
 * The heartbeat is sent whether or not the slot is busy: it is one small
 * transaction per interval, and the sequence values it carries must reach
 * a mirror under load as well as when idle.
 *
 * IDENTIFICATION
 *		forwarder/publish/heartbeat.c
 *
 *-------------------------------------------------------------------------
 */
#include "heartbeat.h"

#include <stdio.h>
#include <stdlib.h>

#include "log.h"
#include "wb.h"

#define CHECK_CLOCKS_US		(5 * INT64_C(1000000))
#define WARN_AGAIN_US		(60 * INT64_C(1000000))

void
heartbeat_tick(wb_heartbeat *hb, PGconn *conn, int interval_ms)
{
	PGresult   *res;

	if (interval_ms <= 0 || wb_now_us() - hb->sent_us < (int64_t) interval_ms * 1000)
		return;
	hb->sent_us = wb_now_us();
	res = PQexec(conn, "SELECT walbridge.heartbeat()");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		if (!hb->failing)
			wb_log(WB_LOG_WARNING, "could not publish a heartbeat (peers' tombstone purge waits for this node's next write): %s",
				   PQerrorMessage(conn));
		hb->failing = true;
	}
	else
	{
		if (hb->failing)
			wb_log(WB_LOG_INFO, "heartbeats are published again");
		hb->failing = false;
	}
	PQclear(res);
}

void
heartbeat_check_clocks(wb_heartbeat *hb, PGconn *conn, int max_skew_ms)
{
	char		bound[32];
	const char *values[1] = {bound};
	PGresult   *res;

	if (wb_now_us() - hb->checked_us < CHECK_CLOCKS_US ||
		(hb->skew_warned_us != 0 && wb_now_us() - hb->skew_warned_us < WARN_AGAIN_US))
		return;
	hb->checked_us = wb_now_us();

	/*
	 * Only a clock ahead: the reading is the skew less the delivery delay
	 * (the peer's publishing and this node's applying, seconds under load),
	 * so a reading behind may be nothing but that delay, while one ahead
	 * is at least that far ahead.  status() shows both.
	 */
	snprintf(bound, sizeof(bound), "%.3f", max_skew_ms / 1000.0);
	res = PQexecParams(conn,
					   "SELECT peer, round(clock_skew_seconds::numeric, 3), round(extract(epoch FROM now() - heartbeat_received_at))"
					   " FROM (SELECT s.peer, s.clock_skew_seconds, a.heartbeat_received_at"
					   " FROM walbridge.status() s JOIN walbridge.apply_progress a ON a.peer = s.peer"
					   " WHERE s.direction = 'apply' AND s.state = 'running') x"
					   " WHERE clock_skew_seconds > $1::double precision ORDER BY peer",
					   1, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		wb_log(WB_LOG_DEBUG, "could not read the peers' clock skew: %s", PQerrorMessage(conn));
	else
		for (int i = 0; i < PQntuples(res); i++)
		{
			wb_log(WB_LOG_WARNING, "the clock of node \"%s\" is ahead of this node's by %s seconds at least (its heartbeat's commit time less the time it arrived here, %s s ago; max_clock_skew is %s s): last writer wins compares commit times, so a clock ahead wins conflicts it should lose",
				   PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), PQgetvalue(res, i, 2), bound);
			hb->skew_warned_us = wb_now_us();
		}
	PQclear(res);
}
