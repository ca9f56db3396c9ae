/*
 * The packet gate of output commit (netgate.h, docs/network.md): an
 * nf_tables output chain in the service's network namespace sends every
 * outgoing packet to a netfilter queue, and the queue's netlink socket
 * holds them until the epoch that produced them is acknowledged.
 *
 * The gate keeps no per-packet record. The kernel numbers queued packets
 * with one sequence per queue, in queue order, and a batch verdict
 * (NFQNL_MSG_VERDICT_BATCH) applies to every queued packet whose id is not
 * after the one it names, walking the queue from its head and stopping at
 * the first later id; packets are reinjected in queue order. An epoch is
 * therefore just the id of its last packet (and its counts): releasing
 * epochs <= acked is one message naming the last id of the newest of them.
 *
 * Everything the socket returns is input: the sender must be the kernel,
 * every message and attribute is bounds-checked (libmnl), the packet
 * header must have its exact size, and ids must move forward (a gap is
 * counted: the kernel dropped those packets). A message that breaks these
 * rules would make a batch release packets out of their epoch, so the
 * read reports -EPROTO instead of guessing.
 */
#include "netgate.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <libmnl/libmnl.h>
#include <libnftnl/chain.h>
#include <libnftnl/common.h>
#include <libnftnl/expr.h>
#include <libnftnl/rule.h>
#include <libnftnl/table.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netfilter/x_tables.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netlink.h>

#include "fail.h"

/*
 * Bytes of each packet the kernel copies to us: none are read, but the
 * copy-packet mode is the only one in which the kernel reports a packet's
 * length (NFQA_CAP_LEN when truncated), and the byte bound needs it.
 */
#define NG_COPY_RANGE 64
#define NG_SLOTS      32   /* messages per recvmmsg() */
#define NG_SLOT	      1024 /* a packet message is ~200 bytes */
#define NG_PRIORITY   300  /* after filter (0) and security (50) */
#define NG_QMIN	      1024u
#define NG_QMAX	      262144u
#define NG_RCVBUF_MIN (4 << 20)
#define NG_RCVBUF_MAX (64 << 20)
#define NG_TX_SIZE    8192
#define NG_ACK_MS     2000

static const struct sockaddr_nl kernel_sa = {.nl_family = AF_NETLINK};

uint32_t netgate_queue_maxlen(size_t max_held_bytes)
{
	size_t n = max_held_bytes / 64 * 2;

	if (n < NG_QMIN)
		return NG_QMIN;
	return n > NG_QMAX ? NG_QMAX : (uint32_t)n;
}

__attribute__((format(printf, 3, 4))) static int why(struct netgate *g, int rc,
						     const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->why, sizeof(g->why), fmt, ap);
	va_end(ap);
	return rc;
}

/* --------------------------------------------- running in the namespace */

struct ns_job {
	int netns_fd;
	int (*fn)(struct ns_job *j);
	struct netgate *g;
	int rc;
	char why[160];
	/* netgate_kstats */
	struct netgate_kstats *ks;
};

static void *ns_main(void *arg)
{
	struct ns_job *j = arg;

	if (setns(j->netns_fd, CLONE_NEWNET) < 0)
		j->rc = fail_line(j->why, sizeof(j->why), -errno,
				  "setns into the service's network "
				  "namespace: %s",
				  strerror(errno));
	else
		j->rc = j->fn(j);
	return NULL;
}

/* Runs j->fn on a thread of its own inside the namespace. */
static int in_netns(struct ns_job *j)
{
	pthread_t t;
	int rc;

	rc = pthread_create(&t, NULL, ns_main, j);
	if (rc)
		return fail_line(j->why, sizeof(j->why), -rc,
				 "netns thread: %s", strerror(rc));
	pthread_join(t, NULL);
	return j->rc;
}

/* ------------------------------------------------ netlink request/reply */

/*
 * Reads the replies to requests just sent (the kernel handles a netlink
 * request inside sendmsg(), so they are queued already; waiting is only a
 * safety net): returns 0 once `acks` acknowledgements came, or the first
 * error the kernel reported. Packet messages are not expected here.
 */
