/*-------------------------------------------------------------------------
 *
 * resync_request.h
 *		This node's walbridge.resync() requests, sent to the peers they
 *		name through the resync topic.
 *
 * IDENTIFICATION
 *		forwarder/apply/resync_request.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_RESYNC_REQUEST_H
#define WB_RESYNC_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <librdkafka/rdkafka.h>

#include "config.h"

/* One request produced, its delivery report awaited. */
typedef struct wb_resync_request
{
	char	   *peer;
	char	   *id;
	bool		reported;		/* the delivery report came */
	rd_kafka_resp_err_t err;	/* what it said */
} wb_resync_request;

typedef struct wb_resync_requests
{
	rd_kafka_t *rk;				/* idempotent producer, made when a request
								 * is first to be sent */
	wb_resync_request *sent;	/* produced, not all reported yet */
	int			nsent;
	int64_t		next_check_us;	/* when to look for new requests */
	bool		failed;			/* the producer failed for good: make
								 * another */
} wb_resync_requests;

/*
 * Send what walbridge.apply_progress holds as requested and not sent
 * (resync_state 'requested', resync_sent_at NULL): at once the first time,
 * then every few seconds; each one Kafka acknowledged is marked sent
 * (resync_sent_at).  Never blocks on Kafka; failures are logged, and the
 * request is sent again at the next look.  conn: the session's.
 */
extern void resync_request_tick(wb_resync_requests *rq, PGconn *conn, const struct wb_config *cfg,
								const char *node);
/* Let what is queued go (up to a second) and record it; conn may be NULL. */
extern void resync_request_close(wb_resync_requests *rq, PGconn *conn, const struct wb_config *cfg);

#endif							/* WB_RESYNC_REQUEST_H */
