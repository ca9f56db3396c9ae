/*
 * What the packet gate (common/proc/netgate.c) costs: UDP through a veth
 * pair between two network namespaces this program makes (10.77.0.1/24 in
 * A, 10.77.0.2/24 in B; nothing is routed anywhere else), A -> B,
 *
 *   - throughput (packets/s, MB/s at the receiver) of a sender writing as
 *     fast as it can, with no gate (the physical reference, same run) and
 *     through the gate released every 1, 10 and 100 ms (a simulated epoch
 *     whose Ack is immediate: close_epoch + release at each tick);
 *   - one-way latency p50/p99 of paced datagrams (one per 100 us, each
 *     carrying its send time) for the same four modes: what the gate adds
 *     against the epoch interval (expect ~interval/2 and ~interval);
 *   - the cost of one batch verdict releasing N packets (the kernel
 *     reinjects them, through veth into B's socket, inside that one
 *     sendmsg), next to sending the same N packets with no gate, and the
 *     gate's read cost per packet. Every released packet must arrive: a
 *     batch that loses one fails the run.
 *
 *   bench_netgate [--quick] [--json] [--seconds S] [--sndbuf BYTES]
 *                 [--skip-without-root]
 *
 * A held packet stays charged to its sender's socket, so a UDP sender
 * stalls once sndbuf bytes are held: --sndbuf (default 32 MiB) shows it.
 *
 * Needs root (namespaces, nf_tables). Run by hand (scripts/bench does not
 * run it yet); meson's smoke test runs --quick.
 */
#define BENCH_PROG "bench_netgate"

#include <arpa/inet.h>
#include <fcntl.h>
#include <getopt.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>

#include "bench_util.h"
#include "netgate.h"
#include "spawn.h"

#define PORT	   7000
#define QUEUE	   9
#define MAX_HELD   (64u << 20)
#define SOCKBUF	   (32 << 20)
#define PACE_NS	   100000 /* latency runs: one datagram per 100 us */
#define MAX_SAMPLE 400000

/* ------------------------------------------------- namespaces and veth */

struct ns_call {
	int ns;
	int (*fn)(struct ns_call *c);
	int peer_ns; /* veth_in_a */
	const char *ifname, *ip;
	int domain, type, fd; /* sock_in */
	int rc;
};

static void *ns_thread(void *arg)
{
	struct ns_call *c = arg;

	c->rc = setns(c->ns, CLONE_NEWNET) < 0 ? -errno : c->fn(c);
	return NULL;
}

static int in_ns(struct ns_call *c)
{
	pthread_t t;

	if (pthread_create(&t, NULL, ns_thread, c))
		die("pthread_create");
	pthread_join(t, NULL);
	return c->rc;
}

static int make_sock(struct ns_call *c)
{
	c->fd = socket(c->domain, c->type | SOCK_CLOEXEC, 0);
	return c->fd < 0 ? -errno : 0;
}

/* A socket of namespace ns: it stays there, whichever thread uses it. */
static int sock_in(int ns, int type)
{
	struct ns_call c = {.ns = ns,
			    .fn = make_sock,
			    .domain = AF_INET,
			    .type = type,
			    .fd = -1};

	if (in_ns(&c) < 0)
		die("socket in a namespace: %s", strerror(-c.rc));
	return c.fd;
}

/* Sends one rtnetlink request and waits for its acknowledgement. */
static int rtnl_talk(int fd, struct nlmsghdr *nlh)
{
	uint8_t buf[8192] __attribute__((aligned(8)));
	struct sockaddr_nl k = {.nl_family = AF_NETLINK};
	ssize_t n;

	nlh->nlmsg_flags |= NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	if (sendto(fd, nlh, nlh->nlmsg_len, 0, (struct sockaddr *)&k,
		   sizeof(k)) < 0)
		return -errno;
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0)
		return -errno;
	nlh = (struct nlmsghdr *)buf;
	if (!mnl_nlmsg_ok(nlh, (int)n) || nlh->nlmsg_type != NLMSG_ERROR)
		return -EPROTO;
	return ((struct nlmsgerr *)mnl_nlmsg_get_payload(nlh))->error;
}

