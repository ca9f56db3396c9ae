/*
 * A network link that goes when its owner does, however the owner ends.
 *
 * The service's host end (netns.h) is deleted by the daemon when it stops;
 * a daemon killed with SIGKILL cannot. Its service's namespace can outlive
 * it (TCP sockets the killed service left half-closed hold it for minutes,
 * retransmitting FINs the gate drops), and with its eth0 still plugged in
 * it answers ARP for the service's address with the service's MAC, from
 * the old port: a switch that hears it sends the clients' frames there,
 * away from the node that took the service over.
 *
 * linkguard_start() forks a small child that holds the read end of a pipe
 * whose write end only the owner holds (close-on-exec). When the owner is
 * gone the pipe reads EOF, and the child deletes the link by its index
 * (deleting one end of a veth pair deletes both: the namespace is cut off)
 * and exits. A stop that deleted the link itself disarms the guard first.
 * The child calls only async-signal-safe functions (the owner has
 * threads), closes every descriptor but the pipe, ignores the signals a
 * terminal or a supervisor sends a whole process group, and logs nothing.
 * It keeps what the owner had mapped at the fork until it exits: start it
 * before the owner maps much (the daemons do, at start-up, before guest
 * memory or a replica exists).
 * Not pure (it forks); never exits the caller.
 */
#ifndef REMORA_PROC_LINKGUARD_H
#define REMORA_PROC_LINKGUARD_H

#include <stddef.h>

struct linkguard {
	int armed; /* a child is watching (a zeroed guard is disarmed) */
	int pid;   /* the child */
	int wfd;   /* the pipe's write end: the owner's life */
};

/*
 * Starts a guard for the link ifindex of the calling thread's network
 * namespace. 0, or -errno with one line in err.
 */
int linkguard_start(struct linkguard *g, int ifindex, char *err, size_t errlen);

/* The owner is done with the link (deleted it, or keeps it on purpose):
 * the child exits without touching it and is reaped. A no-op when not
 * armed. */
void linkguard_disarm(struct linkguard *g);

#endif
