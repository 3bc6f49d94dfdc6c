/*-------------------------------------------------------------------------
 *
 * resync_serve.c
 *		Serve other nodes' walbridge.resync(): read their requests from the
 *		resync topic, and publish each copy into this node's own topic a
 *		primary key range at a time, while everyone goes on writing.
 *
 * A copy in chunks, placed by watermarks (the method of DBLog and of
 * Debezium's incremental snapshots, simplified by the stream's order):
 *
 *   1. write a watermark into this node's WAL: a non-transactional logical
 *      message of prefix walbridge.resync, unique to the chunk;
 *   2. read the chunk after it, in one snapshot: up to chunk_rows rows of
 *      one table after the last key copied, in key order
 *      (walbridge.resync_chunk()), and the keys of that range this node
 *      deleted (walbridge.resync_tombstones());
 *   3. when the watermark comes through the slot, publish the chunk there,
 *      in its place, instead of the watermark.
 *
 * Every transaction that commits after the watermark follows the chunk in
 * the topic, so a change that raced the read is applied after the copied
 * row and wins, whatever the applying node's policy: no table lock, no new
 * slot, no buffering of the stream.  A transaction that committed between
 * the watermark and the read is both in the chunk and after it: applied
 * twice, to the same result.
 *
 * Only the node that asked applies the copy (its messages name the request
 * and the node, wb.request and wb.for); every other reader passes over it.
 * A chunk's progress (table, last key) is recorded in walbridge.resync_jobs
 * once Kafka acknowledged it, so a restart goes on from there; a chunk not
 * acknowledged is read and published again.  One copy at a time, oldest
 * request first; a newer request from the same node supersedes its older
 * one.
 *
 * IDENTIFICATION
 *		forwarder/publish/resync_serve.c
 *
 *-------------------------------------------------------------------------
 */
#include "resync_serve.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "config.h"
#include "envelope_read.h"
#include "format.h"
#include "kafkaconf.h"
#include "log.h"
#include "nodeinfo.h"
#include "topic.h"
#include "wb.h"

#define CHUNK_ROWS_MAX		1000
#define CHUNK_ROWS_MIN		10
#define CHUNK_BYTES_HIGH	(32 * 1024 * 1024)	/* halve the rows above */
#define CHUNK_BYTES_LOW		(4 * 1024 * 1024)	/* double them below */
#define REQUESTS_PER_TICK	100
#define MAX_WAITING			"16"	/* copies waiting at once, from other
										 * nodes than the one asking */
#define RETRY_US			(5 * INT64_C(1000000))

/* ---------------------------------------------------------------- helpers */

static bool
command_ok(PGconn *conn, PGresult *res, const char *what)
{
	bool		ok = PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		wb_log(WB_LOG_ERROR, "resync: %s failed: %s", what, PQerrorMessage(conn));
	return ok;
}

static void
exec_simple(PGconn *conn, const char *sql)
{
	PQclear(PQexec(conn, sql));
}

static char *
nullable_dup(PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : xstrdup(PQgetvalue(res, row, col));
}

static void
chunk_free(wb_resync_chunk_out *c)
{
	for (int i = 0; i < c->nrecords; i++)
		free(c->records[i]);
	free(c->records);
	free(c->lens);
	free(c->table);
	free(c->after);
	free(c->through);
	free(c->keys);
	free(c->tombstones);
	free(c->running);
	memset(c, 0, sizeof(*c));
}

/* A MESSAGE record of prefix walbridge.resync holding content (JSON). */
static void
pack_phase(msgpack_sbuffer *sb, const char *content)
{
	msgpack_packer pk;

	msgpack_sbuffer_init(sb);
	msgpack_packer_init(&pk, sb, msgpack_sbuffer_write);
	msgpack_pack_array(&pk, WB_MESSAGE_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_MESSAGE);
	msgpack_pack_true(&pk);
	msgpack_pack_uint64(&pk, 0);
	msgpack_pack_str_with_body(&pk, WB_RESYNC_PREFIX, strlen(WB_RESYNC_PREFIX));
	msgpack_pack_bin_with_body(&pk, content, strlen(content));
}

static wb_publish_result
publish_phase(wb_publisher *pub, const char *content)
{
	msgpack_sbuffer sb;
	wb_publish_result rc;

	pack_phase(&sb, content);
	rc = publish_copy_record(pub, sb.data, sb.size);
	msgpack_sbuffer_destroy(&sb);
	return rc;
}

