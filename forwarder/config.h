/*-------------------------------------------------------------------------
 *
 * config.h
 *		walbridged's configuration: command line and a key = value file
 *		(postgresql.conf style).  Every kafka.* key goes to librdkafka as
 *		is, so TLS and SASL need no code here.
 *
 * IDENTIFICATION
 *		forwarder/config.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_CONFIG_H
#define WB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "log.h"
#include "wb.h"

typedef struct wb_kv
{
	char	   *key;			/* without the "kafka." prefix */
	char	   *value;
} wb_kv;

struct wb_config
{
	char	   *conninfo;		/* -d: the local database */
	char	   *brokers;		/* -b: bootstrap servers */
	char	   *config_file;	/* -c: NULL for none */
	char	   *pid_file;		/* --pid-file: NULL for none; fixed at start */
	char	   *slot_name;		/* NULL: walbridge_<node> */
	char	   *topic_prefix;	/* topic is <prefix><node> */
	char	   *resync_topic;	/* resync requests, every node's */
	int			replication_factor; /* of the topics created; -1 broker
									 * default */
	int			min_insync_replicas;	/* of the topics created; 0:
										 * min(2, replication_factor), -1:
										 * broker default */
	size_t		chunk_bytes;	/* largest Kafka message value */
	int			status_interval_ms; /* standby status updates at least this
									 * often */
	int			purge_interval_ms;	/* walbridge.purge_tombstones() this
									 * often */
	int			heartbeat_interval_ms;	/* walbridge.heartbeat() this often;
										 * 0: never */
	int			max_clock_skew_ms;	/* a peer's clock off by more is logged */
	int			progress_interval_ms;	/* the initial copy's progress is
										 * logged this often */
	bool		snapshot;		/* copy existing rows when creating the
								 * slot */
	bool		create_topics;	/* create missing topics (CreateTopics) */
	wb_log_level log_level;
	wb_kv	   *kafka;			/* kafka.* settings, in file order */
	int			nkafka;
};

/* What main() should do after config_load(). */
typedef enum wb_config_action
{
	WB_CONFIG_RUN,
	WB_CONFIG_EXIT_OK,			/* --help, --version */
	WB_CONFIG_EXIT_ERROR		/* bad arguments or file: already logged */
} wb_config_action;

extern wb_config_action config_load(int argc, char **argv, struct wb_config *cfg);
extern int	config_reload(const struct wb_config *current, struct wb_config *fresh);
extern void config_free(struct wb_config *cfg);

/*
 * For the tools (walbridged dump): the defaults and, when path is not
 * NULL, that configuration file (its brokers and kafka.* settings), with
 * nothing else required.  WB_ERR, logged, on a bad file.
 */
extern int	config_read_kafka(const char *path, struct wb_config *cfg);
extern void config_log(const struct wb_config *cfg);

#endif							/* WB_CONFIG_H */
