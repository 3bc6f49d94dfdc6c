/*-------------------------------------------------------------------------
 *
 * topic.c
 *		The node's topic: created with one partition when asked, and
 *		checked to have exactly one (commit order lives in one partition).
 *
 * Durability: the producer sends with acks=all (publish.c), which means
 * "every in-sync replica", however few that is.  min.insync.replicas on
 * the topic sets the floor: with a replication factor of 3 and 2 in sync
 * required, an acknowledged message is on two brokers, so losing any one
 * loses nothing walbridged has confirmed to its slot (docs/KAFKA.md).
 *
 * IDENTIFICATION
 *		forwarder/publish/topic.c
 *
 *-------------------------------------------------------------------------
 */
#include "topic.h"

#include "log.h"
#include "wb.h"

/*
 * min.insync.replicas for a topic created with this configuration: as
 * configured, else min(2, replication factor); 0 leaves it to the broker
 * (asked for, or the replication factor is the broker's, unknown here).
 */
static int
topic_min_insync(const struct wb_config *cfg)
{
	if (cfg->min_insync_replicas > 0)
		return cfg->min_insync_replicas;
	if (cfg->min_insync_replicas < 0 || cfg->replication_factor <= 0)
		return 0;
	return cfg->replication_factor < 2 ? cfg->replication_factor : 2;
}

/*
 * Create the topic with one partition, so it holds the node's transactions
 * in commit order, and min.insync.replicas (topic_min_insync()); an
 * existing topic must have exactly one partition and is otherwise taken
 * as it is.
 */
static int
create_topic(rd_kafka_t *rk, const char *name, const struct wb_config *cfg)
{
	int			replication_factor = cfg->replication_factor;
	int			min_insync = topic_min_insync(cfg);
	char		rf_text[16];
	char		min_insync_text[16];
	char		errstr[512];
	rd_kafka_NewTopic_t *topic;
	rd_kafka_queue_t *queue;
	rd_kafka_AdminOptions_t *options;
	rd_kafka_event_t *event;
	rd_kafka_resp_err_t err;
	int			rc = WB_ERR;

	topic = rd_kafka_NewTopic_new(name, 1, replication_factor, errstr, sizeof(errstr));
	if (topic == NULL)
	{
		wb_log(WB_LOG_ERROR, "could not describe topic \"%s\": %s", name, errstr);
		return WB_ERR;
	}
	snprintf(rf_text, sizeof(rf_text), "%d", replication_factor);
	snprintf(min_insync_text, sizeof(min_insync_text), "%d", min_insync);
	if (min_insync > 0 &&
		rd_kafka_NewTopic_set_config(topic, "min.insync.replicas", min_insync_text) != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		wb_log(WB_LOG_ERROR, "could not describe topic \"%s\": min.insync.replicas %s refused", name,
			   min_insync_text);
		rd_kafka_NewTopic_destroy(topic);
		return WB_ERR;
	}
	queue = rd_kafka_queue_new(rk);
	options = rd_kafka_AdminOptions_new(rk, RD_KAFKA_ADMIN_OP_CREATETOPICS);
	rd_kafka_AdminOptions_set_operation_timeout(options, 10000, errstr, sizeof(errstr));
	rd_kafka_CreateTopics(rk, &topic, 1, options, queue);
	event = rd_kafka_queue_poll(queue, 20000);
	if (event == NULL)
		wb_log(WB_LOG_ERROR, "no answer from Kafka when creating topic \"%s\"", name);
	else if (rd_kafka_event_error(event))
		wb_log(WB_LOG_ERROR, "could not create topic \"%s\": %s", name,
			   rd_kafka_event_error_string(event));
	else
	{
		size_t		n;
		const rd_kafka_topic_result_t **results =
			rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event), &n);

		err = n > 0 ? rd_kafka_topic_result_error(results[0]) : RD_KAFKA_RESP_ERR_UNKNOWN;
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR)
			wb_log(WB_LOG_INFO, "created topic \"%s\" with one partition, replication factor %s, min.insync.replicas %s",
				   name, replication_factor > 0 ? rf_text : "the broker's default",
				   min_insync > 0 ? min_insync_text : "the broker's default");
		if (err == RD_KAFKA_RESP_ERR_NO_ERROR || err == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS)
			rc = WB_OK;
		else
			wb_log(WB_LOG_ERROR, "could not create topic \"%s\": %s", name,
				   n > 0 && rd_kafka_topic_result_error_string(results[0]) ?
				   rd_kafka_topic_result_error_string(results[0]) : rd_kafka_err2str(err));
	}
	if (event)
		rd_kafka_event_destroy(event);
	rd_kafka_AdminOptions_destroy(options);
	rd_kafka_queue_destroy(queue);
	rd_kafka_NewTopic_destroy(topic);
	return rc;
}

/*
 * The topic must have exactly one partition.  Create it first when asked:
 * a metadata request alone may auto-create it with the broker's default
 * partition count.
 */
int
topic_ensure(rd_kafka_t *rk, const char *name, const struct wb_config *cfg)
{
	const rd_kafka_metadata_t *md = NULL;
	rd_kafka_topic_t *rkt;
	rd_kafka_resp_err_t err;
	int			rc = WB_OK;

	if (cfg->create_topics && create_topic(rk, name, cfg) != WB_OK)
		return WB_ERR;

	rkt = rd_kafka_topic_new(rk, name, NULL);
	err = rd_kafka_metadata(rk, 0, rkt, &md, 10000);
	if (err != RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		wb_log(WB_LOG_ERROR, "could not read the metadata of topic \"%s\": %s",
			   name, rd_kafka_err2str(err));
		rc = WB_ERR;
	}
	else if (md->topic_cnt == 1 && md->topics[0].err)
	{
		wb_log(WB_LOG_ERROR, "topic \"%s\" is not available: %s%s", name,
			   rd_kafka_err2str(md->topics[0].err),
			   cfg->create_topics ? "" : " (create_topics is off: create it with one partition)");
		rc = WB_ERR;
	}
	else if (md->topic_cnt != 1 || md->topics[0].partition_cnt != 1)
	{
		wb_log(WB_LOG_ERROR, "topic \"%s\" has %d partitions, but walbridge needs exactly one to keep commit order; delete it or choose another topic_prefix",
			   name, md->topic_cnt == 1 ? md->topics[0].partition_cnt : 0);
		rc = WB_ERR;
	}
	if (md)
		rd_kafka_metadata_destroy(md);
	rd_kafka_topic_destroy(rkt);
	return rc;
}
