/*-------------------------------------------------------------------------
 *
 * nodeinfo.c
 *		The node's own catalog, read over an ordinary libpq connection.
 *
 * IDENTIFICATION
 *		forwarder/nodeinfo.c
 *
 *-------------------------------------------------------------------------
 */
#include "nodeinfo.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "pgstream.h"
#include "sqltext.h"
#include "wb.h"

/*
 * An ordinary connection to the node.  search_path is pg_catalog (and
 * pg_temp last): walbridged's role may be a superuser, and a function or
 * operator someone created in a schema on the default path (public) must
 * never be picked over the built-in one its SQL means.
 * synchronous_commit local: walbridged's own bookkeeping (status,
 * heartbeats, a copy's progress) never waits for a synchronous standby,
 * so a standby that does not answer does not stop its event loop, which
 * also serves the slot and the peers.
 */
PGconn *
nodeinfo_connect(const char *conninfo)
{
	const char *keys[] = {"dbname", "application_name", "options", NULL};
	const char *values[] = {conninfo, "walbridged",
		"-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3"
		" -c search_path=pg_catalog,pg_temp -c synchronous_commit=local", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, values, 1);

	if (PQstatus(conn) != CONNECTION_OK)
	{
		wb_log(WB_LOG_ERROR, "could not connect to the database: %s", PQerrorMessage(conn));
		PQfinish(conn);
		return NULL;
	}
	return conn;
}

/* The node's name, set by walbridge.create_node(). */
int
nodeinfo_node_name(PGconn *conn, char **name)
{
	PGresult   *res = PQexec(conn,
							 "SELECT n.name FROM pg_extension e, walbridge.node n WHERE e.extname = 'walbridge'");
	int			rc = WB_ERR;

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

		if (state && (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0))
			wb_log(WB_LOG_ERROR, "the walbridge extension is not installed in this database: run CREATE EXTENSION walbridge, then SELECT walbridge.create_node('<name>')");
		else
			wb_log(WB_LOG_ERROR, "could not read the node name: %s", PQerrorMessage(conn));
	}
	else if (PQntuples(res) == 0)
		wb_log(WB_LOG_ERROR, "this database has no walbridge node name: run SELECT walbridge.create_node('<name>') with a name unique across the mesh");
	else
	{
		*name = xstrdup(PQgetvalue(res, 0, 0));
		rc = WB_OK;
	}
	PQclear(res);
	return rc;
}

/*
 * The tables to publish: walbridge.synced_tables() (those start_sync()
 * named, or every ordinary or partitioned table with a primary key outside
 * the system schemas and walbridge's own), with the planner's estimate of
 * their rows (a partitioned table's: its leaves'), for the copy's progress.
 */
int
nodeinfo_published_tables(PGconn *conn, wb_tables *tables)
{
	PGresult   *res = PQexec(conn,
							 "SELECT t, coalesce((SELECT sum(greatest(l.reltuples, 0))"
							 "                      FROM pg_catalog.pg_partition_tree(t::regclass) p"
							 "                      JOIN pg_catalog.pg_class l ON l.oid = p.relid WHERE p.isleaf),"
							 "                    (SELECT greatest(c.reltuples, 0) FROM pg_catalog.pg_class c"
							 "                      WHERE c.oid = t::regclass))"
							 "  FROM walbridge.synced_tables() AS t ORDER BY 1");

	memset(tables, 0, sizeof(*tables));
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not list the tables to publish: %s", PQerrorMessage(conn));
		PQclear(res);
		return WB_ERR;
	}
	tables->count = PQntuples(res);
	tables->names = xcalloc(tables->count + 1, sizeof(char *));
	tables->estimates = xcalloc(tables->count + 1, sizeof(double));
	for (int i = 0; i < tables->count; i++)
	{
		tables->names[i] = xstrdup(PQgetvalue(res, i, 0));
		tables->estimates[i] = PQgetisnull(res, i, 1) ? 0 : atof(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return WB_OK;
}

/*
 * What the plugin is to publish (walbridge.publish_selection()): its
 * include_tables and exclude_tables values (NULL: not passed) and
 * require_primary_key.  With no sync row, a pattern that matches no user
 * table: logical decoding never emits catalog changes, so pg_catalog.*
 * selects nothing while the slot still advances.
 */
int
nodeinfo_publish_selection(PGconn *conn, wb_selection *sel)
{
	PGresult   *res = PQexec(conn, "SELECT include_tables, exclude_tables, require_primary_key"
							 "  FROM walbridge.publish_selection()");

	memset(sel, 0, sizeof(*sel));
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not read what to publish: %s", PQerrorMessage(conn));
		PQclear(res);
		return WB_ERR;
	}
	if (PQntuples(res) == 0 || PQgetisnull(res, 0, 0))
		sel->include = xstrdup("pg_catalog.*");
	else
	{
		sel->include = xstrdup(PQgetvalue(res, 0, 0));
		if (!PQgetisnull(res, 0, 1))
			sel->exclude = xstrdup(PQgetvalue(res, 0, 1));
		sel->require_primary_key = strcmp(PQgetvalue(res, 0, 2), "t") == 0;
	}
	PQclear(res);
	return WB_OK;
}

