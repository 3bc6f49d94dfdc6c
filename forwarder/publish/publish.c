/*-------------------------------------------------------------------------
 *
 * publish.c
 *		Records from the slot to Kafka messages.
 *
 * A message's value is a run of walbridge records (each one msgpack
 * array, so they need no framing).  A transaction's first message starts
 * with its BEGIN; when the value would pass chunk_size the message is
 * produced and the next one starts again with the same BEGIN, so a 1 GB
 * transaction streams through in bounded memory.  The last chunk ends with
 * COMMIT and has the header wb.last = 1.  Before the first change to a
 * table in each message goes that table's latest RELATION record.
 *
 * Produce and delivery are decoupled: producing only queues (the payload is
 * copied), the delivery report later acknowledges the message to the
 * inflight ring.  A full queue is backpressure: we wait, calling the wait
 * hook so the caller keeps the PostgreSQL connection alive, and read no
 * more from the slot meanwhile.
 *
 * IDENTIFICATION
 *		forwarder/publish/publish.c
 *
 *-------------------------------------------------------------------------
 */
#include "publish.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "kafkaconf.h"
#include "log.h"
#include "pgstream.h"
#include "record.h"
#include "topic.h"
#include "wb.h"

/* ---------- relation cache: relid -> latest RELATION record ---------- */

static wb_relentry *
relation_slot(wb_publisher *pub, uint32_t relid)
{
	size_t		mask = pub->relations_cap - 1;
	size_t		i = (relid * 2654435761u) & mask;

	while (pub->relations[i].relid != 0 && pub->relations[i].relid != relid)
		i = (i + 1) & mask;
	return &pub->relations[i];
}

static void
relation_store(wb_publisher *pub, uint32_t relid, const char *record, size_t len)
{
	wb_relentry *entry;

	if ((pub->relations_used + 1) * 2 > pub->relations_cap)
	{
		wb_relentry *old = pub->relations;
		size_t		old_cap = pub->relations_cap;

		pub->relations_cap = old_cap ? old_cap * 2 : 64;
		pub->relations = xcalloc(pub->relations_cap, sizeof(wb_relentry));
		for (size_t i = 0; i < old_cap; i++)
			if (old[i].relid != 0)
				*relation_slot(pub, old[i].relid) = old[i];
		free(old);
	}
	entry = relation_slot(pub, relid);
	if (entry->relid == 0)
	{
		entry->relid = relid;
		pub->relations_used++;
	}
	free(entry->record);
	entry->record = xmalloc(len);
	memcpy(entry->record, record, len);
	entry->len = len;
}

/* ---------------------------- the message ---------------------------- */

static void
append(wb_publisher *pub, const char *data, size_t len)
{
	if (pub->len + len > pub->cap)
	{
		size_t		cap = pub->cap ? pub->cap : 64 * 1024;

		while (cap < pub->len + len)
			cap *= 2;
		pub->buf = xrealloc(pub->buf, cap);
		pub->cap = cap;
	}
	memcpy(pub->buf + pub->len, data, len);
	pub->len += len;
}

/* A new message: BEGIN first when inside a transaction. */
static void
start_message(wb_publisher *pub)
{
	pub->len = 0;
	pub->generation++;
	if (pub->in_txn)
		append(pub, pub->begin, pub->begin_len);
	pub->header_len = pub->len;
}

/* The table's RELATION record, unless this message already has it. */
static void
ensure_relation(wb_publisher *pub, uint32_t relid)
{
	wb_relentry *entry = pub->relations ? relation_slot(pub, relid) : NULL;

	if (entry == NULL || entry->relid == 0)
		return;					/* the stream's own RELATION precedes it */
	if (entry->in_message == pub->generation)
		return;
	append(pub, entry->record, entry->len);
	entry->in_message = pub->generation;
}

static void
add_header(rd_kafka_headers_t *hdrs, const char *name, const char *value)
{
	rd_kafka_header_add(hdrs, name, -1, value, -1);
}