/* ------------------------------------------------------------- requests */

/*
 * A request for this node: its job, with the tables synced now.  A newer
 * request from the same node supersedes the older one's copy.  Recorded
 * once by its id, so a request read twice starts nothing.
 */
static void
take_request(wb_resync_server *r, const rd_kafka_message_t *rkm)
{
	char		kind[32],
				to[128],
				from[128],
				id[64],
				offset[32],
				ms[32];
	const char *values[5] = {id, from, offset, ms, NULL};
	PGresult   *res;
	rd_kafka_timestamp_type_t tstype;
	int64_t		ts = rd_kafka_message_timestamp(rkm, &tstype);

	if (!wb_header_get(rkm, WB_HDR_KIND, kind, sizeof(kind)) || strcmp(kind, "resync_request") != 0 ||
		!wb_header_get(rkm, WB_HDR_TO, to, sizeof(to)) || strcmp(to, r->node) != 0)
		return;					/* not for this node */
	if (!wb_header_get(rkm, WB_HDR_NODE, from, sizeof(from)) || !wb_header_get(rkm, WB_HDR_REQUEST, id, sizeof(id)))
	{
		wb_log(WB_LOG_WARNING, "resync: a request at offset %" PRId64 " of topic %s has no wb.node or wb.request header: passed over",
			   rkm->offset, r->cfg->resync_topic);
		return;
	}
	snprintf(offset, sizeof(offset), "%" PRId64, rkm->offset);
	snprintf(ms, sizeof(ms), "%" PRId64, ts);
	res = PQexecParams(r->conn, "SELECT count(*) >= $1::int FROM walbridge.resync_jobs WHERE state = 'copying'"
					   " AND requester <> $2", 2, NULL, (const char *[]) {MAX_WAITING, from}, NULL, NULL, 0);
	if (command_ok(r->conn, res, "counting the requests") && strcmp(PQgetvalue(res, 0, 0), "t") == 0)
	{
		wb_log(WB_LOG_WARNING, "resync: request %s from node \"%s\" refused: %s copies wait already (topic %s offset %" PRId64 ")",
			   id, from, MAX_WAITING, r->cfg->resync_topic, rkm->offset);
		PQclear(res);
		return;
	}
	PQclear(res);
	res = PQexecParams(r->conn,
					   "WITH job AS (INSERT INTO walbridge.resync_jobs"
					   " (request_id, requester, requested_at, request_offset, state, tables)"
					   " SELECT $1, $2, CASE WHEN $4::bigint > 0 THEN to_timestamp($4::bigint / 1000.0) END, $3::bigint, 'copying',"
					   " coalesce((SELECT array_agg(x ORDER BY x) FROM walbridge.synced_tables() AS x), '{}')"
					   " WHERE NOT EXISTS (SELECT FROM walbridge.node AS n"
					   " WHERE $4::bigint > 0 AND to_timestamp($4::bigint / 1000.0) < n.created_at)"
					   " ON CONFLICT (request_id) DO NOTHING RETURNING request_id)"
					   " UPDATE walbridge.resync_jobs AS j SET state = 'superseded', finished_at = now()"
					   " WHERE j.requester = $2 AND j.state = 'copying' AND j.request_id <> $1"
					   " AND EXISTS (SELECT FROM job)",
					   4, NULL, values, NULL, NULL, 0);
	if (command_ok(r->conn, res, "recording a request"))
		wb_log(WB_LOG_INFO, "resync: node \"%s\" asks for a copy (request %s, topic %s offset %" PRId64 ")",
			   from, id, r->cfg->resync_topic, rkm->offset);
	/* the copy being served, superseded: the next job is the new one */
	if (r->active && r->step == SERVE_IDLE && strcmp(r->requester, from) == 0 &&
		strcmp(r->request, id) != 0 && strcmp(PQcmdTuples(res), "0") != 0)
		r->active = false;
	PQclear(res);
}

