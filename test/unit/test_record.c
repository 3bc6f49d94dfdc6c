/*
 * test_record.c: the msgpack reader (common/mpread.c) and the record
 * parser (common/record.c), against records packed by msgpack-c the way
 * the output plugin packs them, and against broken input.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"
#include "unit.h"

static msgpack_sbuffer buf;
static msgpack_packer pk;

static void
start(void)
{
	msgpack_sbuffer_clear(&buf);
}

static void
pack_str(const char *s)
{
	msgpack_pack_str_with_body(&pk, s, strlen(s));
}

/* every msgpack encoding the reader must handle, and what it reads back */
static void
test_scalars(void)
{
	wb_mpcur	cur;
	wb_mpobj	obj;
	static const int64_t ints[] = {0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33,
		-128, -129, -32768, -32769, INT32_MIN, INT32_MAX, INT64_MIN, INT64_MAX};
	char		big[70000];

	start();
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
		msgpack_pack_int64(&pk, ints[i]);
	msgpack_pack_uint64(&pk, UINT64_MAX);
	msgpack_pack_float(&pk, 1.5f);
	msgpack_pack_double(&pk, -0.25);
	msgpack_pack_nil(&pk);
	msgpack_pack_true(&pk);
	msgpack_pack_false(&pk);
	memset(big, 'x', sizeof(big));
	msgpack_pack_str_with_body(&pk, big, 31);
	msgpack_pack_str_with_body(&pk, big, 200);
	msgpack_pack_str_with_body(&pk, big, 60000);
	msgpack_pack_str_with_body(&pk, big, sizeof(big));
	msgpack_pack_bin_with_body(&pk, big, 3);
	msgpack_pack_ext(&pk, 0, 1);
	msgpack_pack_ext_with_body(&pk, big, 4, 7);
	msgpack_pack_array(&pk, 70000);
	msgpack_pack_map(&pk, 3);

	wb_mp_init(&cur, buf.data, buf.size);
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
	{
		CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK);
		if (ints[i] >= 0)
			CHECK(obj.type == WB_MP_UINT && obj.v.u == (uint64_t) ints[i]);
		else
			CHECK(obj.type == WB_MP_INT && obj.v.i == ints[i]);
	}
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_UINT && obj.v.u == UINT64_MAX);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_FLOAT32 && obj.v.f32 == 1.5f);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_FLOAT64 && obj.v.f64 == -0.25);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_NIL);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_BOOL && obj.v.b);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_BOOL && !obj.v.b);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_STR && obj.v.raw.len == 31);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_STR && obj.v.raw.len == 200);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_STR && obj.v.raw.len == 60000);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_STR && obj.v.raw.len == sizeof(big));
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_BIN && obj.v.raw.len == 3);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_EXT && obj.v.raw.len == 0 &&
		  obj.v.raw.ext_type == 1);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_EXT && obj.v.raw.len == 4 &&
		  obj.v.raw.ext_type == 7);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_ARRAY && obj.v.count == 70000);
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_OK && obj.type == WB_MP_MAP && obj.v.count == 3);
	CHECK(wb_mp_at_end(&cur));
	CHECK(wb_mp_next(&cur, &obj) == WB_MP_TRUNCATED);
}

static void
test_skip_depth(void)
{
	unsigned char nested[WB_MP_MAX_DEPTH + 2];
	wb_mpcur	cur;

	/* WB_MP_MAX_DEPTH arrays of one element around a nil: accepted */
	memset(nested, 0x91, sizeof(nested));
	nested[WB_MP_MAX_DEPTH] = 0xc0;
	wb_mp_init(&cur, nested, WB_MP_MAX_DEPTH + 1);
	CHECK(wb_mp_skip(&cur) == WB_MP_OK && wb_mp_at_end(&cur));

	/* one more level: refused, cursor unmoved */
	memset(nested, 0x91, sizeof(nested));
	nested[WB_MP_MAX_DEPTH + 1] = 0xc0;
	wb_mp_init(&cur, nested, sizeof(nested));
	CHECK(wb_mp_skip(&cur) == WB_MP_TOO_DEEP && wb_mp_offset(&cur) == 0);

	/* a map counts its keys and values */
	{
		static const unsigned char map[] = {0x82, 0x01, 0x02, 0x03, 0x92, 0x04, 0x05, 0xc0};

		wb_mp_init(&cur, map, sizeof(map));
		CHECK(wb_mp_skip(&cur) == WB_MP_OK && wb_mp_offset(&cur) == sizeof(map) - 1);
	}
}

/* An UPDATE as the plugin packs it: key-only old tuple, unchanged TOAST. */
static void
pack_update(void)
{
	start();
	msgpack_pack_array(&pk, WB_UPDATE_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_UPDATE);
	msgpack_pack_uint32(&pk, 16384);
	msgpack_pack_uint8(&pk, WB_OLD_KEY);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int64(&pk, 1);
	msgpack_pack_array(&pk, 4);
	msgpack_pack_int64(&pk, 2);
	pack_str("héllo");
	msgpack_pack_nil(&pk);
	msgpack_pack_ext(&pk, 0, WB_EXT_UNCHANGED_TOAST);
}

