/*-------------------------------------------------------------------------
 *
 * mpread.c
 *		A bounds-checked msgpack reader over a byte buffer.
 *
 * The msgpack wire format is big-endian; we assemble integers byte by byte
 * so alignment and host byte order never matter.
 *
 * IDENTIFICATION
 *		common/mpread.c
 *
 *-------------------------------------------------------------------------
 */
#include "mpread.h"

#include <string.h>

static uint64_t
read_be(const unsigned char *p, int nbytes)
{
	uint64_t	v = 0;

	for (int i = 0; i < nbytes; i++)
		v = (v << 8) | p[i];
	return v;
}

void
wb_mp_init(wb_mpcur *cur, const void *buf, size_t len)
{
	cur->start = (const unsigned char *) buf;
	cur->pos = cur->start;
	cur->end = cur->start + len;
}

size_t
wb_mp_offset(const wb_mpcur *cur)
{
	return (size_t) (cur->pos - cur->start);
}

bool
wb_mp_at_end(const wb_mpcur *cur)
{
	return cur->pos >= cur->end;
}

/*
 * Take nbytes of header or payload, or fail without moving when the buffer
 * is shorter.
 */
static const unsigned char *
take(wb_mpcur *cur, size_t nbytes)
{
	const unsigned char *p = cur->pos;

	if ((size_t) (cur->end - cur->pos) < nbytes)
		return NULL;
	cur->pos += nbytes;
	return p;
}

/* A str, bin or ext payload of len bytes, with its length prefix read. */
static int
take_raw(wb_mpcur *cur, wb_mpobj *obj, wb_mptype type, uint64_t len)
{
	const unsigned char *p = take(cur, (size_t) len);

	if (p == NULL)
		return WB_MP_TRUNCATED;
	obj->type = type;
	obj->v.raw.ptr = (const char *) p;
	obj->v.raw.len = (uint32_t) len;
	return WB_MP_OK;
}

/* Length prefix of nbytes, then a payload of that length. */
static int
take_sized(wb_mpcur *cur, wb_mpobj *obj, wb_mptype type, int nbytes)
{
	const unsigned char *p = take(cur, nbytes);

	if (p == NULL)
		return WB_MP_TRUNCATED;
	return take_raw(cur, obj, type, read_be(p, nbytes));
}

/* ext: length prefix of nbytes (0 for fixext), a type byte, the payload. */
static int
take_ext(wb_mpcur *cur, wb_mpobj *obj, int nbytes, uint32_t fixed_len)
{
	const unsigned char *p;
	uint64_t	len = fixed_len;
	int8_t		ext_type;
	int			rc;

	if (nbytes > 0)
	{
		if ((p = take(cur, nbytes)) == NULL)
			return WB_MP_TRUNCATED;
		len = read_be(p, nbytes);
	}
	if ((p = take(cur, 1)) == NULL)
		return WB_MP_TRUNCATED;
	ext_type = (int8_t) p[0];
	rc = take_raw(cur, obj, WB_MP_EXT, len);
	obj->v.raw.ext_type = ext_type;
	return rc;
}

/* A fixed-width number whose tag byte has been read. */
static int
take_number(wb_mpcur *cur, wb_mpobj *obj, unsigned char tag)
{
	static const int widths[] = {4, 8, 1, 2, 4, 8, 1, 2, 4, 8};	/* 0xca..0xd3 */
	int			width = widths[tag - 0xca];
	const unsigned char *p = take(cur, width);
	uint64_t	raw;

	if (p == NULL)
		return WB_MP_TRUNCATED;
	raw = read_be(p, width);

	switch (tag)
	{
		case 0xca:
			{
				uint32_t	bits = (uint32_t) raw;

				obj->type = WB_MP_FLOAT32;
				memcpy(&obj->v.f32, &bits, sizeof(bits));
				break;
			}
		case 0xcb:
			obj->type = WB_MP_FLOAT64;
			memcpy(&obj->v.f64, &raw, sizeof(raw));
			break;
		case 0xcc:
		case 0xcd:
		case 0xce:
		case 0xcf:
			obj->type = WB_MP_UINT;
			obj->v.u = raw;
			break;
		default:
			{
				/* 0xd0..0xd3: sign-extend from the encoded width */
				int			shift = 64 - 8 * width;
				int64_t		value = (int64_t) (raw << shift) >> shift;

				if (value >= 0)
				{
					obj->type = WB_MP_UINT;
					obj->v.u = (uint64_t) value;
				}
				else
				{
					obj->type = WB_MP_INT;
					obj->v.i = value;
				}
				break;
			}
	}
	return WB_MP_OK;
}

static int
take_count(wb_mpcur *cur, wb_mpobj *obj, wb_mptype type, int nbytes)
{
	const unsigned char *p = take(cur, nbytes);

	if (p == NULL)
		return WB_MP_TRUNCATED;
	obj->type = type;
	obj->v.count = (uint32_t) read_be(p, nbytes);
	return WB_MP_OK;
}

/*
 * Read the next object's header (and payload, for scalars, str, bin and
 * ext).  On failure the cursor is left where the object started.
 */