static int read_acks(int fd, unsigned acks, char *err, size_t errlen)
{
	uint8_t buf[8192] __attribute__((aligned(8)));
	int first = 0;

	while (acks > 0) {
		struct sockaddr_nl sa;
		socklen_t salen = sizeof(sa);
		struct pollfd p = {.fd = fd, .events = POLLIN};
		const struct nlmsghdr *nlh;
		ssize_t n;
		int rem;

		n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT,
			     (struct sockaddr *)&sa, &salen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (first)
				break;
			if (poll(&p, 1, NG_ACK_MS) == 0)
				return fail_line(err, errlen, -ETIMEDOUT,
						 "no reply from the kernel "
						 "in %d ms",
						 NG_ACK_MS);
			continue;
		}
		if (n < 0)
			return fail_line(err, errlen, -errno,
					 "reading the kernel's reply: %s",
					 strerror(errno));
		if (salen != sizeof(sa) || sa.nl_pid != 0)
			continue;
		nlh = (const struct nlmsghdr *)buf;
		rem = (int)n;
		for (; mnl_nlmsg_ok(nlh, rem);
		     nlh = mnl_nlmsg_next(nlh, &rem)) {
			const struct nlmsgerr *e;

			if (nlh->nlmsg_type != NLMSG_ERROR)
				continue;
			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
				return fail_line(err, errlen, -EPROTO,
						 "short netlink error "
						 "message");
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error > 0 || e->error < -4095)
				return fail_line(err, errlen, -EPROTO,
						 "netlink error %d out of "
						 "range",
						 e->error);
			if (e->error && !first)
				first = e->error;
			if (acks > 0)
				acks--;
		}
	}
	if (first)
		return fail_line(err, errlen, first, "%s", strerror(-first));
	return 0;
}

/* --------------------------------------------------------- the queue */

/* Binds queue_num to a new socket of this thread's namespace. */
static int queue_bind(struct ns_job *j)
{
	struct netgate *g = j->g;
	uint8_t buf[256] __attribute__((aligned(8)));
	struct nfqnl_msg_config_cmd cmd = {.command = NFQNL_CFG_CMD_BIND};
	struct nfqnl_msg_config_params params = {
		.copy_range = htonl(NG_COPY_RANGE),
		.copy_mode = NFQNL_COPY_PACKET,
	};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	socklen_t salen = sizeof(sa);
	struct nlmsghdr *nlh;
	struct nfgenmsg *nfg;
	size_t rb;
	int fd, rc, size;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    NETLINK_NETFILTER);
	if (fd < 0)
		return fail_line(j->why, sizeof(j->why), -errno,
				 "netfilter netlink socket: %s",
				 strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &salen) < 0) {
		rc = fail_line(j->why, sizeof(j->why), -errno,
			       "binding the netlink socket: %s",
			       strerror(errno));
		goto err;
	}
	/*
	 * Room for every message the kernel's queue can hold unread (a small
	 * netlink skb is ~768 bytes of truesize): overflowing it drops packets
	 * (fail-closed) and reports ENOBUFS.
	 */
	rb = (size_t)g->queue_maxlen * 768;
	rb = rb < NG_RCVBUF_MIN ? NG_RCVBUF_MIN : rb;
	size = (int)(rb > NG_RCVBUF_MAX ? NG_RCVBUF_MAX : rb);
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) < 0)
		(void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size,
				 sizeof(size));

	nlh = mnl_nlmsg_put_header(buf);
	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG;
	nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	nlh->nlmsg_seq = 1;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(g->queue_num);
	mnl_attr_put(nlh, NFQA_CFG_CMD, sizeof(cmd), &cmd);
	mnl_attr_put(nlh, NFQA_CFG_PARAMS, sizeof(params), &params);
	mnl_attr_put_u32(nlh, NFQA_CFG_QUEUE_MAXLEN, htonl(g->queue_maxlen));
	/*
	 * GSO packets whole (one entry, its full length; no software checksum
	 * or segmentation in the kernel's queueing path). Fail-open explicitly
	 * off: a full queue drops rather than lets a packet out early.
	 */
	mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
	mnl_attr_put_u32(nlh, NFQA_CFG_MASK,
			 htonl(NFQA_CFG_F_GSO | NFQA_CFG_F_FAIL_OPEN));
	if (sendto(fd, buf, nlh->nlmsg_len, 0,
		   (const struct sockaddr *)&kernel_sa,
		   sizeof(kernel_sa)) != (ssize_t)nlh->nlmsg_len) {
		rc = fail_line(j->why, sizeof(j->why), -errno,
			       "sending the queue's configuration: %s",
			       strerror(errno));
		goto err;
	}
	rc = read_acks(fd, 1, j->why, sizeof(j->why));
	if (rc == -EBUSY || rc == -EPERM) {
		rc = fail_line(j->why, sizeof(j->why), -EBUSY,
			       "netfilter queue %u of the service's namespace "
			       "is bound by another process",
			       g->queue_num);
		goto err;
	}
	if (rc < 0) {
		char e[sizeof(j->why)];

		snprintf(e, sizeof(e), "%s", j->why);
		fail_line(j->why, sizeof(j->why), rc,
			  "binding netfilter queue %u: %s", g->queue_num, e);
		goto err;
	}
	g->fd = fd;
	g->portid = sa.nl_pid;
	return 0;
err:
	close(fd);
	return rc;
}

/* ------------------------------------------------- the nf_tables rule */

static struct nftnl_expr *expr_meta(uint32_t key)
{
	struct nftnl_expr *e = nftnl_expr_alloc("meta");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, key);
		nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	}
	return e;
}

static struct nftnl_expr *expr_cmp(uint32_t op, const void *v, uint32_t len)
{
	struct nftnl_expr *e = nftnl_expr_alloc("cmp");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, op);
		nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, v, len);
	}
	return e;
}