static void
add_header_u64(rd_kafka_headers_t *hdrs, const char *name, uint64_t value)
{
	char		text[32];

	snprintf(text, sizeof(text), "%" PRIu64, value);
	add_header(hdrs, name, text);
}

static void
add_header_lsn(rd_kafka_headers_t *hdrs, const char *name, uint64_t lsn)
{
	char		text[32];

	snprintf(text, sizeof(text), WB_LSN_FORMAT, WB_LSN_ARGS(lsn));
	add_header(hdrs, name, text);
}

/*
 * Who publishes: a peer compares it with what it applied before, so that
 * LSNs of a restored, failed over or rebuilt node (which go back) are not
 * taken for duplicates.  Left out when unknown (set by slot_prepare()).
 */
static void
add_identity_headers(const wb_publisher *pub, rd_kafka_headers_t *hdrs)
{
	if (pub->system_id[0] != '\0')
		add_header(hdrs, WB_HDR_SYSTEM_ID, pub->system_id);
	if (pub->timeline[0] != '\0')
		add_header(hdrs, WB_HDR_TIMELINE, pub->timeline);
	if (pub->incarnation[0] != '\0')
		add_header(hdrs, WB_HDR_INCARNATION, pub->incarnation);
}

/*
 * Queue the message built so far, under inflight entry id.  Waits while
 * the producer queue is full.
 */
static wb_publish_result
produce(wb_publisher *pub, uint64_t id, wb_msg_kind kind, bool last, uint64_t end_lsn)
{
	for (;;)
	{
		rd_kafka_headers_t *hdrs = rd_kafka_headers_new(10);
		rd_kafka_resp_err_t err;
		char		format[8];

		snprintf(format, sizeof(format), "%d", WALBRIDGE_FORMAT_VERSION);
		add_header(hdrs, WB_HDR_NODE, pub->node);
		add_header(hdrs, WB_HDR_KIND, wb_msg_kind_names[kind]);
		add_header(hdrs, WB_HDR_FORMAT, format);
		add_identity_headers(pub, hdrs);
		if (pub->in_txn)
		{
			add_header_u64(hdrs, WB_HDR_XID, pub->xid);
			add_header_lsn(hdrs, WB_HDR_COMMIT_LSN, pub->commit_lsn);
			add_header_u64(hdrs, WB_HDR_COMMIT_TIME, (uint64_t) pub->commit_time);
			if (pub->origin[0] != '\0')
				add_header(hdrs, WB_HDR_ORIGIN, pub->origin);
		}
		if (pub->in_snapshot && pub->snapshot_table[0] != '\0')
			add_header(hdrs, WB_HDR_TABLE, pub->snapshot_table);
		if (pub->in_snapshot && pub->copy_kind == WB_MSG_RESYNC)
		{
			add_header(hdrs, WB_HDR_REQUEST, pub->copy_request);
			add_header(hdrs, WB_HDR_FOR, pub->copy_for);
		}
		if (last && end_lsn != 0)
			add_header_lsn(hdrs, WB_HDR_END_LSN, end_lsn);
		add_header_u64(hdrs, WB_HDR_CHUNK, (uint64_t) pub->chunk);
		add_header(hdrs, WB_HDR_LAST, last ? "1" : "0");

		err = rd_kafka_producev(pub->rk,
								RD_KAFKA_V_TOPIC(pub->topic),
								RD_KAFKA_V_PARTITION(0),
								RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
								RD_KAFKA_V_KEY(pub->node, strlen(pub->node)),
								RD_KAFKA_V_VALUE(pub->buf, pub->len),
								RD_KAFKA_V_HEADERS(hdrs),
								RD_KAFKA_V_OPAQUE((void *) (uintptr_t) id),
								RD_KAFKA_V_END);
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			break;
		rd_kafka_headers_destroy(hdrs);
		if (err == RD_KAFKA_RESP_ERR_MSG_SIZE_TOO_LARGE)
		{
			wb_log(WB_LOG_ERROR, "a %zu-byte message of xid %u (commit " WB_LSN_FORMAT ") does not fit Kafka's message size limit: a single row this large needs a higher kafka.message.max.bytes here and message.max.bytes (max.message.bytes for the topic) on the brokers",
				   pub->len, pub->xid, WB_LSN_ARGS(pub->commit_lsn));
			pub->failed = true;
			return WB_PUBLISH_FAILED;
		}
		if (err != RD_KAFKA_RESP_ERR__QUEUE_FULL)
		{
			wb_log(WB_LOG_ERROR, "could not produce a %zu-byte message to topic \"%s\": %s",
				   pub->len, pub->topic, rd_kafka_err2str(err));
			pub->failed = true;
			return WB_PUBLISH_FAILED;
		}
		/* backpressure: let deliveries drain, keep the caller alive */
		pub->queue_full = true;
		rd_kafka_poll(pub->rk, 100);
		if (pub->failed)
			return WB_PUBLISH_FAILED;
		if (pub->wait_hook != NULL && !pub->wait_hook(pub->wait_arg))
			return WB_PUBLISH_STOPPED;
	}
	pub->queue_full = false;
	inflight_add_message(&pub->inflight, id);
	pub->messages++;
	pub->bytes += pub->len;
	pub->chunk++;
	rd_kafka_poll(pub->rk, 0);
	return WB_PUBLISH_OK;
}

