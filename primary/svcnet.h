/*
 * The service's network on this node ([service], docs/service-network.md):
 * the network namespace remora holds for a process workload, plumbed to
 * the host (netns.h). A primary makes it up before the service starts; a
 * backup makes it down when it starts, long before a failover, and its
 * promotion restores the service into it and brings it up.
 */
#ifndef REMORA_PRIMARY_SVCNET_H
#define REMORA_PRIMARY_SVCNET_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "linkguard.h"
#include "netns.h"

struct svcnet {
	int made;     /* netns_fd is open (a zeroed svcnet is empty) */
	int netns_fd; /* the namespace */
	int plumbed;  /* the veth pair is ours to delete */
	int up;	      /* eth0 is up and was announced */
	struct netns_service s;
	/* Deletes the host end if this daemon dies without unplumbing. */
	struct linkguard guard;
};

/* s from cfg's [service] (which must be there). */
void svcnet_service(const struct config *cfg, struct netns_service *s);

/*
 * A fresh namespace plumbed as cfg says, eth0 up (a primary) or down (a
 * backup), its host end guarded (linkguard.h: deleted if this process
 * dies without svcnet_destroy()). 0, or -errno with one line in err that
 * says what to change.
 */
int svcnet_prepare(struct svcnet *n, const struct config *cfg, int up,
		   char *err, size_t errlen);

/* Promotion: eth0 up, announced (gratuitous ARP). */
int svcnet_up(struct svcnet *n, char *err, size_t errlen);

/* Deletes the pair and closes the namespace (a no-op when empty). */
void svcnet_destroy(struct svcnet *n);

#endif