static void
take_requests(wb_resync_server *r)
{
	for (int i = 0; i < REQUESTS_PER_TICK; i++)
	{
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(r->requests, 0);

		if (rkm == NULL)
			break;
		if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
			take_request(r, rkm);
		else if (rkm->err != RD_KAFKA_RESP_ERR__PARTITION_EOF &&
				 rkm->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
				 rkm->err != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
			wb_log(WB_LOG_WARNING, "resync: reading topic %s: %s", r->cfg->resync_topic,
				   rd_kafka_message_errstr(rkm));
		rd_kafka_message_destroy(rkm);
	}
}

/* ------------------------------------------------------------------ jobs */

/* The job's table at r->table_index, or NULL past the last. */
static bool
load_table(wb_resync_server *r)
{
	char		index[16];
	const char *values[2] = {r->request, index};
	PGresult   *res;
	bool		ok;

	snprintf(index, sizeof(index), "%d", r->table_index);
	res = PQexecParams(r->conn, "SELECT tables[$2::int] FROM walbridge.resync_jobs WHERE request_id = $1",
					   2, NULL, values, NULL, NULL, 0);
	ok = command_ok(r->conn, res, "reading the job's tables") && PQntuples(res) == 1;
	free(r->table);
	r->table = ok ? nullable_dup(res, 0, 0) : NULL;
	PQclear(res);
	return ok;
}

/* The oldest copy still to serve, where its acknowledged progress left it. */
static void
load_job(wb_resync_server *r)
{
	PGresult   *res = PQexec(r->conn,
							 "SELECT request_id, requester, coalesce(cardinality(tables), 0), greatest(table_index, 1),"
							 " last_key::text, rows FROM walbridge.resync_jobs WHERE state = 'copying'"
							 " ORDER BY request_offset LIMIT 1");

	if (command_ok(r->conn, res, "reading the requests") && PQntuples(res) == 1)
	{
		snprintf(r->request, sizeof(r->request), "%s", PQgetvalue(res, 0, 0));
		snprintf(r->requester, sizeof(r->requester), "%s", PQgetvalue(res, 0, 1));
		r->ntables = atoi(PQgetvalue(res, 0, 2));
		r->table_index = atoi(PQgetvalue(res, 0, 3));
		free(r->last_key);
		r->last_key = nullable_dup(res, 0, 4);
		r->rows = strtoll(PQgetvalue(res, 0, 5), NULL, 10);
		r->active = load_table(r);
		if (r->active)
			wb_log(WB_LOG_INFO, "resync: copying %d tables for node \"%s\" (request %s)%s",
				   r->ntables, r->requester, r->request,
				   r->last_key != NULL || r->table_index > 1 ? ", from where it stopped" : "");
	}
	PQclear(res);
}

/* ---------------------------------------------------------------- chunks */

static void
chunk_add_record(wb_resync_chunk_out *c, const char *data, size_t len)
{
	c->records = xrealloc(c->records, (c->nrecords + 1) * sizeof(char *));
	c->lens = xrealloc(c->lens, (c->nrecords + 1) * sizeof(size_t));
	c->records[c->nrecords] = xmalloc(len);
	memcpy(c->records[c->nrecords], data, len);
	c->lens[c->nrecords] = len;
	c->nrecords++;
	c->bytes += len;
}

/*
 * The chunk's rows, in one snapshot with its tombstones: RELATION, then up
 * to chunk_rows SNAPSHOT records after r->last_key.  Binary results: the
 * record's bytes as they are, the key's jsonb (a version byte, then text).
 */
static bool
read_chunk_rows(wb_resync_server *r, wb_resync_chunk_out *c, int *nrows)
{
	char		limit[16];
	const char *values[3] = {r->table, r->last_key, limit};
	PGresult   *res;
	size_t		keys_len = 0;
	char	   *keys = xmalloc(3);	/* "[]" and its end, with no key */

	snprintf(limit, sizeof(limit), "%d", r->chunk_rows);
	res = PQexecParams(r->conn, "SELECT key, record FROM walbridge.resync_chunk($1::regclass, $2::jsonb, $3::int)",
					   3, NULL, values, NULL, NULL, 1 /* binary results */ );
	if (!command_ok(r->conn, res, "reading a chunk"))
	{
		PQclear(res);
		free(keys);
		return false;
	}
	*nrows = 0;
	keys[0] = '[';
	keys_len = 1;
	for (int i = 0; i < PQntuples(res); i++)
	{
		chunk_add_record(c, PQgetvalue(res, i, 1), PQgetlength(res, i, 1));
		if (PQgetisnull(res, i, 0))
			continue;			/* the RELATION record */
		{
			const char *key = PQgetvalue(res, i, 0) + 1;	/* past jsonb's version */
			size_t		len = PQgetlength(res, i, 0) - 1;

			keys = xrealloc(keys, keys_len + len + 3);
			if (*nrows > 0)
				keys[keys_len++] = ',';
			memcpy(keys + keys_len, key, len);
			keys_len += len;
			free(c->through);
			c->through = xmalloc(len + 1);
			memcpy(c->through, key, len);
			c->through[len] = '\0';
		}
		(*nrows)++;
	}
	keys[keys_len++] = ']';
	keys[keys_len] = '\0';
	c->keys = keys;
	PQclear(res);
	if (*nrows < r->chunk_rows)
	{
		/* the table's last chunk: its range runs to the end */
		free(c->through);
		c->through = NULL;
	}
	return true;
}

static bool
read_chunk_tombstones(wb_resync_server *r, wb_resync_chunk_out *c)
{
	const char *values[3] = {r->table, r->last_key, c->through};
	PGresult   *res = PQexecParams(r->conn,
								   "SELECT coalesce(jsonb_agg(jsonb_build_array(t.key, t.deleted_at)), '[]')::text"
								   " FROM walbridge.resync_tombstones($1::regclass, $2::jsonb, $3::jsonb) AS t",
								   3, NULL, values, NULL, NULL, 0);
	bool		ok = command_ok(r->conn, res, "reading tombstones") && PQntuples(res) == 1;

	if (ok)
		c->tombstones = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return ok;
}

/* Write the chunk's watermark into the WAL: its place in the stream. */
static bool
write_watermark(wb_resync_server *r, wb_resync_chunk_out *c)
{
	const char *values[1] = {c->watermark};
	PGresult   *res;
	bool		ok;

	snprintf(c->watermark, sizeof(c->watermark), "%s %" PRIu64, r->request, ++r->sequence);
	res = PQexecParams(r->conn, "SELECT pg_logical_emit_message(false, '" WB_RESYNC_PREFIX "', $1) - '0/0'",
					   1, NULL, values, NULL, NULL, 0);
	ok = command_ok(r->conn, res, "writing a watermark") && PQntuples(res) == 1;
	PQclear(res);
	return ok;
}

/*
 * The transactions the chunk's snapshot (just taken: the first statement
 * of its transaction) sees as running.  A commit record is written a
 * moment before the transaction becomes visible (longer where a
 * synchronous standby is waited for), so one of them may stand before the
 * watermark in the stream and yet be invisible to the chunk: its changes
 * would precede the chunk in the topic and the chunk would undo them.
 * at_watermark() finds it among the transactions published before the
 * watermark, exactly, in LSN order, and reads the chunk again.
 */
static bool
read_running(wb_resync_server *r, wb_resync_chunk_out *c)
{
	PGresult   *res = PQexec(r->conn, "SELECT x::text FROM pg_snapshot_xip(pg_current_snapshot()) AS x");
	bool		ok = command_ok(r->conn, res, "reading a chunk's snapshot");

	if (ok)
	{
		c->nrunning = PQntuples(res);
		c->running = xcalloc(c->nrunning + 1, sizeof(uint32_t));
		/* an xid8: epoch and xid; the stream's are 32 bits */
		for (int i = 0; i < c->nrunning; i++)
			c->running[i] = (uint32_t) (strtoull(PQgetvalue(res, i, 0), NULL, 10) & 0xFFFFFFFFu);
	}
	PQclear(res);
	return ok;
}

/*
 * The next chunk of the copy: its watermark first, then its rows read.
 * A table dropped since the request is passed over with a warning.
 */
static bool
read_chunk(wb_resync_server *r)
{
	wb_resync_chunk_out *c = &r->chunk;
	PGresult   *res;
	int			nrows = 0;
	bool		ok;

	chunk_free(c);
	c->first = r->table_index == 1 && r->last_key == NULL && r->rows == 0;
	if (r->table != NULL)
	{
		const char *values[1] = {r->table};

		res = PQexecParams(r->conn, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, values, NULL, NULL, 0);
		ok = command_ok(r->conn, res, "looking up a table") && PQntuples(res) == 1;
		if (ok && strcmp(PQgetvalue(res, 0, 0), "t") != 0)
		{
			wb_log(WB_LOG_WARNING, "resync: table %s is gone since node \"%s\" asked: not copied",
				   r->table, r->requester);
			free(r->table);
			r->table = NULL;
		}
		PQclear(res);
		if (!ok)
			return false;
	}
	if (!write_watermark(r, c))
		return false;
	if (r->table == NULL)
	{
		/* no table (or a gone one): only the phases */
		c->keys = xstrdup("[]");
		c->tombstones = xstrdup("[]");
		c->last = r->table_index >= r->ntables;
		r->step = SERVE_AT_WATERMARK;
		return true;
	}

	res = PQexec(r->conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	ok = command_ok(r->conn, res, "starting a chunk's snapshot");
	PQclear(res);
	ok = ok && read_running(r, c);
	ok = ok && read_chunk_rows(r, c, &nrows) && read_chunk_tombstones(r, c);
	exec_simple(r->conn, ok ? "COMMIT" : "ROLLBACK");
	if (!ok)
	{
		chunk_free(c);
		return false;
	}
	c->table = xstrdup(r->table);
	c->after = r->last_key ? xstrdup(r->last_key) : NULL;
	c->last = c->through == NULL && r->table_index >= r->ntables;

	/* a chunk's rows are held until its watermark passes: bound its size */
	if (c->bytes > CHUNK_BYTES_HIGH && r->chunk_rows > CHUNK_ROWS_MIN)
		r->chunk_rows = r->chunk_rows / 2 > CHUNK_ROWS_MIN ? r->chunk_rows / 2 : CHUNK_ROWS_MIN;
	else if (c->bytes < CHUNK_BYTES_LOW && r->chunk_rows < CHUNK_ROWS_MAX)
		r->chunk_rows = r->chunk_rows * 2 < CHUNK_ROWS_MAX ? r->chunk_rows * 2 : CHUNK_ROWS_MAX;
	r->rows_in_chunk = nrows;
	r->step = SERVE_AT_WATERMARK;
	return true;
}

/* The MESSAGE records' JSON: built by the server, which quotes it right. */
static char *
phase_json(wb_resync_server *r, const char *phase)
{
	wb_resync_chunk_out *c = &r->chunk;
	char		rows[32],
				tables[16];
	const char *values[9] = {phase, c->table, c->after, c->through, c->keys, c->tombstones, rows, tables, NULL};
	PGresult   *res;
	char	   *json = NULL;

	snprintf(rows, sizeof(rows), "%" PRId64, r->rows + r->rows_in_chunk);
	snprintf(tables, sizeof(tables), "%d", r->ntables);
	res = PQexecParams(r->conn,
					   "SELECT CASE $1 WHEN 'begin' THEN jsonb_build_object('phase', $1, 'tables', $8::int)"
					   " WHEN 'done' THEN jsonb_build_object('phase', $1, 'rows', $7::bigint)"
					   " ELSE jsonb_build_object('phase', $1, 'table', $2::text, 'after', $3::jsonb,"
					   " 'through', $4::jsonb, 'keys', $5::jsonb, 'tombstones', $6::jsonb,"
					   " 'key_columns', (walbridge.key_sql($2::regclass, 1)).names) END::text",
					   8, NULL, values, NULL, NULL, 0);
	if (command_ok(r->conn, res, "describing a chunk") && PQntuples(res) == 1)
		json = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return json;
}

static wb_publish_result
publish_chunk(wb_resync_server *r, wb_publisher *pub, uint64_t id)
{
	wb_resync_chunk_out *c = &r->chunk;
	wb_publish_result rc;
	char	   *begin = c->first ? phase_json(r, "begin") : NULL;
	char	   *range = c->table ? phase_json(r, "chunk") : NULL;
	char	   *done = c->last ? phase_json(r, "done") : NULL;

	if ((c->first && begin == NULL) || (c->table && range == NULL) || (c->last && done == NULL))
		rc = WB_PUBLISH_FAILED;
	else
	{
		rc = publish_resync_begin(pub, id, c->table, r->request, r->requester);
		if (rc == WB_PUBLISH_OK && begin)
			rc = publish_phase(pub, begin);
		for (int i = 0; i < c->nrecords && rc == WB_PUBLISH_OK; i++)
			rc = publish_copy_record(pub, c->records[i], c->lens[i]);
		if (rc == WB_PUBLISH_OK && range)
			rc = publish_phase(pub, range);
		if (rc == WB_PUBLISH_OK && done)
			rc = publish_phase(pub, done);
		if (rc == WB_PUBLISH_OK)
			rc = publish_resync_end(pub);
	}
	free(begin);
	free(range);
	free(done);
	return rc;
}

/*
 * The publisher's watermark hook: a resync watermark came through the
 * stream.  Ours, the chunk goes here; any other (one read again after a
 * restart, whose chunk is gone with the session) stands for nothing.
 */
static int
at_watermark(void *arg, const char *content, size_t len, uint64_t id, uint64_t lsn)
{
	wb_resync_server *r = arg;
	wb_publish_result rc;

	if (r->step != SERVE_AT_WATERMARK || len != strlen(r->chunk.watermark) ||
		memcmp(content, r->chunk.watermark, len) != 0)
		return WB_PUBLISH_OK;
	for (int i = 0; i < r->chunk.nrunning; i++)
		if (publish_committed_before(r->pub, r->chunk.running[i], lsn))
		{
			/* read_running(): the chunk missed a commit before its place */
			wb_log(WB_LOG_DEBUG, "resync: xid %u committed before the watermark but was not visible to the chunk: reading it again",
				   r->chunk.running[i]);
			r->rows_in_chunk = 0;
			chunk_free(&r->chunk);
			r->step = SERVE_IDLE;
			/* it becomes visible in a moment (or when its standby answers) */
			r->next_poll_us = wb_now_us() + RETRY_US / 25;
			return WB_PUBLISH_OK;
		}
	rc = publish_chunk(r, r->pub, id);
	if (rc != WB_PUBLISH_OK)
		return rc;
	r->chunk.watermark_lsn = lsn;
	r->step = SERVE_PUBLISHED;
	return WB_PUBLISH_OK;
}

/* Kafka has the chunk: record how far the copy went, and go on. */
static bool
chunk_acknowledged(wb_resync_server *r)
{
	wb_resync_chunk_out *c = &r->chunk;
	int			next_index = c->through == NULL ? r->table_index + 1 : r->table_index;
	char		index[16],
				rows[32];
	const char *values[5] = {r->request, index, c->through, rows, c->last ? "t" : "f"};
	PGresult   *res;
	bool		ok;

	snprintf(index, sizeof(index), "%d", next_index);
	snprintf(rows, sizeof(rows), "%" PRId64, r->rows + r->rows_in_chunk);
	res = PQexecParams(r->conn,
					   "UPDATE walbridge.resync_jobs SET table_index = $2::int, last_key = $3::jsonb, rows = $4::bigint,"
					   " state = CASE WHEN $5::boolean THEN 'done' ELSE state END,"
					   " finished_at = CASE WHEN $5::boolean THEN now() END"
					   " WHERE request_id = $1 AND state = 'copying'",
					   5, NULL, values, NULL, NULL, 0);
	ok = command_ok(r->conn, res, "recording a chunk");
	if (ok && strcmp(PQcmdTuples(res), "0") == 0)
	{
		/* superseded by a newer request meanwhile: serve that one */
		PQclear(res);
		r->active = false;
		r->rows_in_chunk = 0;
		chunk_free(c);
		r->step = SERVE_IDLE;
		return true;
	}
	PQclear(res);
	if (!ok)
		return false;

	r->rows += r->rows_in_chunk;
	r->rows_in_chunk = 0;
	free(r->last_key);
	r->last_key = c->through ? xstrdup(c->through) : NULL;
	if (c->last)
	{
		wb_log(WB_LOG_INFO, "resync: copy for node \"%s\" published and acknowledged: %d tables, %" PRId64 " rows (request %s)",
			   r->requester, r->ntables, r->rows, r->request);
		r->active = false;
	}
	else if (next_index != r->table_index)
	{
		r->table_index = next_index;
		if (!load_table(r))
			r->active = false;	/* read again from the job's row */
	}
	chunk_free(c);
	r->step = SERVE_IDLE;
	return true;
}

/* ---------------------------------------------------------------- public */

/*
 * The consumer of the resync topic, from the request after the last one
 * recorded.  A topic that cannot be had (create_topics off and nobody
 * made it, or made with several partitions) is no reason to stop
 * publishing: a warning, and another try a minute later; until then other
 * nodes' resync() requests wait in Kafka.
 */
static void
open_requests(wb_resync_server *r)
{
	char		group[160];
	wb_kafka_default defaults[] = {
		{"group.id", group},
		{"enable.auto.commit", "false"},
		{"enable.auto.offset.store", "false"},
		{"auto.offset.reset", "earliest"},
		{"client.id", "walbridged"},
	};
	rd_kafka_conf_t *conf;
	rd_kafka_topic_partition_list_t *parts;
	char		errstr[512];
	PGresult   *res;
	int64_t		start = RD_KAFKA_OFFSET_BEGINNING;

	r->open_retry_at_us = wb_now_us() + 60 * INT64_C(1000000);
	res = PQexec(r->conn, "SELECT max(request_offset) + 1 FROM walbridge.resync_jobs");
	if (!command_ok(r->conn, res, "reading the requests"))
	{
		PQclear(res);
		return;
	}
	if (!PQgetisnull(res, 0, 0))
		start = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);

	if (topic_ensure(r->pub->rk, r->cfg->resync_topic, r->cfg) != WB_OK)
	{
		wb_log(WB_LOG_WARNING, "resync: cannot read requests from topic \"%s\" (above): other nodes' walbridge.resync() of this node waits until it can; trying again in a minute",
			   r->cfg->resync_topic);
		return;
	}
	snprintf(group, sizeof(group), "walbridge-%s-resync", r->node);
	conf = kafka_conf_new(r->cfg, defaults, sizeof(defaults) / sizeof(defaults[0]));
	if (conf == NULL)
		return;
	r->requests = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (r->requests == NULL)
	{
		wb_log(WB_LOG_WARNING, "resync: could not create the requests consumer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return;
	}
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, r->cfg->resync_topic, 0)->offset = start;
	rd_kafka_assign(r->requests, parts);
	rd_kafka_topic_partition_list_destroy(parts);
}

int
resync_serve_open(wb_resync_server *r, const struct wb_config *cfg, const char *node, wb_publisher *pub)
{
	memset(r, 0, sizeof(*r));
	r->cfg = cfg;
	r->node = xstrdup(node);
	r->pub = pub;
	r->chunk_rows = CHUNK_ROWS_MAX;
	/* a watermark of this session never reads like one of an earlier */
	r->sequence = (uint64_t) wb_now_us();
	r->conn = nodeinfo_connect(cfg->conninfo);
	if (r->conn == NULL)
		return WB_ERR;
	open_requests(r);
	pub->watermark_hook = at_watermark;
	pub->watermark_arg = r;
	return WB_OK;
}

/*
 * One turn: take new requests, and move the copy being served one step:
 * read its next chunk (while the producer has room), or record one Kafka
 * acknowledged (confirmed: the position Kafka acknowledged everything up
 * to).  WB_ERR when this node's database failed us: the caller retries.
 */
int
resync_serve_tick(wb_resync_server *r, wb_publisher *pub, uint64_t confirmed)
{
	if (r->requests == NULL && wb_now_us() >= r->open_retry_at_us)
		open_requests(r);
	if (r->requests != NULL)
		take_requests(r);
	if (PQstatus(r->conn) != CONNECTION_OK)
		return WB_ERR;
	switch (r->step)
	{
		case SERVE_IDLE:
			if (wb_now_us() < r->next_poll_us || publish_backlogged(pub))
				return WB_OK;
			if (!r->active)
				load_job(r);
			if (r->active && !read_chunk(r))
			{
				/* logged: try again in a while (a table being altered, say) */
				r->next_poll_us = wb_now_us() + RETRY_US;
				chunk_free(&r->chunk);
				r->step = SERVE_IDLE;
			}
			else if (!r->active)
				r->next_poll_us = wb_now_us() + RETRY_US / 5;
			return WB_OK;
		case SERVE_AT_WATERMARK:
			return WB_OK;		/* the stream brings it */
		case SERVE_PUBLISHED:
			if (confirmed >= r->chunk.watermark_lsn && !chunk_acknowledged(r))
				r->next_poll_us = wb_now_us() + RETRY_US;
			return WB_OK;
	}
	return WB_OK;
}

void
resync_serve_close(wb_resync_server *r)
{
	if (r->requests)
	{
		rd_kafka_consumer_close(r->requests);
		rd_kafka_destroy(r->requests);
	}
	if (r->pub)
	{
		r->pub->watermark_hook = NULL;
		r->pub->watermark_arg = NULL;
	}
	if (r->conn)
		PQfinish(r->conn);
	chunk_free(&r->chunk);
	free(r->table);
	free(r->last_key);
	free(r->node);
	memset(r, 0, sizeof(*r));
}