/* Send what has accumulated beyond BEGIN, and start the next chunk. */
static wb_publish_result
flush_chunk(wb_publisher *pub, uint64_t id, wb_msg_kind kind)
{
	wb_publish_result rc;

	if (pub->len <= pub->header_len)
		return WB_PUBLISH_OK;
	rc = produce(pub, id, kind, false, 0);
	start_message(pub);
	return rc;
}

/* Append a change-like record, chunking first when it would not fit. */
static wb_publish_result
append_change(wb_publisher *pub, uint64_t id, wb_msg_kind kind, const wb_record *rec,
			  const char *data, size_t len)
{
	wb_publish_result rc = WB_PUBLISH_OK;

	if (pub->len + len > pub->chunk_bytes && pub->len > pub->header_len)
		rc = flush_chunk(pub, id, kind);
	if (rc != WB_PUBLISH_OK)
		return rc;

	if (rec->tag == WB_REC_TRUNCATE)
	{
		wb_mpcur	cur = rec->u.truncate.relids;

		for (uint32_t i = 0; i < rec->u.truncate.nrelids; i++)
			ensure_relation(pub, wb_record_next_relid(&cur));
	}
	else if (rec->tag != WB_REC_MESSAGE)
		ensure_relation(pub, rec->u.change.relid);
	append(pub, data, len);
	return WB_PUBLISH_OK;
}

static void
copy_origin(wb_publisher *pub, const wb_record *rec)
{
	size_t		n = 0;

	if (rec->u.begin.has_origin && rec->u.begin.origin_name.ptr != NULL)
	{
		n = rec->u.begin.origin_name.len;
		if (n >= sizeof(pub->origin))
			n = sizeof(pub->origin) - 1;
		memcpy(pub->origin, rec->u.begin.origin_name.ptr, n);
	}
	pub->origin[n] = '\0';
}

/* A transaction starts: its BEGIN opens the first message. */
static wb_publish_result
publish_begin(wb_publisher *pub, const wb_record *rec, const char *data, size_t len, uint64_t lsn)
{
	if (pub->in_txn)
	{
		wb_log(WB_LOG_ERROR, "BEGIN of xid %u inside xid %u at " WB_LSN_FORMAT,
			   rec->u.begin.xid, pub->xid, WB_LSN_ARGS(lsn));
		return WB_PUBLISH_FAILED;
	}
	pub->in_txn = true;
	pub->txn_id = inflight_open(&pub->inflight);
	pub->xid = rec->u.begin.xid;
	pub->commit_lsn = rec->u.begin.commit_lsn;
	pub->commit_time = rec->u.begin.commit_time;
	copy_origin(pub, rec);
	pub->chunk = 0;
	free(pub->begin);
	pub->begin = xmalloc(len);
	memcpy(pub->begin, data, len);
	pub->begin_len = len;
	start_message(pub);
	return WB_PUBLISH_OK;
}

