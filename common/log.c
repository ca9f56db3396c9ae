/*
 * Daemon logging (see log.h). The identity is the one piece of process-wide
 * state: written once by log_init() before threads start.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char log_ident[96] = "remora";
static enum log_level log_min = LOG_INFO;

void log_init(const char *prog, const char *node, enum log_level min)
{
	if (node && *node)
		snprintf(log_ident, sizeof(log_ident), "%s[%s]", prog, node);
	else
		snprintf(log_ident, sizeof(log_ident), "%s", prog);
	log_min = min;
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt,
	     ...)
{
	static const char *const names[] = {"debug", "info", "warn", "error"};
	char buf[2048];
	struct timespec ts;
	struct tm tm;
	size_t n;
	va_list ap;
	int k;

	if (level < log_min)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(buf + n, sizeof(buf) - n,
		     ".%03ldZ %s %s: ", ts.tv_nsec / 1000000, log_ident,
		     names[level]);
	n += (size_t)k;
	va_start(ap, fmt);
	k = vsnprintf(buf + n, sizeof(buf) - n, fmt, ap);
	va_end(ap);
	n = k < 0 ? n : n + (size_t)k;
	if (n > sizeof(buf) - 64)
		n = sizeof(buf) - 64;
	if (level == LOG_ERROR) {
		const char *base = strrchr(file, '/');

		k = snprintf(buf + n, sizeof(buf) - n, " (%s:%d)",
			     base ? base + 1 : file, line);
		n += (size_t)k;
	}
	buf[n++] = '\n';
	/* One write per line: concurrent lines never interleave. */
	if (write(STDERR_FILENO, buf, n) < 0)
		return;
}
