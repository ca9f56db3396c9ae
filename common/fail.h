/*
 * The one-line error report of code that returns -errno with a why
 * (etcd_json, common/proc): format the line into the caller's buffer (if
 * it gave one) and return the -errno, so that a failure path is a single
 * `return fail_line(...)`.
 */
#ifndef REMORA_FAIL_H
#define REMORA_FAIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

__attribute__((format(printf, 4, 5))) static inline int
fail_line(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

#endif