/* A transaction ends: its last chunk is produced, the ring told where it ends. */
static wb_publish_result
publish_commit(wb_publisher *pub, const wb_record *rec, const char *data, size_t len, uint64_t lsn)
{
	wb_publish_result rc;

	if (!pub->in_txn)
	{
		wb_log(WB_LOG_ERROR, "COMMIT outside a transaction at " WB_LSN_FORMAT, WB_LSN_ARGS(lsn));
		return WB_PUBLISH_FAILED;
	}
	append(pub, data, len);
	rc = produce(pub, pub->txn_id, WB_MSG_TXN, true, rec->u.commit.end_lsn);
	if (rc != WB_PUBLISH_OK)
		return rc;				/* left open: it can never be confirmed */
	inflight_close(&pub->inflight, pub->txn_id, rec->u.commit.end_lsn);
	pub->in_txn = false;
	pub->transactions++;
	if (pub->recent_xids == NULL)
	{
		pub->recent_xids = xcalloc(WB_RECENT_COMMITS, sizeof(uint32_t));
		pub->recent_lsns = xcalloc(WB_RECENT_COMMITS, sizeof(uint64_t));
	}
	pub->recent_xids[pub->recent_next % WB_RECENT_COMMITS] = pub->xid;
	pub->recent_lsns[pub->recent_next % WB_RECENT_COMMITS] = pub->commit_lsn;
	pub->recent_next++;
	return rc;
}

/*
 * Whether transaction xid was published with a commit before lsn, among
 * the last WB_RECENT_COMMITS published.
 */
bool
publish_committed_before(const wb_publisher *pub, uint32_t xid, uint64_t lsn)
{
	size_t		n = pub->recent_next < WB_RECENT_COMMITS ? pub->recent_next : WB_RECENT_COMMITS;

	for (size_t i = 0; i < n; i++)
		if (pub->recent_xids[i] == xid && pub->recent_lsns[i] < lsn)
			return true;
	return false;
}

/*
 * One record from the slot.  lsn is the WAL position of its XLogData, used
 * for messages outside transactions.
 */
wb_publish_result
publish_record(wb_publisher *pub, const char *data, size_t len, uint64_t lsn)
{
	wb_record	rec;
	char		err[WB_RECORD_ERRLEN];
	wb_publish_result rc;

	if (!wb_record_parse(data, len, &rec, err, sizeof(err)))
	{
		wb_log(WB_LOG_ERROR, "the slot sent an invalid record at " WB_LSN_FORMAT ": %s",
			   WB_LSN_ARGS(lsn), err);
		return WB_PUBLISH_FAILED;
	}

	switch (rec.tag)
	{
		case WB_REC_BEGIN:
			return publish_begin(pub, &rec, data, len, lsn);

		case WB_REC_RELATION:
			relation_store(pub, rec.u.relation.relid, data, len);
			if (pub->in_txn)
			{
				/* its first use follows at once: keep it in this chunk */
				append(pub, data, len);
				relation_slot(pub, rec.u.relation.relid)->in_message = pub->generation;
			}
			return WB_PUBLISH_OK;

		case WB_REC_COMMIT:
			return publish_commit(pub, &rec, data, len, lsn);

		case WB_REC_MESSAGE:
			if (!pub->in_txn && pub->watermark_hook != NULL &&
				rec.u.message.prefix.len == strlen(WB_RESYNC_PREFIX) &&
				memcmp(rec.u.message.prefix.ptr, WB_RESYNC_PREFIX, rec.u.message.prefix.len) == 0)
			{
				/* a resync chunk's place in the stream: the chunk goes here */
				uint64_t	id = inflight_open(&pub->inflight);

				rc = pub->watermark_hook(pub->watermark_arg, rec.u.message.content.ptr,
										 rec.u.message.content.len, id, lsn);
				if (rc == WB_PUBLISH_OK)
					inflight_close(&pub->inflight, id, lsn);
				return rc;
			}
			if (!pub->in_txn)
			{
				/* non-transactional: a message of its own */
				uint64_t	id = inflight_open(&pub->inflight);

				pub->chunk = 0;
				start_message(pub);
				append(pub, data, len);
				rc = produce(pub, id, WB_MSG_MESSAGE, true, 0);
				if (rc == WB_PUBLISH_OK)
					inflight_close(&pub->inflight, id, lsn);
				return rc;
			}
			return append_change(pub, pub->txn_id, WB_MSG_TXN, &rec, data, len);

		case WB_REC_SNAPSHOT:
			wb_log(WB_LOG_ERROR, "the slot sent a SNAPSHOT record at " WB_LSN_FORMAT, WB_LSN_ARGS(lsn));
			return WB_PUBLISH_FAILED;

		default:
			if (!pub->in_txn)
			{
				wb_log(WB_LOG_ERROR, "%s record outside a transaction at " WB_LSN_FORMAT,
					   wb_record_tag_name(rec.tag), WB_LSN_ARGS(lsn));
				return WB_PUBLISH_FAILED;
			}
			return append_change(pub, pub->txn_id, WB_MSG_TXN, &rec, data, len);
	}
}

