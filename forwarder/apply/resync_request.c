/*-------------------------------------------------------------------------
 *
 * resync_request.c
 *		Send this node's walbridge.resync() requests to the peers they name.
 *
 * resync() (or apply itself, for a peer whose topic lost its beginning:
 * consume.c) records a request in walbridge.apply_progress: resync_id,
 * resync_state 'requested', resync_sent_at NULL.  Each goes as one message
 * into the resync topic (cfg->resync_topic, shared by the mesh), keyed by
 * the peer's name, value empty, headers wb.kind "resync_request", wb.node
 * this node, wb.to the peer, wb.request the id and wb.format; the peer's
 * walbridged reads the topic and publishes the copy into its own topic
 * (publish/resync_serve.c).  resync_sent_at is set once Kafka acknowledged
 * the message.  A request sent twice (a crash between the acknowledgment
 * and the update) costs nothing: the peer serves a request id once.
 *
 * Looked for when the apply half opens (resync() sends NOTIFY
 * walbridge_control, which starts the session again) and every few seconds
 * after, so a request whose sending failed goes again.
 *
 * IDENTIFICATION
 *		forwarder/apply/resync_request.c
 *
 *-------------------------------------------------------------------------
 */
#include "resync_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "format.h"
#include "kafkaconf.h"
#include "log.h"
#include "topic.h"
#include "wb.h"

#define CHECK_EVERY_US		(5 * INT64_C(1000000))
#define RETRY_FAILED_US		(30 * INT64_C(1000000))

/* Called from rd_kafka_poll(), on this thread: exactly once per message. */
static void
delivery_report(rd_kafka_t *rk, const rd_kafka_message_t *rkm, void *opaque)
{
	wb_resync_request *req = rkm->_private;

	if (req == NULL)
		return;
	req->reported = true;
	req->err = rkm->err;
}

static void
kafka_error(rd_kafka_t *rk, int err, const char *reason, void *opaque)
{
	char		fatal[512];

	if (err != RD_KAFKA_RESP_ERR__FATAL)
		return;
	rd_kafka_fatal_error(rk, fatal, sizeof(fatal));
	wb_log(WB_LOG_ERROR, "Kafka producer of resync requests failed: %s", fatal);
	((wb_resync_requests *) opaque)->failed = true;
}

/*
 * The producer, and the resync topic made sure of (created with one
 * partition when create_topics is on, as node topics are: topic.c).
 */
static int
producer_open(wb_resync_requests *rq, const struct wb_config *cfg)
{
	static const wb_kafka_default defaults[] = {
		{"enable.idempotence", "true"},
		{"acks", "all"},
		{"message.timeout.ms", "30000"},
		{"linger.ms", "0"},
		{"client.id", "walbridged"},
	};
	rd_kafka_conf_t *conf;
	char		errstr[512];

	conf = kafka_conf_new(cfg, defaults, sizeof(defaults) / sizeof(defaults[0]));
	if (conf == NULL)
		return WB_ERR;
	rd_kafka_conf_set_dr_msg_cb(conf, delivery_report);
	rd_kafka_conf_set_error_cb(conf, kafka_error);
	rd_kafka_conf_set_opaque(conf, rq);
	rq->failed = false;
	rq->rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
	if (rq->rk == NULL)
	{
		wb_log(WB_LOG_ERROR, "could not create the Kafka producer of resync requests: %s", errstr);
		rd_kafka_conf_destroy(conf);
		return WB_ERR;
	}
	conf = NULL;				/* owned by rq->rk now */
	if (topic_ensure(rq->rk, cfg->resync_topic, cfg) != WB_OK)
	{
		rd_kafka_destroy(rq->rk);
		rq->rk = NULL;
		return WB_ERR;
	}
	return WB_OK;
}

static void
forget_sent(wb_resync_requests *rq)
{
	for (int i = 0; i < rq->nsent; i++)
	{
		free(rq->sent[i].peer);
		free(rq->sent[i].id);
	}
	free(rq->sent);
	rq->sent = NULL;
	rq->nsent = 0;
}

/* Produce one request; false (logged) if Kafka refused to queue it. */
static bool
produce(wb_resync_requests *rq, const struct wb_config *cfg, const char *node, wb_resync_request *req)
{
	char		format[16];
	rd_kafka_resp_err_t err;

	snprintf(format, sizeof(format), "%d", WALBRIDGE_FORMAT_VERSION);
	err = rd_kafka_producev(rq->rk,
							RD_KAFKA_V_TOPIC(cfg->resync_topic),
							RD_KAFKA_V_PARTITION(0),
							RD_KAFKA_V_KEY(req->peer, strlen(req->peer)),
							RD_KAFKA_V_HEADER(WB_HDR_KIND, wb_msg_kind_names[WB_MSG_RESYNC_REQUEST], -1),
							RD_KAFKA_V_HEADER(WB_HDR_NODE, node, -1),
							RD_KAFKA_V_HEADER(WB_HDR_TO, req->peer, -1),
							RD_KAFKA_V_HEADER(WB_HDR_REQUEST, req->id, -1),
							RD_KAFKA_V_HEADER(WB_HDR_FORMAT, format, -1),
							RD_KAFKA_V_OPAQUE(req),
							RD_KAFKA_V_END);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		wb_log(WB_LOG_ERROR, "could not send the resync request %s to node \"%s\" (topic %s): %s",
			   req->id, req->peer, cfg->resync_topic, rd_kafka_err2str(err));
		return false;
	}
	return true;
}

