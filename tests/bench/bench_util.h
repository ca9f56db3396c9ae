/*
 * What every benchmark program shares: status lines and fatal errors on
 * stderr (stdout carries only the table or the JSON), a monotonic clock, and
 * splitmix64 for deterministic data. Define BENCH_PROG (the program's name)
 * before including it.
 */
#ifndef REMORA_BENCH_UTIL_H
#define REMORA_BENCH_UTIL_H

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "clock.h"

#ifndef BENCH_PROG
#error "define BENCH_PROG before including bench_util.h"
#endif

/* A benchmark that cannot vouch for its numbers prints none: exit 2. */
static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn, unused));

static void die(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs(BENCH_PROG ": error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(2);
}

static void status(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), unused));

static void status(const char *fmt, ...)
{
	va_list ap;

	fputs(BENCH_PROG ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static inline uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/*
 * Fills paths[k] from the arguments "names[k]=PATH" in argv[first..argc).
 * Returns the first argument that is not of that form, or NULL.
 */
static const char *named_paths(int argc, char **argv, int first,
			       const char *const *names, const char **paths,
			       int n) __attribute__((unused));

static const char *named_paths(int argc, char **argv, int first,
			       const char *const *names, const char **paths,
			       int n)
{
	for (int i = first; i < argc; i++) {
		int found = 0;

		for (int k = 0; k < n; k++) {
			size_t l = strlen(names[k]);

			if (strncmp(argv[i], names[k], l) == 0 &&
			    argv[i][l] == '=') {
				paths[k] = argv[i] + l + 1;
				found = 1;
			}
		}
		if (!found)
			return argv[i];
	}
	return NULL;
}

#define BENCH_UNUSED __attribute__((unused))

static BENCH_UNUSED void sleep_us(uint64_t us)
{
	struct timespec ts = {.tv_sec = (time_t)(us / 1000000),
			      .tv_nsec = (long)(us % 1000000) * 1000};

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static BENCH_UNUSED int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) of n sorted values; 0 when n is 0. */
static BENCH_UNUSED uint64_t quantile(const uint64_t *v, size_t n, double q)
{
	double x = q * (double)n;
	size_t r = (size_t)x;

	if ((double)r < x)
		r++; /* ceil, without libm */
	return n ? v[r ? (r > n ? n : r) - 1 : 0] : 0;
}

/* A JSON number, or null when not measured. */
static BENCH_UNUSED void jnum(const char *fmt, double v)
{
	if (isfinite(v))
		printf(fmt, v);
	else
		printf("null");
}

/* Memory that is really there: mapped, populated and written once. */
static BENCH_UNUSED uint8_t *alloc_bytes(size_t bytes, const char *what)
{
	void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap %zu bytes for %s: %s", bytes, what, strerror(errno));
	memset(p, 0xa5, bytes); /* fault it in for real */
	return p;
}

#endif