/* ------------------------- the initial copy ------------------------- */

/*
 * A table's rows from walbridge.snapshot_records(): its RELATION, then
 * SNAPSHOT records, chunked like a transaction, kind "snapshot".  Not tied
 * to any WAL position: these entries confirm nothing.
 */
static void
copy_begin(wb_publisher *pub, wb_msg_kind kind, uint64_t id, const char *table)
{
	pub->in_snapshot = true;
	pub->copy_kind = kind;
	snprintf(pub->snapshot_table, sizeof(pub->snapshot_table), "%s", table ? table : "");
	pub->txn_id = id;
	pub->chunk = 0;
	start_message(pub);
}

/*
 * A record of the copy begun by publish_snapshot_begin() or
 * publish_resync_begin(): RELATION and SNAPSHOT records; a resync's also
 * MESSAGE.
 */
wb_publish_result
publish_copy_record(wb_publisher *pub, const char *data, size_t len)
{
	wb_record	rec;
	char		err[WB_RECORD_ERRLEN] = "not a RELATION or SNAPSHOT record";

	if (!wb_record_parse(data, len, &rec, err, sizeof(err)) ||
		(rec.tag != WB_REC_RELATION && rec.tag != WB_REC_SNAPSHOT &&
		 (rec.tag != WB_REC_MESSAGE || pub->copy_kind != WB_MSG_RESYNC)))
	{
		wb_log(WB_LOG_ERROR, "the copy of %s has an invalid record: %s", pub->snapshot_table, err);
		return WB_PUBLISH_FAILED;
	}
	if (rec.tag == WB_REC_RELATION)
	{
		/* in the first chunk even when the table is empty */
		relation_store(pub, rec.u.relation.relid, data, len);
		append(pub, data, len);
		relation_slot(pub, rec.u.relation.relid)->in_message = pub->generation;
		return WB_PUBLISH_OK;
	}
	return append_change(pub, pub->txn_id, pub->copy_kind, &rec, data, len);
}

static wb_publish_result
copy_end(wb_publisher *pub)
{
	wb_publish_result rc = produce(pub, pub->txn_id, pub->copy_kind, true, 0);

	if (rc == WB_PUBLISH_OK)
		pub->in_snapshot = false;
	return rc;
}

wb_publish_result
publish_snapshot_begin(wb_publisher *pub, const char *table)
{
	copy_begin(pub, WB_MSG_SNAPSHOT, inflight_open(&pub->inflight), table);
	return WB_PUBLISH_OK;
}

wb_publish_result
publish_snapshot_end(wb_publisher *pub)
{
	wb_publish_result rc = copy_end(pub);

	if (rc == WB_PUBLISH_OK)
		inflight_close(&pub->inflight, pub->txn_id, 0);
	return rc;
}

