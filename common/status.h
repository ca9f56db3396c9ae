/*
 * A daemon's status as the operator sees it (remoractl status), and the
 * control socket's request grammar. Both daemons fill a struct node_status;
 * status_format() turns it into the reply, as a table for people or as one
 * JSON object for scripts (the keys are in docs/operations.md), and
 * status_parse_request() reads what a client sent:
 *
 *   request = *SP "status" [ 1*SP "json" ] *SP LF
 *
 * with SP a space and LF a newline: at most STATUS_REQUEST_MAX bytes with
 * the newline, and nothing but printable ASCII before it.
 *
 * Pure code: no libuv, never exits; the request comes from a socket, so it
 * is fuzzed (tests/fuzz/fuzz_ctl_request.c).
 */
#ifndef REMORA_STATUS_H
#define REMORA_STATUS_H

#include <stddef.h>
#include <stdint.h>

/* A request line, with its newline. */
#define STATUS_REQUEST_MAX 256
/*
 * Any reply fits here, whatever the struct holds (every string field
 * escaped at its worst, every double at its longest): the control socket
 * formats into a buffer of this size and remoractl refuses longer replies.
 */
#define STATUS_REPLY_MAX 8192
/* A request's error message, with the NUL. */
#define STATUS_ERR_MAX 128

enum ctl_cmd {
	CTL_CMD_STATUS = 1, /* "status": what struct node_status holds */
};

struct node_status {
	/* This daemon's [node NAME]. */
	char node[64];
	/* "primary" | "backup". */
	char role[16];
	/* The primary's term this node knows. */
	uint64_t term;
	/* protected, degraded, syncing, waiting, promoting, draining,
	 * connecting, replicating ... (the daemon's own state names) */
	char state[24];
	/* Primary: the last epoch captured; backup: the replica's epoch. */
	uint64_t epoch;
	/* The last epoch acknowledged. */
	uint64_t acked;
	/* Console output held until the epoch that made it is acknowledged. */
	uint64_t held_bytes;
	/* Guest pause per epoch, in microseconds. */
	double pause_us_p50, pause_us_p99;
	/* Primary: from the end of an epoch's pause to its Ack, in
	 * microseconds: how long the output it made was held. */
	double ack_us_p50, ack_us_p99;
	/* Rates, as the daemon measures them. */
	double epochs_per_s, wire_mb_per_s;
	/* Page bytes over wire bytes. */
	double compression_ratio;
	/* The attached peer node, "" when none. */
	char peer[64];
	/* Since the peer's last frame; -1 unknown. */
	int64_t since_last_frame_ms;
	uint64_t heartbeat_timeout_ms;
	/* What is replicated and how: "kvm micro-VM", "process, full CRIU
	 * dumps" (and whether epochs run back to back). */
	char workload[96];
};

/*
 * Formats s into buf: with json, one JSON object on one line (strings
 * escaped, non-ASCII bytes as \u00XX, doubles with three decimals and
 * non-finite ones as null);
 * otherwise an aligned table, one "key   value" line per topic. Either
 * ends with a newline, and is NUL-terminated. String fields are read up to
 * their size even when they lack a NUL. Returns the length (without the
 * NUL), or -ENOSPC when buf is too small (buf then holds a truncated,
 * still NUL-terminated text when len > 0); never writes past len.
 */
int status_format(const struct node_status *s, int json, char *buf, size_t len);

/*
 * Parses one request of len bytes (not NUL-terminated; the newline is its
 * last byte). Returns 0 with *cmd and *json set, or -EINVAL with one
 * printable line in err (NUL-terminated, cut to errlen) saying what is
 * wrong and what to send instead: "unknown command 'xyz'; try: status
 * [json]". *cmd and *json are left alone on error.
 */
int status_parse_request(const char *line, size_t len, enum ctl_cmd *cmd,
			 int *json, char *err, size_t errlen);

#endif