static int disable_ipv6(void)
{
	/* /proc/sys/net is the opening thread's namespace. IPv6 would send
	 * MLD reports of its own; this benchmark is about IPv4 datagrams. */
	int fd = open("/proc/sys/net/ipv6/conf/default/disable_ipv6",
		      O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	if (write(fd, "1", 1) != 1) {
		close(fd);
		return -errno;
	}
	close(fd);
	return 0;
}

/* Address c->ip/24 on c->ifname, and the link up. */
static int addr_up(struct ns_call *c)
{
	uint8_t buf[512] __attribute__((aligned(8)));
	struct nlmsghdr *nlh;
	struct ifaddrmsg *ifa;
	struct ifinfomsg *ifi;
	unsigned idx = if_nametoindex(c->ifname);
	struct in_addr a;
	int fd, rc;

	if (!idx)
		return -errno;
	inet_pton(AF_INET, c->ip, &a);
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = RTM_NEWADDR;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	ifa = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = 24;
	ifa->ifa_index = idx;
	mnl_attr_put(nlh, IFA_LOCAL, sizeof(a), &a);
	mnl_attr_put(nlh, IFA_ADDRESS, sizeof(a), &a);
	rc = rtnl_talk(fd, nlh);
	if (rc == 0) {
		nlh = mnl_nlmsg_put_header(buf);
		nlh->nlmsg_type = RTM_NEWLINK;
		ifi = mnl_nlmsg_put_extra_header(nlh, sizeof(*ifi));
		ifi->ifi_index = (int)idx;
		ifi->ifi_flags = IFF_UP;
		ifi->ifi_change = IFF_UP;
		rc = rtnl_talk(fd, nlh);
	}
	close(fd);
	return rc;
}

/* In A: the veth pair nbA (here) / nbB (in c->peer_ns), then nbA's
 * address. */
static int veth_in_a(struct ns_call *c)
{
	uint8_t buf[1024] __attribute__((aligned(8)));
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nlattr *info, *data, *peer;
	int fd, rc;

	if ((rc = disable_ipv6()) < 0)
		return rc;
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	nlh->nlmsg_type = RTM_NEWLINK;
	nlh->nlmsg_flags = NLM_F_CREATE | NLM_F_EXCL;
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "nbA");
	info = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
	mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
	data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
	peer = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
	mnl_nlmsg_put_extra_header(nlh, sizeof(struct ifinfomsg));
	mnl_attr_put_strz(nlh, IFLA_IFNAME, "nbB");
	mnl_attr_put_u32(nlh, IFLA_NET_NS_FD, (uint32_t)c->peer_ns);
	mnl_attr_nest_end(nlh, peer);
	mnl_attr_nest_end(nlh, data);
	mnl_attr_nest_end(nlh, info);
	rc = rtnl_talk(fd, nlh);
	close(fd);
	return rc < 0 ? rc : addr_up(c);
}

static int prep_b(struct ns_call *c)
{
	(void)c;
	return disable_ipv6();
}

static void topology(int *a, int *b)
{
	char err[256];
	struct ns_call c;

	if (proc_netns_new(a, err, sizeof(err)) < 0 ||
	    proc_netns_new(b, err, sizeof(err)) < 0)
		die("%s", err);
	c = (struct ns_call){.ns = *b, .fn = prep_b};
	if (in_ns(&c) < 0)
		die("B: disable IPv6: %s", strerror(-c.rc));
	c = (struct ns_call){.ns = *a,
			     .fn = veth_in_a,
			     .peer_ns = *b,
			     .ifname = "nbA",
			     .ip = "10.77.0.1"};
	if (in_ns(&c) < 0)
		die("A: veth pair and address: %s", strerror(-c.rc));
	c = (struct ns_call){
		.ns = *b, .fn = addr_up, .ifname = "nbB", .ip = "10.77.0.2"};
	if (in_ns(&c) < 0)
		die("B: address: %s", strerror(-c.rc));
}

/* ------------------------------------------------- sender and receiver */

struct run {
	int tx, rx;
	size_t size;	  /* UDP payload bytes */
	uint64_t pace_ns; /* 0: as fast as the socket takes them */
	atomic_int stop_tx, stop_rx;
	uint64_t sent, got, got_bytes;
	uint64_t *lat; /* one-way ns, paced runs */
	size_t nlat;
};

