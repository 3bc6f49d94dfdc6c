/*-------------------------------------------------------------------------
 *
 * config.c
 *		Command line and configuration file for walbridged.
 *
 * The file is read first, then command-line options override it.  SIGHUP
 * reads the file again with the same command line.  Unknown keys and bad
 * values are errors naming the file, line and key: a typo must not
 * silently leave a default in place.
 *
 * IDENTIFICATION
 *		forwarder/config.c
 *
 *-------------------------------------------------------------------------
 */
#include "config.h"
#include "wb.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifndef WALBRIDGE_VERSION
#define WALBRIDGE_VERSION "unknown"
#endif

/* The command line, kept for reloads. */
static struct
{
	char	   *conninfo;
	char	   *brokers;
	char	   *config_file;
	char	   *pid_file;
} cli;

static void
usage(const char *progname)
{
	printf("%s streams a PostgreSQL node's changes into Kafka (walbridge).\n\n"
		   "Usage:\n  %s -d CONNINFO -b BROKERS [-c CONFIG_FILE] [--pid-file=FILE]\n"
		   "  %s dump [-b BROKERS] TOPIC ...   print a topic as JSON lines (dump --help)\n\n"
		   "Options:\n"
		   "  -d, --dbname=CONNINFO   the local database (libpq connection string or URI)\n"
		   "  -b, --brokers=LIST      Kafka bootstrap servers, host:port[,...]\n"
		   "  -c, --config=FILE       configuration file (key = value lines)\n"
		   "      --pid-file=FILE     write the process ID to FILE, locked while walbridged\n"
		   "                          runs (a second one with that FILE refuses to start),\n"
		   "                          removed when it stops\n"
		   "  -V, --version           print the version and exit\n"
		   "  -?, --help              show this help and exit\n\n"
		   "Configuration file keys (command-line options override them):\n"
		   "  conninfo, brokers        as -d and -b\n"
		   "  pid_file                 as --pid-file (read at start only)\n"
		   "  slot_name                replication slot (default walbridge_<node>)\n"
		   "  topic_prefix             topic name is <prefix><node> (default \"walbridge.\")\n"
		   "  resync_topic             where nodes ask each other for copies (walbridge.resync())\n"
		   "                           (default \"walbridge-resync\"; the same for every node of a mesh)\n"
		   "  replication_factor       of topics walbridged creates (default 3; -1: the\n"
		   "                           broker's default)\n"
		   "  min_insync_replicas      of topics walbridged creates: replicas that must hold\n"
		   "                           a message before Kafka acknowledges it (default\n"
		   "                           min(2, replication_factor); -1: the broker's default)\n"
		   "  chunk_size               largest Kafka message, e.g. 512kB (default 512kB)\n"
		   "  status_interval          standby status update interval, ms (default 10000)\n"
		   "  purge_interval           drop tombstones no peer can still need, every so\n"
		   "                           many ms (default 60000)\n"
		   "  heartbeat_interval       publish a heartbeat every so many ms, so that peers'\n"
		   "                           progress (and tombstone purge) moves on while this\n"
		   "                           node is idle; it carries the last values of its\n"
		   "                           unpartitioned sequences (default 10000; 0: none)\n"
		   "  max_clock_skew           warn when a peer's clock, as its heartbeats show it,\n"
		   "                           is ahead by more than so many ms (default 5000)\n"
		   "  progress_interval        log the initial copy's progress every so many ms\n"
		   "                           (default 10000)\n"
		   "  snapshot                 copy existing rows when creating the slot (default on)\n"
		   "  create_topics            create missing topics with one partition (default on;\n"
		   "                           off: they must exist, e.g. brokers without CreateTopics)\n"
		   "  log_level                debug, info, warning or error (default info)\n"
		   "  kafka.<property>         any librdkafka property, passed as is (TLS, SASL, ...),\n"
		   "                           except settings that weaken delivery: acks other than\n"
		   "                           all, enable.idempotence or enable.gapless.guarantee\n"
		   "                           false, max.in.flight above 5 are refused\n\n"
		   "Signals: SIGTERM/SIGINT stop after Kafka acknowledged what is in flight;\n"
		   "SIGHUP reloads the configuration file.\n",
		   progname, progname, progname);
}

