/*
 * The copy inside the pause, shared with a helper thread: while the vCPU is
 * stopped its CPU is free, and copying dirty pages out of guest memory is
 * bound by one core's memory bandwidth. Work goes out in small chunks that
 * either thread takes, so a helper that wakes late costs nothing: the
 * calling thread simply copies more.
 */
#ifndef REMORA_PRIMARY_COPIER_H
#define REMORA_PRIMARY_COPIER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

struct copier {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int running, quit;
	uint64_t gen; /* bumped per job, under lock */
	/* the job: written before next is reset (release) */
	const uint8_t *mem;
	const uint64_t *pfns;
	uint8_t *dst;
	size_t n;
	uint64_t next; /* atomic: job gen << 32 | first page not taken */
	size_t done;   /* atomic: pages copied */
};

/* Starts the helper; without one (0 returned otherwise) copies run inline. */
int copier_start(struct copier *c);
void copier_stop(struct copier *c);

/* Copies page pfns[i] of mem to dst + i pages, for i < n. */
void copier_copy(struct copier *c, const uint8_t *mem, const uint64_t *pfns,
		 size_t n, uint8_t *dst);

#endif
