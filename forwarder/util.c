/*-------------------------------------------------------------------------
 *
 * util.c
 *		The clock, the allocation wrappers and wb_buf (see wb.h).  No
 *		libpq, no Kafka: the unit tests link it.
 *
 * IDENTIFICATION
 *		forwarder/util.c
 *
 *-------------------------------------------------------------------------
 */
#include "wb.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int64_t
wb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ------------------------------------------------------------ allocation */

static void
out_of_memory(size_t size)
{
	fprintf(stderr, "walbridged: out of memory (%zu bytes)\n", size);
	abort();
}

void *
xmalloc(size_t size)
{
	void	   *p = malloc(size ? size : 1);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void	   *p = calloc(n ? n : 1, size ? size : 1);

	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

void *
xrealloc(void *p, size_t size)
{
	void	   *q = realloc(p, size ? size : 1);

	if (q == NULL)
		out_of_memory(size);
	return q;
}

char *
xstrdup(const char *s)
{
	char	   *copy;

	if (s == NULL)
		return NULL;
	copy = strdup(s);
	if (copy == NULL)
		out_of_memory(strlen(s) + 1);
	return copy;
}

/* ----------------------------------------------------------------- wb_buf */

void
buf_reset(wb_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

/* Room for more bytes and the terminator. */
void
buf_reserve(wb_buf *b, size_t more)
{
	if (b->len + more + 1 > b->cap)
	{
		size_t		cap = b->cap ? b->cap : 256;

		while (cap < b->len + more + 1)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
}

void
buf_append(wb_buf *b, const char *s, size_t len)
{
	buf_reserve(b, len);
	memcpy(b->data + b->len, s, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void
buf_puts(wb_buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

void
buf_printf(wb_buf *b, const char *fmt,...)
{
	va_list		ap;
	int			n;

	/* usually it fits in what is left: format once */
	buf_reserve(b, 64);
	va_start(ap, fmt);
	n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	if ((size_t) n >= b->cap - b->len)
	{
		buf_reserve(b, (size_t) n);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, (size_t) n + 1, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t) n;
}

void
buf_free(wb_buf *b)
{
	free(b->data);
	memset(b, 0, sizeof(*b));
}
