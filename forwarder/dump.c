/*-------------------------------------------------------------------------
 *
 * dump.c
 *		walbridged dump: print a walbridge topic as JSON lines, one per
 *		Kafka message, with its offset, key, headers and decoded records.
 *
 * kcat and walbridge.decode() in one command, for people reading a topic
 * and for the tests.  It reads with the same record parser (common/record.c)
 * as walbridged, so what it prints is what apply reads.  A change record
 * names its table and, beside the values in column order, maps the column
 * names to them, from the RELATION record that precedes it in the message
 * (every message carries the RELATION records of what it holds).  A message
 * that is not walbridge's (no wb.format header, or a null value: a
 * compacted topic's tombstone) is printed with its value as a string, or
 * null.
 *
 * Exit status: 0 at the end of the topic (or after --count messages); 1
 * when a message did not decode (it is printed with "error", and the dump
 * goes on); 2 when the topic cannot be read (the offset is gone, no
 * broker, bad arguments).  With --follow it waits for new messages until
 * SIGINT or SIGTERM, then exits as it would have at the end.
 *
 * IDENTIFICATION
 *		forwarder/dump.c
 *
 *-------------------------------------------------------------------------
 */
#include "dump.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "config.h"
#include "envelope.h"
#include "kafkaconf.h"
#include "record.h"

/* A RELATION record seen in the message being printed. */
typedef struct dump_relation
{
	uint32_t	relid;
	wb_record	rec;
} dump_relation;

#define DUMP_MAX_RELATIONS 256

static volatile sig_atomic_t stop_requested = 0;

static void
request_stop(int signo)
{
	stop_requested = 1;
}

static void
dump_usage(const char *progname)
{
	printf("%s dump prints a walbridge topic (a node's or a table's) as JSON lines.\n\n"
		   "Usage:\n  %s dump [-b BROKERS] [-c CONFIG_FILE] [-X PROPERTY=VALUE ...] TOPIC\n"
		   "                  [--from OFFSET] [--count N] [--follow] [--partition P]\n\n"
		   "Options:\n"
		   "  -b, --brokers=LIST      Kafka bootstrap servers, host:port[,...]\n"
		   "  -c, --config=FILE       walbridged's configuration file: its brokers and\n"
		   "                          kafka.* settings (TLS, SASL) are used\n"
		   "  -X PROPERTY=VALUE       a librdkafka property (as kafka.PROPERTY in the file)\n"
		   "      --from=OFFSET       the first offset: a number, beginning (the default),\n"
		   "                          end, or -N for the last N messages\n"
		   "      --count=N           stop after N messages\n"
		   "      --follow            at the end, wait for more (until SIGINT or SIGTERM)\n"
		   "      --partition=P       the partition to read (default 0: walbridge's topics\n"
		   "                          have one)\n"
		   "  -?, --help              show this help and exit\n\n"
		   "One line per message: {\"offset\", \"partition\", \"timestamp\" (ms), \"key\",\n"
		   "\"bytes\", \"headers\", \"records\": [...]}; a message that is not walbridge's\n"
		   "records has \"value\" instead.\n",
		   progname, progname);
}

/* A JSON string's content, without its quotes. */
static void
print_escaped(const char *ptr, size_t len)
{
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) ptr[i];

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
}

static void
print_string(const char *ptr, size_t len)
{
	putchar('"');
	print_escaped(ptr, len);
	putchar('"');
}

