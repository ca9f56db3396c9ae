/*
 * The service's network (common/proc/netns.h) against the real kernel. Each
 * test moves its main thread into a fresh network namespace of its own, the
 * "host", so nothing it does is seen outside it; the service's namespace
 * comes from proc_netns_new(), as the daemons make it. A small TCP server
 * runs in the service's namespace on a thread that setns()es, and the host
 * talks to it: what it answers proves the path, exactly.
 *
 * - bridge: plumbed down (a backup: the host end down, the service's side
 *   whole), the service does not answer; brought up, it announces itself (gratuitous ARPs captured on the bridge) and
 *   answers; unplumbed, it is gone. Plumbed up at once, and again over a
 *   stale host end. eth0 never has an IPv6 address.
 * - routing: the host's /32 route appears with the service and goes with
 *   it; the gateway is pinned to the host end's MAC.
 * - refusals: each with its exact line, leaving nothing behind.
 *
 * `ip` and `nsenter` (iproute2, util-linux: scripts/setup) only inspect and
 * build the host's side. Needs root: without it the program prints one
 * "SKIP:" line and exits 77 (meson's "skipped").
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "netns.h"
#include "spawn.h"

#define ERRLEN 512
#define PORT   7000
#define SVC_IP "10.78.0.2"
#define GW_IP  "10.78.0.1"
#define SRC_IP "10.79.0.1" /* the host's own address in routing mode */
/* How long a path that works needs at most, generously: a connection
 * that has not succeeded in this long is refused, not slow. */
#define NO_ANSWER_MS 2000

static const uint8_t svc_mac[6] = {0x02, 0x52, 0x4d, 0x00, 0x00, 0x02};

/* ------------------------------------------------------------- the host */

/* A shell command in the host namespace (the main thread's); its status. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Its output, one string, trailing newline cut. */
__attribute__((format(printf, 3, 4))) static void sh_out(char *out, size_t size,
							 const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	FILE *p;
	size_t n;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	while (n && out[n - 1] == '\n')
		out[--n] = '\0';
	pclose(p);
}

#define SH(...) assert_int_equal(sh(__VA_ARGS__), 0)

/* A fresh namespace for the main thread, with lo up: the test's host. */
static void host_new(void)
{
	assert_int_equal(unshare(CLONE_NEWNET), 0);
	SH("ip link set lo up");
}

/* The service's namespace, as the daemons make it. */
static int service_ns(void)
{
	char err[ERRLEN];
	int fd;

	if (proc_netns_new(&fd, err, sizeof(err)) != 0)
		fail_msg("proc_netns_new: %s", err);
	return fd;
}

/*
 * `ip ARGS` inside the service's namespace, its output in out: nsenter
 * joins it through an inherited copy of fd.
 */
__attribute__((format(printf, 4, 5))) static int
in_service(int fd, char *out, size_t size, const char *fmt, ...)
{
	char args[512], cmd[700];
	va_list ap;
	int d = dup(fd), st;
	FILE *p;
	size_t n;

	assert_true(d >= 0);
	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "nsenter --net=/proc/self/fd/%d ip %s 2>&1",
		 d, args);
	p = popen(cmd, "r");
	assert_non_null(p);
	n = fread(out, 1, size - 1, p);
	out[n] = '\0';
	while (n && out[n - 1] == '\n')
		out[--n] = '\0';
	st = pclose(p);
	close(d);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static struct netns_service svc(const char *host_if, const char *bridge)
{
	struct netns_service s = {.prefix = 24};

	snprintf(s.host_if, sizeof(s.host_if), "%s", host_if);
	snprintf(s.bridge, sizeof(s.bridge), "%s", bridge);
	inet_pton(AF_INET, SVC_IP, &s.addr);
	inet_pton(AF_INET, GW_IP, &s.gateway);
	memcpy(s.mac, svc_mac, 6);
	return s;
}