static void
test_update(void)
{
	wb_record	rec;
	char		err[WB_RECORD_ERRLEN];
	wb_value	val;
	wb_mpcur	cur;

	pack_update();
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(rec.tag == WB_REC_UPDATE);
	CHECK(rec.u.change.relid == 16384);
	CHECK(rec.u.change.old_kind == WB_OLD_KEY);
	CHECK(rec.u.change.old.present && rec.u.change.old.count == 1);
	CHECK(rec.u.change.new.present && rec.u.change.new.count == 4);

	cur = rec.u.change.new.values;
	wb_record_next_value(&cur, &val);
	CHECK(val.obj.type == WB_MP_UINT && val.obj.v.u == 2 && !val.unchanged_toast);
	wb_record_next_value(&cur, &val);
	CHECK(val.obj.type == WB_MP_STR && val.obj.v.raw.len == strlen("héllo") &&
		  memcmp(val.obj.v.raw.ptr, "héllo", val.obj.v.raw.len) == 0);
	wb_record_next_value(&cur, &val);
	CHECK(val.obj.type == WB_MP_NIL && !val.unchanged_toast);
	wb_record_next_value(&cur, &val);
	CHECK(val.unchanged_toast);

	/* every proper prefix is refused, with a message, and no overread */
	for (size_t n = 0; n < buf.size; n++)
	{
		char	   *copy = malloc(n + 1);

		memcpy(copy, buf.data, n);
		err[0] = '\0';
		CHECK(!wb_record_parse(copy, n, &rec, err, sizeof(err)) && err[0] != '\0');
		free(copy);
	}
}

/*
 * SNAPSHOT: [tag, relid, new, commit_time], the time an int or nil; the
 * three-field form of earlier plugins still reads, as time unknown.
 */
static void
pack_snapshot(int nfields, bool with_time, int64_t usecs)
{
	start();
	msgpack_pack_array(&pk, nfields);
	msgpack_pack_uint8(&pk, WB_REC_SNAPSHOT);
	msgpack_pack_uint32(&pk, 16384);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_int64(&pk, 7);
	if (nfields == WB_SNAPSHOT_NFIELDS)
	{
		if (with_time)
			msgpack_pack_int64(&pk, usecs);
		else
			msgpack_pack_nil(&pk);
	}
}

static void
test_snapshot(void)
{
	wb_record	rec;
	char		err[WB_RECORD_ERRLEN];

	pack_snapshot(WB_SNAPSHOT_NFIELDS, true, INT64_C(1764547200123456));
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(rec.tag == WB_REC_SNAPSHOT && rec.u.change.new.count == 1);
	CHECK(rec.u.change.commit_time == INT64_C(1764547200123456));

	pack_snapshot(WB_SNAPSHOT_NFIELDS, false, 0);
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(rec.u.change.commit_time == 0);

	pack_snapshot(WB_SNAPSHOT_NFIELDS_V0, false, 0);
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(rec.u.change.commit_time == 0 && rec.u.change.new.count == 1);

	/* a time that is not an integer; a fifth field */
	start();
	msgpack_pack_array(&pk, WB_SNAPSHOT_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_SNAPSHOT);
	msgpack_pack_uint32(&pk, 16384);
	msgpack_pack_array(&pk, 0);
	pack_str("yesterday");
	CHECK(!wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)) && strstr(err, "commit time") != NULL);
	pack_snapshot(WB_SNAPSHOT_NFIELDS + 1, true, 1);
	msgpack_pack_nil(&pk);
	CHECK(!wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)) && strstr(err, "fields") != NULL);
}

