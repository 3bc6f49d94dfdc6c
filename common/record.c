/*-------------------------------------------------------------------------
 *
 * record.c
 *		Parse and validate one walbridge record.
 *
 * Each field is read through a typed getter that names the field in its
 * error, so a reader of a bad record learns which field of which record
 * was wrong and at which byte, not just that msgpack did not parse.
 *
 * IDENTIFICATION
 *		common/record.c
 *
 *-------------------------------------------------------------------------
 */
#include "record.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct parse_state
{
	wb_mpcur	cur;
	char	   *errbuf;
	size_t		errlen;
	const char *record_name;	/* for messages: "BEGIN record" */
} parse_state;

static bool
fail(parse_state *ps, const char *fmt,...)
__attribute__((format(printf, 2, 3)));

static bool
fail(parse_state *ps, const char *fmt,...)
{
	va_list		ap;
	int			n;

	n = snprintf(ps->errbuf, ps->errlen, "%s, byte %zu: ",
				 ps->record_name, wb_mp_offset(&ps->cur));
	if (n < 0 || (size_t) n >= ps->errlen)
		return false;
	va_start(ap, fmt);
	vsnprintf(ps->errbuf + n, ps->errlen - n, fmt, ap);
	va_end(ap);
	return false;
}

static bool
next_obj(parse_state *ps, wb_mpobj *obj, const char *field)
{
	int			rc = wb_mp_next(&ps->cur, obj);

	if (rc != WB_MP_OK)
		return fail(ps, "%s: %s", field, wb_mp_strerror(rc));
	return true;
}

static bool
wrong_type(parse_state *ps, const wb_mpobj *obj, const char *field,
		   const char *expected)
{
	return fail(ps, "%s: expected %s, found %s",
				field, expected, wb_mp_type_name(obj->type));
}

static bool
get_uint(parse_state *ps, const char *field, uint64_t max, uint64_t *out)
{
	wb_mpobj	obj;

	if (!next_obj(ps, &obj, field))
		return false;
	if (obj.type != WB_MP_UINT)
		return wrong_type(ps, &obj, field, "unsigned integer");
	if (obj.v.u > max)
		return fail(ps, "%s: %llu is out of range", field,
					(unsigned long long) obj.v.u);
	*out = obj.v.u;
	return true;
}

static bool
get_u32(parse_state *ps, const char *field, uint32_t *out)
{
	uint64_t	v;

	if (!get_uint(ps, field, UINT32_MAX, &v))
		return false;
	*out = (uint32_t) v;
	return true;
}

static bool
get_int(parse_state *ps, const char *field, int64_t min, int64_t max,
		int64_t *out)
{
	wb_mpobj	obj;
	int64_t		v;

	if (!next_obj(ps, &obj, field))
		return false;
	if (obj.type == WB_MP_UINT && obj.v.u <= (uint64_t) INT64_MAX)
		v = (int64_t) obj.v.u;
	else if (obj.type == WB_MP_INT)
		v = obj.v.i;
	else
		return wrong_type(ps, &obj, field, "integer");
	if (v < min || v > max)
		return fail(ps, "%s: %lld is out of range", field, (long long) v);
	*out = v;
	return true;
}

static bool
get_bool(parse_state *ps, const char *field, bool *out)
{
	wb_mpobj	obj;

	if (!next_obj(ps, &obj, field))
		return false;
	if (obj.type != WB_MP_BOOL)
		return wrong_type(ps, &obj, field, "bool");
	*out = obj.v.b;
	return true;
}

/* A str, or nil when nil_ok (the result's ptr is then NULL). */
static bool
get_str(parse_state *ps, const char *field, bool nil_ok, wb_str *out)
{
	wb_mpobj	obj;

	if (!next_obj(ps, &obj, field))
		return false;
	if (nil_ok && obj.type == WB_MP_NIL)
	{
		out->ptr = NULL;
		out->len = 0;
		return true;
	}
	if (obj.type != WB_MP_STR)
		return wrong_type(ps, &obj, field, nil_ok ? "str or nil" : "str");
	out->ptr = obj.v.raw.ptr;
	out->len = obj.v.raw.len;
	return true;
}

