/*
 * test_fit.c: which values fit a column's length or precision limit, so
 * that apply names the column a value is too large for.
 */
#include <string.h>

#include "fit.h"
#include "unit.h"

#define TYPMOD(n)			((n) + 4)
#define NUMERIC_TYPMOD(p, s) ((((p) << 16) | ((s) & 0x7ff)) + 4)

int
main(void)
{
	char		why[64];

	/* varchar(n), char(n): characters, not bytes */
	CHECK(fit_check(WB_TYPE_VARCHAR, TYPMOD(3), "abc", why, sizeof(why)));
	CHECK(!fit_check(WB_TYPE_VARCHAR, TYPMOD(3), "abcd", why, sizeof(why)));
	CHECK(strcmp(why, "4 characters") == 0);
	CHECK(fit_check(WB_TYPE_VARCHAR, TYPMOD(3), "日本語", why, sizeof(why)));
	CHECK(!fit_check(WB_TYPE_VARCHAR, TYPMOD(2), "日本語", why, sizeof(why)));
	CHECK(fit_check(WB_TYPE_VARCHAR, -1, "anything at all", why, sizeof(why)));
	/* char(n) drops the trailing spaces that do not fit */
	CHECK(fit_check(WB_TYPE_BPCHAR, TYPMOD(3), "ab      ", why, sizeof(why)));
	CHECK(!fit_check(WB_TYPE_BPCHAR, TYPMOD(3), "abcd ", why, sizeof(why)));
	/* bit(n) exactly n, varbit(n) at most n */
	CHECK(fit_check(WB_TYPE_BIT, 3, "101", why, sizeof(why)));
	CHECK(!fit_check(WB_TYPE_BIT, 3, "1010", why, sizeof(why)));
	CHECK(strcmp(why, "4 bits") == 0);
	CHECK(!fit_check(WB_TYPE_BIT, 3, "10", why, sizeof(why)));
	CHECK(fit_check(WB_TYPE_VARBIT, 3, "10", why, sizeof(why)));
	CHECK(!fit_check(WB_TYPE_VARBIT, 3, "1010", why, sizeof(why)));
	/* numeric(p,s): p - s digits before the point; the fraction is rounded */
	CHECK(fit_check(WB_TYPE_NUMERIC, NUMERIC_TYPMOD(12, 2), "9999999999.99", why, sizeof(why)));
	CHECK(fit_check(WB_TYPE_NUMERIC, NUMERIC_TYPMOD(12, 2), "-0.123456", why, sizeof(why)));
	CHECK(!fit_check(WB_TYPE_NUMERIC, NUMERIC_TYPMOD(12, 2), "12345678901.5", why, sizeof(why)));
	CHECK(strcmp(why, "11 digits before the decimal point") == 0);
	CHECK(fit_check(WB_TYPE_NUMERIC, NUMERIC_TYPMOD(4, 4), "0.1234", why, sizeof(why)));
	CHECK(!fit_check(WB_TYPE_NUMERIC, NUMERIC_TYPMOD(4, 4), "1.5", why, sizeof(why)));
	CHECK(fit_check(WB_TYPE_NUMERIC, NUMERIC_TYPMOD(3, -2), "12345", why, sizeof(why)));
	CHECK(fit_check(WB_TYPE_NUMERIC, NUMERIC_TYPMOD(4, 2), "NaN", why, sizeof(why)));
	/* other types have no limit here */
	CHECK(fit_check(25, TYPMOD(3), "a long text value", why, sizeof(why)));
	return unit_report();
}
