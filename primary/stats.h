/*
 * The primary's pipeline statistics: counters and the last samples of the
 * pause, its parts and the Ack latency, for remoractl status, --stats and
 * the benchmarks. Loop thread only.
 */
#ifndef REMORA_PRIMARY_STATS_H
#define REMORA_PRIMARY_STATS_H

#include <stddef.h>
#include <stdint.h>

/* Samples for percentiles: the last STATS_SAMPLES values. */
#define STATS_SAMPLES 65536u
/* remoractl status: the pause and Ack percentiles of the last this many. */
#define STATUS_SAMPLES 4096u

struct samples {
	uint32_t v[STATS_SAMPLES]; /* microseconds */
	uint64_t n;		   /* samples taken */
};

struct primary_stats {
	uint64_t epochs; /* checkpoint epochs acknowledged */
	uint64_t waits;	 /* ticks that found the pipeline full */
	/* ticks brought forward (the epoch starts then, or once the
	 * pipeline has room): held packets at the bound */
	uint64_t early_epochs;
	/* ticks brought forward: the dirty pages neared max_epoch_size;
	 * captures that grew their slot in the pause */
	uint64_t full_epochs, staging_grown;
	uint64_t hot_pages;   /* hot pages, summed over checkpoints (vm.h) */
	uint64_t dirty_pages; /* pages captured by checkpoints */
	uint64_t sent_pages;  /* pages carried (not UNCHANGED) */
	uint64_t raw_bytes, wire_bytes; /* checkpoint epochs */
	uint64_t capture_bytes;		/* what their captures read */
	uint64_t sync_bytes;		/* wire bytes of pre-copy rounds */
	uint64_t sync_pages, sync_ns;	/* the last sync: pages, duration */
	unsigned sync_rounds;		/* the last sync's pre-copy rounds */
	uint64_t sync_start_ns, last_progress_ns;
	uint64_t guest_start_ns, guest_end_ns;
	uint64_t first_ack_ns, last_ack_ns;
	/* pause and its parts; encoding; guest resumed .. the kernel has
	 * the epoch's bytes (sent), .. its Ack (ack) */
	struct samples pause, ack, harvest, copy, encode, sent;
};

/* Adds one duration (ns; kept in microseconds). */
void stats_sample(struct samples *s, uint64_t ns);

/*
 * Percentiles q[0..nq) (0..1) of the last `recent` samples, in
 * microseconds, with one sort; 0 if there are none.
 */
void stats_percentiles(const struct samples *s, size_t recent, const double *q,
		       double *out, int nq);

/* Checkpoints per second between the first and the last Ack. */
double stats_epochs_per_s(const struct primary_stats *s);

/* Writes the statistics as one JSON object. 0 or -errno. */
int stats_write(const struct primary_stats *s, const char *path);

#endif