static void
set_string(char **field, const char *value)
{
	free(*field);
	*field = xstrdup(value);
}

static void
config_defaults(struct wb_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->topic_prefix = xstrdup("walbridge.");
	cfg->resync_topic = xstrdup("walbridge-resync");
	cfg->replication_factor = 3;
	cfg->min_insync_replicas = 0;	/* min(2, replication_factor) */
	cfg->chunk_bytes = 512 * 1024;
	cfg->status_interval_ms = 10000;
	cfg->purge_interval_ms = 60000;
	cfg->heartbeat_interval_ms = 10000;
	cfg->max_clock_skew_ms = 5000;
	cfg->progress_interval_ms = 10000;
	cfg->snapshot = true;
	cfg->create_topics = true;
	cfg->log_level = WB_LOG_INFO;
}

static int
parse_bool(const char *value, bool *out)
{
	if (strcasecmp(value, "on") == 0 || strcasecmp(value, "true") == 0 ||
		strcasecmp(value, "yes") == 0 || strcmp(value, "1") == 0)
		*out = true;
	else if (strcasecmp(value, "off") == 0 || strcasecmp(value, "false") == 0 ||
			 strcasecmp(value, "no") == 0 || strcmp(value, "0") == 0)
		*out = false;
	else
		return WB_ERR;
	return WB_OK;
}

static int
parse_int(const char *value, long min, long max, long *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (errno != 0 || end == value || *end != '\0' || v < min || v > max)
		return WB_ERR;
	*out = v;
	return WB_OK;
}

/* bytes, with an optional kB or MB suffix (1024-based, as PostgreSQL) */
static int
parse_size(const char *value, size_t *out)
{
	char	   *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (errno != 0 || end == value)
		return WB_ERR;
	while (isspace((unsigned char) *end))
		end++;
	if (strcasecmp(end, "kb") == 0)
		v *= 1024;
	else if (strcasecmp(end, "mb") == 0)
		v *= 1024 * 1024;
	else if (*end != '\0' && strcasecmp(end, "b") != 0)
		return WB_ERR;
	/* Kafka's default message.max.bytes is 1000000: stay well under it */
	if (v < 1024 || v > 64 * 1024 * 1024)
		return WB_ERR;
	*out = (size_t) v;
	return WB_OK;
}

static bool
is_true(const char *value)
{
	bool		b;

	return parse_bool(value, &b) == WB_OK && b;
}

/*
 * Why a kafka.* setting would weaken delivery, or NULL if it does not.
 * Apply passes over a transaction whose commit LSN is not above the last
 * one applied (a duplicate): a message lost, or one that overtook another,
 * would be a transaction lost for good.  So the producer defaults of
 * publish.c may be tuned but never weakened.
 */
static const char *
kafka_weakening(const char *key, const char *value)
{
	long		n;

	if (strcmp(key, "acks") == 0 || strcmp(key, "request.required.acks") == 0)
	{
		if (strcasecmp(value, "all") == 0 || strcmp(value, "-1") == 0)
			return NULL;
		return "Kafka would acknowledge a message before every in-sync replica has it, and losing one broker could lose it; walbridged needs acks = all (or -1)";
	}
	if (strcmp(key, "enable.idempotence") == 0)
		return is_true(value) ? NULL :
			"without the idempotent producer a retry can write a message twice or out of order; walbridged needs enable.idempotence = true";
	if (strcmp(key, "enable.gapless.guarantee") == 0)
		return is_true(value) ? NULL :
			"a message refused for good would leave a gap that later messages go past; walbridged needs enable.gapless.guarantee = true";
	if (strcmp(key, "max.in.flight.requests.per.connection") == 0 ||
		strcmp(key, "max.in.flight") == 0)
	{
		if (parse_int(value, 1, 5, &n) == WB_OK)
			return NULL;
		return "the idempotent producer keeps messages in order with at most 5 requests in flight per connection; walbridged needs 5 or fewer";
	}
	return NULL;
}

/*
 * Apply one key = value.  where names the origin for messages
 * ("file:line").
 */