static struct nftnl_expr *expr_accept(void)
{
	struct nftnl_expr *e = nftnl_expr_alloc("immediate");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
		nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
	}
	return e;
}

static struct nftnl_expr *expr_th_byte(void)
{
	struct nftnl_expr *e = nftnl_expr_alloc("payload");

	if (e) {
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE,
				   NFT_PAYLOAD_TRANSPORT_HEADER);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 0);
		nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 1);
	}
	return e;
}

/*
 * Queues to queue_num with no bypass: the kernel's own queue expression
 * where it has one (nft_queue), else the xtables NFQUEUE target through
 * nft_compat (this project's kernel has only the latter).
 */
static struct nftnl_expr *expr_queue(uint16_t queue_num, int native)
{
	struct xt_NFQ_info_v1 *info;
	struct nftnl_expr *e;

	if (native) {
		e = nftnl_expr_alloc("queue");
		if (e) {
			nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, queue_num);
			nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, 1);
			nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_FLAGS, 0);
		}
		return e;
	}
	e = nftnl_expr_alloc("target");
	/* The expression owns (and frees) the info it is given. */
	info = calloc(1, XT_ALIGN(sizeof(*info)));
	if (!e || !info) {
		free(info);
		if (e)
			nftnl_expr_free(e);
		return NULL;
	}
	info->queuenum = queue_num;
	info->queues_total = 1;
	nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "NFQUEUE");
	nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 1);
	nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, XT_ALIGN(sizeof(*info)));
	return e;
}

struct tx {
	char *buf;
	size_t len, cap;
	uint32_t seq;
	unsigned acks;
	int nomem;
};

static char *tx_next(struct tx *t)
{
	/* Every message here is far below 1 KiB. */
	if (t->len + 1024 > t->cap) {
		t->nomem = 1;
		return NULL;
	}
	return t->buf + t->len;
}

static void tx_done(struct tx *t, struct nlmsghdr *nlh)
{
	t->len += NLMSG_ALIGN(nlh->nlmsg_len);
	if (nlh->nlmsg_flags & NLM_F_ACK)
		t->acks++;
}

static void tx_table(struct tx *t, uint16_t type, const char *name)
{
	struct nftnl_table *tb = nftnl_table_alloc();
	struct nlmsghdr *nlh;
	char *p = tx_next(t);

	if (!tb || !p) {
		t->nomem = 1;
		goto out;
	}
	nftnl_table_set_str(tb, NFTNL_TABLE_NAME, name);
	nftnl_table_set_u32(tb, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nlh = nftnl_nlmsg_build_hdr(
		p, type, NFPROTO_INET,
		NLM_F_ACK | (type == NFT_MSG_NEWTABLE ? NLM_F_CREATE : 0),
		t->seq++);
	nftnl_table_nlmsg_build_payload(nlh, tb);
	tx_done(t, nlh);
out:
	if (tb)
		nftnl_table_free(tb);
}

static void tx_chain(struct tx *t, const char *table)
{
	struct nftnl_chain *c = nftnl_chain_alloc();
	struct nlmsghdr *nlh;
	char *p = tx_next(t);

	if (!c || !p) {
		t->nomem = 1;
		goto out;
	}
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, table);
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "out");
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_FAMILY, NFPROTO_INET);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_OUT);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, NG_PRIORITY);
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWCHAIN, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_ACK, t->seq++);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	tx_done(t, nlh);
out:
	if (c)
		nftnl_chain_free(c);
}

/* Appends a rule made of the n expressions (which it takes). */
static void tx_rule(struct tx *t, const char *table, struct nftnl_expr **e,
		    size_t n)
{
	struct nftnl_rule *r = nftnl_rule_alloc();
	struct nlmsghdr *nlh;
	char *p = tx_next(t);
	size_t i;

	if (!r || !p)
		t->nomem = 1;
	for (i = 0; i < n; i++) {
		if (!e[i])
			t->nomem = 1;
		else if (r)
			nftnl_rule_add_expr(r, e[i]); /* r owns it now */
		else
			nftnl_expr_free(e[i]);
	}
	if (t->nomem)
		goto out;
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, table);
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "out");
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	nlh = nftnl_nlmsg_build_hdr(p, NFT_MSG_NEWRULE, NFPROTO_INET,
				    NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK,
				    t->seq++);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	tx_done(t, nlh);
out:
	if (r)
		nftnl_rule_free(r);
}

/*
 * One transaction: (re)creates the table with its chain and rules, or
 * (install == 0) deletes it.
 *
 *   table inet remora_netgate_<N> {
 *     chain out {
 *       type filter hook output priority 300; policy accept;
 *       oif 1 accept                              # lo: stays inside
 *       meta nfproto ipv6 meta l4proto ipv6-icmp th[0] 133-137 accept
 *       queue num N                               # no bypass
 *     }
 *   }
 *
 * Neighbour discovery (router/neighbour solicitation and advertisement,
 * redirect) carries no service state and would otherwise wait an epoch
 * per address resolution; ARP is not in the inet family, so it is not
 * held either.
 */
