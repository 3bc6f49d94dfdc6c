/*-------------------------------------------------------------------------
 *
 * wb.h
 *		What every part of walbridged shares: result codes, the clock, the
 *		LSN format, a growable text buffer and the allocation wrappers
 *		(which abort on out-of-memory, so no caller checks for NULL).
 *
 * IDENTIFICATION
 *		forwarder/wb.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_H
#define WB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Results of functions that log their own failure. */
#define WB_OK		0
#define WB_ERR		(-1)

/* An LSN as PostgreSQL prints it: printf(WB_LSN_FORMAT, WB_LSN_ARGS(lsn)) */
#define WB_LSN_FORMAT "%X/%X"
#define WB_LSN_ARGS(lsn) ((unsigned int) ((lsn) >> 32)), ((unsigned int) (lsn))

/* Monotonic clock, microseconds. */
extern int64_t wb_now_us(void);

/* Allocation: never NULL (abort on out-of-memory); xstrdup(NULL) is NULL. */
extern void *xmalloc(size_t size);
extern void *xcalloc(size_t n, size_t size);
extern void *xrealloc(void *p, size_t size);
extern char *xstrdup(const char *s);

/* A growable text buffer; {0} is an empty one; data is NUL-terminated. */
typedef struct wb_buf
{
	char	   *data;
	size_t		len;
	size_t		cap;
} wb_buf;

extern void buf_reset(wb_buf *b);
extern void buf_reserve(wb_buf *b, size_t more);
extern void buf_append(wb_buf *b, const char *s, size_t len);
extern void buf_puts(wb_buf *b, const char *s);
extern void buf_printf(wb_buf *b, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void buf_free(wb_buf *b);

#endif							/* WB_H */