static int
config_set(struct wb_config *cfg, const char *key, const char *value, const char *where)
{
	long		n;

	if (strncmp(key, "kafka.", 6) == 0 && key[6] != '\0')
	{
		const char *why = kafka_weakening(key + 6, value);
		wb_kv	   *grown;

		if (why != NULL)
		{
			wb_log(WB_LOG_ERROR, "%s: \"%s\" = \"%s\" is refused: %s (apply's duplicate detection relies on it)",
				   where, key, value, why);
			return WB_ERR;
		}
		grown = xrealloc(cfg->kafka, sizeof(wb_kv) * (cfg->nkafka + 1));

		cfg->kafka = grown;
		cfg->kafka[cfg->nkafka].key = xstrdup(key + 6);
		cfg->kafka[cfg->nkafka].value = xstrdup(value);
		cfg->nkafka++;
		return WB_OK;
	}
	if (strcmp(key, "conninfo") == 0)
		set_string(&cfg->conninfo, value);
	else if (strcmp(key, "brokers") == 0)
		set_string(&cfg->brokers, value);
	else if (strcmp(key, "pid_file") == 0)
		set_string(&cfg->pid_file, value);
	else if (strcmp(key, "slot_name") == 0)
		set_string(&cfg->slot_name, value);
	else if (strcmp(key, "topic_prefix") == 0)
		set_string(&cfg->topic_prefix, value);
	else if (strcmp(key, "resync_topic") == 0)
		set_string(&cfg->resync_topic, value);
	else if (strcmp(key, "replication_factor") == 0)
	{
		if (parse_int(value, -1, 32767, &n) != WB_OK || n == 0)
			goto bad_value;
		cfg->replication_factor = (int) n;
	}
	else if (strcmp(key, "min_insync_replicas") == 0)
	{
		if (parse_int(value, -1, 32767, &n) != WB_OK || n == 0)
			goto bad_value;
		cfg->min_insync_replicas = (int) n;
	}
	else if (strcmp(key, "chunk_size") == 0)
	{
		if (parse_size(value, &cfg->chunk_bytes) != WB_OK)
			goto bad_value;
	}
	else if (strcmp(key, "status_interval") == 0)
	{
		if (parse_int(value, 100, 3600 * 1000, &n) != WB_OK)
			goto bad_value;
		cfg->status_interval_ms = (int) n;
	}
	else if (strcmp(key, "purge_interval") == 0)
	{
		if (parse_int(value, 100, 24 * 3600 * 1000, &n) != WB_OK)
			goto bad_value;
		cfg->purge_interval_ms = (int) n;
	}
	else if (strcmp(key, "heartbeat_interval") == 0)
	{
		if (parse_int(value, 0, 3600 * 1000, &n) != WB_OK || (n > 0 && n < 100))
			goto bad_value;
		cfg->heartbeat_interval_ms = (int) n;
	}
	else if (strcmp(key, "max_clock_skew") == 0)
	{
		if (parse_int(value, 1, 24 * 3600 * 1000, &n) != WB_OK)
			goto bad_value;
		cfg->max_clock_skew_ms = (int) n;
	}
	else if (strcmp(key, "progress_interval") == 0)
	{
		if (parse_int(value, 100, 3600 * 1000, &n) != WB_OK)
			goto bad_value;
		cfg->progress_interval_ms = (int) n;
	}
	else if (strcmp(key, "snapshot") == 0)
	{
		if (parse_bool(value, &cfg->snapshot) != WB_OK)
			goto bad_value;
	}
	else if (strcmp(key, "create_topics") == 0)
	{
		if (parse_bool(value, &cfg->create_topics) != WB_OK)
			goto bad_value;
	}
	else if (strcmp(key, "log_level") == 0)
	{
		if (wb_log_parse_level(value, &cfg->log_level) != 0)
			goto bad_value;
	}
	else
	{
		wb_log(WB_LOG_ERROR, "%s: unknown configuration key \"%s\" (see walbridged --help)",
			   where, key);
		return WB_ERR;
	}
	return WB_OK;

bad_value:
	wb_log(WB_LOG_ERROR, "%s: invalid value for \"%s\": \"%s\" (see walbridged --help)",
		   where, key, wb_key_is_secret(key) ? "***" : value);
	return WB_ERR;
}

