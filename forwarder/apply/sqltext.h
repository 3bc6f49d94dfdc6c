/*-------------------------------------------------------------------------
 *
 * sqltext.h
 *		A record's value as the text PostgreSQL's input functions read:
 *		how the apply side passes values as query parameters.  Pure.
 *
 * IDENTIFICATION
 *		forwarder/apply/sqltext.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_SQLTEXT_H
#define WB_SQLTEXT_H

#include <stdbool.h>
#include <stddef.h>

#include "record.h"
#include "wb.h"

/*
 * Append the value's input text (NUL-terminated) to b; returns false for
 * NULL (nothing appended) and for the unchanged-TOAST marker (check
 * val->unchanged_toast first).
 */
extern bool sqltext_value(wb_buf *b, const wb_value *val);

/* usecs since 2000-01-01 as timestamp text, UTC for with_zone. */
extern void sqltext_timestamp(wb_buf *b, int64_t usecs, bool with_zone);

/* A JSON string literal of s (for conflict records). */
extern void sqltext_json_string(wb_buf *b, const char *s, size_t len);

#endif							/* WB_SQLTEXT_H */
