/*-------------------------------------------------------------------------
 *
 * kafkaconf.c
 *		Build a librdkafka configuration from walbridged's.
 *
 * IDENTIFICATION
 *		forwarder/kafkaconf.c
 *
 *-------------------------------------------------------------------------
 */
#include "kafkaconf.h"

#include <string.h>

#include "log.h"

static int
conf_set(rd_kafka_conf_t *conf, const char *key, const char *value)
{
	char		errstr[512];

	if (rd_kafka_conf_set(conf, key, value, errstr, sizeof(errstr)) != RD_KAFKA_CONF_OK)
	{
		wb_log(WB_LOG_ERROR, "invalid Kafka setting kafka.%s: %s", key, errstr);
		return WB_ERR;
	}
	return WB_OK;
}

static void
kafka_log(const rd_kafka_t *rk, int level, const char *facility, const char *message)
{
	wb_log_level wl = level <= 3 ? WB_LOG_ERROR : level == 4 ? WB_LOG_WARNING :
		level <= 6 ? WB_LOG_INFO : WB_LOG_DEBUG;

	/* our own default, chosen knowingly (publish.c): not worth a warning per session */
	if (strcmp(facility, "CONFWARN") == 0 && strstr(message, "enable.gapless.guarantee is experimental"))
		wl = WB_LOG_DEBUG;
	wb_log(wl, "Kafka %s %s: %s", rd_kafka_name(rk), facility, message);
}

/*
 * bootstrap.servers from -b, the defaults given, then kafka.* (which may
 * override them: TLS, SASL and tuning need no code here).  NULL, logged, on
 * a bad setting.
 */
rd_kafka_conf_t *
kafka_conf_new(const struct wb_config *cfg, const wb_kafka_default *defaults, int ndefaults)
{
	rd_kafka_conf_t *conf = rd_kafka_conf_new();

	if (cfg->brokers && conf_set(conf, "bootstrap.servers", cfg->brokers) != WB_OK)
		goto fail;
	for (int i = 0; i < ndefaults; i++)
		if (conf_set(conf, defaults[i].key, defaults[i].value) != WB_OK)
			goto fail;
	for (int i = 0; i < cfg->nkafka; i++)
		if (conf_set(conf, cfg->kafka[i].key, cfg->kafka[i].value) != WB_OK)
			goto fail;
	rd_kafka_conf_set_log_cb(conf, kafka_log);
	return conf;

fail:
	rd_kafka_conf_destroy(conf);
	return NULL;
}
