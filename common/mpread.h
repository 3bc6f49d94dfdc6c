/*-------------------------------------------------------------------------
 *
 * mpread.h
 *		A bounds-checked msgpack reader over a byte buffer.
 *
 * Reads one object header at a time and never allocates: strings, binary
 * and ext payloads are returned as pointers into the buffer, arrays and
 * maps as element counts (their elements follow).  Used by walbridge.decode()
 * in the server and by walbridged, so it must be safe on any input: every
 * read checks the remaining length first.
 *
 * IDENTIFICATION
 *		common/mpread.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WALBRIDGE_MPREAD_H
#define WALBRIDGE_MPREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum wb_mptype
{
	WB_MP_NIL,
	WB_MP_BOOL,
	WB_MP_UINT,					/* non-negative integer */
	WB_MP_INT,					/* negative integer */
	WB_MP_FLOAT32,
	WB_MP_FLOAT64,
	WB_MP_STR,
	WB_MP_BIN,
	WB_MP_ARRAY,
	WB_MP_MAP,
	WB_MP_EXT
} wb_mptype;

typedef struct wb_mpobj
{
	wb_mptype	type;
	union
	{
		bool		b;
		uint64_t	u;			/* WB_MP_UINT */
		int64_t		i;			/* WB_MP_INT */
		float		f32;
		double		f64;
		uint32_t	count;		/* WB_MP_ARRAY, WB_MP_MAP: elements follow */
		struct
		{
			const char *ptr;	/* points into the buffer, not terminated */
			uint32_t	len;
			int8_t		ext_type;	/* WB_MP_EXT only */
		}			raw;		/* WB_MP_STR, WB_MP_BIN, WB_MP_EXT */
	}			v;
} wb_mpobj;

typedef struct wb_mpcur
{
	const unsigned char *pos;	/* next byte to read */
	const unsigned char *start; /* for offsets in error messages */
	const unsigned char *end;	/* one past the last byte */
} wb_mpcur;

/* Results of the reader. */
#define WB_MP_OK			0
#define WB_MP_TRUNCATED		(-1)	/* buffer ends inside an object */
#define WB_MP_INVALID		(-2)	/* 0xc1, the one unused msgpack byte */
#define WB_MP_TOO_DEEP		(-3)	/* nesting beyond WB_MP_MAX_DEPTH */

/* Deepest nesting wb_mp_skip() follows before it gives up. */
#define WB_MP_MAX_DEPTH		64

extern void wb_mp_init(wb_mpcur *cur, const void *buf, size_t len);
extern int	wb_mp_next(wb_mpcur *cur, wb_mpobj *obj);
extern int	wb_mp_skip(wb_mpcur *cur);
extern size_t wb_mp_offset(const wb_mpcur *cur);
extern bool wb_mp_at_end(const wb_mpcur *cur);
extern const char *wb_mp_type_name(wb_mptype type);
extern const char *wb_mp_strerror(int rc);

#endif							/* WALBRIDGE_MPREAD_H */
