/*
 * test_sqltext.c: values become the text PostgreSQL reads back to the same
 * value (floats bit for bit, timestamps including BC and infinities).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "sqltext.h"
#include "unit.h"

static const char *
ts(int64_t usecs, bool zone)
{
	static wb_buf b;

	buf_reset(&b);
	sqltext_timestamp(&b, usecs, zone);
	return b.data;
}

static const char *
value(wb_value *v)
{
	static wb_buf b;

	buf_reset(&b);
	if (!sqltext_value(&b, v))
		return NULL;
	return b.data;
}

int
main(void)
{
	wb_value	v;

	/* values as PostgreSQL stores them: usecs since 2000-01-01 */
	CHECK(strcmp(ts(0, true), "2000-01-01 00:00:00.000000+00") == 0);
	CHECK(strcmp(ts(-1, false), "1999-12-31 23:59:59.999999") == 0);
	CHECK(strcmp(ts(INT64_C(5142896789012), true), "2000-02-29 12:34:56.789012+00") == 0);
	CHECK(strcmp(ts(-INT64_C(946684800000000), false), "1970-01-01 00:00:00.000000") == 0);
	/* PostgreSQL's lowest timestamp, 4714-11-24 BC 00:00 */
	CHECK(strcmp(ts(-INT64_C(211813488000000000), true), "4714-11-24 00:00:00.000000+00 BC") == 0);
	/* and its highest, 294276-12-31 23:59:59.999999 */
	CHECK(strcmp(ts(INT64_C(9223371331199999999), false), "294276-12-31 23:59:59.999999") == 0);
	CHECK(strcmp(ts(INT64_MAX, true), "infinity") == 0);
	CHECK(strcmp(ts(INT64_MIN, false), "-infinity") == 0);

	memset(&v, 0, sizeof(v));
	v.obj.type = WB_MP_NIL;
	CHECK(value(&v) == NULL);
	v.obj.type = WB_MP_FLOAT64;
	v.obj.v.f64 = 0.1;
	CHECK(strtod(value(&v), NULL) == 0.1);
	v.obj.v.f64 = NAN;
	CHECK(strcmp(value(&v), "NaN") == 0);
	v.obj.v.f64 = -INFINITY;
	CHECK(strcmp(value(&v), "-Infinity") == 0);
	v.obj.type = WB_MP_FLOAT32;
	v.obj.v.f32 = 3.4028235e38f;
	CHECK(strtof(value(&v), NULL) == 3.4028235e38f);
	v.obj.type = WB_MP_INT;
	v.obj.v.i = INT64_MIN;
	CHECK(strcmp(value(&v), "-9223372036854775808") == 0);
	v.obj.type = WB_MP_BOOL;
	v.obj.v.b = true;
	CHECK(strcmp(value(&v), "t") == 0);
	v.obj.type = WB_MP_BIN;
	v.obj.v.raw.ptr = "\x00\xff";
	v.obj.v.raw.len = 2;
	CHECK(strcmp(value(&v), "\\x00ff") == 0);
	v.unchanged_toast = true;
	CHECK(value(&v) == NULL);
	return unit_report();
}
