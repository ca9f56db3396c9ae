/*
 * The service's network (netns.h, docs/service-network.md): a veth pair
 * from the host into the service's namespace, configured with libnl-route-3
 * on two netlink sockets, one in the caller's namespace and one opened
 * inside the service's by a short-lived thread that setns()es (a socket
 * keeps the namespace it was made in). Every request asks the kernel for
 * its extended ack, so a refusal reads as the kernel's own words
 * ("Nexthop has invalid gateway") after the step and the interface.
 *
 * Order of the work, and why: the pair is created with its peer already in
 * the service's namespace and named eth0 (never visible to the host under
 * another name); eth0's IPv6 is off and its address goes on before
 * anything is up (so it never has a link-local address); the host
 * end joins its bridge before it comes up, so it never forwards outside
 * it. Routes and a neighbour entry on eth0 wait for eth0 to be up (the
 * kernel refuses a route through a down link and flushes neighbours when
 * a link goes down), which for a backup is its promotion.
 */
#include "netns.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <linux/if_bridge.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if_arp.h>

#include <netlink/addr.h>
#include <netlink/attr.h>
#include <netlink/cache.h>
#include <netlink/errno.h>
#include <netlink/netlink.h>
#include <netlink/route/addr.h>
#include <netlink/route/link.h>
#include <netlink/route/link/bridge.h>
#include <netlink/route/link/veth.h>
#include <netlink/route/neighbour.h>
#include <netlink/route/route.h>
#include <netlink/socket.h>

#include "clock.h"
#include "fail.h"

/* How long netns_service_up() waits for the host end to forward. */
#define READY_WAIT_NS (200 * 1000000ull)
#define READY_POLL_US 500

/* IF_OPER_UP (RFC 2863), from linux/if.h, which clashes with net/if.h. */
#define OPER_UP 6

#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

/*
 * A netlink socket and what the kernel said about the last request it
 * refused: libnl reports only its own error codes, which lose the errno
 * (EEXIST and ENOENT become "object exists", "object not found").
 */
struct rt {
	struct nl_sock *sk;
	int kerr;      /* errno of the last NLMSG_ERROR, 0: none */
	char ext[160]; /* its extended ack message, or "" */
};

/* Keeps the kernel's errno and its extended ack message (if any). */
static int on_nl_error(struct sockaddr_nl *who, struct nlmsgerr *e, void *arg)
{
	struct rt *n = arg;
	const struct nlmsghdr *h =
		(const struct nlmsghdr *)((const char *)e - NLMSG_HDRLEN);
	struct nlattr *tb[NLMSGERR_ATTR_MAX + 1];
	size_t skip = sizeof(*e), end;

	(void)who;
	n->kerr = -e->error;
	n->ext[0] = '\0';
	if (!(h->nlmsg_flags & NLM_F_ACK_TLVS))
		return NL_STOP;
	/* The request is echoed whole unless the ack is capped. */
	if (!(h->nlmsg_flags & NLM_F_CAPPED))
		skip += e->msg.nlmsg_len - sizeof(e->msg);
	skip = NLMSG_ALIGN(skip);
	end = h->nlmsg_len - NLMSG_HDRLEN;
	if (skip < end &&
	    nla_parse(tb, NLMSGERR_ATTR_MAX,
		      (struct nlattr *)((char *)e + skip), (int)(end - skip),
		      NULL) == 0 &&
	    tb[NLMSGERR_ATTR_MSG])
		snprintf(n->ext, sizeof(n->ext), "%.*s",
			 nla_len(tb[NLMSGERR_ATTR_MSG]),
			 (const char *)nla_data(tb[NLMSGERR_ATTR_MSG]));
	return NL_STOP;
}

/* A libnl error as an errno, where the kernel did not give one. */
static int nle_errno(int nle)
{
	switch (nle < 0 ? -nle : nle) {
	case NLE_SUCCESS:
		return 0;
	case NLE_NOMEM:
		return ENOMEM;
	case NLE_EXIST:
		return EEXIST;
	case NLE_OBJ_NOTFOUND:
		return ENOENT;
	case NLE_NODEV:
		return ENODEV;
	case NLE_PERM:
		return EPERM;
	case NLE_NOACCESS:
		return EACCES;
	case NLE_BUSY:
		return EBUSY;
	case NLE_INVAL:
		return EINVAL;
	case NLE_RANGE:
		return ERANGE;
	case NLE_AGAIN:
		return EAGAIN;
	case NLE_BAD_SOCK:
		return EBADF;
	case NLE_MSGSIZE:
		return EMSGSIZE;
	case NLE_OPNOTSUPP:
		return EOPNOTSUPP;
	case NLE_AF_NOSUPPORT:
		return EAFNOSUPPORT;
	case NLE_NOADDR:
		return EADDRNOTAVAIL;
	default:
		return EIO;
	}
}