static void *sender(void *arg)
{
	struct run *r = arg;
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(PORT)};
	uint8_t buf[2048] = {0};
	uint64_t next = now_ns();

	inet_pton(AF_INET, "10.77.0.2", &to.sin_addr);
	while (!atomic_load(&r->stop_tx)) {
		uint64_t t;

		if (r->pace_ns) {
			struct timespec ts;

			next += r->pace_ns;
			ts.tv_sec = (time_t)(next / 1000000000);
			ts.tv_nsec = (long)(next % 1000000000);
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts,
					NULL);
		}
		t = now_ns();
		memcpy(buf, &t, sizeof(t));
		if (sendto(r->tx, buf, r->size, 0, (struct sockaddr *)&to,
			   sizeof(to)) == (ssize_t)r->size)
			r->sent++;
	}
	return NULL;
}

static void *receiver(void *arg)
{
	enum { V = 64 };
	struct run *r = arg;
	static uint8_t bufs[V][2048];
	struct mmsghdr mm[V];
	struct iovec iov[V];

	for (;;) {
		struct pollfd p = {.fd = r->rx, .events = POLLIN};
		int n, i;

		if (poll(&p, 1, 20) <= 0) {
			if (atomic_load(&r->stop_rx))
				break;
			continue;
		}
		memset(mm, 0, sizeof(mm));
		for (i = 0; i < V; i++) {
			iov[i] = (struct iovec){bufs[i], sizeof(bufs[i])};
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
		}
		n = recvmmsg(r->rx, mm, V, MSG_DONTWAIT, NULL);
		if (n <= 0)
			continue;
		for (i = 0; i < n; i++) {
			uint64_t t;

			r->got++;
			r->got_bytes += mm[i].msg_len;
			if (r->lat && r->nlat < MAX_SAMPLE &&
			    mm[i].msg_len >= sizeof(t)) {
				memcpy(&t, bufs[i], sizeof(t));
				r->lat[r->nlat++] = now_ns() - t;
			}
		}
	}
	return NULL;
}

/* ------------------------------------------------------------- a run */

struct result {
	unsigned interval_ms; /* 0: no gate */
	double pps, mbps;     /* blast */
	double p50_us, p99_us, mean_us;
	uint64_t sent, got, epochs;
};

/*
 * Runs the sender for `secs` with the gate (if g) released every
 * interval_ms; the main thread is the gate's loop. Afterwards the gate is
 * flushed and the receiver drains.
 */
static void one_run(struct run *r, struct netgate *g, unsigned interval_ms,
		    double secs, uint64_t *epoch)
{
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9);
	uint64_t tick = t0 + (uint64_t)interval_ms * 1000000;
	pthread_t ts, tr;
	struct netgate_count n;

	atomic_store(&r->stop_tx, 0);
	atomic_store(&r->stop_rx, 0);
	pthread_create(&tr, NULL, receiver, r);
	pthread_create(&ts, NULL, sender, r);
	for (;;) {
		uint64_t now = now_ns(), until = end;
		struct pollfd p = {.fd = g ? netgate_fd(g) : -1,
				   .events = POLLIN};

		if (now >= end)
			break;
		if (g && tick < until)
			until = tick;
		poll(&p, g ? 1 : 0, (int)((until - now) / 1000000) + 1);
		if (!g)
			continue;
		if (netgate_read(g) < 0)
			die("netgate_read: %s", netgate_why(g));
		if (now_ns() >= tick) {
			if (netgate_close_epoch(g, *epoch) < 0 ||
			    netgate_release(g, *epoch, &n) < 0)
				die("epoch %llu: %s",
				    (unsigned long long)*epoch, netgate_why(g));
			++*epoch;
			tick += (uint64_t)interval_ms * 1000000;
		}
	}
	atomic_store(&r->stop_tx, 1);
	pthread_join(ts, NULL);
	if (g && netgate_flush(g, &n) < 0)
		die("netgate_flush: %s", netgate_why(g));
	sleep_us(100000);
	atomic_store(&r->stop_rx, 1);
	pthread_join(tr, NULL);
}