/* The host's bridge br-t, holding the gateway's address. */
static void bridge_new(void)
{
	SH("ip link add br-t type bridge && ip addr add " GW_IP
	   "/24 dev br-t && ip link set br-t up");
}

/* ----------------------------------------------------------- the server */

/*
 * A TCP server in the service's namespace: each connection gets "pong "
 * and what it sent. Its thread setns()es, so its sockets are there.
 */
struct server {
	int netns_fd, stop, rc;
	sem_t ready;
	pthread_t t;
};

static void *server_main(void *p)
{
	struct server *s = p;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(PORT)};
	int l, one = 1;

	if (setns(s->netns_fd, CLONE_NEWNET) < 0 ||
	    (l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		s->rc = -errno;
		sem_post(&s->ready);
		return NULL;
	}
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 8) < 0)
		s->rc = -errno;
	sem_post(&s->ready);
	while (s->rc == 0) {
		struct pollfd pf[2] = {{.fd = l, .events = POLLIN},
				       {.fd = s->stop, .events = POLLIN}};
		char in[64], out[80];
		ssize_t n;
		int c;

		if (poll(pf, 2, -1) < 0 || pf[1].revents)
			break;
		c = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			continue;
		n = read(c, in, sizeof(in) - 1);
		if (n > 0) {
			in[n] = '\0';
			n = snprintf(out, sizeof(out), "pong %s", in);
			(void)!write(c, out, (size_t)n);
		}
		close(c);
	}
	close(l);
	return NULL;
}

static void server_start(struct server *s, int netns_fd)
{
	memset(s, 0, sizeof(*s));
	s->netns_fd = netns_fd;
	s->stop = eventfd(0, EFD_CLOEXEC);
	assert_true(s->stop >= 0);
	assert_int_equal(sem_init(&s->ready, 0, 0), 0);
	assert_int_equal(pthread_create(&s->t, NULL, server_main, s), 0);
	sem_wait(&s->ready);
	assert_int_equal(s->rc, 0);
}

static void server_stop(struct server *s)
{
	uint64_t one = 1;

	(void)!write(s->stop, &one, sizeof(one));
	pthread_join(s->t, NULL);
	close(s->stop);
	sem_destroy(&s->ready);
}

/*
 * From the host: connect to the service (from src if given), send "ping",
 * and read the answer into reply. 0, or -errno (-ETIMEDOUT after
 * timeout_ms without a connection).
 */
static int ask(const char *src, int timeout_ms, char *reply, size_t size)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(PORT)};
	struct sockaddr_in from = {.sin_family = AF_INET};
	struct pollfd pf;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int rc = 0, e;
	socklen_t el = sizeof(e);
	ssize_t n;

	reply[0] = '\0';
	assert_true(fd >= 0);
	inet_pton(AF_INET, SVC_IP, &to.sin_addr);
	if (src) {
		inet_pton(AF_INET, src, &from.sin_addr);
		assert_int_equal(
			bind(fd, (struct sockaddr *)&from, sizeof(from)), 0);
	}
	if (connect(fd, (struct sockaddr *)&to, sizeof(to)) < 0 &&
	    errno != EINPROGRESS) {
		rc = -errno;
		goto out;
	}
	pf = (struct pollfd){.fd = fd, .events = POLLOUT};
	if (poll(&pf, 1, timeout_ms) == 0) {
		rc = -ETIMEDOUT;
		goto out;
	}
	getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
	if (e) {
		rc = -e;
		goto out;
	}
	assert_int_equal(write(fd, "ping", 4), 4);
	pf = (struct pollfd){.fd = fd, .events = POLLIN};
	assert_int_equal(poll(&pf, 1, 5000), 1);
	n = read(fd, reply, size - 1);
	assert_true(n > 0);
	reply[n] = '\0';
out:
	close(fd);
	return rc;
}

