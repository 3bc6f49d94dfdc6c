/*-------------------------------------------------------------------------
 *
 * consume.c
 *		Read the peers' topics from the offsets recorded in the database.
 *
 * Offsets live in walbridge.apply_progress, written in the same local
 * transaction as the changes: Kafka's own offset storage is not used.
 * Reading starts at the recorded offset + 1 (or at 0 for a new peer).  If
 * that offset is no longer in Kafka (retention deleted it, or the broker
 * lost it) the peer stops with an error that says so: auto.offset.reset
 * is "error", and the first offset actually received is checked, so apply
 * never jumps ahead by itself.  It does when walbridge.resync() asked the
 * peer for a copy that is not complete yet: the copy covers what is lost,
 * so apply goes on at the oldest offset Kafka has (resync_apply.c).  A new
 * peer whose topic no longer starts at 0 (its initial copy is gone with
 * its beginning) is read from its end, and asked for a copy.
 *
 * IDENTIFICATION
 *		forwarder/apply/consume.c
 *
 *-------------------------------------------------------------------------
 */
#include "consume.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

#include "envelope_read.h"
#include "kafkaconf.h"
#include "log.h"
#include "pgstream.h"
#include "wb.h"

static wb_applier *
applier_for(wb_consumer *c, const char *topic, int *index)
{
	for (int i = 0; i < c->count; i++)
		if (strcmp(c->appliers[i].topic, topic) == 0)
		{
			*index = i;
			return &c->appliers[i];
		}
	return NULL;
}

static rd_kafka_topic_partition_list_t *
one_partition(const char *topic, int64_t offset)
{
	rd_kafka_topic_partition_list_t *parts = rd_kafka_topic_partition_list_new(1);

	rd_kafka_topic_partition_list_add(parts, topic, 0)->offset = offset;
	return parts;
}

/*
 * A topic's oldest and end offsets now (its single partition; 0 and 0 if
 * it does not exist); WB_ERR with the error logged.
 */
static int
topic_bounds(wb_consumer *c, const char *topic, int64_t *low, int64_t *high)
{
	rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(c->rk, topic, 0, low, high, 10000);

	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
		err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
	{
		*low = *high = 0;
		return WB_OK;
	}
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		wb_log(WB_LOG_ERROR, "could not read the offsets of topic %s: %s", topic, rd_kafka_err2str(err));
		return WB_ERR;
	}
	return WB_OK;
}

/*
 * The wb.kind of a topic's first message (offset 0), read by a consumer
 * of its own; "" when there is none within 10 s.  WB_ERR: logged.
 */
