/*
 * Output commit for the service's packets, shared by two threads: the
 * loop thread reads the gate (netgate.h) as the kernel queues packets and
 * releases them at each Ack; a process workload's dump thread closes the
 * epoch while the service is frozen. A mutex orders the two; each call is
 * short (one socket read, or one batch verdict), so neither waits long.
 *
 * The calls mirror netgate.h's (same returns; why() is the gate's last
 * failure).
 */
#ifndef REMORA_PRIMARY_NETOUT_H
#define REMORA_PRIMARY_NETOUT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "netgate.h"

struct netout {
	pthread_mutex_t lock;
	struct netgate g;
	int open;
};

/* Opens the gate on the namespace netns_fd (netgate_open()). */
int netout_open(struct netout *n, int netns_fd, size_t max_held_bytes,
		char *err, size_t errlen);

/* The gate's socket, for the loop to poll (POLLIN). */
int netout_fd(const struct netout *n);

/* Loop thread: reads what the kernel queued (packets, or -errno). */
int netout_read(struct netout *n);

/*
 * Dump thread, the service frozen and before its state is dumped: reads
 * what is queued (sent before the freeze) and closes epoch on it. 0 or
 * -errno.
 */
int netout_close_epoch(struct netout *n, uint64_t epoch);

/* Releases closed epochs <= acked. 0 or -errno. */
int netout_release(struct netout *n, uint64_t acked);
void netout_reopen(struct netout *n);
/* Unprotected: out now. Replaced: never out. 0 or -errno. */
int netout_flush(struct netout *n);
int netout_discard(struct netout *n);

size_t netout_held_bytes(struct netout *n);
int netout_full(struct netout *n);

/* A copy of the gate's last failure, one line. */
void netout_why(struct netout *n, char *buf, size_t len);

/* Removes the gate (packets then flow directly) and frees it. */
void netout_close(struct netout *n);

#endif