/* Before a request: forget the last refusal. */
static struct nl_sock *req(struct rt *n)
{
	n->kerr = 0;
	n->ext[0] = '\0';
	return n->sk;
}

/* A libnl result as -errno: the kernel's own when it refused. */
static int rt_rc(const struct rt *n, int nle)
{
	if (nle >= 0)
		return 0;
	return -(n->kerr ? n->kerr : nle_errno(nle));
}

/*
 * "STEP IF: strerror (the kernel's message)" in err, and rc. A request's
 * failure only: steps that fail otherwise say so themselves.
 */
__attribute__((format(printf, 5, 6))) static int rt_fail(const struct rt *n,
							 int rc, char *err,
							 size_t errlen,
							 const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	if (n && n->ext[0])
		return fail_line(err, errlen, rc, "%s: %s (%s)", what,
				 strerror(-rc), n->ext);
	return fail_line(err, errlen, rc, "%s: %s", what, strerror(-rc));
}

/* The socket's error handling: ours, with the kernel's extended acks. */
static int rt_setup(struct rt *n)
{
	int one = 1, rc;

	rc = nl_socket_modify_err_cb(n->sk, NL_CB_CUSTOM, on_nl_error, n);
	if (rc < 0)
		return -nle_errno(rc);
	/* Best effort: a kernel without it (< 4.12) still says why by
	 * errno. */
	(void)setsockopt(nl_socket_get_fd(n->sk), SOL_NETLINK, NETLINK_EXT_ACK,
			 &one, sizeof(one));
	return 0;
}

static void rt_close(struct rt *n)
{
	if (n->sk)
		nl_socket_free(n->sk);
	n->sk = NULL;
}

/* A socket in the calling thread's namespace: the host's. */
static int rt_open_here(struct rt *n, char *err, size_t errlen)
{
	int rc;

	memset(n, 0, sizeof(*n));
	n->sk = nl_socket_alloc();
	if (!n->sk)
		return fail_line(err, errlen, -ENOMEM, "netlink socket: %s",
				 strerror(ENOMEM));
	rc = nl_connect(n->sk, NETLINK_ROUTE);
	if (rc >= 0)
		rc = rt_setup(n);
	else
		rc = -nle_errno(rc);
	if (rc < 0) {
		rt_close(n);
		return fail_line(err, errlen, rc, "netlink socket: %s",
				 strerror(-rc));
	}
	return 0;
}

/* --- running a step in the service's namespace ------------------------ */

struct in_ns {
	int netns_fd;
	int (*fn)(void *arg);
	void *arg;
	int rc, entered;
};

/* setns(2) moves only this thread; it ends right after fn. */
static void *in_ns_main(void *p)
{
	struct in_ns *j = p;

	if (setns(j->netns_fd, CLONE_NEWNET) < 0) {
		j->rc = -errno;
		return NULL;
	}
	j->entered = 1;
	j->rc = j->fn(j->arg);
	return NULL;
}

/*
 * fn(arg) on a thread inside netns_fd's namespace: its result, or the
 * thread's or setns's failure (-errno, *entered 0).
 */
static int in_ns(int netns_fd, int (*fn)(void *), void *arg, int *entered)
{
	struct in_ns j = {.netns_fd = netns_fd, .fn = fn, .arg = arg};
	pthread_t t;
	int rc = pthread_create(&t, NULL, in_ns_main, &j);

	*entered = 0;
	if (rc)
		return -rc;
	pthread_join(t, NULL);
	*entered = j.entered;
	return j.rc;
}

static int connect_fn(void *arg)
{
	struct rt *n = arg;
	int rc = nl_connect(n->sk, NETLINK_ROUTE);

	return rc < 0 ? -nle_errno(rc) : 0;
}

/* A netlink socket inside the service's namespace. */
static int rt_open_in(struct rt *n, int netns_fd, char *err, size_t errlen)
{
	int rc, entered;

	memset(n, 0, sizeof(*n));
	n->sk = nl_socket_alloc();
	if (!n->sk)
		return fail_line(err, errlen, -ENOMEM, "netlink socket: %s",
				 strerror(ENOMEM));
	rc = in_ns(netns_fd, connect_fn, n, &entered);
	if (rc >= 0)
		rc = rt_setup(n);
	if (rc < 0) {
		rt_close(n);
		return fail_line(err, errlen, rc,
				 "%s in the service's network namespace (fd "
				 "%d): %s",
				 entered ? "netlink socket" : "setns", netns_fd,
				 strerror(-rc));
	}
	return 0;
}

struct packet_job {
	int ifindex, fd;
};

static int packet_fn(void *arg)
{
	struct packet_job *p = arg;
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_ifindex = p->ifindex,
	};

	/* Protocol 0: it sends (each sendto names ARP) but hears nothing,
	 * so nothing ever queues on it. */
	p->fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -errno;
	if (bind(p->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0) {
		int e = errno;

		close(p->fd);
		p->fd = -1;
		return -e;
	}
	return 0;
}