static void
test_begin_relation_commit(void)
{
	wb_record	rec;
	char		err[WB_RECORD_ERRLEN];
	wb_column	col;
	wb_mpcur	cur;

	start();
	msgpack_pack_array(&pk, WB_BEGIN_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_BEGIN);
	msgpack_pack_uint32(&pk, WALBRIDGE_FORMAT_VERSION);
	msgpack_pack_uint32(&pk, 4000000000u);
	msgpack_pack_uint64(&pk, UINT64_C(0x100000000));
	msgpack_pack_int64(&pk, -5);
	msgpack_pack_uint32(&pk, 3);
	pack_str("peer");
	msgpack_pack_uint64(&pk, 77);
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(rec.tag == WB_REC_BEGIN && rec.u.begin.xid == 4000000000u &&
		  rec.u.begin.commit_lsn == UINT64_C(0x100000000) &&
		  rec.u.begin.commit_time == -5 && rec.u.begin.has_origin &&
		  rec.u.begin.origin_id == 3 && rec.u.begin.origin_name.len == 4 &&
		  rec.u.begin.origin_lsn == 77);

	start();
	msgpack_pack_array(&pk, WB_RELATION_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_RELATION);
	msgpack_pack_uint32(&pk, 16384);
	pack_str("public");
	pack_str("t");
	msgpack_pack_uint8(&pk, WB_REPLIDENT_FULL);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_array(&pk, WB_COLUMN_NFIELDS);
	pack_str("id");
	msgpack_pack_uint32(&pk, 23);
	pack_str("integer");
	msgpack_pack_int32(&pk, -1);
	msgpack_pack_uint8(&pk, WB_COLUMN_IDENTITY | WB_COLUMN_PRIMARY_KEY);
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(rec.tag == WB_REC_RELATION && rec.u.relation.ncolumns == 1 &&
		  rec.u.relation.replident == WB_REPLIDENT_FULL);
	cur = rec.u.relation.columns;
	wb_record_next_column(&cur, &col);
	CHECK(col.type_oid == 23 && col.typmod == -1 && col.name.len == 2 &&
		  col.flags == (WB_COLUMN_IDENTITY | WB_COLUMN_PRIMARY_KEY));

	start();
	msgpack_pack_array(&pk, WB_COMMIT_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_COMMIT);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_uint64(&pk, 10);
	msgpack_pack_uint64(&pk, 20);
	msgpack_pack_int64(&pk, INT64_MAX);
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(rec.tag == WB_REC_COMMIT && rec.u.commit.end_lsn == 20 &&
		  rec.u.commit.commit_time == INT64_MAX);

	/* a BEGIN from the future is refused by version, with both numbers */
	start();
	msgpack_pack_array(&pk, WB_BEGIN_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_BEGIN);
	msgpack_pack_uint32(&pk, WALBRIDGE_FORMAT_VERSION + 1);
	CHECK(!wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(strstr(err, "newer than this reader supports") != NULL);
}

/* Bad records: each refused with a message naming what is wrong. */
static void
test_errors(void)
{
	static const struct
	{
		const char *bytes;
		size_t		len;
		const char *message;
	}			cases[] = {
		{"", 0, "empty input"},
		{"\xc1", 1, "invalid msgpack byte"},
		{"\x01", 1, "expected array"},
		{"\x91\x58", 2, "unknown record tag 88"},
		{"\x91\x49", 2, "1 fields, expected 3"},
		{"\x93\x49\x01\x91\x91\xc0", 6, "msgpack array, not a column value"},
		{"\x93\x49\x01\x91\xc7\x00\x02", 7, "unknown ext type 2"},
		{"\x93\x49\x01\x90\xff", 5, "1 trailing bytes"},
		{"\x94\x44\x01\xc0\x91\x01", 6, "old kind and old tuple disagree"},
		{"\x95\x55\x01\x63\x90\x90", 6, "old kind: expected 'k', 'o' or nil"},
		{"\x93\x54\x01\x91\xa1x", 6, "relid: expected unsigned integer, found str"},
		{"\x95\x4d\xc2\x01\xa1p\xa1x", 8, "content: expected bin, found str"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		wb_record	rec;
		char		err[WB_RECORD_ERRLEN] = "";
		bool		ok = wb_record_parse(cases[i].bytes, cases[i].len, &rec, err, sizeof(err));

		CHECK(!ok);
		if (strstr(err, cases[i].message) == NULL)
		{
			fprintf(stderr, "case %zu: \"%s\" lacks \"%s\"\n", i, err, cases[i].message);
			CHECK(false);
		}
	}
}

/* timestamps travel as ext 2/3 with 8 bytes; other lengths are refused */
static void
test_timestamps(void)
{
	wb_record	rec;
	char		err[WB_RECORD_ERRLEN];
	wb_value	val;
	wb_mpcur	cur;
	const char	body[8] = {0, 0, 0, 0, 0, 0, 0x01, 0x02};

	start();
	msgpack_pack_array(&pk, WB_INSERT_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_INSERT);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_array(&pk, 2);
	msgpack_pack_ext_with_body(&pk, body, 8, WB_EXT_TIMESTAMPTZ);
	msgpack_pack_ext_with_body(&pk, body, 8, WB_EXT_TIMESTAMP);
	CHECK(wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	cur = rec.u.change.new.values;
	wb_record_next_value(&cur, &val);
	CHECK(val.timestamp_ext == WB_EXT_TIMESTAMPTZ && val.timestamp == 0x0102 && !val.unchanged_toast);
	wb_record_next_value(&cur, &val);
	CHECK(val.timestamp_ext == WB_EXT_TIMESTAMP && val.timestamp == 0x0102);

	start();
	msgpack_pack_array(&pk, WB_INSERT_NFIELDS);
	msgpack_pack_uint8(&pk, WB_REC_INSERT);
	msgpack_pack_uint32(&pk, 1);
	msgpack_pack_array(&pk, 1);
	msgpack_pack_ext_with_body(&pk, body, 4, WB_EXT_TIMESTAMPTZ);
	CHECK(!wb_record_parse(buf.data, buf.size, &rec, err, sizeof(err)));
	CHECK(strstr(err, "unknown ext type 3 of 4 bytes") != NULL);
}

int
main(void)
{
	msgpack_sbuffer_init(&buf);
	msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);

	test_scalars();
	test_skip_depth();
	test_update();
	test_snapshot();
	test_begin_relation_commit();
	test_errors();
	test_timestamps();

	msgpack_sbuffer_destroy(&buf);
	return unit_report();
}