/*
 * A chunk of a copy for one node's resync() (kind "resync"), produced
 * under inflight entry id: the watermark's, so that it is confirmed with
 * the watermark's position (publish_record()).  request and for_node go
 * into every message's headers: only that node applies it.
 */
wb_publish_result
publish_resync_begin(wb_publisher *pub, uint64_t id, const char *table, const char *request,
					 const char *for_node)
{
	snprintf(pub->copy_request, sizeof(pub->copy_request), "%s", request);
	snprintf(pub->copy_for, sizeof(pub->copy_for), "%s", for_node);
	copy_begin(pub, WB_MSG_RESYNC, id, table);
	return WB_PUBLISH_OK;
}

wb_publish_result
publish_resync_end(wb_publisher *pub)
{
	return copy_end(pub);
}

/* ------------------------- producer handling ------------------------- */

static void
delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	wb_publisher *pub = opaque;
	uint64_t	id = (uint64_t) (uintptr_t) rkm->_private;

	if (rkm->err)
	{
		/* never acknowledged, so never confirmed: the session restarts */
		if (!pub->failed)
			wb_log(WB_LOG_ERROR, "Kafka did not take a %zu-byte message for topic \"%s\": %s",
				   rkm->len, pub->topic, rd_kafka_err2str(rkm->err));
		pub->failed = true;
		return;
	}
	inflight_ack(&pub->inflight, id);
}

static void
kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	wb_publisher *pub = opaque;
	char		fatal[512];

	if (err == RD_KAFKA_RESP_ERR__FATAL)
	{
		rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
		wb_log(WB_LOG_ERROR, "Kafka producer failed for good: %s", fatal);
		pub->failed = true;
		return;
	}
	/* transient: librdkafka retries by itself */
	wb_log(WB_LOG_WARNING, "Kafka: %s", reason);
}

/*
 * A chunk must fit in a Kafka message, with room for its headers and
 * batch overhead.
 */
static int
check_chunk_size(rd_kafka_conf_t *conf, size_t chunk_bytes)
{
	char		value[64];
	size_t		size = sizeof(value);
	unsigned long long max_bytes;

	if (rd_kafka_conf_get(conf, "message.max.bytes", value, &size) != RD_KAFKA_CONF_OK)
		return WB_OK;
	max_bytes = strtoull(value, NULL, 10);
	if (chunk_bytes + 16 * 1024 > max_bytes)
	{
		wb_log(WB_LOG_ERROR, "chunk_size %zu does not fit Kafka's message.max.bytes %llu with room for headers: lower chunk_size or raise kafka.message.max.bytes (and the brokers' limit)",
			   chunk_bytes, max_bytes);
		return WB_ERR;
	}
	return WB_OK;
}