static struct result measure(int tx, int rx, struct netgate *g,
			     unsigned interval_ms, double secs, size_t size,
			     uint64_t *epoch)
{
	struct result res = {.interval_ms = interval_ms};
	struct run r = {.tx = tx, .rx = rx, .size = size};
	uint64_t e0 = *epoch;

	/* Throughput: as fast as the socket takes them. */
	one_run(&r, g, interval_ms, secs, epoch);
	res.pps = (double)r.got / secs;
	res.mbps = (double)r.got_bytes / secs / 1e6;
	res.sent = r.sent;
	res.got = r.got;

	/* Latency: paced. */
	r = (struct run){.tx = tx, .rx = rx, .size = 64, .pace_ns = PACE_NS};
	r.lat = malloc(MAX_SAMPLE * sizeof(*r.lat));
	if (!r.lat)
		die("out of memory");
	one_run(&r, g, interval_ms, secs, epoch);
	if (r.nlat == 0)
		die("no datagram arrived in the latency run (%u ms)",
		    interval_ms);
	qsort(r.lat, r.nlat, sizeof(*r.lat), cmp_u64);
	res.p50_us = (double)quantile(r.lat, r.nlat, 0.50) / 1e3;
	res.p99_us = (double)quantile(r.lat, r.nlat, 0.99) / 1e3;
	{
		double s = 0;

		for (size_t i = 0; i < r.nlat; i++)
			s += (double)r.lat[i];
		res.mean_us = s / (double)r.nlat / 1e3;
	}
	free(r.lat);
	res.epochs = *epoch - e0;
	return res;
}

/* ---------------------------------------------------- batch verdicts */

struct vcost {
	unsigned n;
	double ref_us;	   /* sending N with no gate: the whole path */
	double send_us;	   /* sending N into the gate (queued, held) */
	double read_us;	   /* netgate_read of N */
	double release_us; /* the one batch verdict that lets N out */
};

static unsigned drain(int rx, unsigned want)
{
	uint8_t buf[2048];
	unsigned got = 0;
	uint64_t end = now_ns() + 2000000000ull;

	while (got < want && now_ns() < end) {
		struct pollfd p = {.fd = rx, .events = POLLIN};

		if (poll(&p, 1, 50) <= 0)
			continue;
		while (recv(rx, buf, sizeof(buf), MSG_DONTWAIT) > 0)
			got++;
	}
	return got;
}

static void send_n(int tx, unsigned n)
{
	struct sockaddr_in to = {.sin_family = AF_INET,
				 .sin_port = htons(PORT)};
	uint8_t buf[64] = {0};

	inet_pton(AF_INET, "10.77.0.2", &to.sin_addr);
	for (unsigned i = 0; i < n; i++)
		if (sendto(tx, buf, sizeof(buf), 0, (struct sockaddr *)&to,
			   sizeof(to)) != sizeof(buf))
			die("sendto: %s", strerror(errno));
}

