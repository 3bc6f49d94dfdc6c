/*-------------------------------------------------------------------------
 *
 * pgstream.c
 *		Logical replication over libpq: the walbridge slot streamed with
 *		START_REPLICATION, as pg_recvlogical does.
 *
 * Messages inside CopyBoth (all integers big-endian):
 *   'w' XLogData:   dataStart(8) walEnd(8) sendTime(8) data...
 *   'k' keepalive:  walEnd(8) sendTime(8) replyRequested(1)
 *   'r' our status: write(8) flush(8) apply(8) sendTime(8) replyRequested(1)
 * The flush position we report is what the slot confirms: the caller
 * passes only positions Kafka has acknowledged (see inflight.c).
 *
 * IDENTIFICATION
 *		forwarder/publish/pgstream.c
 *
 *-------------------------------------------------------------------------
 */
#include "pgstream.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "log.h"
#include "wb.h"

/* Microseconds between the Unix and PostgreSQL (2000-01-01) epochs. */
#define PG_EPOCH_OFFSET_US INT64_C(946684800000000)
#define STATUS_MIN_INTERVAL_US INT64_C(100000)	/* at most 10 new positions a second */

static int64_t
pg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - PG_EPOCH_OFFSET_US;
}

static uint64_t
read_u64(const char *p)
{
	uint64_t	v = 0;

	for (int i = 0; i < 8; i++)
		v = (v << 8) | (unsigned char) p[i];
	return v;
}

static void
write_u64(char *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
	{
		p[i] = (char) (v & 0xff);
		v >>= 8;
	}
}

/*
 * The cluster's system identifier and current timeline, which every
 * message carries (envelope.h): read at each session start, since a
 * promotion moves the timeline while walbridged runs.
 */
static int
identify_system(wb_pgstream *ps)
{
	PGresult   *res = PQexec(ps->conn, "IDENTIFY_SYSTEM");
	int			rc = WB_OK;

	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1 || PQnfields(res) < 2)
	{
		wb_log(WB_LOG_ERROR, "could not identify the system: %s", PQerrorMessage(ps->conn));
		rc = WB_ERR;
	}
	else
	{
		snprintf(ps->system_id, sizeof(ps->system_id), "%s", PQgetvalue(res, 0, 0));
		ps->timeline = (uint32_t) strtoul(PQgetvalue(res, 0, 1), NULL, 10);
	}
	PQclear(res);
	return rc;
}

/*
 * Connect with replication=database.  Session settings pin the text forms
 * of values the plugin writes (dates in ISO, UTC) whatever the server's
 * defaults are.
 */
int
pgstream_connect(wb_pgstream *ps, const char *conninfo, const char *slot)
{
	const char *keys[] = {"dbname", "replication", "application_name", "options", NULL};
	const char *values[] = {conninfo, "database", "walbridged",
		"-c datestyle=ISO -c intervalstyle=postgres -c timezone=UTC -c extra_float_digits=3"
		" -c search_path=pg_catalog,pg_temp", NULL};

	memset(ps, 0, sizeof(*ps));
	ps->slot = xstrdup(slot);
	ps->conn = PQconnectdbParams(keys, values, 1);
	if (PQstatus(ps->conn) != CONNECTION_OK)
	{
		wb_log(WB_LOG_ERROR, "could not open a replication connection to the database: %s",
			   PQerrorMessage(ps->conn));
		return WB_ERR;
	}
	return identify_system(ps);
}

static char *
quoted_literal(PGconn *conn, const char *s)
{
	char	   *lit = PQescapeLiteral(conn, s, strlen(s));

	if (lit == NULL)
		wb_log(WB_LOG_ERROR, "could not quote \"%s\": %s", s, PQerrorMessage(conn));
	return lit;
}

/* Whether the slot exists; a slot of another plugin is an error. */
int
pgstream_slot_exists(wb_pgstream *ps, bool *exists)
{
	char	   *slot = quoted_literal(ps->conn, ps->slot);
	char		sql[512];
	PGresult   *res;
	int			rc = WB_OK;

	if (slot == NULL)
		return WB_ERR;
	snprintf(sql, sizeof(sql),
			 "SELECT plugin, slot_type, database = current_database() FROM pg_replication_slots WHERE slot_name = %s",
			 slot);
	PQfreemem(slot);
	res = PQexec(ps->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not look up replication slot \"%s\": %s",
			   ps->slot, PQerrorMessage(ps->conn));
		rc = WB_ERR;
	}
	else if (PQntuples(res) == 0)
		*exists = false;
	else if (strcmp(PQgetvalue(res, 0, 0), "walbridge") != 0 ||
			 strcmp(PQgetvalue(res, 0, 2), "t") != 0)
	{
		wb_log(WB_LOG_ERROR, "replication slot \"%s\" exists but is not a walbridge slot of this database (plugin \"%s\"); drop it or set slot_name",
			   ps->slot, PQgetvalue(res, 0, 0));
		rc = WB_ERR;
	}
	else
		*exists = true;
	PQclear(res);
	return rc;
}