void
nodeinfo_selection_free(wb_selection *sel)
{
	free(sel->include);
	free(sel->exclude);
	memset(sel, 0, sizeof(*sel));
}

void
nodeinfo_tables_free(wb_tables *tables)
{
	for (int i = 0; i < tables->count; i++)
		free(tables->names[i]);
	free(tables->names);
	free(tables->estimates);
	memset(tables, 0, sizeof(*tables));
}

/*
 * Whether the slot's start was fully handled: its initial copy published
 * and acknowledged (or no copy wanted).  A slot without it was left by a
 * walbridged that stopped during the copy.
 */
int
nodeinfo_slot_initialized(PGconn *conn, bool *initialized)
{
	PGresult   *res = PQexec(conn, "SELECT snapshot_lsn IS NOT NULL FROM walbridge.node");
	int			rc = WB_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		wb_log(WB_LOG_ERROR, "could not read walbridge.node: %s", PQerrorMessage(conn));
		rc = WB_ERR;
	}
	else
		*initialized = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	PQclear(res);
	return rc;
}

/*
 * The slot's start is handled (lsn 0: not yet), under a new incarnation:
 * both in one statement, so that the incarnation the initial copy's
 * messages carried is the one stored with it.
 */
int
nodeinfo_mark_slot_initialized(PGconn *conn, uint64_t lsn, const char *incarnation)
{
	char		at[32];
	const char *values[2] = {at, incarnation};
	PGresult   *res;
	int			rc = WB_OK;

	snprintf(at, sizeof(at), WB_LSN_FORMAT, WB_LSN_ARGS(lsn));
	if (lsn == 0)
		values[0] = NULL;
	res = PQexecParams(conn, "UPDATE walbridge.node SET snapshot_lsn = $1::pg_lsn, incarnation = $2",
					   2, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		wb_log(WB_LOG_ERROR, "could not update walbridge.node: %s", PQerrorMessage(conn));
		rc = WB_ERR;
	}
	PQclear(res);
	return rc;
}

/*
 * The slot's incarnation (walbridge.node.incarnation).  A slot made before
 * walbridged had incarnations has none: fallback is stored then.
 */
int
nodeinfo_incarnation(PGconn *conn, const char *fallback, char *out, size_t outlen)
{
	const char *values[1] = {fallback};
	PGresult   *res = PQexecParams(conn, "UPDATE walbridge.node SET incarnation = $1 WHERE incarnation IS NULL",
								   1, NULL, values, NULL, NULL, 0);
	int			rc = WB_OK;

	if (PQresultStatus(res) == PGRES_COMMAND_OK)
	{
		PQclear(res);
		res = PQexec(conn, "SELECT incarnation FROM walbridge.node");
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQgetisnull(res, 0, 0))
	{
		wb_log(WB_LOG_ERROR, "could not read the incarnation in walbridge.node: %s", PQerrorMessage(conn));
		rc = WB_ERR;
	}
	else
		snprintf(out, outlen, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return rc;
}

/* Drop the tombstones no peer can still need; best effort. */
void
nodeinfo_purge_tombstones(PGconn *conn)
{
	PGresult   *res = PQexec(conn, "SELECT walbridge.purge_tombstones()");

	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		wb_log(WB_LOG_WARNING, "could not purge tombstones: %s", PQerrorMessage(conn));
	else if (strcmp(PQgetvalue(res, 0, 0), "0") != 0)
		wb_log(WB_LOG_DEBUG, "purged %s tombstones", PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* After stop_sync(drop_slot => true): drop the slot walbridged let go of. */
int
nodeinfo_forget_slot(PGconn *conn, const char *slot)
{
	const char *params[1] = {slot};
	PGresult   *res = NULL;

	/* the walsender of the stream just closed may take a moment to exit */
	for (int attempt = 0; attempt < 50; attempt++)
	{
		PQclear(res);
		res = PQexecParams(conn,
						   "SELECT CASE WHEN NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1) THEN 'gone'"
						   " WHEN (SELECT active FROM pg_replication_slots WHERE slot_name = $1) THEN 'busy'"
						   " ELSE (SELECT 'dropped' FROM pg_drop_replication_slot($1)) END",
						   1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK || strcmp(PQgetvalue(res, 0, 0), "busy") != 0)
			break;
		usleep(100 * 1000);
	}
	if (PQresultStatus(res) != PGRES_TUPLES_OK || strcmp(PQgetvalue(res, 0, 0), "busy") == 0)
	{
		wb_log(WB_LOG_ERROR, "could not drop replication slot \"%s\": %s", slot,
			   PQresultStatus(res) == PGRES_TUPLES_OK ? "still in use" : PQerrorMessage(conn));
		PQclear(res);
		return WB_ERR;
	}
	wb_log(WB_LOG_INFO, "dropped replication slot \"%s\" as stop_sync(drop_slot => true) asked", slot);
	PQclear(res);
	res = PQexec(conn, "UPDATE walbridge.node SET snapshot_lsn = NULL, incarnation = NULL;"
				 " UPDATE walbridge.sync SET drop_slot_requested = false");
	PQclear(res);
	return WB_OK;
}
