/*-------------------------------------------------------------------------
 *
 * sqltext.c
 *		Values as input text for query parameters.
 *
 * Floats print with enough digits to read back the same bits, and NaN and
 * the infinities as PostgreSQL spells them; bytea as its hex form;
 * timestamps from microseconds in ISO form, years before 1 as BC.
 *
 * IDENTIFICATION
 *		forwarder/apply/sqltext.c
 *
 *-------------------------------------------------------------------------
 */
#include "sqltext.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Integers are most of what apply sends: no printf machinery for them. */
static void
append_uint(wb_buf *b, uint64_t v, bool negative)
{
	char		digits[24];
	int			n = 0;

	do
	{
		digits[sizeof(digits) - 1 - n++] = (char) ('0' + v % 10);
		v /= 10;
	} while (v > 0);
	if (negative)
		digits[sizeof(digits) - 1 - n++] = '-';
	buf_append(b, digits + sizeof(digits) - n, (size_t) n);
}

static void
append_float(wb_buf *b, double v, int digits)
{
	if (isnan(v))
		buf_puts(b, "NaN");
	else if (isinf(v))
		buf_puts(b, v > 0 ? "Infinity" : "-Infinity");
	else
		buf_printf(b, "%.*g", digits, v);
}

/* Days since 1970-01-01 to a proleptic Gregorian date (year 0 = 1 BC). */
static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t		era,
				doe,
				yoe,
				doy,
				mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int) (doy - (153 * mp + 2) / 5 + 1);
	*m = (int) (mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

/* Days from 1970-01-01 to 2000-01-01, PostgreSQL's epoch. */
#define PG_EPOCH_DAYS 10957

void
sqltext_timestamp(wb_buf *b, int64_t usecs, bool with_zone)
{
	int64_t		days,
				rem,
				year;
	int			month,
				day;

	if (usecs == INT64_MAX)
	{
		buf_puts(b, "infinity");
		return;
	}
	if (usecs == INT64_MIN)
	{
		buf_puts(b, "-infinity");
		return;
	}
	days = usecs / INT64_C(86400000000);
	rem = usecs % INT64_C(86400000000);
	if (rem < 0)
	{
		rem += INT64_C(86400000000);
		days--;
	}
	civil_from_days(days + PG_EPOCH_DAYS, &year, &month, &day);
	buf_printf(b, "%04" PRId64 "-%02d-%02d %02d:%02d:%02d.%06d%s%s",
			   year > 0 ? year : 1 - year, month, day,
			   (int) (rem / INT64_C(3600000000)), (int) (rem / 60000000 % 60),
			   (int) (rem / 1000000 % 60), (int) (rem % 1000000),
			   with_zone ? "+00" : "", year > 0 ? "" : " BC");
}

bool
sqltext_value(wb_buf *b, const wb_value *val)
{
	const wb_mpobj *o = &val->obj;

	if (val->unchanged_toast)
		return false;
	if (val->timestamp_ext != 0)
	{
		sqltext_timestamp(b, val->timestamp, val->timestamp_ext == WB_EXT_TIMESTAMPTZ);
		return true;
	}
	switch (o->type)
	{
		case WB_MP_NIL:
			return false;
		case WB_MP_BOOL:
			buf_puts(b, o->v.b ? "t" : "f");
			return true;
		case WB_MP_UINT:
			append_uint(b, o->v.u, false);
			return true;
		case WB_MP_INT:
			/* the reader keeps this for negatives; -(v + 1) + 1 holds INT64_MIN */
			if (o->v.i < 0)
				append_uint(b, (uint64_t) (-(o->v.i + 1)) + 1, true);
			else
				append_uint(b, (uint64_t) o->v.i, false);
			return true;
		case WB_MP_FLOAT32:
			append_float(b, o->v.f32, 9);
			return true;
		case WB_MP_FLOAT64:
			append_float(b, o->v.f64, 17);
			return true;
		case WB_MP_BIN:
			{
				static const char hex[] = "0123456789abcdef";
				char	   *out;

				buf_reserve(b, 2 + 2 * (size_t) o->v.raw.len);
				out = b->data + b->len;
				*out++ = '\\';
				*out++ = 'x';
				for (uint32_t i = 0; i < o->v.raw.len; i++)
				{
					unsigned char c = (unsigned char) o->v.raw.ptr[i];

					*out++ = hex[c >> 4];
					*out++ = hex[c & 15];
				}
				*out = '\0';
				b->len = (size_t) (out - b->data);
			}
			return true;
		case WB_MP_STR:
			buf_append(b, o->v.raw.ptr, o->v.raw.len);
			return true;
		default:
			return false;		/* arrays, maps: refused by the parser */
	}
}

void
sqltext_json_string(wb_buf *b, const char *s, size_t len)
{
	buf_puts(b, "\"");
	for (size_t i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) s[i];

		if (c == '"' || c == '\\')
		{
			char		esc[2] = {'\\', (char) c};

			buf_append(b, esc, 2);
		}
		else if (c < 0x20)
			buf_printf(b, "\\u%04x", c);
		else
			buf_append(b, (const char *) &s[i], 1);
	}
	buf_puts(b, "\"");
}