static int tx_build(struct tx *t, uint16_t queue_num, int install, int native)
{
	static const uint32_t lo_ifindex = 1; /* every namespace's lo */
	static const uint8_t v6 = NFPROTO_IPV6, icmp6 = IPPROTO_ICMPV6;
	static const uint8_t nd_lo = 133, nd_hi = 137;
	char name[32];
	struct nlmsghdr *nlh;

	snprintf(name, sizeof(name), "remora_netgate_%u", queue_num);
	nlh = nftnl_batch_begin(t->buf, t->seq++);
	t->len = NLMSG_ALIGN(nlh->nlmsg_len);
	if (install) {
		/* Create, delete, create: replaces a table left by a remora
		 * that died, atomically (no packet sees no table). */
		tx_table(t, NFT_MSG_NEWTABLE, name);
		tx_table(t, NFT_MSG_DELTABLE, name);
		tx_table(t, NFT_MSG_NEWTABLE, name);
		tx_chain(t, name);
		tx_rule(t, name,
			(struct nftnl_expr *[]){
				expr_meta(NFT_META_OIF),
				expr_cmp(NFT_CMP_EQ, &lo_ifindex, 4),
				expr_accept(),
			},
			3);
		tx_rule(t, name,
			(struct nftnl_expr *[]){
				expr_meta(NFT_META_NFPROTO),
				expr_cmp(NFT_CMP_EQ, &v6, 1),
				expr_meta(NFT_META_L4PROTO),
				expr_cmp(NFT_CMP_EQ, &icmp6, 1),
				expr_th_byte(),
				expr_cmp(NFT_CMP_GTE, &nd_lo, 1),
				expr_cmp(NFT_CMP_LTE, &nd_hi, 1),
				expr_accept(),
			},
			8);
		tx_rule(t, name,
			(struct nftnl_expr *[]){expr_queue(queue_num, native)},
			1);
	} else {
		tx_table(t, NFT_MSG_DELTABLE, name);
	}
	if (t->nomem || !tx_next(t))
		return -ENOMEM;
	nlh = nftnl_batch_end(t->buf + t->len, t->seq++);
	t->len += NLMSG_ALIGN(nlh->nlmsg_len);
	return 0;
}

static int tx_run(uint16_t queue_num, int install, int native, char *err,
		  size_t errlen)
{
	char buf[NG_TX_SIZE] __attribute__((aligned(8)));
	struct tx t = {.buf = buf, .cap = sizeof(buf), .seq = 1};
	struct sockaddr_nl sa = {.nl_family = AF_NETLINK};
	int fd, rc;

	rc = tx_build(&t, queue_num, install, native);
	if (rc < 0)
		return fail_line(err, errlen, rc, "building the rule: %s",
				 strerror(-rc));
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
	if (fd < 0)
		return fail_line(err, errlen, -errno,
				 "netfilter netlink socket: %s",
				 strerror(errno));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		rc = fail_line(err, errlen, -errno, "bind: %s",
			       strerror(errno));
		goto out;
	}
	if (sendto(fd, buf, t.len, 0, (const struct sockaddr *)&kernel_sa,
		   sizeof(kernel_sa)) != (ssize_t)t.len) {
		rc = fail_line(err, errlen, -errno,
			       "sending the transaction: %s", strerror(errno));
		goto out;
	}
	rc = read_acks(fd, t.acks, err, errlen);
out:
	close(fd);
	return rc;
}

static int rule_install(struct ns_job *j)
{
	char e1[120], e2[120];
	int rc;

	rc = tx_run(j->g->queue_num, 1, 1, e1, sizeof(e1));
	if (rc == 0)
		return 0;
	rc = tx_run(j->g->queue_num, 1, 0, e2, sizeof(e2));
	if (rc == 0)
		return 0;
	return fail_line(j->why, sizeof(j->why), rc,
			 "nf_tables rule: with the queue expression: %s; "
			 "with xtables NFQUEUE: %s",
			 e1, e2);
}

static int rule_remove(struct ns_job *j)
{
	char e[120];
	int rc;

	rc = tx_run(j->g->queue_num, 0, 0, e, sizeof(e));
	if (rc == -ENOENT)
		return 0; /* gone already */
	if (rc < 0)
		return fail_line(j->why, sizeof(j->why), rc,
				 "removing table remora_netgate_%u: %s",
				 j->g->queue_num, e);
	return 0;
}

/* One sysctl of the namespace this thread is in (/proc/sys/net follows
 * the opener's namespace). */
