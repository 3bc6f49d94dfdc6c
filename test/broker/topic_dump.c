/*-------------------------------------------------------------------------
 *
 * topic_dump.c
 *		Print a walbridge topic, one JSON line per Kafka message, with its
 *		offset, headers and decoded records.  For tests and for people
 *		reading a topic; it reads with the same record parser
 *		(common/record.c) as walbridged.
 *
 * Usage: topic_dump BROKERS TOPIC [START_OFFSET]
 * Reads partition 0 from START_OFFSET (default: the beginning) to the end,
 * then exits 0.  A message that does not parse is printed with "error"
 * and makes the exit status 1.  If START_OFFSET is gone (retention), it
 * says so and exits 2, rather than skipping ahead.
 *
 * IDENTIFICATION
 *		test/broker/topic_dump.c
 *
 *-------------------------------------------------------------------------
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <librdkafka/rdkafka.h>

#include "record.h"

static void
print_string(const char *ptr, size_t len)
{
	putchar('"');
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

static void
print_tuple(const char *name, const wb_tuple *t)
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
}

static void
print_record(const wb_record *r)
{
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
			printf(",\"relid\":%u,\"schema\":", r->u.relation.relid);
			print_string(r->u.relation.schema.ptr, r->u.relation.schema.len);
			printf(",\"table\":");
			print_string(r->u.relation.table.ptr, r->u.relation.table.len);
			printf(",\"ncolumns\":%u", r->u.relation.ncolumns);
			break;
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
			if (r->u.change.old.present)
				print_tuple("old", &r->u.change.old);
			if (r->u.change.new.present)
				print_tuple("new", &r->u.change.new);
			break;
	}
	putchar('}');
}

/* One message: its records, split by skipping whole msgpack objects. */
static int
print_message(const rd_kafka_message_t *rkm)
{
	rd_kafka_headers_t *hdrs = NULL;
	wb_mpcur	cur;
	int			n = 0;

	printf("{\"offset\":%" PRId64 ",\"bytes\":%zu,\"headers\":{", rkm->offset, rkm->len);
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
			print_string(value, size);
		}
	}
	printf("},\"records\":[");

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
			printf("}\n");
			return 1;
		}
		if (n++ > 0)
			putchar(',');
		print_record(&rec);
	}
	printf("]}\n");
	return 0;
}

int
main(int argc, char **argv)
{
	char		errstr[512];
	rd_kafka_conf_t *conf = rd_kafka_conf_new();
	rd_kafka_t *rk;
	rd_kafka_topic_partition_list_t *parts;
	int64_t		start = argc > 3 ? strtoll(argv[3], NULL, 10) : RD_KAFKA_OFFSET_BEGINNING;
	int			status = 0;

	if (argc < 3)
	{
		fprintf(stderr, "usage: %s BROKERS TOPIC [START_OFFSET]\n", argv[0]);
		return 2;
	}
	if (rd_kafka_conf_set(conf, "bootstrap.servers", argv[1], errstr, sizeof(errstr)) ||
		rd_kafka_conf_set(conf, "group.id", "walbridge-topic-dump", errstr, sizeof(errstr)) ||
		rd_kafka_conf_set(conf, "enable.partition.eof", "true", errstr, sizeof(errstr)) ||
		rd_kafka_conf_set(conf, "enable.auto.commit", "false", errstr, sizeof(errstr)) ||
		rd_kafka_conf_set(conf, "auto.offset.reset", "error", errstr, sizeof(errstr)))
	{
		fprintf(stderr, "topic_dump: %s\n", errstr);
		return 2;
	}
	rk = rd_kafka_new(RD_KAFKA_CONSUMER, conf, errstr, sizeof(errstr));
	if (rk == NULL)
	{
		fprintf(stderr, "topic_dump: %s\n", errstr);
		return 2;
	}
	parts = rd_kafka_topic_partition_list_new(1);
	rd_kafka_topic_partition_list_add(parts, argv[2], 0)->offset = start;
	rd_kafka_assign(rk, parts);
	rd_kafka_topic_partition_list_destroy(parts);

	for (;;)
	{
		rd_kafka_message_t *rkm = rd_kafka_consumer_poll(rk, 10000);

		if (rkm == NULL)
		{
			fprintf(stderr, "topic_dump: no message or end of partition within 10 s\n");
			status = 2;
			break;
		}
		if (rkm->err == RD_KAFKA_RESP_ERR__PARTITION_EOF)
		{
			rd_kafka_message_destroy(rkm);
			break;
		}
		if (rkm->err)
		{
			fprintf(stderr, "topic_dump: %s\n", rd_kafka_message_errstr(rkm));
			rd_kafka_message_destroy(rkm);
			status = 2;
			break;
		}
		status |= print_message(rkm);
		rd_kafka_message_destroy(rkm);
	}
	rd_kafka_consumer_close(rk);
	rd_kafka_destroy(rk);
	return status;
}