static double median(double *v, int n)
{
	for (int i = 1; i < n; i++)
		for (int j = i; j > 0 && v[j] < v[j - 1]; j--) {
			double t = v[j];

			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	return v[n / 2];
}

/* With no gate (g == NULL): only the reference. */
static void verdict_cost(struct vcost *v, int tx, int rx, struct netgate *g,
			 int reps, uint64_t *epoch)
{
	double s[16], rd[16], rl[16];
	struct netgate_count c;
	unsigned n = v->n;

	for (int k = 0; k < reps; k++) {
		uint64_t t0, t1, t2, t3;
		int held = 0;

		t0 = now_ns();
		send_n(tx, n);
		t1 = now_ns();
		s[k] = (double)(t1 - t0) / 1e3;
		if (g) {
			while (held < (int)n) {
				struct pollfd p = {.fd = netgate_fd(g),
						   .events = POLLIN};
				int rc = netgate_read(g);

				if (rc < 0)
					die("netgate_read: %s", netgate_why(g));
				held += rc;
				if (held < (int)n && poll(&p, 1, 1000) == 0)
					die("batch of %u: %d queued", n, held);
			}
			t2 = now_ns();
			if (netgate_close_epoch(g, *epoch) < 0)
				die("close: %s", netgate_why(g));
			t3 = now_ns();
			if (netgate_release(g, (*epoch)++, &c) < 0)
				die("release: %s", netgate_why(g));
			rl[k] = (double)(now_ns() - t3) / 1e3;
			rd[k] = (double)(t2 - t1) / 1e3;
			if (c.packets != n)
				die("batch of %u released %llu", n,
				    (unsigned long long)c.packets);
		}
		if (drain(rx, n) != n)
			die("batch of %u: not all arrived", n);
	}
	if (g) {
		v->send_us = median(s, reps);
		v->read_us = median(rd, reps);
		v->release_us = median(rl, reps);
	} else {
		v->ref_us = median(s, reps);
	}
}

/* ---------------------------------------------------------------- main */

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_netgate [--quick] [--json] [--seconds S] "
		   "[--sndbuf BYTES] [--skip-without-root]\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"quick", no_argument, NULL, 'q'},
		{"json", no_argument, NULL, 'j'},
		{"seconds", required_argument, NULL, 's'},
		{"skip-without-root", no_argument, NULL, 'k'},
		{"sndbuf", required_argument, NULL, 'b'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	static const unsigned intervals[] = {0, 1, 10, 100};
	static const unsigned batch[] = {1, 10, 100, 1000, 10000};
	int json = 0, quick = 0, skip = 0, c, a, b, tx, rx, big = SOCKBUF;
	int sndbuf = SOCKBUF, btx;
	double secs = 2.0;
	struct result res[4];
	struct vcost vc[5];
	struct netgate g;
	struct netgate_stats st;
	struct netgate_kstats ks;
	char err[256];
	uint64_t epoch = 1;
	size_t nb = 5, i;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'q':
			quick = 1;
			secs = 0.3;
			break;
		case 'j':
			json = 1;
			break;
		case 's':
			secs = atof(optarg);
			if (secs <= 0 || secs > 600)
				die("--seconds %s: (0, 600]", optarg);
			break;
		case 'k':
			skip = 1;
			break;
		case 'b':
			sndbuf = atoi(optarg);
			if (sndbuf < 4096)
				die("--sndbuf %s: at least 4096", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (geteuid() != 0) {
		if (skip) {
			printf("SKIP: bench_netgate needs root (network "
			       "namespaces, nf_tables)\n");
			return 77;
		}
		die("needs root (network namespaces, nf_tables)");
	}
	if (quick)
		nb = 3;

	topology(&a, &b);
	tx = sock_in(a, SOCK_DGRAM);
	rx = sock_in(b, SOCK_DGRAM);
	setsockopt(tx, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof(sndbuf));
	/* The batch runs send N held packets from the gate's own thread:
	 * their socket must take N without a release. */
	btx = sock_in(a, SOCK_DGRAM);
	setsockopt(btx, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big));
	setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof(big));
	{
		struct sockaddr_in sa = {.sin_family = AF_INET,
					 .sin_port = htons(PORT)};

		inet_pton(AF_INET, "10.77.0.2", &sa.sin_addr);
		if (bind(rx, (struct sockaddr *)&sa, sizeof(sa)) < 0)
			die("bind: %s", strerror(errno));
	}
	/* Resolve B's address before anything is timed. */
	send_n(tx, 1);
	if (drain(rx, 1) != 1)
		die("no path from A to B");

	for (i = 0; i < 4; i++) {
		struct netgate *gp = NULL;

		if (intervals[i]) {
			if (netgate_open(&g, a, QUEUE, MAX_HELD, err,
					 sizeof(err)) < 0)
				die("netgate_open: %s", err);
			gp = &g;
		}
		status("%s: %.1f s blast (1400 B) + %.1f s paced (64 B)",
		       intervals[i] ? "gate" : "no gate", secs, secs);
		res[i] = measure(tx, rx, gp, intervals[i], secs, 1400, &epoch);
		if (gp) {
			netgate_stats(gp, &st);
			if (netgate_kstats(gp, &ks) == 0 &&
			    (ks.dropped || ks.user_dropped))
				status("the kernel's queue dropped %u + %u",
				       ks.dropped, ks.user_dropped);
			if (netgate_close(gp, err, sizeof(err)) < 0)
				die("netgate_close: %s", err);
		}
	}

	for (i = 0; i < nb; i++) {
		vc[i] = (struct vcost){.n = batch[i]};
		verdict_cost(&vc[i], btx, rx, NULL, quick ? 3 : 7, &epoch);
	}
	if (netgate_open(&g, a, QUEUE, MAX_HELD, err, sizeof(err)) < 0)
		die("netgate_open: %s", err);
	for (i = 0; i < nb; i++) {
		status("batch verdict of %u", batch[i]);
		verdict_cost(&vc[i], btx, rx, &g, quick ? 3 : 7, &epoch);
	}
	netgate_stats(&g, &st);
	if (st.lost || st.overruns)
		die("the kernel dropped %llu packets (%llu overruns)",
		    (unsigned long long)st.lost,
		    (unsigned long long)st.overruns);
	if (netgate_close(&g, err, sizeof(err)) < 0)
		die("netgate_close: %s", err);

	if (json) {
		printf("{\"seconds\": %.2f, \"sndbuf\": %d, \"runs\": [", secs,
		       sndbuf);
		for (i = 0; i < 4; i++)
			printf("%s{\"interval_ms\": %u, \"pps\": %.0f, "
			       "\"mb_per_s\": %.1f, \"sent\": %llu, "
			       "\"received\": %llu, \"p50_us\": %.1f, "
			       "\"p99_us\": %.1f, \"mean_us\": %.1f}",
			       i ? ", " : "", res[i].interval_ms, res[i].pps,
			       res[i].mbps, (unsigned long long)res[i].sent,
			       (unsigned long long)res[i].got, res[i].p50_us,
			       res[i].p99_us, res[i].mean_us);
		printf("], \"batch\": [");
		for (i = 0; i < nb; i++)
			printf("%s{\"packets\": %u, \"no_gate_send_us\": "
			       "%.1f, \"gated_send_us\": %.1f, "
			       "\"read_us\": %.1f, \"release_us\": %.1f}",
			       i ? ", " : "", vc[i].n, vc[i].ref_us,
			       vc[i].send_us, vc[i].read_us, vc[i].release_us);
		printf("]}\n");
	} else {
		printf("UDP A -> B over veth, %.1f s per run; sender sndbuf "
		       "%d B, receiver rcvbuf %d MiB\n\n",
		       secs, sndbuf, SOCKBUF >> 20);
		printf("%-12s %10s %9s %7s %10s %10s %10s %6s\n", "gate",
		       "pkt/s", "MB/s", "ratio", "p50 us", "p99 us", "mean us",
		       "lost");
		for (i = 0; i < 4; i++) {
			char name[32];

			if (res[i].interval_ms)
				snprintf(name, sizeof(name), "every %u ms",
					 res[i].interval_ms);
			else
				snprintf(name, sizeof(name), "none");
			printf("%-12s %10.0f %9.1f %7.2f %10.1f %10.1f "
			       "%10.1f %6llu\n",
			       name, res[i].pps, res[i].mbps,
			       res[i].pps / res[0].pps, res[i].p50_us,
			       res[i].p99_us, res[i].mean_us,
			       (unsigned long long)(res[i].sent - res[i].got));
		}
		printf("\nN packets of 64 B: sent with no gate (the whole "
		       "path, the reference), sent into the gate, read,\n"
		       "and let out by one batch verdict (the same path "
		       "from the output hook on)\n\n");
		printf("%-7s %11s %11s %9s %11s %11s %9s\n", "N", "no gate us",
		       "gated us", "read us", "release us", "rel ns/pkt",
		       "rel/ref");
		for (i = 0; i < nb; i++)
			printf("%-7u %11.1f %11.1f %9.1f %11.1f %11.0f "
			       "%9.2f\n",
			       vc[i].n, vc[i].ref_us, vc[i].send_us,
			       vc[i].read_us, vc[i].release_us,
			       vc[i].release_us * 1e3 / vc[i].n,
			       vc[i].release_us / vc[i].ref_us);
	}
	close(tx);
	close(btx);
	close(rx);
	close(a);
	close(b);
	return 0;
}