static void
print_value(const wb_value *val)
{
	const wb_mpobj *o = &val->obj;

	if (val->unchanged_toast)
	{
		printf("{\"unchanged_toast\":true}");
		return;
	}
	if (val->timestamp_ext != 0)
	{
		/* microseconds since 2000-01-01, PostgreSQL's epoch */
		printf("{\"%s\":%" PRId64 "}",
			   val->timestamp_ext == WB_EXT_TIMESTAMP ? "timestamp" : "timestamptz",
			   val->timestamp);
		return;
	}
	switch (o->type)
	{
		case WB_MP_NIL:
			printf("null");
			break;
		case WB_MP_BOOL:
			printf(o->v.b ? "true" : "false");
			break;
		case WB_MP_UINT:
			printf("%" PRIu64, o->v.u);
			break;
		case WB_MP_INT:
			printf("%" PRId64, o->v.i);
			break;
		case WB_MP_FLOAT32:
			printf("%.9g", o->v.f32);
			break;
		case WB_MP_FLOAT64:
			printf("%.17g", o->v.f64);
			break;
		case WB_MP_BIN:
			printf("\"\\\\x");
			for (uint32_t i = 0; i < o->v.raw.len; i++)
				printf("%02x", (unsigned char) o->v.raw.ptr[i]);
			putchar('"');
			break;
		default:
			print_string(o->v.raw.ptr, o->v.raw.len);
			break;
	}
}

/*
 * A tuple as "name":[values in column order], and, when its RELATION is
 * known, "name_columns":{column: value}: every column, or with key_only
 * (an old tuple of the replica identity) the identity's columns.
 */
static void
print_tuple(const char *name, const wb_tuple *t, const wb_record *relation, bool key_only)
{
	wb_mpcur	cur = t->values;

	printf(",\"%s\":[", name);
	for (uint32_t i = 0; i < t->count; i++)
	{
		wb_value	v;

		wb_record_next_value(&cur, &v);
		if (i > 0)
			putchar(',');
		print_value(&v);
	}
	putchar(']');

	if (relation == NULL || (!key_only && relation->u.relation.ncolumns != t->count))
		return;
	printf(",\"%s_columns\":{", name);
	cur = t->values;
	{
		wb_mpcur	cols = relation->u.relation.columns;
		uint32_t	printed = 0;

		for (uint32_t i = 0; i < relation->u.relation.ncolumns && printed < t->count; i++)
		{
			wb_column	col;
			wb_value	v;

			wb_record_next_column(&cols, &col);
			if (key_only && !(col.flags & WB_COLUMN_IDENTITY))
				continue;
			wb_record_next_value(&cur, &v);
			if (printed++ > 0)
				putchar(',');
			print_string(col.name.ptr, col.name.len);
			putchar(':');
			print_value(&v);
		}
	}
	putchar('}');
}

static const wb_record *
find_relation(const dump_relation *rels, int nrels, uint32_t relid)
{
	for (int i = nrels - 1; i >= 0; i--)
		if (rels[i].relid == relid)
			return &rels[i].rec;
	return NULL;
}