static void answers(const char *src)
{
	char reply[80];
	int rc = ask(src, 5000, reply, sizeof(reply));

	if (rc)
		fail_msg("the service does not answer: %s", strerror(-rc));
	assert_string_equal(reply, "pong ping");
}

static void does_not_answer(const char *src)
{
	char reply[80];
	int rc = ask(src, NO_ANSWER_MS, reply, sizeof(reply));

	if (rc == 0)
		fail_msg("the service answers ('%s') and should not", reply);
}

/* ------------------------------------------------------- the announcement */

/* Raw ARP frames on the host's interface ifname, from now on. */
static int capture(const char *ifname)
{
	struct sockaddr_ll sll = {.sll_family = AF_PACKET,
				  .sll_protocol = htons(ETH_P_ARP)};
	int fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ARP));

	assert_true(fd >= 0);
	sll.sll_ifindex = (int)if_nametoindex(ifname);
	assert_true(sll.sll_ifindex > 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sll, sizeof(sll)), 0);
	return fd;
}

struct arp_frame {
	uint8_t dst[6], src[6];
	uint16_t type;
	struct arphdr h;
	uint8_t sha[6], spa[4], tha[6], tpa[4];
} __attribute__((packed));

/*
 * Gratuitous ARPs for the service seen within ms: broadcast, from its
 * MAC, a request whose sender and target are its address. Their arrival
 * times go to at[] (at most max).
 */
static int garps(int fd, int ms, uint64_t *at, int max)
{
	uint64_t until = now_ns() + (uint64_t)ms * 1000000u;
	struct in_addr ip;
	int n = 0;

	inet_pton(AF_INET, SVC_IP, &ip);
	for (;;) {
		struct arp_frame f;
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		uint64_t now = now_ns();
		ssize_t r;

		if (now >= until ||
		    poll(&pf, 1, (int)((until - now) / 1000000u) + 1) <= 0)
			return n;
		r = recv(fd, &f, sizeof(f), 0);
		if (r != (ssize_t)sizeof(f))
			continue;
		if (memcmp(f.dst, "\xff\xff\xff\xff\xff\xff", 6) ||
		    memcmp(f.src, svc_mac, 6) || f.type != htons(ETH_P_ARP) ||
		    f.h.ar_hrd != htons(ARPHRD_ETHER) ||
		    f.h.ar_pro != htons(ETH_P_IP) || f.h.ar_hln != 6 ||
		    f.h.ar_pln != 4 || f.h.ar_op != htons(ARPOP_REQUEST) ||
		    memcmp(f.sha, svc_mac, 6) || memcmp(f.spa, &ip, 4) ||
		    memcmp(f.tpa, &ip, 4))
			continue;
		if (n < max)
			at[n] = now_ns();
		n++;
	}
}

/*
 * eth0 has no IPv6 address, not even a link-local one (the kernel gives
 * one to every link with a carrier unless IPv6 is off there): every node
 * would have the same. Call once eth0 has its carrier (the service
 * answers).
 */
static void no_ipv6(int ns)
{
	char out[2048];

	assert_int_equal(
		in_service(ns, out, sizeof(out), "-o -6 addr show dev eth0"),
		0);
	assert_string_equal(out, "");
}

/* ---------------------------------------------------------------- tests */

/*
 * A backup's namespace: plumbed down it does not answer, though eth0 has
 * its MAC and address; netns_service_up() announces it on the bridge and
 * it answers; unplumbed, it is gone from both sides.
 */
