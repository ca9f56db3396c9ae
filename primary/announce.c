/*
 * A promoted primary's term announcements: it dials every other node now
 * and then and says its term in a Hello, so that an old primary still
 * running (a partition that healed, or one restarted by mistake) hears it
 * and stops. Nodes that do not listen cost a refused connect; the attached
 * backup is not dialled. An answer naming a higher term means this primary
 * has been replaced in turn.
 */
#include <string.h>

#include "epoch.h"
#include "log.h"

static void announce_closed(struct conn *c, const char *why, void *opaque)
{
	struct announce *a = opaque;

	(void)c;
	(void)why;
	a->c = NULL;
}

static void announce_msg(struct conn *c, const struct wire_msg *m, void *opaque)
{
	struct announce *a = opaque;
	struct primary *p = a->p;

	if (m->type == WIRE_REFUSE && m->refuse->term > p->core.term) {
		pcore_on_replaced(&p->core, m->refuse->primary,
				  m->refuse->term);
		primary_run(p); /* its stop closes c */
		return;
	}
	if (m->type == WIRE_REFUSE)
		log_info("node %s heard that this node is primary of term %llu",
			 a->node->name, (unsigned long long)p->core.term);
	conn_close(c, "announced");
}

static const struct conn_ops announce_ops = {
	.on_msg = announce_msg,
	.on_close = announce_closed,
};

/* Connected: say this primary's term. */
static void announce_connected(struct conn *c, void *opaque)
{
	struct announce *a = opaque;

	primary_send_hello(a->p, c);
}

static void on_announce(uv_timer_t *t)
{
	struct primary *p = t->data;
	uint64_t timeout_ms = p->cfg->failover.heartbeat_timeout_ns / 1000000;
	int i;

	for (i = 0; i < p->cfg->nnodes; i++) {
		struct announce *a = &p->announce[i];
		const struct config_node *n = &p->cfg->nodes[i];

		if (a->c) {
			conn_check_alive(a->c, timeout_ms, n->name);
			continue;
		}
		if (n == p->self || (pcore_backup(&p->core) &&
				     strcmp(n->name, p->core.peer_name) == 0))
			continue;
		a->p = p;
		a->node = n;
		a->c = conn_new(p->loop, CONN_TCP, &announce_ops, a, 1u << 16);
		if (!a->c)
			continue;
		if (p->key)
			conn_set_cred(a->c, p->key, 1, n->name);
		/* A cut link drops SYNs: give up after heartbeat_timeout. */
		if (conn_connect(a->c, n->host, n->port, timeout_ms,
				 announce_connected))
			conn_close(a->c, "cannot connect");
	}
}

void announce_start(struct primary *p)
{
	uint64_t hb_ms = p->cfg->failover.heartbeat_interval_ns / 1000000;
	uint64_t ms = hb_ms < 50 ? 50 : hb_ms > 1000 ? 1000 : hb_ms;

	uv_timer_start(&p->announce_timer, on_announce, 0, ms);
}

void announce_stop(struct primary *p)
{
	unsigned i;

	uv_timer_stop(&p->announce_timer);
	for (i = 0; i < CONFIG_NODES_MAX; i++)
		if (p->announce[i].c)
			conn_close(p->announce[i].c, "primary stopped");
}