/*
 * eth0 without IPv6 (the service's address is IPv4): no link-local
 * address, so no duplicate address detection, router solicitations or
 * multicast listener reports. Every node gives eth0 the same MAC and so
 * the same link-local address: an old primary's namespace that still
 * answered a promoted backup's detection would teach the switches that
 * the service's MAC is back on the old port.
 */
static int no_ipv6_fn(void *arg)
{
	int fd, rc = 0;

	(void)arg;
	/* The thread is in the namespace: /proc/sys/net is its. */
	fd = open("/proc/sys/net/ipv6/conf/" NETNS_SERVICE_IF "/disable_ipv6",
		  O_WRONLY | O_CLOEXEC);
	if (fd < 0) /* ENOENT: a kernel without IPv6 */
		return errno == ENOENT ? 0 : -errno;
	if (write(fd, "1", 1) != 1)
		rc = -errno;
	close(fd);
	return rc;
}

static int no_ipv6(int netns_fd, char *err, size_t errlen)
{
	int entered, rc = in_ns(netns_fd, no_ipv6_fn, NULL, &entered);

	if (rc < 0)
		return fail_line(err, errlen, rc,
				 "%s: disable IPv6 on " NETNS_SERVICE_IF
				 " in the service's namespace: %s",
				 entered ? "write disable_ipv6" : "setns",
				 strerror(-rc));
	return 0;
}

/* --- checking what the caller asks for -------------------------------- */

static int name_ok(const char *s)
{
	size_t n = strnlen(s, IFNAMSIZ);

	if (n == 0 || n == IFNAMSIZ || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (*s == '/' || *s == ':' || (unsigned char)*s <= ' ' ||
		    (unsigned char)*s == 0x7f)
			return 0;
	return 1;
}

static uint32_t mask_of(int prefix)
{
	return prefix <= 0 ? 0 : 0xffffffffu << (32 - prefix);
}

int netns_service_check(const struct netns_service *s, char *err, size_t errlen)
{
	uint32_t a = ntohl(s->addr.s_addr), g = ntohl(s->gateway.s_addr);
	uint32_t m = mask_of(s->prefix);
	char b[INET_ADDRSTRLEN];

	if (!name_ok(s->host_if))
		return fail_line(err, errlen, -EINVAL,
				 "netns: host interface '%.*s' is not an "
				 "interface name",
				 IFNAMSIZ, s->host_if);
	if (s->bridge[0] && !name_ok(s->bridge))
		return fail_line(err, errlen, -EINVAL,
				 "netns: bridge '%.*s' is not an interface "
				 "name",
				 IFNAMSIZ, s->bridge);
	if (!strncmp(s->bridge, s->host_if, IFNAMSIZ))
		return fail_line(err, errlen, -EINVAL,
				 "netns: bridge and host interface are both "
				 "%s",
				 s->host_if);
	if (s->prefix < 1 || s->prefix > 32)
		return fail_line(err, errlen, -EINVAL,
				 "netns: prefix length %d is not 1..32",
				 s->prefix);
	inet_ntop(AF_INET, &s->addr, b, sizeof(b));
	if ((a >> 24) == 0 || (a >> 24) == 127 || (a >> 28) >= 0xe ||
	    (s->prefix <= 30 && ((a & ~m) == 0 || (a & ~m) == ~m)))
		return fail_line(err, errlen, -EINVAL,
				 "netns: %s/%d is not a host's address", b,
				 s->prefix);
	if ((s->mac[0] & 1) || !(s->mac[0] | s->mac[1] | s->mac[2] | s->mac[3] |
				 s->mac[4] | s->mac[5]))
		return fail_line(err, errlen, -EINVAL,
				 "netns: eth0's MAC must be unicast and not "
				 "zero");
	if (g && ((g & m) != (a & m) || g == a))
		return fail_line(err, errlen, -EINVAL,
				 "netns: gateway is not another address of "
				 "%s/%d",
				 b, s->prefix);
	return 0;
}

const char *netns_mac_str(char *buf, const uint8_t mac[6])
{
	snprintf(buf, 18, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1],
		 mac[2], mac[3], mac[4], mac[5]);
	return buf;
}

/* --- links ------------------------------------------------------------- */

/* The link called name, or NULL (rc -ENODEV) when there is none. */
static int get_link(struct rt *n, const char *name, struct rtnl_link **out)
{
	int nle = rtnl_link_get_kernel(req(n), 0, name, out);

	if (nle >= 0)
		return 0;
	*out = NULL;
	return n->kerr == ENODEV || nle == -NLE_OBJ_NOTFOUND ||
			       nle == -NLE_NODEV
		       ? -ENODEV
		       : rt_rc(n, nle);
}

