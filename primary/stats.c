/*
 * Pipeline statistics (stats.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "clock.h"
#include "stats.h"

void stats_sample(struct samples *s, uint64_t ns)
{
	uint64_t us = ns / 1000;

	s->v[s->n % STATS_SAMPLES] =
		us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	s->n++;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

void stats_percentiles(const struct samples *s, size_t recent, const double *q,
		       double *out, int nq)
{
	size_t n = s->n < STATS_SAMPLES ? (size_t)s->n : STATS_SAMPLES;
	uint32_t *v;
	size_t i;

	if (n > recent)
		n = recent;
	v = n ? malloc(n * sizeof(*v)) : NULL;
	for (i = 0; v && i < n; i++)
		v[i] = s->v[(s->n - n + i) % STATS_SAMPLES];
	if (v)
		qsort(v, n, sizeof(*v), cmp_u32);
	for (int k = 0; k < nq; k++)
		out[k] = v ? v[(size_t)(q[k] * (double)(n - 1) + 0.5)] : 0;
	free(v);
}

static double percentile(const struct samples *s, double q)
{
	double r;

	stats_percentiles(s, STATS_SAMPLES, &q, &r, 1);
	return r;
}

double stats_epochs_per_s(const struct primary_stats *s)
{
	double secs = (double)(s->last_ack_ns - s->first_ack_ns) / 1e9;

	return secs > 0 && s->epochs > 1 ? (double)(s->epochs - 1) / secs : 0;
}

int stats_write(const struct primary_stats *st, const char *path)
{
	static const double q[] = {0.5, 0.99, 1.0};
	double secs = (double)(st->last_ack_ns - st->first_ack_ns) / 1e9;
	FILE *f = fopen(path, "w");
	double pause[3];

	if (!f)
		return -errno;
	stats_percentiles(&st->pause, STATS_SAMPLES, q, pause, 3);
	fprintf(f,
		"{\"epochs\": %llu, \"waits\": %llu, \"early_epochs\": %llu, "
		"\"full_epochs\": %llu, \"staging_grown\": %llu, "
		"\"hot_pages\": %llu, "
		"\"dirty_pages\": %llu, "
		"\"sent_pages\": %llu, \"raw_bytes\": %llu, "
		"\"wire_bytes\": %llu, \"sync_bytes\": %llu, "
		"\"capture_bytes\": %llu, "
		"\"seconds\": %.6f, \"epochs_per_s\": %.3f, "
		"\"pause_us_p50\": %.1f, \"pause_us_p99\": %.1f, "
		"\"pause_us_max\": %.1f, \"harvest_us_p50\": %.1f, "
		"\"copy_us_p50\": %.1f, \"ack_us_p50\": %.1f, "
		"\"ack_us_p99\": %.1f, \"encode_us_p50\": %.1f, "
		"\"sent_us_p50\": %.1f, \"sync_s\": %.6f, "
		"\"sync_rounds\": %u, \"sync_pages\": %llu, "
		"\"guest_run_s\": %.6f}\n",
		(unsigned long long)st->epochs, (unsigned long long)st->waits,
		(unsigned long long)st->early_epochs,
		(unsigned long long)st->full_epochs,
		(unsigned long long)st->staging_grown,
		(unsigned long long)st->hot_pages,
		(unsigned long long)st->dirty_pages,
		(unsigned long long)st->sent_pages,
		(unsigned long long)st->raw_bytes,
		(unsigned long long)st->wire_bytes,
		(unsigned long long)st->sync_bytes,
		(unsigned long long)st->capture_bytes, secs,
		stats_epochs_per_s(st), pause[0], pause[1], pause[2],
		percentile(&st->harvest, 0.5), percentile(&st->copy, 0.5),
		percentile(&st->ack, 0.5), percentile(&st->ack, 0.99),
		percentile(&st->encode, 0.5), percentile(&st->sent, 0.5),
		(double)st->sync_ns / 1e9, st->sync_rounds,
		(unsigned long long)st->sync_pages,
		(double)((st->guest_end_ns ? st->guest_end_ns : now_ns()) -
			 st->guest_start_ns) /
			1e9);
	return fclose(f) ? -errno : 0;
}