/* Strip blanks at both ends, in place. */
static char *
trim(char *s)
{
	char	   *end;

	while (isspace((unsigned char) *s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char) end[-1]))
		*--end = '\0';
	return s;
}

/*
 * Read key = value lines: '#' starts a comment outside quotes; a value may
 * be single-quoted, with '' for a quote inside.
 */
static int
config_read_file(struct wb_config *cfg, const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[8192];
	int			lineno = 0;
	int			rc = WB_OK;

	if (f == NULL)
	{
		wb_log(WB_LOG_ERROR, "could not open configuration file \"%s\": %s", path, strerror(errno));
		return WB_ERR;
	}
	while (rc == WB_OK && fgets(line, sizeof(line), f) != NULL)
	{
		char		where[1100];
		char	   *eq,
				   *key,
				   *value;

		lineno++;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		line[strcspn(line, "\r\n")] = '\0';
		key = trim(line);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (eq == NULL)
		{
			wb_log(WB_LOG_ERROR, "%s: expected key = value", where);
			rc = WB_ERR;
			break;
		}
		*eq = '\0';
		key = trim(key);
		value = trim(eq + 1);
		if (*value == '\'')
		{
			char	   *in = value + 1,
					   *out = value;

			for (;;)
			{
				if (*in == '\0')
				{
					wb_log(WB_LOG_ERROR, "%s: unterminated quoted value for \"%s\"", where, key);
					rc = WB_ERR;
					break;
				}
				if (*in == '\'' && in[1] == '\'')
				{
					*out++ = '\'';
					in += 2;
				}
				else if (*in == '\'')
				{
					char	   *rest = trim(in + 1);

					if (*rest != '\0' && *rest != '#')
					{
						wb_log(WB_LOG_ERROR, "%s: unexpected text after the value of \"%s\"", where, key);
						rc = WB_ERR;
					}
					break;
				}
				else
					*out++ = *in++;
			}
			*out = '\0';
		}
		else
		{
			char	   *hash = strchr(value, '#');

			if (hash != NULL)
				*hash = '\0';
			value = trim(value);
		}
		if (rc == WB_OK)
			rc = config_set(cfg, key, value, where);
	}
	fclose(f);
	return rc;
}

/* The file, then the command line on top; checks what must be set. */
static int
config_build(struct wb_config *cfg)
{
	config_defaults(cfg);
	if (cli.config_file != NULL)
	{
		set_string(&cfg->config_file, cli.config_file);
		if (config_read_file(cfg, cli.config_file) != WB_OK)
			return WB_ERR;
	}
	if (cli.conninfo != NULL)
		set_string(&cfg->conninfo, cli.conninfo);
	if (cli.brokers != NULL)
		set_string(&cfg->brokers, cli.brokers);
	if (cli.pid_file != NULL)
		set_string(&cfg->pid_file, cli.pid_file);
	if (cfg->pid_file != NULL && cfg->pid_file[0] == '\0')
	{
		free(cfg->pid_file);
		cfg->pid_file = NULL;	/* pid_file = '' means none */
	}

	if (cfg->min_insync_replicas > 0 && cfg->replication_factor > 0 &&
		cfg->min_insync_replicas > cfg->replication_factor)
	{
		wb_log(WB_LOG_ERROR, "min_insync_replicas %d is above replication_factor %d: Kafka could acknowledge no message",
			   cfg->min_insync_replicas, cfg->replication_factor);
		return WB_ERR;
	}
	if (cfg->conninfo == NULL)
	{
		wb_log(WB_LOG_ERROR, "no database given: use -d CONNINFO or conninfo in the configuration file");
		return WB_ERR;
	}
	if (cfg->brokers == NULL)
	{
		bool		in_kafka = false;

		for (int i = 0; i < cfg->nkafka; i++)
			if (strcmp(cfg->kafka[i].key, "bootstrap.servers") == 0)
				in_kafka = true;
		if (!in_kafka)
		{
			wb_log(WB_LOG_ERROR, "no Kafka brokers given: use -b BROKERS or brokers in the configuration file");
			return WB_ERR;
		}
	}
	return WB_OK;
}