/* A link's kind ("veth", "bridge"), or "none" for a plain device. */
static const char *kind_of(struct rtnl_link *l)
{
	const char *t = rtnl_link_get_type(l);

	return t ? t : "none";
}

/* Up or down, by ifindex, on n's namespace. */
static int set_up(struct rt *n, int ifindex, int up)
{
	struct rtnl_link *orig = rtnl_link_alloc(), *chg = rtnl_link_alloc();
	int nle = -NLE_NOMEM;

	if (orig && chg) {
		rtnl_link_set_ifindex(orig, ifindex);
		if (up)
			rtnl_link_set_flags(chg, IFF_UP);
		else
			rtnl_link_unset_flags(chg, IFF_UP);
		nle = rtnl_link_change(req(n), orig, chg, 0);
	}
	rtnl_link_put(orig);
	rtnl_link_put(chg);
	return rt_rc(n, nle);
}

static struct nl_addr *mac_addr(const uint8_t mac[6])
{
	return nl_addr_build(AF_LLC, mac, 6);
}

static struct nl_addr *ipv4_addr(struct in_addr a, int prefix)
{
	struct nl_addr *x = nl_addr_build(AF_INET, &a, sizeof(a));

	if (x)
		nl_addr_set_prefixlen(x, prefix);
	return x;
}

/*
 * Deletes the host end if it is a veth (a stale one, or the one to
 * remove); *found says whether there was anything of that name.
 */
static int delete_veth(struct rt *h, const char *name, int *found, char *err,
		       size_t errlen)
{
	struct rtnl_link *l;
	const char *kind;
	int rc = get_link(h, name, &l);

	*found = 0;
	if (rc == -ENODEV)
		return 0;
	if (rc < 0)
		return rt_fail(h, rc, err, errlen, "look up %s", name);
	*found = 1;
	kind = kind_of(l);
	if (strcmp(kind, "veth") != 0) {
		rc = fail_line(err, errlen, -EEXIST,
			       "%s exists and is not a veth (kind %s): not "
			       "remora's, left alone; name another [service] "
			       "interface",
			       name, kind);
		rtnl_link_put(l);
		return rc;
	}
	rc = rt_rc(h, rtnl_link_delete(req(h), l));
	rtnl_link_put(l);
	if (rc < 0 && rc != -ENODEV)
		return rt_fail(h, rc, err, errlen, "delete %s", name);
	return 0;
}

/* The bridge's ifindex, once it is known to be one. */
static int find_bridge(struct rt *h, const char *name, int *ifindex, char *err,
		       size_t errlen)
{
	struct rtnl_link *br;
	int rc = get_link(h, name, &br);

	if (rc == -ENODEV)
		return fail_line(err, errlen, rc,
				 "bridge %s: no such interface on the host "
				 "(create it, or leave bridge out to route)",
				 name);
	if (rc < 0)
		return rt_fail(h, rc, err, errlen, "look up bridge %s", name);
	if (strcmp(kind_of(br), "bridge") != 0)
		rc = fail_line(err, errlen, -EINVAL,
			       "bridge %s: not a bridge (kind %s)", name,
			       kind_of(br));
	else
		*ifindex = rtnl_link_get_ifindex(br);
	rtnl_link_put(br);
	return rc;
}

/*
 * The pair, with its peer made in the service's namespace as eth0: the
 * kernel checks the name there, and the host never sees the peer.
 */
static int create_pair(struct rt *h, int netns_fd,
		       const struct netns_service *s, const uint8_t host_mac[6],
		       char *err, size_t errlen)
{
	struct rtnl_link *l = rtnl_link_veth_alloc(), *peer;
	struct nl_addr *hm = mac_addr(host_mac), *sm = mac_addr(s->mac);
	int rc = -ENOMEM;

	if (l && hm && sm) {
		rtnl_link_set_name(l, s->host_if);
		rtnl_link_set_addr(l, hm);
		peer = rtnl_link_veth_get_peer(l);
		rtnl_link_set_name(peer, NETNS_SERVICE_IF);
		rtnl_link_set_addr(peer, sm);
		rtnl_link_set_ns_fd(peer, netns_fd);
		rtnl_link_put(peer);
		rc = rt_rc(h,
			   rtnl_link_add(req(h), l, NLM_F_CREATE | NLM_F_EXCL));
	}
	nl_addr_put(hm);
	nl_addr_put(sm);
	if (l)
		rtnl_link_put(l);
	if (rc == -EEXIST)
		return rt_fail(h, rc, err, errlen,
			       "create veth %s (peer " NETNS_SERVICE_IF
			       " in the service's namespace, which must "
			       "have none)",
			       s->host_if);
	if (rc < 0)
		return rt_fail(h, rc, err, errlen,
			       "create veth %s (peer " NETNS_SERVICE_IF
			       " in the service's namespace)",
			       s->host_if);
	return 0;
}

