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

#include "config.h"
#include "log.h"
#include "pgstream.h"

PGconn *
nodeinfo_connect(const char *conninfo)
{
	const char *keys[] = {"dbname", "application_name", "options", NULL};
	const char *values[] = {conninfo, "walbridged",
		"-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3", NULL};
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
		*name = strdup(PQgetvalue(res, 0, 0));
		rc = WB_OK;
	}
	PQclear(res);
	return rc;
}

/*
 * The tables to publish: every ordinary or partitioned table with a primary
 * key, outside the system schemas and walbridge's own.
 */
int
nodeinfo_published_tables(PGconn *conn, wb_tables *tables)
{
	PGresult   *res = PQexec(conn,
							 "SELECT format('%I.%I', n.nspname, c.relname), greatest(c.reltuples, 0)"
							 "  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
							 " WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition"
							 "   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'walbridge')"
							 "   AND n.nspname !~ '^pg_'"
							 "   AND EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)"
							 " ORDER BY 1");

	memset(tables, 0, sizeof(*tables));
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not list the tables to publish: %s", PQerrorMessage(conn));
		PQclear(res);
		return WB_ERR;
	}
	tables->count = PQntuples(res);
	tables->names = calloc(tables->count + 1, sizeof(char *));
	tables->estimates = calloc(tables->count + 1, sizeof(double));
	for (int i = 0; i < tables->count; i++)
	{
		tables->names[i] = strdup(PQgetvalue(res, i, 0));
		tables->estimates[i] = atof(PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return WB_OK;
}

/*
 * The plugin's include_tables value.  With no table to publish, a pattern
 * that matches no user table: logical decoding never emits catalog
 * changes, so pg_catalog.* selects nothing while the slot still advances.
 */
char *
nodeinfo_include_option(const wb_tables *tables)
{
	size_t		len = 1;
	char	   *out;

	if (tables->count == 0)
		return strdup("pg_catalog.*");
	for (int i = 0; i < tables->count; i++)
		len += strlen(tables->names[i]) + 2;
	out = malloc(len);
	out[0] = '\0';
	for (int i = 0; i < tables->count; i++)
	{
		if (i > 0)
			strcat(out, ", ");
		strcat(out, tables->names[i]);
	}
	return out;
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

int
nodeinfo_mark_slot_initialized(PGconn *conn, uint64_t lsn)
{
	char		sql[128];
	PGresult   *res;
	int			rc = WB_OK;

	if (lsn == 0)
		snprintf(sql, sizeof(sql), "UPDATE walbridge.node SET snapshot_lsn = NULL");
	else
		snprintf(sql, sizeof(sql), "UPDATE walbridge.node SET snapshot_lsn = '" WB_LSN_FORMAT "'",
				 WB_LSN_ARGS(lsn));
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		wb_log(WB_LOG_ERROR, "could not update walbridge.node: %s", PQerrorMessage(conn));
		rc = WB_ERR;
	}
	PQclear(res);
	return rc;
}