int
publish_open(wb_publisher *pub, const struct wb_config *cfg, const char *node)
{
	/*
	 * Defaults for no loss and in-order delivery: idempotence (so retries
	 * neither duplicate nor reorder), acks from all replicas, and retrying
	 * until it works.  Gapless: a message that fails for good stops the
	 * producer instead of letting later ones through; appliers pass over
	 * a transaction whose commit LSN is not above the last applied one (a
	 * duplicate after a restart), so one published again after a gap
	 * would be lost.  The session then restarts from the confirmed
	 * position.  kafka.* settings come last and may change them.
	 */
	static const wb_kafka_default defaults[] = {
		{"enable.idempotence", "true"},
		{"enable.gapless.guarantee", "true"},
		{"acks", "all"},
		{"message.timeout.ms", "0"},
		{"linger.ms", "5"},
		{"queue.buffering.max.kbytes", "65536"},
		{"client.id", "walbridged"},
	};
	rd_kafka_conf_t *conf;
	char		errstr[512];
	size_t		topic_len;

	memset(pub, 0, sizeof(*pub));
	inflight_init(&pub->inflight);
	pub->node = xstrdup(node);
	topic_len = strlen(cfg->topic_prefix) + strlen(node) + 1;
	pub->topic = xmalloc(topic_len);
	snprintf(pub->topic, topic_len, "%s%s", cfg->topic_prefix, node);
	pub->chunk_bytes = cfg->chunk_bytes;

	conf = kafka_conf_new(cfg, defaults, sizeof(defaults) / sizeof(defaults[0]));
	if (conf == NULL)
		return WB_ERR;
	if (check_chunk_size(conf, cfg->chunk_bytes) != WB_OK)
		goto fail;
	rd_kafka_conf_set_opaque(conf, pub);
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	rd_kafka_conf_set_error_cb(conf, kafka_error);

	pub->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (pub->rk == NULL)
	{
		wb_log(WB_LOG_ERROR, "could not create the Kafka producer: %s", errstr);
		goto fail;
	}
	conf = NULL;				/* owned by pub->rk now */

	if (topic_ensure(pub->rk, pub->topic, cfg) != WB_OK)
		return WB_ERR;
	return WB_OK;

fail:
	if (conf)
		rd_kafka_conf_destroy(conf);
	return WB_ERR;
}

/*
 * The identity every message carries from now on: the cluster and timeline
 * the replication connection reported, and the slot's incarnation.
 */
void
publish_set_identity(wb_publisher *pub, const char *system_id, uint32_t timeline,
					 const char *incarnation)
{
	snprintf(pub->system_id, sizeof(pub->system_id), "%s", system_id);
	if (timeline != 0)
		snprintf(pub->timeline, sizeof(pub->timeline), "%u", timeline);
	else
		pub->timeline[0] = '\0';
	snprintf(pub->incarnation, sizeof(pub->incarnation), "%s", incarnation);
}

/* Serve delivery reports (and Kafka logs, errors) for up to timeout_ms. */
void
publish_poll(wb_publisher *pub, int timeout_ms)
{
	rd_kafka_poll(pub->rk, timeout_ms);
}

uint64_t
publish_take_confirmable(wb_publisher *pub)
{
	return inflight_take_confirmable(&pub->inflight);
}

/* Nothing produced waits for Kafka, and no transaction is half read. */
bool
publish_idle(const wb_publisher *pub)
{
	return !pub->in_txn && !pub->in_snapshot && inflight_count(&pub->inflight) == 0;
}

/* Enough is queued that reading more would only grow memory. */
bool
publish_backlogged(const wb_publisher *pub)
{
	return rd_kafka_outq_len(pub->rk) > 50000;
}

/* Messages (and requests) Kafka has not acknowledged yet. */
int
publish_queue_length(const wb_publisher *pub)
{
	return pub->rk ? rd_kafka_outq_len(pub->rk) : 0;
}

/* Wait up to timeout_ms for Kafka to acknowledge everything produced. */
int
publish_flush(wb_publisher *pub, int timeout_ms)
{
	rd_kafka_resp_err_t err = rd_kafka_flush(pub->rk, timeout_ms);

	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		wb_log(WB_LOG_WARNING, "%d messages still unacknowledged by Kafka after %d ms; they will be sent again",
			   rd_kafka_outq_len(pub->rk), timeout_ms);
		return WB_ERR;
	}
	return pub->failed ? WB_ERR : WB_OK;
}

void
publish_close(wb_publisher *pub)
{
	if (pub->rk)
	{
		/* whatever is still queued is dropped: it was never confirmed */
		rd_kafka_purge(pub->rk, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
		rd_kafka_poll(pub->rk, 0);
		rd_kafka_destroy(pub->rk);
	}
	for (size_t i = 0; i < pub->relations_cap; i++)
		free(pub->relations[i].record);
	free(pub->relations);
	free(pub->recent_xids);
	free(pub->recent_lsns);
	free(pub->buf);
	free(pub->begin);
	free(pub->topic);
	free(pub->node);
	inflight_free(&pub->inflight);
	memset(pub, 0, sizeof(*pub));
}