/* An array header; nil too when nil_ok (the result is then -1). */
static bool
get_array(parse_state *ps, const char *field, bool nil_ok, int64_t *count)
{
	wb_mpobj	obj;

	if (!next_obj(ps, &obj, field))
		return false;
	if (nil_ok && obj.type == WB_MP_NIL)
	{
		*count = -1;
		return true;
	}
	if (obj.type != WB_MP_ARRAY)
		return wrong_type(ps, &obj, field, nil_ok ? "array or nil" : "array");
	*count = obj.v.count;
	return true;
}

/* A tuple: an array of values, each a scalar, str, bin or the marker. */
static bool
get_tuple(parse_state *ps, const char *field, bool nil_ok, wb_tuple *tuple)
{
	int64_t		count;

	if (!get_array(ps, field, nil_ok, &count))
		return false;
	tuple->present = (count >= 0);
	tuple->count = tuple->present ? (uint32_t) count : 0;
	tuple->values = ps->cur;

	for (uint32_t i = 0; i < tuple->count; i++)
	{
		wb_mpobj	obj;

		if (!next_obj(ps, &obj, field))
			return false;
		switch (obj.type)
		{
			case WB_MP_ARRAY:
			case WB_MP_MAP:
				return fail(ps, "%s: value %u is a msgpack %s, not a column value",
							field, i + 1, wb_mp_type_name(obj.type));
			case WB_MP_EXT:
				if (obj.v.raw.ext_type == WB_EXT_UNCHANGED_TOAST && obj.v.raw.len == 0)
					break;
				if ((obj.v.raw.ext_type == WB_EXT_TIMESTAMP ||
					 obj.v.raw.ext_type == WB_EXT_TIMESTAMPTZ) &&
					obj.v.raw.len == WB_EXT_TIMESTAMP_LEN)
					break;
				return fail(ps, "%s: value %u is an unknown ext type %d of %u bytes",
							field, i + 1, obj.v.raw.ext_type, obj.v.raw.len);
			default:
				break;
		}
	}
	return true;
}

static bool
get_column(parse_state *ps, uint32_t index)
{
	int64_t		nfields;
	uint64_t	u;
	int64_t		i;
	wb_str		s;

	if (!get_array(ps, "column", false, &nfields))
		return false;
	if (nfields != WB_COLUMN_NFIELDS)
		return fail(ps, "column %u has %lld fields, expected %d",
					index + 1, (long long) nfields, WB_COLUMN_NFIELDS);
	return get_str(ps, "column name", false, &s) &&
		get_uint(ps, "column type oid", UINT32_MAX, &u) &&
		get_str(ps, "column type name", false, &s) &&
		get_int(ps, "column typmod", INT32_MIN, INT32_MAX, &i) &&
		get_uint(ps, "column flags", UINT32_MAX, &u);
}

static bool
parse_begin(parse_state *ps, wb_record *rec)
{
	uint64_t	u;
	int64_t		origin_id;
	wb_mpobj	obj;

	if (!get_u32(ps, "format version", &rec->u.begin.version))
		return false;
	if (rec->u.begin.version > WALBRIDGE_FORMAT_VERSION)
		return fail(ps, "format version %u is newer than this reader supports (%d or lower)",
					rec->u.begin.version, WALBRIDGE_FORMAT_VERSION);
	if (!get_u32(ps, "xid", &rec->u.begin.xid) ||
		!get_uint(ps, "commit lsn", UINT64_MAX, &rec->u.begin.commit_lsn) ||
		!get_int(ps, "commit time", INT64_MIN, INT64_MAX,
				 &rec->u.begin.commit_time))
		return false;

	/* origin id: nil or an integer */
	if (!next_obj(ps, &obj, "origin id"))
		return false;
	if (obj.type == WB_MP_NIL)
		origin_id = -1;
	else if (obj.type == WB_MP_UINT && obj.v.u <= UINT16_MAX)
		origin_id = (int64_t) obj.v.u;
	else
		return wrong_type(ps, &obj, "origin id", "origin id or nil");
	rec->u.begin.has_origin = (origin_id >= 0);
	rec->u.begin.origin_id = rec->u.begin.has_origin ? (uint32_t) origin_id : 0;

	if (!get_str(ps, "origin name", true, &rec->u.begin.origin_name))
		return false;

	if (!next_obj(ps, &obj, "origin lsn"))
		return false;
	if (obj.type == WB_MP_NIL)
		u = 0;
	else if (obj.type == WB_MP_UINT)
		u = obj.v.u;
	else
		return wrong_type(ps, &obj, "origin lsn", "unsigned integer or nil");
	rec->u.begin.origin_lsn = u;
	return true;
}

