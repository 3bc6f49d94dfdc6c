/*-------------------------------------------------------------------------
 *
 * topic.h
 *		The node's topic: created and checked before publishing.
 *
 * IDENTIFICATION
 *		forwarder/publish/topic.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_TOPIC_H
#define WB_TOPIC_H

#include <librdkafka/rdkafka.h>

#include "config.h"

/*
 * The topic must have exactly one partition.  Created first when
 * cfg->create_topics: a metadata request alone may auto-create it with the
 * broker's default partition count.  WB_OK, or WB_ERR (logged).
 */
extern int	topic_ensure(rd_kafka_t *rk, const char *name, const struct wb_config *cfg);

#endif							/* WB_TOPIC_H */