static int sysctl_set(struct ns_job *j, const char *name, const char *value)
{
	char path[128];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "/proc/sys/net/ipv4/%s", name);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || write(fd, value, strlen(value)) < 0)
		rc = fail_line(j->why, sizeof(j->why), -errno,
			       "net.ipv4.%s = %s in the service's namespace: "
			       "%s",
			       name, value, strerror(errno));
	if (fd >= 0)
		close(fd);
	return rc;
}

/*
 * TCP for held packets (docs/network.md, "TCP under the gate"): a held
 * packet still counts against its socket's TCP small queues budget, about
 * two packets, so segments go out in large GSO packets (tcp_min_tso_segs:
 * up to 64 segments each, not 2); and reno rather than a model-based
 * congestion control (bbr, a common default), whose bandwidth estimate the
 * holds make a fraction of the link. Reno, not cubic: a namespace may only
 * choose among net.ipv4.tcp_allowed_congestion_control, which always has
 * reno (here: "reno bbr"). Set before the service opens its sockets (a
 * restored one gets them too). Measured: a 1 MiB redis GET at 100 ms
 * epochs in 0.6-0.9 s, against 18-25 s before.
 */
static int tcp_tune(struct ns_job *j)
{
	int rc = sysctl_set(j, "tcp_min_tso_segs", "64");

	return rc ? rc : sysctl_set(j, "tcp_congestion_control", "reno");
}

static int open_in_netns(struct ns_job *j)
{
	int rc;

	rc = tcp_tune(j);
	if (rc < 0)
		return rc;
	/* The queue first: a rule without a listener drops packets. */
	rc = queue_bind(j);
	if (rc < 0)
		return rc;
	rc = rule_install(j);
	if (rc < 0) {
		close(j->g->fd);
		j->g->fd = -1;
	}
	return rc;
}

int netgate_open(struct netgate *g, int netns_fd, uint32_t queue_num,
		 size_t max_held_bytes, char *err, size_t errlen)
{
	struct ns_job j = {.fn = open_in_netns, .g = g};
	int rc;

	memset(g, 0, sizeof(*g));
	g->fd = -1;
	g->netns_fd = -1;
	if (queue_num > UINT16_MAX || max_held_bytes == 0 || netns_fd < 0)
		return fail_line(err, errlen, -EINVAL,
				 "netgate: queue %u (0..65535), max held "
				 "bytes %zu (> 0), netns fd %d",
				 queue_num, max_held_bytes, netns_fd);
	g->queue_num = (uint16_t)queue_num;
	g->max_held = max_held_bytes;
	g->queue_maxlen = netgate_queue_maxlen(max_held_bytes);
	g->rbuf = malloc((size_t)NG_SLOTS * NG_SLOT);
	if (!g->rbuf)
		return fail_line(err, errlen, -ENOMEM,
				 "netgate: out of memory");
	g->netns_fd = fcntl(netns_fd, F_DUPFD_CLOEXEC, 0);
	if (g->netns_fd < 0) {
		rc = fail_line(err, errlen, -errno, "dup netns fd: %s",
			       strerror(errno));
		goto err;
	}
	j.netns_fd = g->netns_fd;
	rc = in_netns(&j);
	if (rc < 0) {
		fail_line(err, errlen, rc, "%s", j.why);
		goto err;
	}
	return 0;
err:
	if (g->netns_fd >= 0)
		close(g->netns_fd);
	g->netns_fd = -1;
	free(g->rbuf);
	g->rbuf = NULL;
	return rc;
}

int netgate_fd(const struct netgate *g)
{
	return g->fd;
}

/* ------------------------------------------------------------ reading */

struct attrs {
	const struct nlattr *tb[NFQA_MAX + 1];
};

static int attr_cb(const struct nlattr *a, void *data)
{
	struct attrs *at = data;
	uint16_t type = mnl_attr_get_type(a);

	if (type > NFQA_MAX)
		return MNL_CB_OK; /* a newer kernel's: not ours to read */
	switch (type) {
	case NFQA_PACKET_HDR:
		if (mnl_attr_validate2(a, MNL_TYPE_UNSPEC,
				       sizeof(struct nfqnl_msg_packet_hdr)) < 0)
			return MNL_CB_ERROR;
		break;
	case NFQA_CAP_LEN:
		if (mnl_attr_validate(a, MNL_TYPE_U32) < 0)
			return MNL_CB_ERROR;
		break;
	default:
		break;
	}
	at->tb[type] = a;
	return MNL_CB_OK;
}