static int
first_kind(const struct wb_config *cfg, const char *topic, char *kind, size_t kindlen)
{
	wb_kafka_default defaults[] = {
		{"group.id", "walbridge-peek"},
		{"enable.auto.commit", "false"},
		{"auto.offset.reset", "error"},
		{"enable.partition.eof", "true"},
		{"client.id", "walbridged"},
	};
	rd_kafka_conf_t *conf = kafka_conf_new(cfg, defaults, sizeof(defaults) / sizeof(defaults[0]));
	char		errstr[512];
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts;
	int64_t		deadline = wb_now_us() + 10 * INT64_C(1000000);

	kind[0] = '\0';
	if (conf == NULL)
		return WB_ERR;
	if ((rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr))) == NULL)
	{
		wb_log(WB_LOG_ERROR, "could not create a Kafka consumer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return WB_ERR;
	}
	parts = one_partition(topic, 0);
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	while (wb_now_us() < deadline)
	{
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 200);
		bool		done = false;

		if (rkm == NULL)
			continue;
		if (rkm->err == RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			if (!wb_header_get(rkm, WB_HDR_KIND, kind, kindlen))
				kind[0] = '\0';
			done = true;
		}
		else if (rkm->err != RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART &&
				 rkm->err != RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
			done = true;		/* end of partition, or gone: no first message */
		rd_kafka_message_destroy(rkm);
		if (done)
			break;
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return WB_OK;
}

/*
 * A peer applied for the first time with the initial copy starts at
 * offset 0 where its topic begins with that copy (its first message a
 * snapshot): everything the peer had and wrote since is there.  Else the
 * topic's history does not hold all of the peer's rows: its beginning lost
 * to retention, the copy with it (a node joining a mesh that has run for
 * a while), or never there (the peer started with snapshot => false over
 * rows it had).  Start at its end then, and ask the peer for a fresh copy,
 * in one local transaction.  An empty topic is all to come: from 0.
 */
static int
start_new_peer(wb_consumer *c, const struct wb_config *cfg, wb_applier *ap, int64_t *next)
{
	int64_t		low;
	int64_t		high;
	char		why[256];
	char		kind[32] = "";
	PGresult   *res;
	int			rc;

	*next = 0;
	if (topic_bounds(c, ap->topic, &low, &high) != WB_OK)
		return WB_ERR;
	if (high == 0)
		return WB_OK;
	if (low == 0 && first_kind(cfg, ap->topic, kind, sizeof(kind)) != WB_OK)
		return WB_ERR;
	if (low == 0 && strcmp(kind, wb_msg_kind_names[WB_MSG_SNAPSHOT]) == 0)
		return WB_OK;
	if (low > 0)
		snprintf(why, sizeof(why), "topic %s starts at offset %" PRId64 ", not 0: retention deleted its beginning and the initial copy with it; applying it from its end, offset %" PRId64,
				 ap->topic, low, high);
	else
		snprintf(why, sizeof(why), "topic %s does not begin with an initial copy (its node started with snapshot => false, or with no table): applying it from its end, offset %" PRId64,
				 ap->topic, high);
	res = PQexec(ap->conn, "BEGIN");
	PQclear(res);
	rc = apply_pin_start(ap, high);
	if (rc == WB_OK)
		rc = resync_apply_request(ap, why);
	res = PQexec(ap->conn, rc == WB_OK ? "COMMIT" : "ROLLBACK");
	if (rc == WB_OK && PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		wb_log(WB_LOG_ERROR, "could not record where applying node \"%s\" starts: %s",
			   ap->peer, PQerrorMessage(ap->conn));
		rc = WB_ERR;
	}
	PQclear(res);
	*next = high;
	return rc;
}

/* A topic's end offset now (its single partition; 0 if it does not exist), or -1 with the error logged. */
static int64_t
topic_end(wb_consumer *c, const char *topic)
{
	int64_t		low;
	int64_t		high;
	rd_kafka_resp_err_t err = rd_kafka_query_watermark_offsets(c->rk, topic, 0, &low, &high, 10000);

	/* not created yet: the peer has published nothing, all of it is to come */
	if (err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART || err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC ||
		err == RD_KAFKA_RESP_ERR__UNKNOWN_PARTITION)
		return 0;
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		wb_log(WB_LOG_ERROR, "could not read the end of topic %s: %s", topic, rd_kafka_err2str(err));
		return -1;
	}
	return high;
}