static void test_bridge_backup_promoted(void **state)
{
	struct netns_service s = svc("rm-t", "br-t");
	struct netns_plumbed got;
	struct server srv;
	char err[ERRLEN], out[2048];
	uint64_t at[8] = {0}, t0, took;
	int ns, cap, n;

	(void)state;
	host_new();
	bridge_new();
	ns = service_ns();
	server_start(&srv, ns);

	memset(&got, 0xff, sizeof(got));
	if (netns_plumb(ns, &s, 0, &got, err, sizeof(err)) != 0)
		fail_msg("netns_plumb: %s", err);
	assert_string_equal(err, "");
	assert_int_equal(got.stale_removed, 0);
	assert_int_equal(got.host_ifindex, (int)if_nametoindex("rm-t"));
	/* Down is the host end: on the bridge, but not up. */
	sh_out(out, sizeof(out), "ip -o link show rm-t");
	assert_non_null(strstr(out, "master br-t"));
	assert_non_null(strstr(out, "link/ether fe:"));
	assert_null(strstr(out, ",UP"));
	assert_non_null(strstr(out, "state DOWN"));
	/* The service's side is whole (eth0 up without a carrier, its
	 * routes there), so that a restored socket finds its route. */
	assert_int_equal(in_service(ns, out, sizeof(out), "-o link show eth0"),
			 0);
	assert_non_null(strstr(out, "link/ether 02:52:4d:00:00:02 "));
	assert_non_null(strstr(out, ",UP"));
	assert_non_null(strstr(out, "NO-CARRIER"));
	assert_int_equal(
		in_service(ns, out, sizeof(out), "-o -4 addr show dev eth0"),
		0);
	assert_non_null(strstr(out, "inet " SVC_IP "/24 brd 10.78.0.255 "));
	assert_int_equal(in_service(ns, out, sizeof(out), "route show"), 0);
	assert_non_null(strstr(out, "default via " GW_IP " dev eth0"));
	does_not_answer(NULL);

	/* Promotion: announced on the bridge, then answering. */
	cap = capture("br-t");
	t0 = now_ns();
	if (netns_service_up(ns, &s, err, sizeof(err)) != 0)
		fail_msg("netns_service_up: %s", err);
	took = now_ns() - t0;
	assert_string_equal(err, "");
	n = garps(cap, 1000, at, 8);
	printf("netns_service_up: %.2f ms; gratuitous ARPs seen at +%.2f ms "
	       "and +%.2f ms\n",
	       (double)took / 1e6, (double)(at[0] - t0) / 1e6,
	       (double)(at[n > 0 ? n - 1 : 0] - t0) / 1e6);
	assert_int_equal(n, NETNS_GARP_COUNT);
	/* The first was sent before the call returned (seen well within a
	 * gap of its return), the last one after: it does not wait for the
	 * spacing. */
	assert_true(at[0] < t0 + took + 40 * 1000000ull);
	assert_true(at[n - 1] > t0 + took);
	/* Spaced, not a burst. */
	assert_true(at[n - 1] - at[0] >= (uint64_t)(NETNS_GARP_COUNT - 1) *
						 (NETNS_GARP_GAP_MS - 20) *
						 1000000u);
	close(cap);
	answers(NULL);
	no_ipv6(ns);
	assert_int_equal(in_service(ns, out, sizeof(out), "route show"), 0);
	assert_non_null(strstr(out, "default via " GW_IP " dev eth0"));

	if (netns_unplumb(&s, err, sizeof(err)) != 0)
		fail_msg("netns_unplumb: %s", err);
	assert_int_not_equal(sh("ip link show rm-t >/dev/null 2>&1"), 0);
	assert_int_not_equal(in_service(ns, out, sizeof(out), "link show eth0"),
			     0);
	does_not_answer(NULL);
	/* Nothing left to delete: fine. */
	assert_int_equal(netns_unplumb(&s, err, sizeof(err)), 0);

	server_stop(&srv);
	close(ns);
}

/*
 * A primary plumbs up at once; a daemon that restarts after a SIGKILL
 * finds its old host end, deletes it and plumbs its new namespace.
 */