static bool
parse_relation(parse_state *ps, wb_record *rec)
{
	uint64_t	replident;
	int64_t		ncolumns;

	if (!get_u32(ps, "relid", &rec->u.relation.relid) ||
		!get_str(ps, "schema", false, &rec->u.relation.schema) ||
		!get_str(ps, "table", false, &rec->u.relation.table) ||
		!get_uint(ps, "replica identity", 127, &replident))
		return false;
	if (replident != WB_REPLIDENT_DEFAULT && replident != WB_REPLIDENT_FULL &&
		replident != WB_REPLIDENT_INDEX && replident != WB_REPLIDENT_NOTHING)
		return fail(ps, "unknown replica identity %llu",
					(unsigned long long) replident);
	rec->u.relation.replident = (char) replident;

	if (!get_array(ps, "columns", false, &ncolumns))
		return false;
	rec->u.relation.ncolumns = (uint32_t) ncolumns;
	rec->u.relation.columns = ps->cur;
	for (uint32_t i = 0; i < rec->u.relation.ncolumns; i++)
		if (!get_column(ps, i))
			return false;
	return true;
}

static bool
get_old_kind(parse_state *ps, char *old_kind)
{
	wb_mpobj	obj;

	if (!next_obj(ps, &obj, "old kind"))
		return false;
	if (obj.type == WB_MP_NIL)
		*old_kind = '\0';
	else if (obj.type == WB_MP_UINT &&
			 (obj.v.u == WB_OLD_KEY || obj.v.u == WB_OLD_FULL))
		*old_kind = (char) obj.v.u;
	else
		return fail(ps, "old kind: expected 'k', 'o' or nil");
	return true;
}

static bool
parse_change(parse_state *ps, wb_record *rec)
{
	char		tag = rec->tag;

	rec->u.change.old_kind = '\0';
	rec->u.change.old.present = false;
	rec->u.change.new.present = false;
	rec->u.change.commit_time = 0;

	if (!get_u32(ps, "relid", &rec->u.change.relid))
		return false;
	if (tag == WB_REC_UPDATE || tag == WB_REC_DELETE)
	{
		if (!get_old_kind(ps, &rec->u.change.old_kind) ||
			!get_tuple(ps, "old tuple", true, &rec->u.change.old))
			return false;
		if ((rec->u.change.old_kind != '\0') != rec->u.change.old.present)
			return fail(ps, "old kind and old tuple disagree");
	}
	if (tag != WB_REC_DELETE &&
		!get_tuple(ps, "new tuple", false, &rec->u.change.new))
		return false;
	return true;
}

/* SNAPSHOT's last field: the row's commit time, or nil when unknown. */
static bool
get_snapshot_time(parse_state *ps, wb_record *rec)
{
	wb_mpobj	obj;
	wb_mpcur	peek = ps->cur;

	if (wb_mp_next(&peek, &obj) == WB_MP_OK && obj.type == WB_MP_NIL)
	{
		ps->cur = peek;
		return true;
	}
	/* a time PostgreSQL can hold: the reader turns it into its epoch */
	return get_int(ps, "commit time", INT64_MIN + WB_PG_EPOCH_OFFSET_USECS, INT64_MAX,
				   &rec->u.change.commit_time);
}