/* eth0's address, with its prefix's broadcast address up to /30. */
static int add_address(struct rt *in, int ifindex,
		       const struct netns_service *s, char *err, size_t errlen)
{
	struct rtnl_addr *a = rtnl_addr_alloc();
	struct nl_addr *local = ipv4_addr(s->addr, s->prefix), *brd = NULL;
	struct in_addr b = {
		.s_addr = s->addr.s_addr | htonl(~mask_of(s->prefix)),
	};
	int rc = -ENOMEM;

	if (s->prefix <= 30)
		brd = ipv4_addr(b, 32);
	if (a && local && (brd || s->prefix > 30)) {
		rtnl_addr_set_ifindex(a, ifindex);
		rtnl_addr_set_family(a, AF_INET);
		rtnl_addr_set_local(a, local);
		rtnl_addr_set_prefixlen(a, s->prefix);
		if (brd)
			rtnl_addr_set_broadcast(a, brd);
		rc = rt_rc(in, rtnl_addr_add(req(in), a, NLM_F_EXCL));
	}
	nl_addr_put(local);
	nl_addr_put(brd);
	rtnl_addr_put(a);
	if (rc < 0) {
		char ip[INET_ADDRSTRLEN];

		inet_ntop(AF_INET, &s->addr, ip, sizeof(ip));
		return rt_fail(in, rc, err, errlen,
			       "add %s/%d to " NETNS_SERVICE_IF, ip, s->prefix);
	}
	return 0;
}

/*
 * A route on n's namespace: to dst/prefix through ifindex, via gw if
 * given (else on the link); replaced if there is one, deleted with del.
 */