static void test_bridge_up_and_stale(void **state)
{
	struct netns_service s = svc("rm-t", "br-t");
	struct netns_plumbed got;
	struct server srv;
	char err[ERRLEN], out[2048];
	int ns, ns2;

	(void)state;
	host_new();
	bridge_new();
	ns = service_ns();
	server_start(&srv, ns);
	if (netns_plumb(ns, &s, 1, &got, err, sizeof(err)) != 0)
		fail_msg("netns_plumb: %s", err);
	assert_int_equal(got.stale_removed, 0);
	answers(NULL);
	no_ipv6(ns);
	server_stop(&srv);

	/* The first daemon is gone without unplumbing; its namespace too
	 * would be, but here it is still held: its eth0 goes with the
	 * stale host end all the same. */
	ns2 = service_ns();
	server_start(&srv, ns2);
	if (netns_plumb(ns2, &s, 1, &got, err, sizeof(err)) != 0)
		fail_msg("netns_plumb over a stale host end: %s", err);
	assert_int_equal(got.stale_removed, 1);
	assert_string_equal(err, "rm-t: a stale veth of that name (a daemon "
				 "that did not unplumb?) was deleted first");
	assert_int_not_equal(in_service(ns, out, sizeof(out), "link show eth0"),
			     0);
	answers(NULL);
	assert_int_equal(netns_unplumb(&s, err, sizeof(err)), 0);
	server_stop(&srv);
	close(ns2);
	close(ns);
}

/*
 * Routing: no bridge. The host reaches the service through a /32 route
 * that exists only while the service is up; the service reaches the host
 * through its gateway, pinned to the host end's MAC.
 */
static void test_routing(void **state)
{
	struct netns_service s = svc("rm-r", "");
	struct server srv;
	char err[ERRLEN], out[2048], mac[64];
	int ns;

	(void)state;
	host_new();
	SH("ip addr add " SRC_IP "/32 dev lo");
	ns = service_ns();
	server_start(&srv, ns);
	if (netns_plumb(ns, &s, 0, NULL, err, sizeof(err)) != 0)
		fail_msg("netns_plumb: %s", err);
	sh_out(out, sizeof(out), "ip route show " SVC_IP "/32");
	assert_string_equal(out, "");
	sh_out(out, sizeof(out), "ip -o link show rm-r");
	assert_null(strstr(out, "master"));
	does_not_answer(SRC_IP);

	if (netns_service_up(ns, &s, err, sizeof(err)) != 0)
		fail_msg("netns_service_up: %s", err);
	sh_out(out, sizeof(out), "ip route show " SVC_IP "/32");
	assert_string_equal(out, SVC_IP " dev rm-r proto static scope link ");
	sh_out(mac, sizeof(mac),
	       "ip -o link show rm-r | "
	       "sed 's/.*link\\/ether \\([^ ]*\\).*/\\1/'");
	assert_int_equal(strlen(mac), 17);
	assert_int_equal(in_service(ns, out, sizeof(out),
				    "neigh show " GW_IP " dev eth0"),
			 0);
	assert_true(strncmp(out, GW_IP " lladdr ", 17) == 0);
	assert_non_null(strstr(out, mac));
	assert_non_null(strstr(out, "PERMANENT"));
	answers(SRC_IP);

	/* A planned switchover's old primary: answers nowhere. */
	if (netns_service_down(ns, &s, err, sizeof(err)) != 0)
		fail_msg("netns_service_down: %s", err);
	sh_out(out, sizeof(out), "ip route show " SVC_IP "/32");
	assert_string_equal(out, "");
	does_not_answer(SRC_IP);
	/* And up again. */
	if (netns_service_up(ns, &s, err, sizeof(err)) != 0)
		fail_msg("netns_service_up again: %s", err);
	answers(SRC_IP);

	assert_int_equal(netns_unplumb(&s, err, sizeof(err)), 0);
	sh_out(out, sizeof(out), "ip route show " SVC_IP "/32");
	assert_string_equal(out, "");
	server_stop(&srv);
	close(ns);
}

