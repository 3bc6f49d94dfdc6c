/*-------------------------------------------------------------------------
 *
 * log.h
 *		The forwarder's one logging module: every diagnostic goes through
 *		wb_log(), to stderr, with a timestamp and a level.
 *
 * IDENTIFICATION
 *		forwarder/log.h
 *
 *-------------------------------------------------------------------------
 */
#ifndef WB_LOG_H
#define WB_LOG_H

#include <stddef.h>

typedef enum wb_log_level
{
	WB_LOG_DEBUG,
	WB_LOG_INFO,
	WB_LOG_WARNING,
	WB_LOG_ERROR
} wb_log_level;

extern void wb_log(wb_log_level level, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void wb_log_set_level(wb_log_level level);
extern const char *wb_log_last_error(void);
extern int	wb_log_parse_level(const char *name, wb_log_level *level);

/*
 * Copy text into buf with every secret masked: password=... in a libpq
 * connection string, user:password@ in a URI.  What a log line shows of a
 * connection string always goes through here.
 */
extern const char *wb_redact_conninfo(const char *conninfo, char *buf, size_t buflen);

/* Whether a configuration key names a secret (its value is never logged). */
extern int	wb_key_is_secret(const char *key);

#endif							/* WB_LOG_H */
