/*
 * A primary as a process runs it: a loop of its own, the pipeline around a
 * workload, the node's control socket, the guest, until the loop ends
 * (epoch.h: primary_serve). remora-primary and the tests' fake_primary
 * differ only in their workload.
 */
#include "ctl.h"
#include "epoch.h"
#include "log.h"

static void status_cb(void *opaque, struct node_status *st)
{
	primary_status(opaque, st);
}

int primary_serve(struct primary *p, const struct config *cfg,
		  const struct config_node *self, const struct workload *wl,
		  const struct primary_opts *o)
{
	struct ctl *ctl = NULL;
	char err[512];
	uv_loop_t loop;
	int ret;

	uv_loop_init(&loop);
	ret = primary_start(p, &loop, cfg, self, wl, o);
	if (ret) {
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
		if (p->core.state != PC_STOPPED)
			log_info("guest %s started (%s)", cfg->workload.guest,
				 *cfg->workload.args ? cfg->workload.args
						     : "no arguments");
	}
	uv_run(&loop, UV_RUN_DEFAULT);
	ret = uv_loop_close(&loop);
	if (ret)
		log_error("bug: handles left open at exit: %s",
			  uv_strerror(ret));
	return p->core.exit_code;
}