static int route(struct rt *n, int del, struct in_addr dst, int prefix,
		 const struct in_addr *gw, int ifindex)
{
	struct rtnl_route *r = rtnl_route_alloc();
	struct rtnl_nexthop *nh = rtnl_route_nh_alloc();
	struct nl_addr *d = ipv4_addr(dst, prefix), *g = NULL;
	int nle = -NLE_NOMEM;

	if (gw)
		g = ipv4_addr(*gw, 32);
	if (r && nh && d && (g || !gw)) {
		rtnl_route_set_family(r, AF_INET);
		rtnl_route_set_table(r, RT_TABLE_MAIN);
		rtnl_route_set_protocol(r, RTPROT_STATIC);
		rtnl_route_set_scope(r, gw ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
		rtnl_route_set_type(r, RTN_UNICAST);
		rtnl_route_set_dst(r, d);
		rtnl_route_nh_set_ifindex(nh, ifindex);
		if (g)
			rtnl_route_nh_set_gateway(nh, g);
		rtnl_route_add_nexthop(r, nh);
		nh = NULL; /* the route owns it now */
		nle = del ? rtnl_route_delete(req(n), r, 0)
			  : rtnl_route_add(req(n), r, NLM_F_REPLACE);
	}
	if (nh)
		rtnl_route_nh_free(nh);
	nl_addr_put(d);
	nl_addr_put(g);
	if (r)
		rtnl_route_put(r);
	return rt_rc(n, nle);
}

/* gw's permanent neighbour entry on ifindex: lladdr mac. */
static int pin_neighbour(struct rt *n, int ifindex, struct in_addr gw,
			 const uint8_t mac[6])
{
	struct rtnl_neigh *ne = rtnl_neigh_alloc();
	struct nl_addr *d = ipv4_addr(gw, 32), *ll = mac_addr(mac);
	int nle = -NLE_NOMEM;

	if (ne && d && ll) {
		rtnl_neigh_set_family(ne, AF_INET);
		rtnl_neigh_set_ifindex(ne, ifindex);
		rtnl_neigh_set_dst(ne, d);
		rtnl_neigh_set_lladdr(ne, ll);
		rtnl_neigh_set_state(ne, NUD_PERMANENT);
		nle = rtnl_neigh_add(req(n), ne, NLM_F_CREATE | NLM_F_REPLACE);
	}
	nl_addr_put(d);
	nl_addr_put(ll);
	if (ne)
		rtnl_neigh_put(ne);
	return rt_rc(n, nle);
}

/* --- the announcement -------------------------------------------------- */

/* An ARP request for addr from mac, to everyone: sender = target = addr. */
struct garp {
	struct arphdr h;
	uint8_t sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

struct announce {
	int fd;
	struct sockaddr_ll to;
	struct garp frame;
};

static int send_garp(const struct announce *a)
{
	ssize_t n = sendto(a->fd, &a->frame, sizeof(a->frame), 0,
			   (const struct sockaddr *)&a->to, sizeof(a->to));

	if (n < 0)
		return -errno;
	return n == (ssize_t)sizeof(a->frame) ? 0 : -EIO;
}

/* The rest of an announcement, spaced, on a thread of its own. */
static void *announce_main(void *p)
{
	struct announce *a = p;
	struct timespec gap = {
		.tv_sec = NETNS_GARP_GAP_MS / 1000,
		.tv_nsec = (NETNS_GARP_GAP_MS % 1000) * 1000000L,
	};

	for (int i = 1; i < NETNS_GARP_COUNT; i++) {
		while (nanosleep(&gap, &gap) < 0 && errno == EINTR)
			;
		gap.tv_sec = NETNS_GARP_GAP_MS / 1000;
		gap.tv_nsec = (NETNS_GARP_GAP_MS % 1000) * 1000000L;
		/* A later one lost (eth0 gone meanwhile) changes nothing
		 * the caller could act on: the first one was sent. */
		(void)send_garp(a);
	}
	close(a->fd);
	free(a);
	return NULL;
}

/*
 * Whether the host end forwards what eth0 sends: its carrier is up (the
 * kernel's link watch has seen eth0 come up) and, on a bridge, its port
 * forwards. Both change a moment after eth0's link-up request returns.
 */
static int host_ready(struct rt *h, const struct netns_service *s)
{
	struct rtnl_link *l;
	struct nl_cache *ports;
	int ready, ifindex;

	if (get_link(h, s->host_if, &l) < 0)
		return 0;
	ready = rtnl_link_get_operstate(l) == OPER_UP;
	ifindex = rtnl_link_get_ifindex(l);
	rtnl_link_put(l);
	if (!ready || !s->bridge[0])
		return ready;
	if (rtnl_link_alloc_cache(req(h), AF_BRIDGE, &ports) < 0)
		return 0;
	l = rtnl_link_get(ports, ifindex);
	ready = l && rtnl_link_bridge_get_port_state(l) == BR_STATE_FORWARDING;
	if (l)
		rtnl_link_put(l);
	nl_cache_free(ports);
	return ready;
}

static void wait_host_ready(struct rt *h, const struct netns_service *s)
{
	uint64_t until = now_ns() + READY_WAIT_NS;

	while (!host_ready(h, s) && now_ns() < until)
		usleep(READY_POLL_US);
}

/* The first gratuitous ARP from here; the others from a thread. */
static int announce(int netns_fd, int ifindex, const struct netns_service *s,
		    char *err, size_t errlen)
{
	struct packet_job pj = {.ifindex = ifindex, .fd = -1};
	struct announce *a = calloc(1, sizeof(*a));
	pthread_attr_t attr;
	pthread_t t;
	int rc, entered;

	if (!a)
		return fail_line(err, errlen, -ENOMEM, "announce: %s",
				 strerror(ENOMEM));
	rc = in_ns(netns_fd, packet_fn, &pj, &entered);
	if (rc < 0) {
		free(a);
		return fail_line(err, errlen, rc,
				 "announce on " NETNS_SERVICE_IF
				 ": packet socket in the service's namespace: "
				 "%s",
				 strerror(-rc));
	}
	a->fd = pj.fd;
	a->to.sll_family = AF_PACKET;
	a->to.sll_protocol = htons(ETH_P_ARP);
	a->to.sll_ifindex = ifindex;
	a->to.sll_halen = 6;
	memset(a->to.sll_addr, 0xff, 6);
	a->frame.h.ar_hrd = htons(ARPHRD_ETHER);
	a->frame.h.ar_pro = htons(ETH_P_IP);
	a->frame.h.ar_hln = 6;
	a->frame.h.ar_pln = 4;
	a->frame.h.ar_op = htons(ARPOP_REQUEST);
	memcpy(a->frame.sha, s->mac, 6);
	memcpy(a->frame.spa, &s->addr, 4);
	memcpy(a->frame.tpa, &s->addr, 4);

	rc = send_garp(a);
	if (rc < 0) {
		close(a->fd);
		free(a);
		return fail_line(err, errlen, rc,
				 "announce on " NETNS_SERVICE_IF
				 ": send gratuitous ARP: %s",
				 strerror(-rc));
	}
	/* The rest is best effort: without a thread, one was still sent. */
	if (pthread_attr_init(&attr) == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		rc = pthread_create(&t, &attr, announce_main, a);
		pthread_attr_destroy(&attr);
		if (rc == 0)
			return 0;
	}
	close(a->fd);
	free(a);
	return 0;
}

/* --- the calls ---------------------------------------------------------- */

/* eth0 in the service's namespace: its ifindex there. */
static int eth0_index(struct rt *in, int *ifindex, char *err, size_t errlen)
{
	struct rtnl_link *l;
	int rc = get_link(in, NETNS_SERVICE_IF, &l);

	if (rc < 0)
		return rt_fail(in, rc, err, errlen,
			       "look up " NETNS_SERVICE_IF
			       " in the service's namespace");
	*ifindex = rtnl_link_get_ifindex(l);
	rtnl_link_put(l);
	return 0;
}

/*
 * The service's side, whole: eth0 up, with its default route and in
 * routing mode the gateway pinned to the host end's MAC (hl). Nothing
 * leaves through it while the host end is down: a backup's namespace is
 * complete, so that a restored TCP socket finds its route (CRIU connects
 * it again in repair mode) before anything can reach it.
 */
static int service_side(struct rt *in, struct rtnl_link *hl,
			const struct netns_service *s, char *err, size_t errlen)
{
	struct in_addr any = {0};
	char ip[INET_ADDRSTRLEN];
	int eth0 = 0, rc;

	rc = eth0_index(in, &eth0, err, errlen);
	if (rc < 0)
		return rc;
	rc = set_up(in, eth0, 1);
	if (rc < 0)
		return rt_fail(in, rc, err, errlen,
			       "bring " NETNS_SERVICE_IF " up");
	if (s->gateway.s_addr && !s->bridge[0]) {
		struct nl_addr *m = rtnl_link_get_addr(hl);

		rc = m && nl_addr_get_len(m) == 6
			     ? pin_neighbour(in, eth0, s->gateway,
					     nl_addr_get_binary_addr(m))
			     : -EADDRNOTAVAIL;
		if (rc < 0) {
			inet_ntop(AF_INET, &s->gateway, ip, sizeof(ip));
			return rt_fail(in, rc, err, errlen,
				       "pin gateway %s to %s's MAC on "
				       "" NETNS_SERVICE_IF,
				       ip, s->host_if);
		}
	}
	if (s->gateway.s_addr) {
		rc = route(in, 0, any, 0, &s->gateway, eth0);
		if (rc < 0) {
			inet_ntop(AF_INET, &s->gateway, ip, sizeof(ip));
			return rt_fail(
				in, rc, err, errlen,
				"default route via %s on " NETNS_SERVICE_IF,
				ip);
		}
	}
	return 0;
}

/*
 * The host's side up: the host end up (in routing mode with the /32
 * route), the wait until it forwards, the announcement from eth0.
 */
static int host_side_up(struct rt *h, struct rt *in, int netns_fd,
			const struct netns_service *s, char *err, size_t errlen)
{
	struct rtnl_link *hl;
	char ip[INET_ADDRSTRLEN];
	int eth0 = 0, host, rc;

	rc = eth0_index(in, &eth0, err, errlen);
	if (rc < 0)
		return rc;
	rc = get_link(h, s->host_if, &hl);
	if (rc < 0)
		return rt_fail(h, rc, err, errlen, "look up %s", s->host_if);
	host = rtnl_link_get_ifindex(hl);
	rtnl_link_put(hl);
	rc = set_up(h, host, 1);
	if (rc < 0)
		return rt_fail(h, rc, err, errlen, "bring %s up", s->host_if);
	if (!s->bridge[0]) {
		rc = route(h, 0, s->addr, 32, NULL, host);
		if (rc < 0) {
			inet_ntop(AF_INET, &s->addr, ip, sizeof(ip));
			return rt_fail(h, rc, err, errlen, "route %s/32 via %s",
				       ip, s->host_if);
		}
	}
	wait_host_ready(h, s);
	return announce(netns_fd, eth0, s, err, errlen);
}

int netns_plumb(int netns_fd, const struct netns_service *s, int up,
		struct netns_plumbed *out, char *err, size_t errlen)
{
	struct netns_plumbed got = {0};
	struct rtnl_link *hl = NULL;
	struct rt h, in;
	uint8_t host_mac[6];
	int rc, eth0 = 0, br = 0, found;

	if (err && errlen)
		err[0] = '\0';
	if (out)
		*out = got;
	rc = netns_service_check(s, err, errlen);
	if (rc < 0)
		return rc;
	if (netns_fd < 0)
		return fail_line(err, errlen, -EBADF,
				 "netns: no service namespace (fd %d)",
				 netns_fd);
	/* fe:...: locally administered, unicast, and higher than any
	 * vendor's MAC, so that a bridge never picks it as its own. */
	if (getrandom(host_mac, sizeof(host_mac), 0) != sizeof(host_mac))
		return fail_line(err, errlen, -EIO, "getrandom: %s",
				 strerror(errno));
	host_mac[0] = 0xfe;
	rc = rt_open_here(&h, err, errlen);
	if (rc < 0)
		return rc;
	rc = rt_open_in(&in, netns_fd, err, errlen);
	if (rc < 0)
		goto err_here;
	if (s->bridge[0]) {
		rc = find_bridge(&h, s->bridge, &br, err, errlen);
		if (rc < 0)
			goto err_in;
	}
	rc = delete_veth(&h, s->host_if, &found, err, errlen);
	if (rc < 0)
		goto err_in;
	got.stale_removed = found;

	rc = create_pair(&h, netns_fd, s, host_mac, err, errlen);
	if (rc < 0)
		goto err_in;
	rc = get_link(&h, s->host_if, &hl);
	if (rc < 0) {
		rc = rt_fail(&h, rc, err, errlen, "look up %s", s->host_if);
		goto err_pair;
	}
	got.host_ifindex = rtnl_link_get_ifindex(hl);
	rc = eth0_index(&in, &eth0, err, errlen);
	if (rc < 0)
		goto err_pair;
	rc = no_ipv6(netns_fd, err, errlen);
	if (rc < 0)
		goto err_pair;
	rc = add_address(&in, eth0, s, err, errlen);
	if (rc < 0)
		goto err_pair;
	if (br) {
		rc = rt_rc(&h, rtnl_link_enslave_ifindex(req(&h), br,
							 got.host_ifindex));
		if (rc < 0) {
			rc = rt_fail(&h, rc, err, errlen, "attach %s to %s",
				     s->host_if, s->bridge);
			goto err_pair;
		}
	}
	rc = service_side(&in, hl, s, err, errlen);
	if (rc < 0)
		goto err_pair;
	if (up) {
		rc = host_side_up(&h, &in, netns_fd, s, err, errlen);
		if (rc < 0)
			goto err_pair;
	}
	rtnl_link_put(hl);
	rt_close(&in);
	rt_close(&h);
	if (out)
		*out = got;
	if (got.stale_removed && err && errlen)
		snprintf(err, errlen,
			 "%s: a stale veth of that name (a daemon that did "
			 "not unplumb?) was deleted first",
			 s->host_if);
	return 0;

err_pair:
	/* The host end takes eth0 and all it had with it. */
	if (hl)
		(void)rtnl_link_delete(req(&h), hl);
	else
		delete_veth(&h, s->host_if, &found, NULL, 0);
	rtnl_link_put(hl);
err_in:
	rt_close(&in);
err_here:
	rt_close(&h);
	return rc;
}

/* The checks and the two route sockets (here and in the service's
 * namespace) that switching the service up or down starts with. */
static int open_both(int netns_fd, const struct netns_service *s, struct rt *h,
		     struct rt *in, char *err, size_t errlen)
{
	int rc;

	if (err && errlen)
		err[0] = '\0';
	rc = netns_service_check(s, err, errlen);
	if (rc < 0)
		return rc;
	rc = rt_open_here(h, err, errlen);
	if (rc < 0)
		return rc;
	rc = rt_open_in(in, netns_fd, err, errlen);
	if (rc < 0)
		rt_close(h);
	return rc;
}

int netns_service_up(int netns_fd, const struct netns_service *s, char *err,
		     size_t errlen)
{
	struct rt h, in;
	int rc = open_both(netns_fd, s, &h, &in, err, errlen);

	if (rc < 0)
		return rc;
	rc = host_side_up(&h, &in, netns_fd, s, err, errlen);
	rt_close(&in);
	rt_close(&h);
	return rc;
}

int netns_service_down(int netns_fd, const struct netns_service *s, char *err,
		       size_t errlen)
{
	struct rt h, in;
	struct rtnl_link *hl;
	char ip[INET_ADDRSTRLEN];
	int rc = open_both(netns_fd, s, &h, &in, err, errlen), host;

	if (rc < 0)
		return rc;
	rc = get_link(&h, s->host_if, &hl);
	if (rc < 0) {
		rc = rt_fail(&h, rc, err, errlen, "look up %s", s->host_if);
		goto out;
	}
	host = rtnl_link_get_ifindex(hl);
	rtnl_link_put(hl);
	rc = set_up(&h, host, 0);
	if (rc < 0) {
		rc = rt_fail(&h, rc, err, errlen, "bring %s down", s->host_if);
		goto out;
	}
	if (s->bridge[0])
		goto out;
	/* Down took the route with it; were it still there, it goes. */
	rc = route(&h, 1, s->addr, 32, NULL, host);
	/* Already gone (never up, or the link went down): done. */
	if (rc == -ESRCH || rc == -ENOENT)
		rc = 0;
	if (rc < 0) {
		inet_ntop(AF_INET, &s->addr, ip, sizeof(ip));
		rc = rt_fail(&h, rc, err, errlen, "delete route %s/32 via %s",
			     ip, s->host_if);
	}
out:
	rt_close(&in);
	rt_close(&h);
	return rc;
}

int netns_unplumb(const struct netns_service *s, char *err, size_t errlen)
{
	struct rt h;
	int rc, found;

	if (err && errlen)
		err[0] = '\0';
	if (!name_ok(s->host_if))
		return fail_line(err, errlen, -EINVAL,
				 "netns: host interface '%.*s' is not an "
				 "interface name",
				 IFNAMSIZ, s->host_if);
	rc = rt_open_here(&h, err, errlen);
	if (rc < 0)
		return rc;
	rc = delete_veth(&h, s->host_if, &found, err, errlen);
	rt_close(&h);
	return rc;
}