wb_config_action
config_load(int argc, char **argv, struct wb_config *cfg)
{
	static const struct option options[] = {
		{"dbname", required_argument, NULL, 'd'},
		{"brokers", required_argument, NULL, 'b'},
		{"config", required_argument, NULL, 'c'},
		{"pid-file", required_argument, NULL, 'P'},
		{"version", no_argument, NULL, 'V'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	int			c;

	/* --pid-file has no short form: 'P' is not in the short options */
	while ((c = getopt_long(argc, argv, "d:b:c:V?", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'd':
				set_string(&cli.conninfo, optarg);
				break;
			case 'b':
				set_string(&cli.brokers, optarg);
				break;
			case 'c':
				set_string(&cli.config_file, optarg);
				break;
			case 'P':
				set_string(&cli.pid_file, optarg);
				break;
			case 'V':
				printf("walbridged %s\n", WALBRIDGE_VERSION);
				return WB_CONFIG_EXIT_OK;
			case '?':
				if (optopt == 0 || optopt == '?')
				{
					usage(argv[0]);
					return WB_CONFIG_EXIT_OK;
				}
				/* getopt already said what was wrong */
				fprintf(stderr, "Try \"%s --help\" for more information.\n", argv[0]);
				return WB_CONFIG_EXIT_ERROR;
			default:
				return WB_CONFIG_EXIT_ERROR;
		}
	}
	if (optind < argc)
	{
		wb_log(WB_LOG_ERROR, "unexpected argument \"%s\" (see %s --help)", argv[optind], argv[0]);
		return WB_CONFIG_EXIT_ERROR;
	}
	if (config_build(cfg) != WB_OK)
		return WB_CONFIG_EXIT_ERROR;
	wb_log_set_level(cfg->log_level);
	return WB_CONFIG_RUN;
}

int
config_read_kafka(const char *path, struct wb_config *cfg)
{
	config_defaults(cfg);
	if (path == NULL || config_read_file(cfg, path) == WB_OK)
		return WB_OK;
	config_free(cfg);
	return WB_ERR;
}

/*
 * Re-read the file for SIGHUP; on failure current stays in force.  The PID
 * file is the one written at start, whatever the file now says: main()
 * removes that one at exit.
 */
int
config_reload(const struct wb_config *current, struct wb_config *fresh)
{
	if (config_build(fresh) != WB_OK)
	{
		config_free(fresh);
		return WB_ERR;
	}
	if ((current->pid_file == NULL) != (fresh->pid_file == NULL) ||
		(current->pid_file != NULL && strcmp(current->pid_file, fresh->pid_file) != 0))
		wb_log(WB_LOG_WARNING, "pid_file is read at start only: the new value takes effect at the next start");
	set_string(&fresh->pid_file, current->pid_file);
	wb_log_set_level(fresh->log_level);
	return WB_OK;
}

void
config_free(struct wb_config *cfg)
{
	free(cfg->conninfo);
	free(cfg->brokers);
	free(cfg->config_file);
	free(cfg->pid_file);
	free(cfg->slot_name);
	free(cfg->topic_prefix);
	free(cfg->resync_topic);
	for (int i = 0; i < cfg->nkafka; i++)
	{
		free(cfg->kafka[i].key);
		free(cfg->kafka[i].value);
	}
	free(cfg->kafka);
	memset(cfg, 0, sizeof(*cfg));
}

/* The configuration in force, secrets masked. */
void
config_log(const struct wb_config *cfg)
{
	char		redacted[2048];

	wb_log(WB_LOG_INFO, "configuration: conninfo \"%s\", brokers \"%s\", topic_prefix \"%s\", chunk_size %zu, snapshot %s",
		   wb_redact_conninfo(cfg->conninfo, redacted, sizeof(redacted)),
		   cfg->brokers ? cfg->brokers : "(from kafka.bootstrap.servers)",
		   cfg->topic_prefix, cfg->chunk_bytes, cfg->snapshot ? "on" : "off");
	for (int i = 0; i < cfg->nkafka; i++)
		wb_log(WB_LOG_DEBUG, "configuration: kafka.%s = %s", cfg->kafka[i].key,
			   wb_key_is_secret(cfg->kafka[i].key) ? "***" : cfg->kafka[i].value);
}
