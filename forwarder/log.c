/*-------------------------------------------------------------------------
 *
 * log.c
 *		Timestamped, levelled diagnostics to stderr, and secret redaction.
 *
 * IDENTIFICATION
 *		forwarder/log.c
 *
 *-------------------------------------------------------------------------
 */
#include "log.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static wb_log_level min_level = WB_LOG_INFO;
static char last_error[512];	/* for walbridge.status() */

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR"};

void
wb_log_set_level(wb_log_level level)
{
	min_level = level;
}

int
wb_log_parse_level(const char *name, wb_log_level *level)
{
	for (int i = 0; i <= WB_LOG_ERROR; i++)
	{
		if (strcasecmp(name, level_names[i]) == 0)
		{
			*level = (wb_log_level) i;
			return 0;
		}
	}
	return -1;
}

void
wb_log(wb_log_level level, const char *fmt,...)
{
	char		line[4096];
	char		stamp[32];
	struct timeval tv;
	struct tm	tm;
	va_list		ap;
	int			n;

	if (level < min_level)
		return;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);

	n = snprintf(line, sizeof(line), "%s.%03d UTC [%d] %s: ",
				 stamp, (int) (tv.tv_usec / 1000), (int) getpid(), level_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
	va_end(ap);
	if (level == WB_LOG_ERROR)
		snprintf(last_error, sizeof(last_error), "%s", line + n);

	/* one write per line, so lines from concurrent processes never mix */
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		n--;
	line[n++] = '\n';
	(void) !write(STDERR_FILENO, line, n);
}

int
wb_key_is_secret(const char *key)
{
	static const char *const words[] = {"password", "secret", "passphrase", "token", "key.pem",
		"sasl.oauthbearer.config", NULL};

	for (int i = 0; words[i] != NULL; i++)
		if (strcasestr(key, words[i]) != NULL)
			return 1;
	return 0;
}

/*
 * Masks the value of password=... (quoted or not) and the password of a
 * postgres:// URI.  Errs on the side of masking.
 */
const char *
wb_redact_conninfo(const char *conninfo, char *buf, size_t buflen)
{
	size_t		o = 0;
	const char *p = conninfo;
	const char *scheme_end = strstr(conninfo, "://");

	if (buflen == 0)
		return buf;

#define EMIT(c) do { if (o + 1 < buflen) buf[o++] = (c); } while (0)

	while (*p)
	{
		/* URI userinfo: scheme://user:password@host */
		if (scheme_end != NULL && p == scheme_end + 3)
		{
			const char *at = strchr(p, '@');
			const char *slash = strchr(p, '/');
			const char *colon = strchr(p, ':');

			if (at != NULL && (slash == NULL || at < slash) && colon != NULL && colon < at)
			{
				while (p <= colon)
					EMIT(*p++);
				for (const char *m = "***"; *m; m++)
					EMIT(*m);
				p = at;
				continue;
			}
		}
		/* keyword=value pairs: password and anything secret-looking */
		if ((p == conninfo || isspace((unsigned char) p[-1]) || p[-1] == '?' || p[-1] == '&') &&
			(strncasecmp(p, "password", 8) == 0))
		{
			const char *eq = p + 8;

			while (isspace((unsigned char) *eq))
				eq++;
			if (*eq == '=')
			{
				while (p <= eq)
					EMIT(*p++);
				while (isspace((unsigned char) *p))
					p++;
				if (*p == '\'')
				{
					p++;
					while (*p && *p != '\'')
						p += (*p == '\\' && p[1]) ? 2 : 1;
					if (*p)
						p++;
				}
				else
					while (*p && !isspace((unsigned char) *p) && *p != '&')
						p++;
				for (const char *m = "***"; *m; m++)
					EMIT(*m);
				continue;
			}
		}
		EMIT(*p++);
	}
	buf[o] = '\0';
#undef EMIT
	return buf;
}

/* The text of the last ERROR logged, "" if none. */
const char *
wb_log_last_error(void)
{
	return last_error;
}