int
consume_open(wb_consumer *c, const struct wb_config *cfg, const char *node,
			 wb_applier *appliers, int count, bool from_start)
{
	char		group[128];
	/*
	 * Offsets are kept in the database, in the same transaction as the
	 * changes: Kafka stores none, and never picks a start for us.
	 */
	wb_kafka_default defaults[] = {
		{"group.id", group},
		{"enable.auto.commit", "false"},
		{"enable.auto.offset.store", "false"},
		{"auto.offset.reset", "error"},
		{"enable.partition.eof", "true"},
		{"client.id", "walbridged"},

		/*
		 * What librdkafka fetches ahead of apply: 64 MB by default, which
		 * is walbridged's memory while it applies a backlog (a large
		 * initial copy: 78 MB peak RSS, 027 on a real broker).  Apply,
		 * not the fetch, is the bottleneck; 16 MB keeps it fed.
		 * kafka.queued.max.messages.kbytes overrides it.
		 */
		{"queued.max.messages.kbytes", "16384"},
	};
	rd_kafka_conf_t *conf;
	char		errstr[512];
	rd_kafka_topic_partition_list_t *parts;

	memset(c, 0, sizeof(*c));
	c->wake[0] = c->wake[1] = -1;
	c->appliers = appliers;
	c->count = count;
	c->expect = xcalloc(count + 1, sizeof(int64_t));
	snprintf(group, sizeof(group), "walbridge-%s", node);

	conf = kafka_conf_new(cfg, defaults, sizeof(defaults) / sizeof(defaults[0]));
	if (conf == NULL)
		return WB_ERR;
	c->rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (c->rk == NULL)
	{
		wb_log(WB_LOG_ERROR, "could not create the Kafka consumer: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return WB_ERR;
	}

	parts = rd_kafka_topic_partition_list_new(count);
	for (int i = 0; i < count; i++)
	{
		int64_t		next = appliers[i].applied_offset + 1;

		if (resync_apply_load(&appliers[i]) != WB_OK ||
			(appliers[i].applied_offset == WB_OFFSET_NONE && from_start &&
			 start_new_peer(c, cfg, &appliers[i], &next) != WB_OK) ||
			(appliers[i].applied_offset == WB_OFFSET_NONE && !from_start &&
			 ((next = topic_end(c, appliers[i].topic)) < 0 ||
			  apply_pin_start(&appliers[i], next) != WB_OK)))
		{
			rd_kafka_topic_partition_list_destroy(parts);
			return WB_ERR;
		}
		c->expect[i] = next;
		rd_kafka_topic_partition_list_add(parts, appliers[i].topic, 0)->offset = next;
		wb_log(WB_LOG_INFO, "applying node \"%s\" from topic %s offset %" PRId64,
			   appliers[i].peer, appliers[i].topic, next);
	}
	rd_kafka_assign(c->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);

	/* wake the event loop's poll() when messages arrive */
	if (pipe(c->wake) == 0)
	{
		rd_kafka_queue_t *queue = rd_kafka_queue_get_consumer(c->rk);

		fcntl(c->wake[0], F_SETFL, O_NONBLOCK);
		fcntl(c->wake[1], F_SETFL, O_NONBLOCK);
		rd_kafka_queue_io_event_enable(queue, c->wake[1], "1", 1);
		rd_kafka_queue_destroy(queue);
	}
	else
		c->wake[0] = c->wake[1] = -1;
	return WB_OK;
}

int
consume_fd(const wb_consumer *c)
{
	return c->rk ? c->wake[0] : -1;
}

/* The headers apply needs; false (with what is missing) if they are not there. */
static bool
parse_meta(const rd_kafka_message_t *rkm, wb_msgmeta *meta, char *err, size_t errlen)
{
	char		v[64];
	char		kind[16];
	unsigned int hi,
				lo;

	memset(meta, 0, sizeof(*meta));
	if (!wb_header_get(rkm, WB_HDR_KIND, kind, sizeof(kind)))
	{
		snprintf(err, errlen, "the message has no wb.kind header: not written by walbridged");
		return false;
	}
	if (!wb_header_get(rkm, WB_HDR_FORMAT, v, sizeof(v)) || atoi(v) != WALBRIDGE_FORMAT_VERSION)
	{
		snprintf(err, errlen, "the message's format version is %s, this walbridged reads %d",
				 wb_header_get(rkm, WB_HDR_FORMAT, v, sizeof(v)) ? v : "missing", WALBRIDGE_FORMAT_VERSION);
		return false;
	}
	if (!wb_msg_kind_parse(kind, &meta->kind))
	{
		snprintf(err, errlen, "unknown message kind \"%s\" (wb.kind): this walbridged knows txn, snapshot and message",
				 kind);
		return false;
	}
	/* absent from an older walbridged's messages: unknown, not compared */
	(void) wb_header_get(rkm, WB_HDR_SYSTEM_ID, meta->source.system_id, sizeof(meta->source.system_id));
	meta->source.timeline = wb_header_get(rkm, WB_HDR_TIMELINE, v, sizeof(v)) ? (uint32_t) strtoul(v, NULL, 10) : 0;
	(void) wb_header_get(rkm, WB_HDR_INCARNATION, meta->source.incarnation, sizeof(meta->source.incarnation));
	meta->chunk = wb_header_get(rkm, WB_HDR_CHUNK, v, sizeof(v)) ? atoi(v) : 0;
	meta->last = wb_header_get(rkm, WB_HDR_LAST, v, sizeof(v)) ? strcmp(v, "1") == 0 : true;
	if (meta->kind != WB_MSG_TXN)
		return true;
	if (!wb_header_get(rkm, WB_HDR_XID, v, sizeof(v)))
		goto missing;
	meta->xid = (uint32_t) strtoul(v, NULL, 10);
	if (!wb_header_get(rkm, WB_HDR_COMMIT_LSN, v, sizeof(v)) || sscanf(v, "%X/%X", &hi, &lo) != 2)
		goto missing;
	meta->commit_lsn = ((uint64_t) hi << 32) | lo;
	if (!wb_header_get(rkm, WB_HDR_COMMIT_TIME, v, sizeof(v)))
		goto missing;
	meta->commit_time = strtoll(v, NULL, 10);
	return true;

missing:
	snprintf(err, errlen, "a txn message without its wb.xid, wb.commit_lsn or wb.commit_time header");
	return false;
}

static void
pause_partition(wb_consumer *c, wb_applier *ap)
{
	rd_kafka_topic_partition_list_t *parts = one_partition(ap->topic, 0);

	rd_kafka_pause_partitions(c->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
}

/*
 * Read the peer's topic again from offset: assigned afresh, since a
 * partition whose offset was out of range stopped fetching (with
 * auto.offset.reset "error") and refuses a seek.
 */
static int
reassign_partition(wb_consumer *c, wb_applier *ap, int64_t offset)
{
	rd_kafka_topic_partition_list_t *parts = one_partition(ap->topic, offset);
	rd_kafka_error_t *error = rd_kafka_incremental_unassign(c->rk, parts);

	if (error == NULL)
		error = rd_kafka_incremental_assign(c->rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);
	if (error)
	{
		wb_log(WB_LOG_ERROR, "could not read topic %s again from offset %" PRId64 ": %s",
			   ap->topic, offset, rd_kafka_error_string(error));
		rd_kafka_error_destroy(error);
		return WB_ERR;
	}
	return WB_OK;
}

/*
 * The offsets from next on are gone from the peer's topic, and a copy
 * walbridge.resync() asked for covers them: go on at the oldest offset
 * Kafka has, recorded as the position, the partition read again from
 * there.  Without such a copy, or when Kafka's offsets cannot be read,
 * apply pauses with the advice to ask for one.
 */
static wb_apply_result
resume_after_gap(wb_consumer *c, int i, wb_applier *ap, const char *why)
{
	int64_t		low = -1;
	int64_t		high;

	if (resync_apply_pending(&ap->resync) && topic_bounds(c, ap->topic, &low, &high) == WB_OK &&
		low > c->expect[i])
	{
		if (resync_apply_skip_gap(ap, c->expect[i], low) != WB_OK)
			return WB_APPLY_FAILED;
		c->expect[i] = low;
		if (reassign_partition(c, ap, low) == WB_OK)
			return WB_APPLY_OK;
	}
	pause_partition(c, ap);
	return apply_pause_for_resync(ap, c->expect[i],
								  "%s: applying it now would leave a gap. Run SELECT walbridge.resync('%s') on this node: apply goes on at the oldest offset Kafka has, and \"%s\" sends a fresh copy",
								  why, ap->peer, ap->peer);
}

/*
 * A "resync" message: whether it is the copy this node asked for.  And the
 * first messages after a gap the copy covers: if the gap cut a
 * transaction, its remaining chunks are passed over (its first ones are
 * gone; the copy has what it wrote).
 */
static void
note_resync(wb_consumer *c, wb_applier *ap, const rd_kafka_message_t *rkm, wb_msgmeta *meta)
{
	wb_resync_apply *rs = &ap->resync;
	char		for_node[256];
	char		request[128];

	if (meta->kind == WB_MSG_RESYNC)
		meta->for_us = wb_header_get(rkm, WB_HDR_FOR, for_node, sizeof(for_node)) &&
			wb_header_get(rkm, WB_HDR_REQUEST, request, sizeof(request)) &&
			resync_apply_is_ours(ap, for_node, request);
	if (rs->gap_at == 0)
		return;
	if (rkm->offset == rs->gap_at && meta->kind == WB_MSG_TXN && meta->chunk > 0)
	{
		rs->dropping = true;
		rs->drop_xid = meta->xid;
		wb_log(WB_LOG_WARNING, "applying node \"%s\": offset %" PRId64 " is chunk %d of xid %u, whose first chunks the gap took: passing over the rest of it (the copy covers it)",
			   ap->peer, rkm->offset, meta->chunk, meta->xid);
	}
	if (rs->dropping && meta->kind == WB_MSG_TXN && meta->xid == rs->drop_xid && meta->chunk > 0)
	{
		meta->kind = WB_MSG_SKIPPED;
		if (!meta->last)
			return;
	}
	rs->dropping = false;
	rs->gap_at = 0;
}

/*
 * The topic's end as the last fetch response gave it (a cached value, no
 * request): whether a message is the newest tells a peer's heartbeat that
 * arrives at once from one read late (its clock skew; dispatch.c).
 */
static void
note_high_watermark(wb_consumer *c, wb_applier *ap, const char *topic)
{
	int64_t		low;
	int64_t		high;

	if (rd_kafka_get_watermark_offsets(c->rk, topic, 0, &low, &high) == RD_KAFKA_RESP_ERR_NO_ERROR)
		ap->high_watermark = high;
}

static wb_apply_result
dispatch(wb_consumer *c, rd_kafka_message_t *rkm)
{
	const char *topic = rkm->rkt ? rd_kafka_topic_name(rkm->rkt) : "";
	int			i = 0;
	wb_applier *ap = applier_for(c, topic, &i);
	wb_msgmeta	meta;
	char		err[512];
	bool		parsed;
	wb_apply_result rc;

	if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
	{
		if (ap)
			ap->end_offset = rkm->offset;
		return WB_APPLY_OK;
	}
	if (rkm->err)
	{
		if (ap && (rkm->err == RD_KAFKA_RESP_ERR__AUTO_OFFSET_RESET ||
				   rkm->err == RD_KAFKA_RESP_ERR_OFFSET_OUT_OF_RANGE))
		{
			snprintf(err, sizeof(err), "offset %" PRId64 " is no longer in Kafka (retention, or a lost broker; %s)",
					 c->expect[i], rd_kafka_message_errstr(rkm));
			return resume_after_gap(c, i, ap, err);
		}
		if (rkm->err == RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART ||
			rkm->err == RD_KAFKA_RESP_ERR__UNKNOWN_TOPIC)
			wb_log(WB_LOG_DEBUG, "topic %s does not exist yet: its node has not published", topic);
		else
			wb_log(WB_LOG_WARNING, "Kafka consumer: %s", rd_kafka_message_errstr(rkm));
		return WB_APPLY_OK;
	}
	if (ap == NULL || apply_held_back(ap))
		return WB_APPLY_OK;		/* fetched before the pause took effect */

	if (c->expect[i] >= 0 && rkm->offset > c->expect[i])
	{
		if (!resync_apply_pending(&ap->resync))
		{
			snprintf(err, sizeof(err), "the next offset is %" PRId64 " but offset %" PRId64 " is the first Kafka still has",
					 c->expect[i], rkm->offset);
			return resume_after_gap(c, i, ap, err);
		}
		/* the copy asked for covers what is lost: go on with this message */
		if (resync_apply_skip_gap(ap, c->expect[i], rkm->offset) != WB_OK)
			return WB_APPLY_FAILED;
		c->expect[i] = rkm->offset;
	}
	if (rkm->offset < c->expect[i])
		return WB_APPLY_OK;
	c->expect[i] = rkm->offset + 1;
	note_high_watermark(c, ap, topic);

	parsed = parse_meta(rkm, &meta, err, sizeof(err));
	if (parsed)
		note_resync(c, ap, rkm, &meta);
	if (!parsed && rkm->offset != ap->skip_offset)
		rc = apply_pause(ap, rkm->offset, "%s", err);
	else if (rkm->offset == ap->skip_offset && meta.kind != WB_MSG_TXN)
	{
		meta.kind = WB_MSG_SKIPPED;
		rc = apply_message(ap, rkm->offset, &meta, rkm->payload, rkm->len);
	}
	else
		rc = apply_message(ap, rkm->offset, &meta, rkm->payload, rkm->len);
	if (rc == WB_APPLY_PAUSED)
		pause_partition(c, ap);
	return rc;
}

/*
 * Apply messages already fetched, never blocking, for at most budget_us:
 * the same loop serves this node's own slot, whose walsender gives up on
 * a client that stays silent too long.  *more tells whether messages may
 * still be waiting (the wake-up pipe only signals a queue that was empty).
 */
wb_apply_result
consume_poll(wb_consumer *c, int64_t budget_us, bool *more)
{
	char		drain[64];
	int64_t		deadline = wb_now_us() + budget_us;

	*more = false;
	while (c->wake[0] >= 0 && read(c->wake[0], drain, sizeof(drain)) > 0)
		;
	for (;;)
	{
		rd_kafka_message_t *rkm;
		wb_apply_result rc;

		if (wb_now_us() >= deadline)
		{
			*more = true;
			break;
		}
		rkm = rd_kafka_consumer_poll(c->rk, 0);
		if (rkm == NULL)
			break;
		rc = dispatch(c, rkm);
		rd_kafka_message_destroy(rkm);
		if (rc == WB_APPLY_FAILED)
			return rc;
	}
	return WB_APPLY_OK;
}

/* Paused peers whose retry time came: read again from where they stopped. */
void
consume_retry_paused(wb_consumer *c)
{
	int64_t		now = wb_now_us();

	for (int i = 0; i < c->count; i++)
	{
		wb_applier *ap = &c->appliers[i];
		rd_kafka_topic_partition_list_t *parts;
		rd_kafka_error_t *error;

		if (!apply_held_back(ap) || now < ap->retry_at_us)
			continue;
		apply_resume(ap);
		(void) apply_reload_progress(ap);
		(void) resync_apply_load(ap);
		c->expect[i] = ap->paused_offset;
		parts = one_partition(ap->topic, ap->paused_offset);
		error = rd_kafka_seek_partitions(c->rk, parts, 5000);
		if (error)
		{
			wb_log(WB_LOG_WARNING, "could not seek topic %s to offset %" PRId64 ": %s",
				   ap->topic, ap->paused_offset, rd_kafka_error_string(error));
			rd_kafka_error_destroy(error);
		}
		rd_kafka_resume_partitions(c->rk, parts);
		rd_kafka_topic_partition_list_destroy(parts);
		wb_log(WB_LOG_DEBUG, "retrying node \"%s\" from offset %" PRId64, ap->peer, ap->paused_offset);
	}
}

void
consume_close(wb_consumer *c)
{
	if (c->expect == NULL)
		return;					/* never opened */
	if (c->rk)
	{
		rd_kafka_consumer_close(c->rk);
		rd_kafka_destroy(c->rk);
	}
	free(c->expect);
	if (c->wake[0] >= 0)
	{
		close(c->wake[0]);
		close(c->wake[1]);
	}
	memset(c, 0, sizeof(*c));
}