int
wb_mp_next(wb_mpcur *cur, wb_mpobj *obj)
{
	const unsigned char *startpos = cur->pos;
	const unsigned char *p = take(cur, 1);
	unsigned char tag;
	int			rc;

	if (p == NULL)
		return WB_MP_TRUNCATED;
	tag = *p;

	if (tag <= 0x7f)
	{
		obj->type = WB_MP_UINT;
		obj->v.u = tag;
		return WB_MP_OK;
	}
	if (tag >= 0xe0)
	{
		obj->type = WB_MP_INT;
		obj->v.i = (int8_t) tag;
		return WB_MP_OK;
	}
	if (tag <= 0x8f)
	{
		obj->type = WB_MP_MAP;
		obj->v.count = tag & 0x0f;
		return WB_MP_OK;
	}
	if (tag <= 0x9f)
	{
		obj->type = WB_MP_ARRAY;
		obj->v.count = tag & 0x0f;
		return WB_MP_OK;
	}
	if (tag <= 0xbf)
		rc = take_raw(cur, obj, WB_MP_STR, tag & 0x1f);
	else
	{
		switch (tag)
		{
			case 0xc0:
				obj->type = WB_MP_NIL;
				return WB_MP_OK;
			case 0xc2:
			case 0xc3:
				obj->type = WB_MP_BOOL;
				obj->v.b = (tag == 0xc3);
				return WB_MP_OK;
			case 0xc4:
				rc = take_sized(cur, obj, WB_MP_BIN, 1);
				break;
			case 0xc5:
				rc = take_sized(cur, obj, WB_MP_BIN, 2);
				break;
			case 0xc6:
				rc = take_sized(cur, obj, WB_MP_BIN, 4);
				break;
			case 0xc7:
				rc = take_ext(cur, obj, 1, 0);
				break;
			case 0xc8:
				rc = take_ext(cur, obj, 2, 0);
				break;
			case 0xc9:
				rc = take_ext(cur, obj, 4, 0);
				break;
			case 0xd4:
			case 0xd5:
			case 0xd6:
			case 0xd7:
			case 0xd8:
				rc = take_ext(cur, obj, 0, 1u << (tag - 0xd4));
				break;
			case 0xd9:
				rc = take_sized(cur, obj, WB_MP_STR, 1);
				break;
			case 0xda:
				rc = take_sized(cur, obj, WB_MP_STR, 2);
				break;
			case 0xdb:
				rc = take_sized(cur, obj, WB_MP_STR, 4);
				break;
			case 0xdc:
				rc = take_count(cur, obj, WB_MP_ARRAY, 2);
				break;
			case 0xdd:
				rc = take_count(cur, obj, WB_MP_ARRAY, 4);
				break;
			case 0xde:
				rc = take_count(cur, obj, WB_MP_MAP, 2);
				break;
			case 0xdf:
				rc = take_count(cur, obj, WB_MP_MAP, 4);
				break;
			case 0xc1:
				rc = WB_MP_INVALID;
				break;
			default:
				/* 0xca..0xd3 */
				rc = take_number(cur, obj, tag);
				break;
		}
	}
	if (rc != WB_MP_OK)
		cur->pos = startpos;
	return rc;
}

/*
 * Skip one whole object, nested ones included.  Iterative, with a count of
 * elements still owed, so hostile nesting cannot exhaust the stack; the
 * depth limit only bounds how much we accept.
 */
int
wb_mp_skip(wb_mpcur *cur)
{
	uint64_t	pending[WB_MP_MAX_DEPTH + 1];
	int			depth = 0;
	const unsigned char *startpos = cur->pos;

	pending[0] = 1;
	while (depth >= 0)
	{
		wb_mpobj	obj;
		int			rc;

		if (pending[depth] == 0)
		{
			depth--;
			continue;
		}
		pending[depth]--;
		if ((rc = wb_mp_next(cur, &obj)) != WB_MP_OK)
		{
			cur->pos = startpos;
			return rc;
		}
		if (obj.type == WB_MP_ARRAY || obj.type == WB_MP_MAP)
		{
			if (depth == WB_MP_MAX_DEPTH)
			{
				cur->pos = startpos;
				return WB_MP_TOO_DEEP;
			}
			pending[++depth] = (obj.type == WB_MP_MAP) ?
				2 * (uint64_t) obj.v.count : obj.v.count;
		}
	}
	return WB_MP_OK;
}

const char *
wb_mp_type_name(wb_mptype type)
{
	switch (type)
	{
		case WB_MP_NIL:
			return "nil";
		case WB_MP_BOOL:
			return "bool";
		case WB_MP_UINT:
			return "unsigned integer";
		case WB_MP_INT:
			return "negative integer";
		case WB_MP_FLOAT32:
			return "float32";
		case WB_MP_FLOAT64:
			return "float64";
		case WB_MP_STR:
			return "str";
		case WB_MP_BIN:
			return "bin";
		case WB_MP_ARRAY:
			return "array";
		case WB_MP_MAP:
			return "map";
		case WB_MP_EXT:
			return "ext";
	}
	return "unknown";
}

const char *
wb_mp_strerror(int rc)
{
	switch (rc)
	{
		case WB_MP_OK:
			return "no error";
		case WB_MP_TRUNCATED:
			return "data ends inside a msgpack object";
		case WB_MP_INVALID:
			return "invalid msgpack byte 0xc1";
		case WB_MP_TOO_DEEP:
			return "msgpack nesting too deep";
	}
	return "unknown msgpack error";
}
