/*
 * A primary as a process runs it: a loop of its own, the pipeline around a
 * workload, the node's control socket, the guest, until the loop ends
 * (epoch.h: primary_serve). remora-primary and the tests' fake_primary
 * differ only in their workload.
 */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "arbiter.h"
#include "auth.h"
#include "clock.h"
#include "ctl.h"
#include "epoch.h"
#include "log.h"
#include "workloads.h"
#include "tls.h"

/*
 * arbiter = etcd: this fresh primary's term is the one it wins. A lease a
 * crashed earlier process of this node left is waited out; a lease another
 * node holds means that node is primary: this one must not run.
 */
static struct arbiter *take_lease(uv_loop_t *loop, const struct config *cfg,
				  const struct config_node *self,
				  struct primary_opts *o)
{
	struct arbiter_result r;
	struct arbiter *arb;
	int said = 0;

	arb = arbiter_new(loop, cfg, self->name, NULL, NULL);
	if (!arb) {
		log_error("arbiter: cannot start its client: %s",
			  strerror(errno));
		return NULL;
	}
	for (;;) {
		if (arbiter_acquire_sync(arb, 0, &r) != 0) {
			log_error("arbiter: cannot queue a request");
			break;
		}
		if (r.outcome == ARBITER_WON) {
			o->term = r.term;
			o->arb = arb;
			o->lease_until_ns = arbiter_held_until(&r);
			log_info("lease won: primary of term %llu (etcd, "
				 "lease_ttl %llu s)",
				 (unsigned long long)r.term,
				 (unsigned long long)(r.ttl_ns / 1000000000));
			return arb;
		}
		if (r.outcome == ARBITER_BUSY &&
		    strcmp(r.holder, self->name) != 0) {
			log_error("node %s holds the lease in term %llu: it is "
				  "the primary; start this node as its backup "
				  "(remora-backup) instead",
				  *r.holder ? r.holder : "(none)",
				  (unsigned long long)r.term);
			break;
		}
		if (!said)
			log_warn("%s; waiting for the lease (retrying every "
				 "second)",
				 r.outcome == ARBITER_BUSY
					 ? "this node's previous run still "
					   "holds the lease: it lapses "
					   "within lease_ttl"
					 : r.why);
		said = 1;
		sleep(1);
	}
	arbiter_free(arb);
	uv_run(loop, UV_RUN_DEFAULT); /* its handle closes */
	return NULL;
}

static void status_cb(void *opaque, struct node_status *st)
{
	primary_status(opaque, st);
}

/* primary_serve() once the link's key or TLS context is loaded. */
static int serve(struct primary *p, const struct config *cfg,
		 const struct config_node *self, const struct workload *wl,
		 const struct primary_opts *o)
{
	struct primary_opts po = *o;
	struct arbiter *arb = NULL;
	struct ctl *ctl = NULL;
	char err[512], what[1024];
	uv_loop_t loop;
	int ret;

	uv_loop_init(&loop);
	if (cfg->failover.arbiter == CONFIG_ARBITER_ETCD && !po.arb) {
		arb = take_lease(&loop, cfg, self, &po);
		if (!arb) {
			uv_loop_close(&loop);
			primary_finish(p);
			return -1;
		}
	}
	ret = primary_start(p, &loop, cfg, self, wl, &po);
	if (ret) {
		if (arb) {
			arbiter_revoke_sync(arb);
			arbiter_free(arb);
		}
		uv_run(&loop, UV_RUN_DEFAULT); /* what it opened, closing */
		uv_loop_close(&loop);
		primary_finish(p);
		return -1;
	}
	/* From here on a failure stops the pipeline, whose handles close as
	 * the loop runs out, and the process exits the normal way. */
	if (*self->control_socket) {
		if (ctl_start(&ctl, &loop, self->control_socket, status_cb, p,
			      err, sizeof(err)))
			primary_abort(p, err, 1);
		else
			primary_set_ctl(p, ctl);
	}
	if (p->core.state != PC_STOPPED) {
		primary_run_guest(p);
		if (p->core.state != PC_STOPPED) {
			primary_describe_workload(cfg, what, sizeof(what));
			log_info("%s started", what);
		}
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	if (arb) {
		/* Stopped: nothing more is released; the backup need not
		 * wait for the lease to lapse. */
		arbiter_revoke_sync(arb);
		arbiter_free(arb);
		uv_run(&loop, UV_RUN_DEFAULT);
	}
	ret = uv_loop_close(&loop);
	if (ret)
		log_error("bug: handles left open at exit: %s",
			  uv_strerror(ret));
	return p->core.exit_code;
}

int primary_serve(struct primary *p, const struct config *cfg,
		  const struct config_node *self, const struct workload *wl,
		  const struct primary_opts *o)
{
	struct primary_opts po = *o;
	struct auth_key key; /* these live as long as the loop runs */
	struct conn_cred cred = {NULL, NULL};
	char err[512];
	int ret;

	/* [cluster] key_file or tls_*: read once, before anything starts. */
	if ((*cfg->key_file || tls_configured(cfg)) && !po.key) {
		if (*cfg->key_file &&
		    auth_key_load(cfg->key_file, &key, err, sizeof(err)))
			goto err_cred;
		if (*cfg->key_file)
			cred.key = &key;
		else if (tls_ctx_load(&cred.tls, cfg, err, sizeof(err)))
			goto err_cred;
		po.key = &cred;
	}
	ret = serve(p, cfg, self, wl, &po);
	tls_ctx_free(cred.tls);
	auth_wipe(&key, sizeof(key));
	return ret;

err_cred:
	log_error("%s", err);
	primary_finish(p);
	return -1;
}
