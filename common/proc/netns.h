/*
 * The service's network (docs/service-network.md): a veth pair between the
 * host and the network namespace remora holds for the service
 * (proc_netns_new()). The service's end is eth0, with the service's MAC,
 * address and default route; the host end either joins an existing bridge
 * or, without one, gets a /32 route to the service address (routing mode).
 *
 * The namespace is remora's, not CRIU's (CRIU dumps it as external), so
 * every node configures its own the same way. The service's side is always
 * whole: eth0 up with its address, MAC and routes. What differs is the
 * host end: up on the primary; down on a backup, from long before a
 * failover (nothing the namespace sends gets out, nothing gets in: the
 * address must not answer while the primary owns it), until its promotion
 * restores the service into the namespace (CRIU reconnects each TCP
 * socket in repair mode, which needs its route) and then brings the host
 * end up and announces the address.
 *
 * Netlink through libnl-route-3. Work inside the service's namespace goes
 * through sockets opened there by a short-lived thread that setns()es (a
 * socket stays in the namespace it was made in), so the caller's thread
 * never changes namespace; the host's side is done in the namespace of the
 * calling thread. Not pure (it talks to the kernel) but never exits: every
 * function returns 0 or -errno with one line in err naming the step and the
 * interface. Needs CAP_NET_ADMIN in both namespaces (root).
 */
#ifndef REMORA_PROC_NETNS_H
#define REMORA_PROC_NETNS_H

#include <stddef.h>
#include <stdint.h>

#include <net/if.h>
#include <netinet/in.h>

/* The service's end, in its namespace. */
#define NETNS_SERVICE_IF "eth0"

/* How many gratuitous ARPs an announcement sends, and the gap between. */
#define NETNS_GARP_COUNT  3
#define NETNS_GARP_GAP_MS 50

/* What a service's network is; [service] in the config fills it. */
struct netns_service {
	char host_if[IFNAMSIZ]; /* the host end of the pair */
	char bridge[IFNAMSIZ];	/* an existing bridge; "": routing mode */
	struct in_addr addr;	/* the service's address, network order */
	int prefix;		/* 1..32 */
	/* the default route's next hop, inside addr/prefix; 0: none. In
	 * routing mode it is pinned to the host end's MAC (a permanent
	 * neighbour entry), so nothing has to answer ARP for it. */
	struct in_addr gateway;
	uint8_t mac[6]; /* eth0's: unicast, the same on every node */
};

/* What netns_plumb() found and did besides its work. */
struct netns_plumbed {
	/* a veth of host_if's name was there (a daemon killed before it
	 * could unplumb) and was deleted first; err says so too */
	int stale_removed;
	int host_ifindex; /* the host end, in the caller's namespace */
};

/*
 * Checks s: names under IFNAMSIZ that the kernel takes, a prefix of
 * 1..32, an address that a host can have, a unicast MAC that is not zero,
 * a gateway inside the prefix other than the address. Returns 0 or
 * -EINVAL with one line in err.
 */
int netns_service_check(const struct netns_service *s, char *err,
			size_t errlen);

/*
 * Creates the veth pair from the caller's namespace: the host end named
 * s->host_if, given a random locally administered MAC (fe:..., so that a
 * bridge never takes it as its own), its peer made directly in
 * netns_fd's namespace as eth0 with s->mac and s->addr/s->prefix and no
 * IPv6 (not even a link-local address: it would be the same on every
 * node), up, with its default route via s->gateway (in routing mode the gateway pinned to
 * the host end's MAC). The host end joins s->bridge (which must exist and
 * be a bridge). With up, the host end comes up too (in routing mode with a
 * route s->addr/32 through it) and the address is announced, as
 * netns_service_up() does; without, it stays down until then.
 *
 * A veth already named s->host_if is deleted first (out->stale_removed,
 * and a note in err); an interface of that name that is not a veth is
 * left alone and refused (-EEXIST). The namespace must have no eth0
 * (-EEXIST). On failure what was made is deleted again. out may be NULL.
 */
int netns_plumb(int netns_fd, const struct netns_service *s, int up,
		struct netns_plumbed *out, char *err, size_t errlen);

/*
 * Promotion: brings the host end up (in routing mode with the host's /32
 * route), waits until it forwards (its carrier is up and, on a bridge, its
 * port is forwarding: at most 200 ms, then it goes on anyway), and sends
 * the first gratuitous ARP for s->addr from s->mac on eth0 (an ARP request
 * whose sender and target are s->addr, to the broadcast address, as
 * arping -U and the kernel's arp_notify do). It returns once that one is
 * sent; a detached thread sends the other NETNS_GARP_COUNT - 1,
 * NETNS_GARP_GAP_MS apart, from its own packet socket in the namespace,
 * and then ends (it touches nothing of the caller's). Idempotent: a host
 * end already up is announced again.
 */
int netns_service_up(int netns_fd, const struct netns_service *s, char *err,
		     size_t errlen);

/*
 * A planned switchover's old primary: the host end down (which takes, in
 * routing mode, the host's /32 route with it), so that the address
 * answers nowhere until the new primary announces it. The service's side
 * stays as it is.
 */
int netns_service_down(int netns_fd, const struct netns_service *s, char *err,
		       size_t errlen);

/*
 * Deletes the host end s->host_if, which deletes the pair and every route
 * through it. Nothing of that name: 0. An interface of that name that is
 * not a veth is not remora's: -EEXIST, left alone. (Closing the last
 * reference to the service's namespace deletes the pair too.)
 */
int netns_unplumb(const struct netns_service *s, char *err, size_t errlen);

/* "02:00:5e:10:00:01" for a MAC; buf holds 18 bytes. */
const char *netns_mac_str(char *buf, const uint8_t mac[6]);

#endif