static void
print_record(const wb_record *r, const dump_relation *rels, int nrels)
{
	const wb_record *relation;

	printf("{\"tag\":\"%s\"", wb_record_tag_name(r->tag));
	switch (r->tag)
	{
		case WB_REC_BEGIN:
			printf(",\"xid\":%u,\"commit_lsn\":%" PRIu64 ",\"commit_time\":%" PRId64,
				   r->u.begin.xid, r->u.begin.commit_lsn, r->u.begin.commit_time);
			if (r->u.begin.has_origin)
			{
				printf(",\"origin\":");
				print_string(r->u.begin.origin_name.ptr, r->u.begin.origin_name.len);
			}
			break;
		case WB_REC_COMMIT:
			printf(",\"xid\":%u,\"commit_lsn\":%" PRIu64 ",\"end_lsn\":%" PRIu64,
				   r->u.commit.xid, r->u.commit.commit_lsn, r->u.commit.end_lsn);
			break;
		case WB_REC_RELATION:
			{
				wb_mpcur	cols = r->u.relation.columns;

				printf(",\"relid\":%u,\"schema\":", r->u.relation.relid);
				print_string(r->u.relation.schema.ptr, r->u.relation.schema.len);
				printf(",\"table\":");
				print_string(r->u.relation.table.ptr, r->u.relation.table.len);
				printf(",\"ncolumns\":%u,\"columns\":[", r->u.relation.ncolumns);
				for (uint32_t i = 0; i < r->u.relation.ncolumns; i++)
				{
					wb_column	col;

					wb_record_next_column(&cols, &col);
					if (i > 0)
						putchar(',');
					printf("{\"name\":");
					print_string(col.name.ptr, col.name.len);
					printf(",\"type\":");
					print_string(col.type_name.ptr, col.type_name.len);
					printf(",\"key\":%s}", (col.flags & WB_COLUMN_PRIMARY_KEY) ? "true" : "false");
				}
				putchar(']');
				break;
			}
		case WB_REC_TRUNCATE:
			printf(",\"flags\":%u,\"nrelids\":%u", r->u.truncate.flags, r->u.truncate.nrelids);
			break;
		case WB_REC_MESSAGE:
			printf(",\"prefix\":");
			print_string(r->u.message.prefix.ptr, r->u.message.prefix.len);
			printf(",\"content\":");
			print_string(r->u.message.content.ptr, r->u.message.content.len);
			break;
		default:
			printf(",\"relid\":%u", r->u.change.relid);
			relation = find_relation(rels, nrels, r->u.change.relid);
			if (relation != NULL)
			{
				printf(",\"table\":\"");
				print_escaped(relation->u.relation.schema.ptr, relation->u.relation.schema.len);
				putchar('.');
				print_escaped(relation->u.relation.table.ptr, relation->u.relation.table.len);
				putchar('"');
			}
			if (r->u.change.old.present)
				print_tuple("old", &r->u.change.old, relation, r->u.change.old_kind == WB_OLD_KEY);
			if (r->u.change.new.present)
				print_tuple("new", &r->u.change.new, relation, false);
			break;
	}
	putchar('}');
}

