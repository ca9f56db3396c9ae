/*
 * The primary's public entry points (primary.h) that are not the pipeline
 * itself: allocation, the promotion (the workload a replica holds, made
 * ahead on the backup when it can: prepared.h), running it, and the end.
 * A promoted primary owns its workload.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epoch.h"
#include "clock.h"
#include "prepared.h"
#include "primary.h"
#include "workloads.h"

/* A primary and the VM made ahead for its promotion, if any. */
struct primary_box {
	struct primary p; /* first: a struct primary * is the box */
	struct prepared *ready;
};

static struct primary_box *box(struct primary *p)
{
	return (struct primary_box *)p;
}

struct primary *primary_alloc(void)
{
	struct primary_box *b = malloc(sizeof(*b));

	/* Written, not calloc()ed: its pages (statistics, tens of KiB) are
	 * faulted in now rather than by primary_start() in a promotion. */
	if (b)
		memset(b, 0, sizeof(*b));
	return b ? &b->p : NULL;
}

int primary_prepare(struct primary *p, const struct config *cfg, int mem_fd,
		    uint64_t mem_size, char *err, size_t errlen)
{
	struct primary_box *b = box(p);
	int ret;

	if (cfg->workload.kind != CONFIG_WORKLOAD_KVM || p->release)
		return 0; /* nothing to make ahead, or promoted already */
	if (prepared_matches(b->ready, mem_fd))
		return 0;
	/* The old one first: it holds the replica's previous memory. */
	prepared_free(b->ready);
	b->ready = NULL;
	ret = prepared_make(&b->ready, cfg, mem_fd, mem_size, err, errlen);
	return ret ? ret : 1;
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

	ret = workloads_restore(cfg, self, img, &box(p)->ready, &m, err,
				errlen);
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
	prepared_free(box(p)->ready);
	free(box(p));
}