static bool
parse_truncate(parse_state *ps, wb_record *rec)
{
	int64_t		nrelids;
	uint32_t	relid;

	if (!get_u32(ps, "flags", &rec->u.truncate.flags) ||
		!get_array(ps, "relids", false, &nrelids))
		return false;
	rec->u.truncate.nrelids = (uint32_t) nrelids;
	rec->u.truncate.relids = ps->cur;
	for (int64_t i = 0; i < nrelids; i++)
		if (!get_u32(ps, "relid", &relid))
			return false;
	return true;
}

static bool
parse_message(parse_state *ps, wb_record *rec)
{
	wb_mpobj	obj;

	if (!get_bool(ps, "transactional", &rec->u.message.transactional) ||
		!get_uint(ps, "lsn", UINT64_MAX, &rec->u.message.lsn) ||
		!get_str(ps, "prefix", false, &rec->u.message.prefix) ||
		!next_obj(ps, &obj, "content"))
		return false;
	if (obj.type != WB_MP_BIN)
		return wrong_type(ps, &obj, "content", "bin");
	rec->u.message.content.ptr = obj.v.raw.ptr;
	rec->u.message.content.len = obj.v.raw.len;
	return true;
}

static bool
parse_commit(parse_state *ps, wb_record *rec)
{
	return get_u32(ps, "xid", &rec->u.commit.xid) &&
		get_uint(ps, "commit lsn", UINT64_MAX, &rec->u.commit.commit_lsn) &&
		get_uint(ps, "end lsn", UINT64_MAX, &rec->u.commit.end_lsn) &&
		get_int(ps, "commit time", INT64_MIN, INT64_MAX,
				&rec->u.commit.commit_time);
}

const char *
wb_record_tag_name(char tag)
{
	switch (tag)
	{
		case WB_REC_BEGIN:
			return "BEGIN";
		case WB_REC_RELATION:
			return "RELATION";
		case WB_REC_INSERT:
			return "INSERT";
		case WB_REC_UPDATE:
			return "UPDATE";
		case WB_REC_DELETE:
			return "DELETE";
		case WB_REC_TRUNCATE:
			return "TRUNCATE";
		case WB_REC_MESSAGE:
			return "MESSAGE";
		case WB_REC_COMMIT:
			return "COMMIT";
		case WB_REC_SNAPSHOT:
			return "SNAPSHOT";
	}
	return NULL;
}

static int
expected_nfields(char tag)
{
	switch (tag)
	{
		case WB_REC_BEGIN:
			return WB_BEGIN_NFIELDS;
		case WB_REC_RELATION:
			return WB_RELATION_NFIELDS;
		case WB_REC_INSERT:
			return WB_INSERT_NFIELDS;
		case WB_REC_UPDATE:
			return WB_UPDATE_NFIELDS;
		case WB_REC_DELETE:
			return WB_DELETE_NFIELDS;
		case WB_REC_TRUNCATE:
			return WB_TRUNCATE_NFIELDS;
		case WB_REC_MESSAGE:
			return WB_MESSAGE_NFIELDS;
		case WB_REC_COMMIT:
			return WB_COMMIT_NFIELDS;
		case WB_REC_SNAPSHOT:
			return WB_SNAPSHOT_NFIELDS;
	}
	return -1;
}

/*
 * Parse and validate buf as one record.  On failure, returns false with a
 * message in errbuf naming the record, the byte offset and the field.
 */
