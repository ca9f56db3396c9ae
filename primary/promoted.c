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

/* The guest could not run (as remora-primary's exit status says). */
#define EXIT_VMM 70

int primary_open_sink(const char *path)
{
	return outbuf_open_sink(path);
}

struct primary *primary_alloc(void)
{
	return calloc(1, sizeof(struct primary));
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
				  .sink_fd = img->sink_fd};
	uint64_t t0 = now_ns();
	struct vm *vm;
	int ret;

	primary_console_hooks(p, &vc);
	ret = vm_create_from_memfd(&vm, &vc, img->mem_fd, err, errlen);
	if (ret)
		return ret;
	ret = vm_state_load(vm, img->state, img->state_len);
	if (ret) {
		snprintf(err, errlen, "replica state: %s", vm_error(vm));
		vm_destroy(vm);
		return ret;
	}
	/* A guest that checks itself after a restore (memstress) does. */
	vm_request_check(vm);
	if (vm_ns)
		*vm_ns = now_ns() - t0;
	ret = primary_start(p, loop, cfg, self, vm, &po);
	if (ret) {
		snprintf(err, errlen, "starting the primary: %s",
			 strerror(-ret));
		primary_finish(p);
		vm_destroy(vm);
		return ret;
	}
	p->own_vm = 1;
	return 0;
}

void primary_run_guest(struct primary *p)
{
	p->stats.guest_start_ns = now_ns();
	if (vm_start(p->vm)) {
		/* Its handles are open: stopping closes them, the loop ends
		 * and the daemon exits with this status. */
		primary_abort(p, vm_error(p->vm), EXIT_VMM);
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
	if (p->own_vm) {
		vm_destroy(p->vm);
		primary_finish(p);
	}
	free(p);
}
