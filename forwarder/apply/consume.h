/*-------------------------------------------------------------------------
 *
 * consume.h
 *		The peers' topics, read with one Kafka consumer at the offsets the
 *		local database recorded, handed to each peer's applier.
 *
 * IDENTIFICATION
 *		forwarder/apply/consume.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_CONSUME_H
#define WB_CONSUME_H

#include <librdkafka/rdkafka.h>

#include "apply.h"
#include "config.h"

typedef struct wb_consumer
{
	rd_kafka_t *rk;
	wb_applier *appliers;		/* owned by the caller */
	int			count;
	int64_t    *expect;			/* next offset each peer must see */
	int			wake[2];		/* librdkafka writes here when messages wait */
} wb_consumer;

extern int	consume_open(wb_consumer *c, const struct wb_config *cfg, const char *node,
						 wb_applier *appliers, int count, bool from_start);
extern wb_apply_result consume_poll(wb_consumer *c, int64_t budget_us, bool *more);
extern void consume_retry_paused(wb_consumer *c);
extern void consume_close(wb_consumer *c);
extern int	consume_fd(const wb_consumer *c);

#endif							/* WB_CONSUME_H */