/* Each refusal: its errno, its exact line, nothing left behind. */
static void test_refusals(void **state)
{
	struct netns_service s;
	char err[ERRLEN], out[2048];
	int ns, null_fd;

	(void)state;
	host_new();
	bridge_new();
	ns = service_ns();

	s = svc("rm-t", "br-nope");
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -ENODEV);
	assert_string_equal(err, "bridge br-nope: no such interface on the "
				 "host (create it, or leave bridge out to "
				 "route)");
	s = svc("rm-t", "lo");
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "bridge lo: not a bridge (kind none)");
	assert_int_not_equal(sh("ip link show rm-t >/dev/null 2>&1"), 0);

	/* Someone else's interface of that name: left alone. */
	SH("ip link add rm-x type bridge");
	s = svc("rm-x", "br-t");
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EEXIST);
	assert_string_equal(err, "rm-x exists and is not a veth (kind "
				 "bridge): not remora's, left alone; name "
				 "another [service] interface");
	assert_int_equal(netns_unplumb(&s, err, sizeof(err)), -EEXIST);
	SH("ip link show rm-x >/dev/null");

	/* A namespace that has an eth0 already. */
	s = svc("rm-a", "br-t");
	assert_int_equal(netns_plumb(ns, &s, 0, NULL, err, sizeof(err)), 0);
	s = svc("rm-b", "br-t");
	assert_int_equal(netns_plumb(ns, &s, 0, NULL, err, sizeof(err)),
			 -EEXIST);
	assert_string_equal(err, "create veth rm-b (peer eth0 in the "
				 "service's namespace, which must have none): "
				 "File exists");
	assert_int_not_equal(sh("ip link show rm-b >/dev/null 2>&1"), 0);
	s = svc("rm-a", "br-t");
	assert_int_equal(netns_unplumb(&s, err, sizeof(err)), 0);

	/* Not a namespace. */
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	s = svc("rm-t", "br-t");
	assert_int_equal(netns_plumb(null_fd, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	snprintf(out, sizeof(out),
		 "setns in the service's network namespace (fd %d): Invalid "
		 "argument",
		 null_fd);
	assert_string_equal(err, out);
	close(null_fd);
	assert_int_equal(netns_plumb(-1, &s, 1, NULL, err, sizeof(err)),
			 -EBADF);
	assert_string_equal(err, "netns: no service namespace (fd -1)");
	assert_int_equal(netns_service_up(ns, &s, err, sizeof(err)), -ENODEV);
	assert_string_equal(err, "look up eth0 in the service's namespace: No "
				 "such device");

	/* What the caller asks for is checked before anything is done. */
	s = svc("rm-t", "br-t");
	s.prefix = 0;
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "netns: prefix length 0 is not 1..32");
	s = svc("rm/t", "br-t");
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "netns: host interface 'rm/t' is not an "
				 "interface name");
	s = svc("br-t", "br-t");
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "netns: bridge and host interface are both "
				 "br-t");
	s = svc("rm-t", "br-t");
	inet_pton(AF_INET, "10.78.0.255", &s.addr);
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "netns: 10.78.0.255/24 is not a host's "
				 "address");
	s = svc("rm-t", "br-t");
	s.mac[0] = 0x01;
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "netns: eth0's MAC must be unicast and not "
				 "zero");
	s = svc("rm-t", "br-t");
	inet_pton(AF_INET, "10.79.0.1", &s.gateway);
	assert_int_equal(netns_plumb(ns, &s, 1, NULL, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(
		err, "netns: gateway is not another address of " SVC_IP "/24");
	assert_int_not_equal(sh("ip link show rm-t >/dev/null 2>&1"), 0);
	close(ns);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bridge_backup_promoted),
		cmocka_unit_test(test_bridge_up_and_stale),
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_refusals),
	};

	if (geteuid() != 0) {
		printf("SKIP: test_netns needs root (network namespaces, veth "
		       "pairs, bridges); run it as root\n");
		return 77;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
