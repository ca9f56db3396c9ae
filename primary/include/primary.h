/*
 * The primary as the rest of remora sees it: the one header outside
 * primary/ may include. remora-primary (main.c) starts a fresh primary;
 * the backup starts one from its replica when it promotes itself
 * (backup/promote.c); both then run the loop and ask for its exit status.
 * docs/design.md describes the pipeline behind it.
 */
#ifndef REMORA_PRIMARY_PRIMARY_H
#define REMORA_PRIMARY_PRIMARY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

struct primary;
struct ctl;
struct uv_loop_s; /* uv_loop_t: this header needs no libuv */
struct node_status;
struct arbiter;
struct conn_cred;
struct primary_net;

/* Exit status of a primary replaced by one of a higher term. */
#define PRIMARY_EXIT_REPLACED 3

/* What a promotion starts from: a consistent replica. */
struct primary_image {
	int mem_fd;		 /* guest memory (mapped, never copied) */
	uint64_t mem_size;	 /* its size in bytes */
	const uint8_t *state;	 /* vCPU and device state of its epoch */
	size_t state_len;	 /* bytes at state */
	uint64_t console_offset; /* stream offset of the next console byte */
	int sink_fd;		 /* released console output goes here */
	/* arbiter = etcd: the lease won for the term (its callback is taken
	 * over; its maker frees it), surely held until lease_until_ns
	 * (now_ns clock); NULL without an arbiter */
	struct arbiter *arb;
	uint64_t lease_until_ns;
	/* [cluster] key_file's key or tls_* context (conn.h), or NULL */
	const struct conn_cred *key;
	/* the service's network, prepared (primary_net_prepare()), or NULL:
	 * made at promotion if the config has [service] */
	struct primary_net *net;
};

/*
 * A backup's share of [service] (none: *net NULL, 0): the service's
 * network namespace, plumbed with eth0 down, made when the backup starts
 * so that a promotion only restores into it and brings it up. The caller
 * frees it after the primary a promotion made (primary_free()). 0, or
 * -errno with one line in err that says what to change.
 */
int primary_net_prepare(const struct config *cfg, struct primary_net **net,
			char *err, size_t errlen);
void primary_net_free(struct primary_net *net);

/*
 * The check a backup's replica runs on every epoch's state blob: the one
 * of cfg's workload type (a VM's vCPU state, a process's image manifest
 * record).
 */
typedef int (*primary_state_check_fn)(const uint8_t *blob, size_t len,
				      uint64_t mem_size, char *why,
				      size_t whylen);
primary_state_check_fn primary_state_check(const struct config *cfg);

/*
 * What the workload type will need, checked when a daemon starts (a backup
 * needs it only at promotion, maybe months later): 0, or -errno with one
 * line in err that says what to change.
 */
int primary_preflight(const struct config *cfg, char *err, size_t errlen);

/*
 * remoractl status's workload line: the type and how its epochs are taken,
 * and, given the pause's median (us; 0: unknown), whether they run back to
 * back because a capture outlasts epoch_interval.
 */
void primary_workload_status(const struct config *cfg, double pause_us_p50,
			     char *buf, size_t len);

/* One line for the log: what runs ("guest PATH (ARGS), N MiB", ...). */
void primary_describe_workload(const struct config *cfg, char *buf, size_t len);

/* A zeroed primary (large: its statistics), or NULL. */
struct primary *primary_alloc(void);

/*
 * Makes ahead, on a backup, what a promotion from the memory in mem_fd
 * (mem_size bytes, a replica's memfd) would make but for the replica's
 * state: the VM with that memory registered, its vCPU and the pipeline's
 * buffers. A promotion from the same file then only loads the state and
 * starts. Call it again whenever the replica's memfd may have changed (a
 * sync replaces it): the same file keeps what was made, another rebuilds
 * it. Nothing for a workload type that has nothing to make ahead, or once
 * p was promoted. Returns 1 if it made one, 0 if there was nothing to do,
 * or -errno with one line in err (a promotion then makes everything
 * itself, as without).
 */
int primary_prepare(struct primary *p, const struct config *cfg, int mem_fd,
		    uint64_t mem_size, char *err, size_t errlen);

/*
 * The promotion entry point: makes a VM on the image's memory (or takes
 * the one primary_prepare() made on it), loads its
 * state and starts the pipeline as primary of term on loop, unprotected
 * until a backup attaches; the guest does not run yet (primary_run_guest).
 * vm_ns, if not NULL, gets the time spent making the VM. Returns 0, or a
 * negative errno with one line in err: then nothing runs, but handles of
 * p may be closing on the loop, so p is freed only after it has ended
 * (primary_free); p may be passed to another attempt meanwhile.
 */
int primary_promote(struct primary *p, struct uv_loop_s *loop,
		    const struct config *cfg, const struct config_node *self,
		    uint64_t term, const struct primary_image *img,
		    uint64_t *vm_ns, char *err, size_t errlen);

/*
 * Runs the guest. A guest that cannot start stops the primary (its loop
 * then ends with status 70); the reason is logged.
 */
void primary_run_guest(struct primary *p);

/* The control socket: the primary closes it when it stops. */
void primary_set_ctl(struct primary *p, struct ctl *ctl);

/*
 * SIGTERM or SIGINT: the first drains (a last epoch, acknowledged), a
 * second stops at once.
 */
void primary_signal(struct primary *p, int signum);

/* What remoractl status shows (status.h). */
void primary_status(struct primary *p, struct node_status *st);

/* After the loop ended: the process's exit status. */
int primary_exit_code(const struct primary *p);

/* After the loop ended: frees p and all it made (NULL is fine). */
void primary_free(struct primary *p);

#endif