/* Whether the message carries walbridge records (its wb.format header). */
static bool
is_walbridge_message(rd_kafka_headers_t *hdrs)
{
	const void *value;
	size_t		size;

	return hdrs != NULL &&
		rd_kafka_header_get_last(hdrs, WB_HDR_FORMAT, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR;
}

/* The records of a walbridge message; 1 if one does not decode. */
static int
print_records(const rd_kafka_message_t *rkm)
{
	dump_relation rels[DUMP_MAX_RELATIONS];
	int			nrels = 0;
	wb_mpcur	cur;
	int			n = 0;

	printf(",\"records\":[");
	wb_mp_init(&cur, rkm->payload, rkm->len);
	while (!wb_mp_at_end(&cur))
	{
		size_t		start = wb_mp_offset(&cur);
		wb_record	rec;
		char		err[WB_RECORD_ERRLEN];
		int			rc = wb_mp_skip(&cur);

		if (rc != WB_MP_OK ||
			!wb_record_parse((const char *) rkm->payload + start, wb_mp_offset(&cur) - start,
							 &rec, err, sizeof(err)))
		{
			printf("],\"error\":");
			if (rc != WB_MP_OK)
				snprintf(err, sizeof(err), "byte %zu: %s", start, wb_mp_strerror(rc));
			print_string(err, strlen(err));
			return 1;
		}
		if (n++ > 0)
			putchar(',');
		print_record(&rec, rels, nrels);
		if (rec.tag == WB_REC_RELATION && nrels < DUMP_MAX_RELATIONS)
			rels[nrels++] = (dump_relation) {.relid = rec.u.relation.relid, .rec = rec};
	}
	putchar(']');
	return 0;
}

/* One message as a line; 1 if its records do not decode. */
static int
print_message(const rd_kafka_message_t *rkm)
{
	rd_kafka_headers_t *hdrs = NULL;
	rd_kafka_timestamp_type_t tstype;
	int64_t		ts = rd_kafka_message_timestamp(rkm, &tstype);
	int			status = 0;

	printf("{\"offset\":%" PRId64 ",\"partition\":%" PRId32 ",\"timestamp\":", rkm->offset, rkm->partition);
	if (tstype == RD_KAFKA_TIMESTAMP_NOT_AVAILABLE)
		printf("null");
	else
		printf("%" PRId64, ts);
	printf(",\"key\":");
	if (rkm->key == NULL)
		printf("null");
	else
		print_string(rkm->key, rkm->key_len);
	printf(",\"bytes\":%zu,\"headers\":{", rkm->len);
	if (rd_kafka_message_headers(rkm, &hdrs) == RD_KAFKA_RESP_ERR_NO_ERROR)
	{
		const char *name;
		const void *value;
		size_t		size;

		for (size_t i = 0; rd_kafka_header_get_all(hdrs, i, &name, &value, &size) == RD_KAFKA_RESP_ERR_NO_ERROR; i++)
		{
			if (i > 0)
				putchar(',');
			print_string(name, strlen(name));
			putchar(':');
			if (value == NULL)
				printf("null");
			else
				print_string(value, size);
		}
	}
	else
		hdrs = NULL;
	putchar('}');

	if (rkm->payload == NULL)
		printf(",\"value\":null");
	else if (!is_walbridge_message(hdrs))
	{
		printf(",\"value\":");
		print_string(rkm->payload, rkm->len);
	}
	else
		status = print_records(rkm);
	printf("}\n");
	fflush(stdout);
	return status;
}

/* --from: a number, beginning, end, or -N (the last N). */
static bool
parse_offset(const char *text, int64_t *offset)
{
	char	   *end;
	long long	n;

	if (strcmp(text, "beginning") == 0)
		*offset = RD_KAFKA_OFFSET_BEGINNING;
	else if (strcmp(text, "end") == 0)
		*offset = RD_KAFKA_OFFSET_END;
	else
	{
		n = strtoll(text, &end, 10);
		if (*text == '\0' || *end != '\0')
			return false;
		*offset = n >= 0 ? n : RD_KAFKA_OFFSET_TAIL(-n);
	}
	return true;
}

/* -X PROPERTY=VALUE into cfg's kafka settings, after the file's. */
static bool
add_property(struct wb_config *cfg, const char *arg)
{
	const char *eq = strchr(arg, '=');

	if (eq == NULL || eq == arg)
		return false;
	cfg->kafka = xrealloc(cfg->kafka, sizeof(wb_kv) * (cfg->nkafka + 1));
	cfg->kafka[cfg->nkafka].key = xmalloc(eq - arg + 1);
	memcpy(cfg->kafka[cfg->nkafka].key, arg, eq - arg);
	cfg->kafka[cfg->nkafka].key[eq - arg] = '\0';
	cfg->kafka[cfg->nkafka].value = xstrdup(eq + 1);
	cfg->nkafka++;
	return true;
}

static int
read_topic(const struct wb_config *cfg, const char *topic, int32_t partition, int64_t from,
		   long count, bool follow)
{
	/* no group: the partition is assigned, nothing is committed */
	static const wb_kafka_default defaults[] = {
		{"group.id", "walbridge-dump"},
		{"enable.partition.eof", "true"},
		{"enable.auto.commit", "false"},
		{"auto.offset.reset", "error"},
		{"client.id", "walbridged-dump"},
	};
	rd_kafka_conf_t *conf = kafka_conf_new(cfg, defaults, sizeof(defaults) / sizeof(defaults[0]));
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts;
	char		errstr[512];
	long		printed = 0;
	int			status = 0;

	if (conf == NULL)
		return 2;
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		fprintf(stderr, "walbridged dump: %s\n", errstr);
		rd_kafka_conf_destroy(conf);
		return 2;
	}
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, topic, partition)->offset = from;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);

	while (!stop_requested && (count < 0 || printed < count))
	{
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, follow ? 500 : 10000);

		if (rkm == NULL)
		{
			if (follow)
				continue;
			fprintf(stderr, "walbridged dump: no message or end of %s [%" PRId32 "] within 10 s\n",
					topic, partition);
			status = 2;
			break;
		}
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		{
			rd_kafka_message_destroy(rkm);
			if (follow)
				continue;
			break;
		}
		if (rkm->err)
		{
			/* an offset gone (retention) is said, never skipped */
			fprintf(stderr, "walbridged dump: %s [%" PRId32 "]: %s\n", topic, partition,
					rd_kafka_message_errstr(rkm));
			rd_kafka_message_destroy(rkm);
			status = 2;
			break;
		}
		status |= print_message(rkm);
		printed++;
		rd_kafka_message_destroy(rkm);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return status;
}