/* One NFQNL_MSG_PACKET: 1 if held, 0 if not ours, or -EPROTO. */
static int on_packet(struct netgate *g, const struct nlmsghdr *nlh)
{
	const struct nfqnl_msg_packet_hdr *ph;
	const struct nfgenmsg *nfg;
	struct attrs at = {{0}};
	uint32_t id, len, plen = 0;

	if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*nfg))
		return why(g, -EPROTO,
			   "netgate: packet message without its "
			   "header");
	nfg = mnl_nlmsg_get_payload(nlh);
	if (ntohs(nfg->res_id) != g->queue_num) {
		g->st.ignored++;
		return 0;
	}
	if (mnl_attr_parse(nlh, sizeof(*nfg), attr_cb, &at) != MNL_CB_OK)
		return why(g, -EPROTO,
			   "netgate: malformed attribute in a "
			   "packet message");
	if (!at.tb[NFQA_PACKET_HDR])
		return why(g, -EPROTO,
			   "netgate: packet message without a "
			   "packet header");
	ph = mnl_attr_get_payload(at.tb[NFQA_PACKET_HDR]);
	id = ntohl(ph->packet_id);
	if (at.tb[NFQA_PAYLOAD])
		plen = mnl_attr_get_payload_len(at.tb[NFQA_PAYLOAD]);
	len = at.tb[NFQA_CAP_LEN] ? ntohl(mnl_attr_get_u32(at.tb[NFQA_CAP_LEN]))
				  : plen;
	if (len == 0 || len < plen || plen > NG_COPY_RANGE)
		return why(g, -EPROTO,
			   "netgate: packet %u: length %u with %u bytes "
			   "copied (at most %d)",
			   id, len, plen, NG_COPY_RANGE);
	if (g->have_id) {
		uint32_t d = id - g->last_id;

		if (d == 0 || d > INT32_MAX)
			return why(g, -EPROTO,
				   "netgate: packet id %u after %u: ids must "
				   "increase",
				   id, g->last_id);
		g->st.lost += d - 1;
	}
	g->have_id = 1;
	g->last_id = id;
	g->open.packets++;
	g->open.bytes += len;
	g->st.held.packets++;
	g->st.held.bytes += len;
	return 1;
}

int netgate_feed(struct netgate *g, const uint8_t *buf, int len, int *verr)
{
	int rem = len, held = 0, rc;
	size_t off = 0;

	/* Not mnl_nlmsg_ok(): it takes a length past 2^31 for a negative
	 * one that fits (fuzz_netgate found it) and walks off the end. */
	while (rem >= (int)sizeof(struct nlmsghdr)) {
		const struct nlmsghdr *nlh =
			(const struct nlmsghdr *)(buf + off);
		const struct nlmsgerr *e;
		uint32_t step;

		if (nlh->nlmsg_len < sizeof(*nlh) ||
		    nlh->nlmsg_len > (uint32_t)rem)
			return why(g, -EPROTO,
				   "netgate: netlink message of %u bytes with "
				   "%d left",
				   nlh->nlmsg_len, rem);
		step = NLMSG_ALIGN(nlh->nlmsg_len);
		if (step > (uint32_t)rem)
			step = (uint32_t)rem;
		off += step;
		rem -= (int)step;

		switch (nlh->nlmsg_type) {
		case (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET:
			rc = on_packet(g, nlh);
			if (rc < 0)
				return rc;
			held += rc;
			break;
		case NLMSG_ERROR:
			if (mnl_nlmsg_get_payload_len(nlh) < sizeof(*e))
				return why(g, -EPROTO,
					   "netgate: short "
					   "netlink error");
			e = mnl_nlmsg_get_payload(nlh);
			if (e->error == -ENOENT)
				g->st.vanished++;
			else if (e->error > 0 || e->error < -4095)
				return why(g, -EPROTO,
					   "netgate: netlink error %d out "
					   "of range",
					   e->error);
			else if (e->error && !*verr)
				*verr = e->error;
			break;
		case NLMSG_NOOP:
		case NLMSG_DONE:
			break;
		default:
			g->st.ignored++;
			break;
		}
	}
	if (rem > 0)
		return why(g, -EPROTO,
			   "netgate: %d stray bytes after the "
			   "last netlink message",
			   rem);
	return held;
}

int netgate_read(struct netgate *g)
{
	struct mmsghdr mm[NG_SLOTS];
	struct iovec iov[NG_SLOTS];
	struct sockaddr_nl sa[NG_SLOTS];
	/* Bounded by the kernel's queue, plus its error replies. */
	long budget = (long)g->queue_maxlen + 4 * NG_SLOTS;
	int held = 0, verr = 0, n, i, rc;

	if (g->fd < 0)
		return why(g, -EBADF, "netgate: closed");
	while (budget > 0) {
		memset(mm, 0, sizeof(mm));
		for (i = 0; i < NG_SLOTS; i++) {
			iov[i].iov_base = g->rbuf + (size_t)i * NG_SLOT;
			iov[i].iov_len = NG_SLOT;
			mm[i].msg_hdr.msg_iov = &iov[i];
			mm[i].msg_hdr.msg_iovlen = 1;
			mm[i].msg_hdr.msg_name = &sa[i];
			mm[i].msg_hdr.msg_namelen = sizeof(sa[i]);
		}
		n = recvmmsg(g->fd, mm, NG_SLOTS, MSG_DONTWAIT, NULL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			if (errno == ENOBUFS) {
				/* The kernel dropped packets it could not
				 * queue to us; their ids will be missing. */
				g->st.overruns++;
				continue;
			}
			return why(g, -errno, "netgate: reading the queue: %s",
				   strerror(errno));
		}
		for (i = 0; i < n; i++) {
			const struct msghdr *h = &mm[i].msg_hdr;

			budget--;
			if (h->msg_namelen != sizeof(sa[i]) ||
			    sa[i].nl_family != AF_NETLINK || sa[i].nl_pid ||
			    (h->msg_flags & MSG_TRUNC)) {
				g->st.ignored++;
				continue;
			}
			rc = netgate_feed(g, iov[i].iov_base,
					  (int)mm[i].msg_len, &verr);
			if (rc < 0)
				return rc;
			held += rc;
		}
		if (n < NG_SLOTS)
			break;
	}
	if (verr)
		return why(g, verr,
			   "netgate: the kernel rejected a verdict: %s",
			   strerror(-verr));
	return held;
}

/* ------------------------------------------------------------ verdicts */

/* Every queued packet with an id not after id gets verdict, in order. */
static int send_batch(struct netgate *g, uint32_t id, uint32_t verdict)
{
	uint8_t buf[128] __attribute__((aligned(8)));
	struct nfqnl_msg_verdict_hdr vh = {
		.verdict = htonl(verdict),
		.id = htonl(id),
	};
	struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
	struct nfgenmsg *nfg;
	ssize_t n;

	/* No NLM_F_ACK: the kernel reports only failures, read later. */
	nlh->nlmsg_type = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT_BATCH;
	nlh->nlmsg_flags = NLM_F_REQUEST;
	nfg = mnl_nlmsg_put_extra_header(nlh, sizeof(*nfg));
	nfg->nfgen_family = AF_UNSPEC;
	nfg->version = NFNETLINK_V0;
	nfg->res_id = htons(g->queue_num);
	mnl_attr_put(nlh, NFQA_VERDICT_HDR, sizeof(vh), &vh);
	do
		n = sendto(g->fd, buf, nlh->nlmsg_len, 0,
			   (const struct sockaddr *)&kernel_sa,
			   sizeof(kernel_sa));
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)nlh->nlmsg_len)
		return why(g, n < 0 ? -errno : -EIO,
			   "netgate: sending a %s verdict up to packet %u: %s",
			   verdict == NF_ACCEPT ? "accept" : "drop", id,
			   n < 0 ? strerror(errno) : "short write");
	return 0;
}