/*
 * Create the slot and export its snapshot.  The snapshot stays usable only
 * until the next command on this connection: copy from it first.
 */
int
pgstream_create_slot(wb_pgstream *ps, char **snapshot_name, uint64_t *consistent_lsn)
{
	char		sql[512];
	PGresult   *res;
	unsigned int hi,
				lo;
	char	   *ident = PQescapeIdentifier(ps->conn, ps->slot, strlen(ps->slot));

	if (ident == NULL)
		return WB_ERR;
	snprintf(sql, sizeof(sql),
			 "CREATE_REPLICATION_SLOT %s LOGICAL walbridge (SNAPSHOT 'export')", ident);
	PQfreemem(ident);
	res = PQexec(ps->conn, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not create replication slot \"%s\": %s",
			   ps->slot, PQerrorMessage(ps->conn));
		PQclear(res);
		return WB_ERR;
	}
	if (sscanf(PQgetvalue(res, 0, 1), "%X/%X", &hi, &lo) != 2)
	{
		wb_log(WB_LOG_ERROR, "could not parse the consistent point \"%s\" of new slot \"%s\"",
			   PQgetvalue(res, 0, 1), ps->slot);
		PQclear(res);
		return WB_ERR;
	}
	*consistent_lsn = ((uint64_t) hi << 32) | lo;
	*snapshot_name = xstrdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	wb_log(WB_LOG_INFO, "created replication slot \"%s\" at " WB_LSN_FORMAT,
		   ps->slot, WB_LSN_ARGS(*consistent_lsn));
	return WB_OK;
}

int
pgstream_drop_slot(wb_pgstream *ps)
{
	char		sql[512];
	PGresult   *res;
	char	   *ident = PQescapeIdentifier(ps->conn, ps->slot, strlen(ps->slot));
	int			rc = WB_OK;

	if (ident == NULL)
		return WB_ERR;
	snprintf(sql, sizeof(sql), "DROP_REPLICATION_SLOT %s WAIT", ident);
	PQfreemem(ident);
	res = PQexec(ps->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		wb_log(WB_LOG_ERROR, "could not drop replication slot \"%s\": %s",
			   ps->slot, PQerrorMessage(ps->conn));
		rc = WB_ERR;
	}
	PQclear(res);
	return rc;
}

/*
 * START_REPLICATION from the slot's confirmed position (0/0 asks for it)
 * with the plugin's options.
 */
int
pgstream_start(wb_pgstream *ps, const char *const *option_names,
			   const char *const *option_values, int noptions)
{
	size_t		cap = 1024;
	char	   *sql = xmalloc(cap);
	char	   *ident = PQescapeIdentifier(ps->conn, ps->slot, strlen(ps->slot));
	size_t		len;
	PGresult   *res;
	int			rc = WB_OK;

	if (ident == NULL)
		abort();
	len = snprintf(sql, cap, "START_REPLICATION SLOT %s LOGICAL 0/0 (", ident);
	PQfreemem(ident);
	for (int i = 0; i < noptions; i++)
	{
		char	   *name = PQescapeIdentifier(ps->conn, option_names[i], strlen(option_names[i]));
		char	   *value = PQescapeLiteral(ps->conn, option_values[i], strlen(option_values[i]));
		size_t		need = strlen(name) + strlen(value) + 4;

		if (len + need + 2 >= cap)
		{
			cap = (len + need) * 2;
			sql = xrealloc(sql, cap);
		}
		len += snprintf(sql + len, cap - len, "%s%s %s", i > 0 ? ", " : "", name, value);
		PQfreemem(name);
		PQfreemem(value);
	}
	snprintf(sql + len, cap - len, ")");

	res = PQexec(ps->conn, sql);
	if (PQresultStatus(res) != PGRES_COPY_BOTH)
	{
		wb_log(WB_LOG_ERROR, "could not start streaming from replication slot \"%s\": %s",
			   ps->slot, PQerrorMessage(ps->conn));
		rc = WB_ERR;
	}
	PQclear(res);
	free(sql);
	ps->last_status_us = wb_now_us();
	return rc;
}

/*
 * The next record, if one is buffered.  Keepalives are consumed here: they
 * move received_lsn and may ask for a status update at once.
 */
