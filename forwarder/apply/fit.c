/*-------------------------------------------------------------------------
 *
 * fit.c
 *		Whether a value's text fits a column's length or precision limit.
 *
 * The rules follow the server's input and assignment coercions, which are
 * what reject the value: varchar(n) and char(n) count characters (char(n)
 * accepts trailing spaces beyond n, which it drops), bit(n) needs exactly n
 * bits and varbit(n) at most n, numeric(p,s) allows p - s digits before
 * the decimal point (the fraction is rounded to s, never rejected).
 *
 * IDENTIFICATION
 *		forwarder/apply/fit.c
 *
 *-------------------------------------------------------------------------
 */
#include "fit.h"

#include <stdio.h>
#include <string.h>

#define VARHDRSZ	4

/* Characters in UTF-8 text (apply's client_encoding is UTF8). */
static size_t
utf8_chars(const char *s, size_t len)
{
	size_t		n = 0;

	for (size_t i = 0; i < len; i++)
		if (((unsigned char) s[i] & 0xc0) != 0x80)
			n++;
	return n;
}

/* Digits before the decimal point, leading zeros and sign left out. */
static int
integer_digits(const char *s)
{
	int			n = 0;

	if (*s == '-' || *s == '+')
		s++;
	while (*s == '0')
		s++;
	for (; *s >= '0' && *s <= '9'; s++)
		n++;
	return n;
}

bool
fit_check(uint32_t basetype, int32_t typmod, const char *text, char *why, size_t whylen)
{
	size_t		len = strlen(text);

	if (typmod < 0)
		return true;
	switch (basetype)
	{
		case WB_TYPE_VARCHAR:
		case WB_TYPE_BPCHAR:
			{
				size_t		max = (size_t) (typmod - VARHDRSZ);
				size_t		chars;

				/* char(n) drops trailing spaces that do not fit */
				if (basetype == WB_TYPE_BPCHAR)
					while (len > 0 && text[len - 1] == ' ')
						len--;
				chars = utf8_chars(text, len);
				if (chars <= max)
					return true;
				snprintf(why, whylen, "%zu characters", chars);
				return false;
			}
		case WB_TYPE_BIT:
		case WB_TYPE_VARBIT:
			{
				/* the peer sends bit strings as their output: one digit a bit */
				size_t		bits = len;

				if (basetype == WB_TYPE_BIT ? bits == (size_t) typmod : bits <= (size_t) typmod)
					return true;
				snprintf(why, whylen, "%zu bits", bits);
				return false;
			}
		case WB_TYPE_NUMERIC:
			{
				int32_t		t = typmod - VARHDRSZ;
				int			precision = (t >> 16) & 0xffff;
				int			scale = ((t & 0x7ff) ^ 1024) - 1024;
				int			digits;

				if (strcmp(text, "NaN") == 0 || strstr(text, "Infinity") != NULL)
					return true;	/* the server says what it thinks of those */
				digits = integer_digits(text);
				if (digits <= precision - scale)
					return true;
				snprintf(why, whylen, "%d digits before the decimal point", digits);
				return false;
			}
		default:
			return true;
	}
}
