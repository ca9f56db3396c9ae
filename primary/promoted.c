/*
 * The primary's public entry points (primary.h) that are not the pipeline
 * itself: allocation, the promotion (the workload a replica holds), running
 * it, and the end. A promoted primary owns its workload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epoch.h"
#include "clock.h"
#include "log.h"
#include "primary.h"
#include "workloads.h"

struct primary *primary_alloc(void)
{
	return calloc(1, sizeof(struct primary));
}

/* A promotion's workload: the primary owns it. */
int primary_promote(struct primary *p, uv_loop_t *loop,
		    const struct config *cfg, const struct config_node *self,
		    uint64_t term, const struct primary_image *img,
		    uint64_t *vm_ns, char *err, size_t errlen)
{
	struct primary_opts po = {.term = term,
				  .promoted = 1,
				  .console_offset = img->console_offset,
				  .sink_fd = img->sink_fd,
				  .arb = img->arb,
				  .lease_until_ns = img->lease_until_ns,
				  .key = img->key};
	struct workload_made m;
	int ret;

	ret = workloads_restore(cfg, self, img, &m, err, errlen);
	if (vm_ns)
		*vm_ns = m.make_ns;
	if (ret)
		return ret;
	ret = primary_start(p, loop, cfg, self, &m.wl, &po);
	if (ret) {
		snprintf(err, errlen, "starting the primary: %s",
			 strerror(-ret));
		m.destroy(m.owned);
		primary_finish(p);
		return ret;
	}
	p->release = m.destroy;
	p->owned = m.owned;
	return 0;
}

void primary_run_guest(struct primary *p)
{
	p->stats.guest_start_ns = now_ns();
	if (p->wl.ops->start(p->wl.w)) {
		/* Its handles are open: stopping closes them, the loop ends
		 * and the daemon exits with this status. */
		primary_abort(p, p->wl.ops->error(p->wl.w),
			      WORKLOAD_EXIT_FAILED);
	}
}

void primary_set_ctl(struct primary *p, struct ctl *ctl)
{
	p->ctl = ctl;
}

int primary_exit_code(const struct primary *p)
{
	return p->core.exit_code;
}

void primary_free(struct primary *p)
{
	if (!p)
		return;
	if (p->release) {
		p->release(p->owned); /* the VM first: it feeds the outbuf */
		primary_finish(p);
	}
	free(p);
}
