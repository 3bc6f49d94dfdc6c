/*-------------------------------------------------------------------------
 *
 * snapshot.c
 *		Copy the published tables from a slot's exported snapshot.
 *
 * Rows come from walbridge.snapshot_records() through a cursor, in binary
 * and a batch at a time, so a table of any size is copied in bounded
 * memory, encoded by the same code as the stream.  Progress (rows, rows/s,
 * percent of the planner's estimate) is logged every progress_interval.
 *
 * IDENTIFICATION
 *		forwarder/publish/snapshot.c
 *
 *-------------------------------------------------------------------------
 */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "pgstream.h"

#define FETCH_ROWS			1000

static int
exec_ok(PGconn *conn, const char *sql, ExecStatusType expected)
{
	PGresult   *res = PQexec(conn, sql);
	int			rc = WB_OK;

	if (PQresultStatus(res) != expected)
	{
		wb_log(WB_LOG_ERROR, "initial copy: %s failed: %s", sql, PQerrorMessage(conn));
		rc = WB_ERR;
	}
	PQclear(res);
	return rc;
}

static wb_publish_result
copy_table(PGconn *conn, const char *table, double estimate, int64_t progress_us,
		   wb_publisher *pub)
{
	char	   *literal = PQescapeLiteral(conn, table, strlen(table));
	char		sql[1024];
	wb_publish_result rc;
	uint64_t	rows = 0;
	int64_t		started = wb_now_us();
	int64_t		last_progress = started;
	char		fetch_sql[64];

	snprintf(sql, sizeof(sql),
			 "DECLARE walbridge_copy NO SCROLL CURSOR FOR SELECT walbridge.snapshot_records(%s::regclass)",
			 literal);
	PQfreemem(literal);
	if (exec_ok(conn, sql, PGRES_COMMAND_OK) != WB_OK)
		return WB_PUBLISH_FAILED;

	snprintf(fetch_sql, sizeof(fetch_sql), "FETCH %d FROM walbridge_copy", FETCH_ROWS);
	rc = publish_snapshot_begin(pub, table);
	while (rc == WB_PUBLISH_OK)
	{
		/* binary results: each value is the record's bytes as they are */
		PGresult   *res = PQexecParams(conn, fetch_sql, 0, NULL, NULL, NULL, NULL, 1);
		int			n;

		if (PQresultStatus(res) != PGRES_TUPLES_OK)
		{
			wb_log(WB_LOG_ERROR, "initial copy of %s failed: %s", table, PQerrorMessage(conn));
			PQclear(res);
			return WB_PUBLISH_FAILED;
		}
		n = PQntuples(res);
		for (int i = 0; i < n && rc == WB_PUBLISH_OK; i++)
			rc = publish_copy_record(pub, PQgetvalue(res, i, 0), PQgetlength(res, i, 0));
		PQclear(res);
		rows += n > 0 ? n - (rows == 0 ? 1 : 0) : 0;	/* the first is RELATION */
		if (n < FETCH_ROWS)
			break;

		if (wb_now_us() - last_progress >= progress_us)
		{
			double		secs = (wb_now_us() - started) / 1e6;

			last_progress = wb_now_us();
			wb_log(WB_LOG_INFO, "initial copy of %s: %llu rows, %.0f rows/s%s%.0f%% of about %.0f",
				   table, (unsigned long long) rows, rows / secs,
				   estimate > 0 ? ", " : "", estimate > 0 ? 100.0 * rows / estimate : 0.0,
				   estimate);
		}
	}
	if (rc == WB_PUBLISH_OK)
		rc = publish_snapshot_end(pub);
	if (exec_ok(conn, "CLOSE walbridge_copy", PGRES_COMMAND_OK) != WB_OK && rc == WB_PUBLISH_OK)
		rc = WB_PUBLISH_FAILED;
	if (rc == WB_PUBLISH_OK)
		wb_log(WB_LOG_INFO, "initial copy of %s: %llu rows in %.1f s", table,
			   (unsigned long long) rows, (wb_now_us() - started) / 1e6);
	return rc;
}

/*
 * Publish every table's rows as of snapshot_name.  The caller then waits
 * for Kafka to acknowledge them before it records the copy as done.
 */
wb_publish_result
snapshot_copy(const char *conninfo, const char *snapshot_name, const wb_tables *tables,
			  int progress_interval_ms, wb_publisher *pub)
{
	PGconn	   *conn = nodeinfo_connect(conninfo);
	char		sql[256];
	char	   *literal;
	wb_publish_result rc = WB_PUBLISH_OK;

	if (conn == NULL)
		return WB_PUBLISH_FAILED;
	literal = PQescapeLiteral(conn, snapshot_name, strlen(snapshot_name));
	snprintf(sql, sizeof(sql), "SET TRANSACTION SNAPSHOT %s", literal);
	PQfreemem(literal);

	if (exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK) != WB_OK ||
		exec_ok(conn, sql, PGRES_COMMAND_OK) != WB_OK)
		rc = WB_PUBLISH_FAILED;

	wb_log(WB_LOG_INFO, "initial copy of %d tables from snapshot %s", tables->count, snapshot_name);
	for (int i = 0; i < tables->count && rc == WB_PUBLISH_OK; i++)
		rc = copy_table(conn, tables->names[i], tables->estimates[i],
						(int64_t) progress_interval_ms * 1000, pub);

	if (rc == WB_PUBLISH_OK && exec_ok(conn, "COMMIT", PGRES_COMMAND_OK) != WB_OK)
		rc = WB_PUBLISH_FAILED;
	PQfinish(conn);
	return rc;
}