int netgate_close_epoch(struct netgate *g, uint64_t epoch)
{
	struct netgate_seg *s;

	if (g->have_closed && epoch < g->last_closed)
		return why(g, -EINVAL,
			   "netgate: epoch %llu closed after epoch %llu",
			   (unsigned long long)epoch,
			   (unsigned long long)g->last_closed);
	if (g->open.packets == 0) {
		g->have_closed = 1;
		g->last_closed = epoch;
		return 0;
	}
	/* Closed again (its capture failed and is taken again): it grows. */
	if (g->nsegs && g->segs[g->nsegs - 1].epoch == epoch) {
		s = &g->segs[g->nsegs - 1];
		s->last_id = g->last_id;
		s->n.packets += g->open.packets;
		s->n.bytes += g->open.bytes;
		g->open = (struct netgate_count){0, 0};
		return 0;
	}
	if (g->nsegs == g->segcap) {
		size_t cap = g->segcap ? g->segcap * 2 : 16;

		s = realloc(g->segs, cap * sizeof(*s));
		if (!s)
			return why(g, -ENOMEM, "netgate: out of memory");
		g->segs = s;
		g->segcap = cap;
	}
	g->segs[g->nsegs++] = (struct netgate_seg){
		.epoch = epoch,
		.last_id = g->last_id,
		.n = g->open,
	};
	g->open = (struct netgate_count){0, 0};
	g->have_closed = 1;
	g->last_closed = epoch;
	return 0;
}

static void count_out(struct netgate *g, struct netgate_count *total,
		      const struct netgate_count *n)
{
	total->packets += n->packets;
	total->bytes += n->bytes;
	g->st.held.packets -= n->packets;
	g->st.held.bytes -= n->bytes;
}

int netgate_release(struct netgate *g, uint64_t acked,
		    struct netgate_count *out)
{
	struct netgate_count n = {0, 0};
	size_t k = 0, i;
	int rc;

	if (out)
		*out = n;
	if (g->fd < 0)
		return why(g, -EBADF, "netgate: closed");
	while (k < g->nsegs && g->segs[k].epoch <= acked)
		k++;
	if (k == 0)
		return 0;
	rc = send_batch(g, g->segs[k - 1].last_id, NF_ACCEPT);
	if (rc < 0)
		return rc;
	for (i = 0; i < k; i++)
		count_out(g, &n, &g->segs[i].n);
	memmove(g->segs, g->segs + k, (g->nsegs - k) * sizeof(*g->segs));
	g->nsegs -= k;
	g->st.released.packets += n.packets;
	g->st.released.bytes += n.bytes;
	if (out)
		*out = n;
	return 0;
}