int
dump_main(int argc, char **argv, const char *progname)
{
	static const struct option options[] = {
		{"brokers", required_argument, NULL, 'b'},
		{"config", required_argument, NULL, 'c'},
		{"from", required_argument, NULL, 'o'},
		{"count", required_argument, NULL, 'n'},
		{"follow", no_argument, NULL, 'f'},
		{"partition", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, '?'},
		{NULL, 0, NULL, 0}
	};
	struct wb_config cfg;
	const char *brokers = NULL;
	const char *config_file = NULL;
	char	  **properties = xcalloc(argc + 1, sizeof(char *));
	int			nproperties = 0;
	int64_t		from = RD_KAFKA_OFFSET_BEGINNING;
	long		count = -1;
	bool		follow = false;
	long		partition = 0;
	char	   *end;
	int			c;
	int			status;

	wb_log_set_level(WB_LOG_WARNING);
	while ((c = getopt_long(argc, argv, "b:c:X:?", options, NULL)) != -1)
	{
		switch (c)
		{
			case 'b':
				brokers = optarg;
				break;
			case 'c':
				config_file = optarg;
				break;
			case 'X':
				properties[nproperties++] = optarg;
				break;
			case 'o':
				if (!parse_offset(optarg, &from))
				{
					fprintf(stderr, "walbridged dump: --from takes a number, beginning, end or -N, not \"%s\"\n", optarg);
					return 2;
				}
				break;
			case 'n':
				count = strtol(optarg, &end, 10);
				if (*optarg == '\0' || *end != '\0' || count < 0)
				{
					fprintf(stderr, "walbridged dump: --count takes a number of messages, not \"%s\"\n", optarg);
					return 2;
				}
				break;
			case 'f':
				follow = true;
				break;
			case 'p':
				partition = strtol(optarg, &end, 10);
				if (*optarg == '\0' || *end != '\0' || partition < 0 || partition > INT32_MAX)
				{
					fprintf(stderr, "walbridged dump: --partition takes a partition number, not \"%s\"\n", optarg);
					return 2;
				}
				break;
			case '?':
				if (optopt == 0 || optopt == '?')
				{
					dump_usage(progname);
					return 0;
				}
				fprintf(stderr, "Try \"%s dump --help\" for more information.\n", progname);
				return 2;
			default:
				return 2;
		}
	}
	if (optind != argc - 1)
	{
		fprintf(stderr, "walbridged dump: one TOPIC is needed (see %s dump --help)\n", progname);
		return 2;
	}

	if (config_read_kafka(config_file, &cfg) != WB_OK)
		return 2;
	if (brokers != NULL)
	{
		free(cfg.brokers);
		cfg.brokers = xstrdup(brokers);
	}
	for (int i = 0; i < nproperties; i++)
		if (!add_property(&cfg, properties[i]))
		{
			fprintf(stderr, "walbridged dump: -X takes PROPERTY=VALUE, not \"%s\"\n", properties[i]);
			config_free(&cfg);
			return 2;
		}
	free(properties);
	if (cfg.brokers == NULL)
	{
		bool		in_kafka = false;

		for (int i = 0; i < cfg.nkafka; i++)
			in_kafka |= strcmp(cfg.kafka[i].key, "bootstrap.servers") == 0;
		if (!in_kafka)
		{
			fprintf(stderr, "walbridged dump: no Kafka brokers given: use -b BROKERS, -c CONFIG_FILE or -X bootstrap.servers=...\n");
			config_free(&cfg);
			return 2;
		}
	}

	signal(SIGINT, request_stop);
	signal(SIGTERM, request_stop);
	status = read_topic(&cfg, argv[optind], (int32_t) partition, from, count, follow);
	config_free(&cfg);
	return status;
}