/*
 * Every request produced has its delivery report: mark those Kafka
 * acknowledged as sent (unless resync() made a new one meanwhile).
 */
static void
finish_sent(wb_resync_requests *rq, PGconn *conn, const struct wb_config *cfg)
{
	for (int i = 0; i < rq->nsent; i++)
	{
		wb_resync_request *req = &rq->sent[i];
		const char *values[2] = {req->peer, req->id};
		PGresult   *res;

		if (req->err != RD_KAFKA_RESP_ERR_NO_ERROR)
		{
			wb_log(WB_LOG_ERROR, "could not send the resync request %s to node \"%s\" (topic %s): %s; trying again",
				   req->id, req->peer, cfg->resync_topic, rd_kafka_err2str(req->err));
			continue;
		}
		res = PQexecParams(conn, "UPDATE walbridge.apply_progress SET resync_sent_at = now()"
						   " WHERE peer = $1 AND resync_id = $2 AND resync_sent_at IS NULL",
						   2, NULL, values, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
			wb_log(WB_LOG_ERROR, "could not record that the resync request %s to node \"%s\" was sent: %s",
				   req->id, req->peer, PQerrorMessage(conn));
		else
			wb_log(WB_LOG_INFO, "asked node \"%s\" for a copy of its tables (resync request %s, topic %s)",
				   req->peer, req->id, cfg->resync_topic);
		PQclear(res);
	}
	forget_sent(rq);
}

void
resync_request_tick(wb_resync_requests *rq, PGconn *conn, const struct wb_config *cfg,
					const char *node)
{
	PGresult   *res;
	int			n;

	if (rq->rk)
		rd_kafka_poll(rq->rk, 0);
	if (rq->nsent > 0)
	{
		for (int i = 0; i < rq->nsent; i++)
		{
			if (!rq->sent[i].reported && !rq->failed)
				return;			/* not all reported yet */
			if (!rq->sent[i].reported)
				rq->sent[i].err = RD_KAFKA_RESP_ERR__FATAL;
		}
		finish_sent(rq, conn, cfg);
	}
	if (rq->failed)
		resync_request_close(rq, NULL, cfg);	/* a new one next time */
	if (wb_now_us() < rq->next_check_us)
		return;
	rq->next_check_us = wb_now_us() + CHECK_EVERY_US;

	res = PQexec(conn, "SELECT peer, resync_id FROM walbridge.apply_progress"
				 " WHERE resync_state = 'requested' AND resync_sent_at IS NULL AND resync_id IS NOT NULL"
				 " ORDER BY peer");
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
	{
		wb_log(WB_LOG_ERROR, "could not read the resync requests to send: %s", PQerrorMessage(conn));
		goto cleanup;
	}
	if ((n = PQntuples(res)) == 0)
		goto cleanup;
	if (rq->rk == NULL && producer_open(rq, cfg) != WB_OK)
	{
		rq->next_check_us = wb_now_us() + RETRY_FAILED_US;
		goto cleanup;
	}
	rq->sent = xcalloc(n, sizeof(wb_resync_request));
	for (int i = 0; i < n; i++)
	{
		wb_resync_request *req = &rq->sent[rq->nsent];

		req->peer = xstrdup(PQgetvalue(res, i, 0));
		req->id = xstrdup(PQgetvalue(res, i, 1));
		rq->nsent++;
		if (!produce(rq, cfg, node, req))
		{
			/* never queued: no report comes */
			req->reported = true;
			req->err = RD_KAFKA_RESP_ERR__FAIL;
		}
	}

cleanup:
	PQclear(res);
}

void
resync_request_close(wb_resync_requests *rq, PGconn *conn, const struct wb_config *cfg)
{
	if (rq->rk)
	{
		/* let what is queued go, and record it; a request sent twice is served once */
		rd_kafka_flush(rq->rk, 1000);
		if (rq->nsent > 0 && conn != NULL && PQstatus(conn) == CONNECTION_OK)
		{
			for (int i = 0; i < rq->nsent; i++)
				if (!rq->sent[i].reported)
					rq->sent[i].err = RD_KAFKA_RESP_ERR__TIMED_OUT;
			finish_sent(rq, conn, cfg);
		}
		rd_kafka_destroy(rq->rk);
	}
	forget_sent(rq);
	rq->rk = NULL;
	rq->next_check_us = 0;
}