wb_pgread
pgstream_read(wb_pgstream *ps, wb_pgrecord *rec)
{
	for (;;)
	{
		int			len;

		if (ps->copybuf != NULL)
		{
			PQfreemem(ps->copybuf);
			ps->copybuf = NULL;
		}
		len = PQgetCopyData(ps->conn, &ps->copybuf, 1);
		if (len == 0)
		{
			if (PQconsumeInput(ps->conn) == 0)
			{
				wb_log(WB_LOG_ERROR, "lost the replication connection: %s", PQerrorMessage(ps->conn));
				return WB_PG_FAILED;
			}
			len = PQgetCopyData(ps->conn, &ps->copybuf, 1);
			if (len == 0)
				return WB_PG_IDLE;
		}
		if (len == -1)
		{
			PGresult   *res = PQgetResult(ps->conn);

			wb_log(WB_LOG_ERROR, "the server ended replication from slot \"%s\": %s",
				   ps->slot, PQresultStatus(res) == PGRES_COMMAND_OK ? "no error" : PQerrorMessage(ps->conn));
			PQclear(res);
			return WB_PG_FAILED;
		}
		if (len < 0)
		{
			wb_log(WB_LOG_ERROR, "could not read from replication slot \"%s\": %s",
				   ps->slot, PQerrorMessage(ps->conn));
			return WB_PG_FAILED;
		}

		if (ps->copybuf[0] == 'k' && len >= 1 + 8 + 8 + 1)
		{
			uint64_t	wal_end = read_u64(ps->copybuf + 1);

			if (wal_end > ps->received_lsn)
				ps->received_lsn = wal_end;
			if (ps->copybuf[1 + 8 + 8])
				ps->reply_requested = true;
			continue;
		}
		if (ps->copybuf[0] == 'w' && len >= 1 + 8 + 8 + 8)
		{
			uint64_t	data_start = read_u64(ps->copybuf + 1);

			if (data_start > ps->received_lsn)
				ps->received_lsn = data_start;
			rec->lsn = data_start;
			rec->data = ps->copybuf + 1 + 8 + 8 + 8;
			rec->len = (size_t) len - (1 + 8 + 8 + 8);
			return WB_PG_RECORD;
		}
		wb_log(WB_LOG_ERROR, "unexpected message of %d bytes starting with '%c' on replication slot \"%s\"",
			   len, ps->copybuf[0], ps->slot);
		return WB_PG_FAILED;
	}
}

/* Wait until the socket is readable or timeout_ms passed. */
int
pgstream_wait(wb_pgstream *ps, int timeout_ms)
{
	struct pollfd pfd = {.fd = PQsocket(ps->conn), .events = POLLIN};

	if (PQflush(ps->conn) < 0)
	{
		wb_log(WB_LOG_ERROR, "could not send to the server: %s", PQerrorMessage(ps->conn));
		return WB_ERR;
	}
	if (poll(&pfd, 1, timeout_ms) < 0 && errno != EINTR)
	{
		wb_log(WB_LOG_ERROR, "poll on the replication connection failed: %s", strerror(errno));
		return WB_ERR;
	}
	return WB_OK;
}

/*
 * Report flush_lsn as flushed (the slot's confirmed position moves there),
 * when it moved, when the server asked, or when force is set.
 */
int
pgstream_send_status(wb_pgstream *ps, uint64_t flush_lsn, bool force)
{
	char		reply[1 + 8 + 8 + 8 + 8 + 1];

	/*
	 * A new position is worth telling, but not on every acknowledgement:
	 * each status makes the walsender update (and at times save) the slot.
	 */
	if (!force && !ps->reply_requested &&
		(flush_lsn == ps->reported_flush || wb_now_us() - ps->last_status_us < STATUS_MIN_INTERVAL_US))
		return WB_OK;

	reply[0] = 'r';
	write_u64(reply + 1, flush_lsn);	/* written */
	write_u64(reply + 9, flush_lsn);	/* flushed: the slot confirms this */
	write_u64(reply + 17, 0);	/* applied: not ours to say */
	write_u64(reply + 25, (uint64_t) pg_now());
	reply[33] = 0;				/* no reply requested */

	if (PQputCopyData(ps->conn, reply, sizeof(reply)) <= 0 || PQflush(ps->conn) < 0)
	{
		wb_log(WB_LOG_ERROR, "could not send a status update for slot \"%s\": %s",
			   ps->slot, PQerrorMessage(ps->conn));
		return WB_ERR;
	}
	if (flush_lsn != ps->reported_flush)
		wb_log(WB_LOG_DEBUG, "confirmed " WB_LSN_FORMAT " to slot \"%s\"",
			   WB_LSN_ARGS(flush_lsn), ps->slot);
	ps->reported_flush = flush_lsn;
	ps->reply_requested = false;
	ps->last_status_us = wb_now_us();
	return WB_OK;
}

/* End COPY politely when we can, then disconnect. */
void
pgstream_close(wb_pgstream *ps)
{
	if (ps->copybuf != NULL)
		PQfreemem(ps->copybuf);
	ps->copybuf = NULL;
	if (ps->conn != NULL)
	{
		if (PQstatus(ps->conn) == CONNECTION_OK)
		{
			(void) PQputCopyEnd(ps->conn, NULL);
			(void) PQflush(ps->conn);
		}
		PQfinish(ps->conn);
	}
	free(ps->slot);
	memset(ps, 0, sizeof(*ps));
}