bool
wb_record_parse(const void *buf, size_t len, wb_record *rec,
				char *errbuf, size_t errlen)
{
	parse_state ps;
	int64_t		nfields;
	uint64_t	tag;
	bool		ok;

	wb_mp_init(&ps.cur, buf, len);
	ps.errbuf = errbuf;
	ps.errlen = errlen;
	ps.record_name = "record";

	if (len == 0)
		return fail(&ps, "empty input");
	if (!get_array(&ps, "record", false, &nfields))
		return false;
	if (nfields < 1)
		return fail(&ps, "empty array, expected a record tag");
	if (!get_uint(&ps, "record tag", 127, &tag))
		return false;
	if (wb_record_tag_name((char) tag) == NULL)
		return fail(&ps, "unknown record tag %llu", (unsigned long long) tag);

	rec->tag = (char) tag;
	ps.record_name = wb_record_tag_name(rec->tag);
	if (nfields != expected_nfields(rec->tag) &&
		!(rec->tag == WB_REC_SNAPSHOT && nfields == WB_SNAPSHOT_NFIELDS_V0))
		return fail(&ps, "%lld fields, expected %d",
					(long long) nfields, expected_nfields(rec->tag));

	switch (rec->tag)
	{
		case WB_REC_BEGIN:
			ok = parse_begin(&ps, rec);
			break;
		case WB_REC_RELATION:
			ok = parse_relation(&ps, rec);
			break;
		case WB_REC_TRUNCATE:
			ok = parse_truncate(&ps, rec);
			break;
		case WB_REC_MESSAGE:
			ok = parse_message(&ps, rec);
			break;
		case WB_REC_COMMIT:
			ok = parse_commit(&ps, rec);
			break;
		default:
			ok = parse_change(&ps, rec);
			if (ok && rec->tag == WB_REC_SNAPSHOT && nfields == WB_SNAPSHOT_NFIELDS)
				ok = get_snapshot_time(&ps, rec);
			break;
	}
	if (!ok)
		return false;
	if (!wb_mp_at_end(&ps.cur))
		return fail(&ps, "%zu trailing bytes after the record",
					len - wb_mp_offset(&ps.cur));
	return true;
}

/*
 * Walkers over a record that wb_record_parse() accepted: they cannot fail,
 * since every object they read was validated.
 */
void
wb_record_next_column(wb_mpcur *cur, wb_column *col)
{
	wb_mpobj	obj;

	wb_mp_next(cur, &obj);		/* the column's array header */
	wb_mp_next(cur, &obj);
	col->name.ptr = obj.v.raw.ptr;
	col->name.len = obj.v.raw.len;
	wb_mp_next(cur, &obj);
	col->type_oid = (uint32_t) obj.v.u;
	wb_mp_next(cur, &obj);
	col->type_name.ptr = obj.v.raw.ptr;
	col->type_name.len = obj.v.raw.len;
	wb_mp_next(cur, &obj);
	col->typmod = (obj.type == WB_MP_INT) ? (int32_t) obj.v.i : (int32_t) obj.v.u;
	wb_mp_next(cur, &obj);
	col->flags = (uint32_t) obj.v.u;
}

void
wb_record_next_value(wb_mpcur *cur, wb_value *val)
{
	val->unchanged_toast = false;
	val->timestamp_ext = 0;
	/* past the tuple's end (a caller's count gone wrong): a NULL, never garbage */
	if (wb_mp_next(cur, &val->obj) != WB_MP_OK)
	{
		val->obj.type = WB_MP_NIL;
		return;
	}
	if (val->obj.type != WB_MP_EXT)
		return;
	if (val->obj.v.raw.ext_type == WB_EXT_UNCHANGED_TOAST)
		val->unchanged_toast = true;
	else
	{
		uint64_t	bits = 0;

		for (int i = 0; i < WB_EXT_TIMESTAMP_LEN; i++)
			bits = (bits << 8) | (unsigned char) val->obj.v.raw.ptr[i];
		val->timestamp_ext = val->obj.v.raw.ext_type;
		val->timestamp = (int64_t) bits;
	}
}

uint32_t
wb_record_next_relid(wb_mpcur *cur)
{
	wb_mpobj	obj;

	wb_mp_next(cur, &obj);
	return (uint32_t) obj.v.u;
}
