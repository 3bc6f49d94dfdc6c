/*-------------------------------------------------------------------------
 *
 * control.c
 *		How the node's SQL functions steer walbridged: walbridge.sync read
 *		once per session into a typed struct (the conflict policy as its
 *		enum), the walbridge_control channel that start_sync(), stop_sync()
 *		and skip() NOTIFY, and the publishing state status() shows.
 *
 * IDENTIFICATION
 *		forwarder/control.c
 *
 *-------------------------------------------------------------------------
 */
#include "control.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "wb.h"

/* walbridge.sync, or "not running" when start_sync() was never called. */
int
control_read_sync(PGconn *conn, wb_sync *sync)
{
	PGresult   *res = PQexec(conn,
							 "SELECT running, conflict, snapshot, drop_slot_requested, tables IS NULL,"
							 "       (SELECT count(*) FROM unnest(peers)), (SELECT count(*) FROM unnest(tables))"
							 "  FROM walbridge.sync");
	PGresult   *items;

	memset(sync, 0, sizeof(*sync));
	sync->ntables = -1;
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not read walbridge.sync: %s", PQerrorMessage(conn));
		PQclear(res);
		return WB_ERR;
	}
	if (PQntuples(res) == 0)
	{
		PQclear(res);
		return WB_OK;
	}
	sync->running = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	if (!conflict_policy_parse(PQgetvalue(res, 0, 1), &sync->conflict))
	{
		wb_log(WB_LOG_ERROR, "walbridge.sync has an unknown conflict policy \"%s\"", PQgetvalue(res, 0, 1));
		PQclear(res);
		return WB_ERR;
	}
	sync->snapshot = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	sync->drop_slot_requested = strcmp(PQgetvalue(res, 0, 3), "t") == 0;
	if (strcmp(PQgetvalue(res, 0, 4), "f") == 0)
		sync->ntables = atoi(PQgetvalue(res, 0, 6));
	sync->npeers = atoi(PQgetvalue(res, 0, 5));
	PQclear(res);

	items = PQexec(conn, "SELECT 'p', unnest(peers) FROM walbridge.sync"
				   " UNION ALL SELECT 't', unnest(tables)::text FROM walbridge.sync");
	if (PQresultStatus(items) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not read walbridge.sync: %s", PQerrorMessage(conn));
		PQclear(items);
		return WB_ERR;
	}
	sync->peers = xcalloc(sync->npeers + 1, sizeof(char *));
	sync->tables = xcalloc((sync->ntables > 0 ? sync->ntables : 0) + 1, sizeof(char *));
	{
		int			np = 0,
					nt = 0;

		for (int i = 0; i < PQntuples(items); i++)
		{
			if (PQgetvalue(items, i, 0)[0] == 'p' && np < sync->npeers)
				sync->peers[np++] = xstrdup(PQgetvalue(items, i, 1));
			else if (PQgetvalue(items, i, 0)[0] == 't' && nt < sync->ntables)
				sync->tables[nt++] = xstrdup(PQgetvalue(items, i, 1));
		}
	}
	PQclear(items);
	return WB_OK;
}

void
control_sync_free(wb_sync *sync)
{
	for (int i = 0; i < sync->npeers; i++)
		free(sync->peers[i]);
	for (int i = 0; i < sync->ntables; i++)
		free(sync->tables[i]);
	free(sync->peers);
	free(sync->tables);
	memset(sync, 0, sizeof(*sync));
}

/* start_sync(), stop_sync() and skip() NOTIFY this channel. */
int
control_listen(PGconn *conn)
{
	PGresult   *res = PQexec(conn, "LISTEN walbridge_control");
	int			rc = PQresultStatus(res) == PGRES_COMMAND_OK ? WB_OK : WB_ERR;

	if (rc != WB_OK)
		wb_log(WB_LOG_ERROR, "could not LISTEN for walbridge control: %s", PQerrorMessage(conn));
	PQclear(res);
	return rc;
}

/* Whether a control notification arrived (consumes them all). */
int
control_notified(PGconn *conn, bool *notified)
{
	PGnotify   *n;

	if (PQconsumeInput(conn) == 0)
	{
		wb_log(WB_LOG_ERROR, "lost the connection to the database: %s", PQerrorMessage(conn));
		return WB_ERR;
	}
	while ((n = PQnotifies(conn)) != NULL)
	{
		*notified = true;
		PQfreemem(n);
	}
	return WB_OK;
}

/* What status() shows for the publishing side; best effort. */
void
control_publish_state(PGconn *conn, const char *state, const char *error, bool confirmed)
{
	const char *params[3] = {state, error, confirmed ? "t" : "f"};
	PGresult   *res = PQexecParams(conn,
								   "INSERT INTO walbridge.publish_status AS p (state, last_error, last_error_at, confirmed_at)"
								   " VALUES ($1::text, $2::text, CASE WHEN $2::text IS NOT NULL THEN now() END,"
								   "         CASE WHEN $3::boolean THEN now() END)"
								   " ON CONFLICT (single) DO UPDATE SET state = $1::text, updated_at = now(),"
								   "   last_error = coalesce($2::text, p.last_error),"
								   "   last_error_at = CASE WHEN $2::text IS NOT NULL THEN now() ELSE p.last_error_at END,"
								   "   confirmed_at = CASE WHEN $3::boolean THEN now() ELSE p.confirmed_at END",
								   3, NULL, params, NULL, NULL, 0);

	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		wb_log(WB_LOG_WARNING, "could not record the publishing state: %s", PQerrorMessage(conn));
	PQclear(res);
}