void netgate_reopen(struct netgate *g)
{
	size_t i;

	for (i = 0; i < g->nsegs; i++) {
		g->open.packets += g->segs[i].n.packets;
		g->open.bytes += g->segs[i].n.bytes;
	}
	g->nsegs = 0;
}

/* Reads, then gives every held packet verdict. */
static int settle_all(struct netgate *g, uint32_t verdict,
		      struct netgate_count *out)
{
	struct netgate_count n = {0, 0};
	size_t i;
	int rc;

	if (out)
		*out = n;
	if (g->fd < 0)
		return why(g, -EBADF, "netgate: closed");
	/* A failed read still leaves every id up to the last one read
	 * ours: a discard drops them anyway; a flush stops. */
	rc = netgate_read(g);
	if (rc < 0 && verdict == NF_ACCEPT)
		return rc;
	if (g->st.held.packets == 0)
		return 0;
	rc = send_batch(g, g->last_id, verdict);
	if (rc < 0)
		return rc;
	for (i = 0; i < g->nsegs; i++)
		count_out(g, &n, &g->segs[i].n);
	count_out(g, &n, &g->open);
	g->nsegs = 0;
	g->open = (struct netgate_count){0, 0};
	if (out)
		*out = n;
	if (verdict == NF_ACCEPT) {
		g->st.released.packets += n.packets;
		g->st.released.bytes += n.bytes;
	} else {
		g->st.dropped.packets += n.packets;
		g->st.dropped.bytes += n.bytes;
	}
	return 0;
}

int netgate_flush(struct netgate *g, struct netgate_count *out)
{
	return settle_all(g, NF_ACCEPT, out);
}

int netgate_discard(struct netgate *g, struct netgate_count *out)
{
	return settle_all(g, NF_DROP, out);
}

size_t netgate_held_bytes(const struct netgate *g)
{
	return (size_t)g->st.held.bytes;
}

int netgate_full(const struct netgate *g)
{
	return g->st.held.bytes >= g->max_held ||
	       g->st.held.packets >= g->queue_maxlen / 2;
}

void netgate_stats(const struct netgate *g, struct netgate_stats *st)
{
	*st = g->st;
}

const char *netgate_why(const struct netgate *g)
{
	return g->why;
}

/* ------------------------------------------------- the kernel's counters */

static int kstats_read(struct ns_job *j)
{
	char line[256];
	FILE *f;
	int rc = -ENOENT;

	/* thread-self: /proc/net is the namespace of the process's leader. */
	f = fopen("/proc/thread-self/net/netfilter/nfnetlink_queue", "re");
	if (!f)
		return fail_line(j->why, sizeof(j->why), -errno,
				 "/proc/thread-self/net/netfilter/"
				 "nfnetlink_queue: %s",
				 strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		unsigned q, portid, total, mode, range, drop, udrop, seq;

		if (sscanf(line, "%u %u %u %u %u %u %u %u", &q, &portid, &total,
			   &mode, &range, &drop, &udrop, &seq) != 8 ||
		    q != j->g->queue_num)
			continue;
		j->ks->total = total;
		j->ks->dropped = drop;
		j->ks->user_dropped = udrop;
		j->ks->id_sequence = seq;
		rc = 0;
		break;
	}
	fclose(f);
	if (rc < 0)
		fail_line(j->why, sizeof(j->why), rc,
			  "queue %u is not in nfnetlink_queue",
			  j->g->queue_num);
	return rc;
}

int netgate_kstats(struct netgate *g, struct netgate_kstats *ks)
{
	struct ns_job j = {
		.netns_fd = g->netns_fd,
		.fn = kstats_read,
		.g = g,
		.ks = ks,
	};
	int rc;

	memset(ks, 0, sizeof(*ks));
	if (g->fd < 0)
		return -EBADF;
	rc = in_netns(&j);
	if (rc < 0)
		snprintf(g->why, sizeof(g->why), "%s", j.why);
	return rc;
}

/* ------------------------------------------------------------- closing */

int netgate_close(struct netgate *g, char *err, size_t errlen)
{
	struct ns_job j = {.netns_fd = g->netns_fd, .fn = rule_remove, .g = g};
	int rc = 0;

	if (g->netns_fd >= 0) {
		/* The rule first: from then on nothing new is queued. */
		rc = in_netns(&j);
		if (rc < 0)
			fail_line(err, errlen, rc, "%s", j.why);
		close(g->netns_fd);
		g->netns_fd = -1;
	}
	if (g->fd >= 0)
		close(g->fd); /* the kernel drops what is still queued */
	g->fd = -1;
	free(g->segs);
	g->segs = NULL;
	g->nsegs = g->segcap = 0;
	free(g->rbuf);
	g->rbuf = NULL;
	g->open = (struct netgate_count){0, 0};
	g->st.held = (struct netgate_count){0, 0};
	return rc;
}
