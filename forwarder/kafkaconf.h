/*-------------------------------------------------------------------------
 *
 * kafkaconf.h
 *		librdkafka configuration for walbridged's producer and consumer:
 *		walbridge's defaults first, then every kafka.* setting of the
 *		configuration file on top, and librdkafka's logs into wb_log.
 *
 * IDENTIFICATION
 *		forwarder/kafkaconf.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_KAFKACONF_H
#define WB_KAFKACONF_H

#include <librdkafka/rdkafka.h>

#include "config.h"

typedef struct wb_kafka_default
{
	const char *key;
	const char *value;
} wb_kafka_default;

extern rd_kafka_conf_t *kafka_conf_new(const struct wb_config *cfg,
									   const wb_kafka_default *defaults, int ndefaults);

#endif							/* WB_KAFKACONF_H */
