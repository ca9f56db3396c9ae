/*
 * The primary's public entry points (primary.h) that are not the pipeline
 * itself: allocation, the promotion (a VM on a replica's memory), running
 * the guest, and the end. A promoted primary owns its VM.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "epoch.h"
#include "log.h"
#include "primary.h"
#include "vmwork.h"

struct primary *primary_alloc(void)
{
	return calloc(1, sizeof(struct primary));
}

/* A promotion's VM and its workload: the primary owns them. */
static void free_vmwork(void *owned)
{
	vmwork_destroy(owned);
	free(owned);
}

int primary_promote(struct primary *p, uv_loop_t *loop,
		    const struct config *cfg, const struct config_node *self,
		    uint64_t term, const struct primary_image *img,
		    uint64_t *vm_ns, char *err, size_t errlen)
{
	struct vm_config vc = {.mem_size = img->mem_size, .dirty_log = 1};
	struct primary_opts po = {.term = term,
				  .promoted = 1,
				  .console_offset = img->console_offset,
				  .sink_fd = img->sink_fd,
				  .arb = img->arb,
				  .lease_until_ns = img->lease_until_ns,
				  .key = img->key};
	struct vmwork *vw = calloc(1, sizeof(*vw));
	uint64_t t0 = now_ns();
	struct workload wl;
	struct vm *vm;
	int ret;

	if (!vw) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	vmwork_hooks(vw, &vc);
	ret = vm_create_from_memfd(&vm, &vc, img->mem_fd, err, errlen);
	if (ret) {
		free(vw);
		return ret;
	}
	ret = vm_state_load(vm, img->state, img->state_len);
	if (ret) {
		snprintf(err, errlen, "replica state: %s", vm_error(vm));
		vm_destroy(vm);
		free(vw);
		return ret;
	}
	/* A guest that checks itself after a restore (memstress) does. */
	vm_request_check(vm);
	ret = vmwork_init(vw, vm, cfg->replication.max_inflight_epochs + 1);
	if (vm_ns)
		*vm_ns = now_ns() - t0;
	wl = vmwork_workload(vw);
	if (!ret)
		ret = primary_start(p, loop, cfg, self, &wl, &po);
	if (ret) {
		snprintf(err, errlen, "starting the primary: %s",
			 strerror(-ret));
		free_vmwork(vw);
		primary_finish(p);
		return ret;
	}
	p->release = free_vmwork;
	p->owned = vw;
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
