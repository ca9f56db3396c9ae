/*
 * The micro-VM workload (vmwork.h). Checkpoint copies and encoder output
 * are reserved outside any pause (reserve(), at start and when a backup
 * attaches), so that a capture rarely allocates.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "vmwork.h"

/* vCPU thread: the guest's console bytes, held by the primary. */
static void console_cb(void *opaque, const uint8_t *buf, size_t len)
{
	struct vmwork *v = opaque;

	outbuf_append(v->sink.ob, buf, len);
}

/* vCPU thread: the guest ended by itself (or a VM made ahead, not yet
 * bound to a primary, failed its first KVM_RUN: vm_start_parked() says
 * so). */
static void stop_cb(void *opaque)
{
	struct vmwork *v = opaque;

	if (v->sink.ended)
		v->sink.ended(v->sink.arg);
}

void vmwork_hooks(struct vmwork *v, struct vm_config *vc)
{
	vc->console = console_cb;
	vc->console_opaque = v;
	vc->on_stop = stop_cb;
	vc->stop_opaque = v;
}

static void vw_bind(void *w, const struct workload_sink *sink)
{
	((struct vmwork *)w)->sink = *sink;
}

static int vw_start(void *w)
{
	return vm_start(((struct vmwork *)w)->vm);
}

static int vw_ended(void *w, char *why, size_t len)
{
	struct vmwork *v = w;
	struct vm_status st;

	vm_wait(v->vm, 0, &st);
	if (st.how == VM_EXITED) {
		*why = '\0';
		return st.code;
	}
	snprintf(why, len, "%s", st.msg);
	return st.how == VM_ABORTED   ? WORKLOAD_EXIT_ABORTED
	       : st.how == VM_CRASHED ? WORKLOAD_EXIT_CRASHED
				      : WORKLOAD_EXIT_FAILED;
}

static const char *vw_error(void *w)
{
	return vm_error(((struct vmwork *)w)->vm);
}

static struct staged *vw_staged(void *w, unsigned slot)
{
	return &((struct vmwork *)w)->slots[slot];
}

static const uint8_t *vw_memory(void *w)
{
	return vm_mem(((struct vmwork *)w)->vm);
}

static int vw_capture(void *w, unsigned slot, uint64_t epoch, int final)
{
	struct vmwork *v = w;
	int ret;

	if (final)
		v->stopped = 1; /* the last epoch: the guest stays stopped */
	ret = capture_checkpoint(v->vm, v->sink.ob, &v->copier, v->bitmap,
				 v->carry, epoch, v->stopped || v->held,
				 &v->slots[slot]);
	if (ret)
		log_error("epoch %llu: capture: %s", (unsigned long long)epoch,
			  vm_error(v->vm));
	return ret;
}

/* Less the hot pages (vm.h): every checkpoint copies those anyway, so
 * they must not keep a sync from converging (precopy_stop_pages). */
static long vw_harvest(void *w)
{
	struct vmwork *v = w;
	long n = capture_harvest(v->vm, v->bitmap, v->carry,
				 v->stopped || v->held);
	struct vm_hot_stats hs;

	if (n < 0) {
		log_error("harvest: %s", vm_error(v->vm));
		return n;
	}
	vm_hot_stats(v->vm, &hs);
	return n > (long)hs.now ? n - (long)hs.now : 0;
}

static size_t vw_list(void *w, int all)
{
	struct vmwork *v = w;
	uint64_t npages = vm_mem_size(v->vm) / VM_PAGE_SIZE;

	if (all)
		return capture_list_data(vm_mem_fd(v->vm), npages,
					 v->round_pfns);
	return capture_list(v->bitmap, npages, v->round_pfns);
}

static void vw_defer(void *w)
{
	struct vmwork *v = w;
	size_t i, n = vm_bitmap_bytes(v->vm) / 8;

	for (i = 0; i < n; i++)
		v->carry[i] |= v->bitmap[i];
}

static int vw_stage(void *w, unsigned slot, uint64_t epoch, size_t pos,
		    size_t n)
{
	struct vmwork *v = w;
	struct staged *s = &v->slots[slot];
	int ret = staged_reserve(s, n, 0);

	if (ret)
		return ret;
	staged_set_precopy(s, epoch, v->round_pfns + pos, n);
	return 0;
}

/*
 * Copies and encoder output for the largest epoch (max_epoch_size), made
 * outside any pause: at start, before the guest runs, and again (a no-op
 * then) when a backup attaches. Only ever grows: cheap once done.
 */
static int vw_reserve(void *w)
{
	struct vmwork *v = w;
	unsigned i;
	int ret;

	for (i = 0; i < v->nslots; i++) {
		ret = staged_reserve(&v->slots[i], v->epoch_pages, 1);
		if (!ret)
			ret = staged_reserve_output(&v->slots[i],
						    v->epoch_pages);
		if (ret)
			return ret;
	}
	return 0;
}

static int vw_pause(void *w)
{
	struct vmwork *v = w;

	v->stopped = 1;
	return vm_pause(v->vm);
}

static int vw_resume(void *w)
{
	struct vmwork *v = w;

	v->stopped = 0;
	return v->held ? 0 : vm_resume(v->vm);
}

static int vw_hold(void *w, int on)
{
	struct vmwork *v = w;

	v->held = on;
	if (on)
		return vm_pause(v->vm);
	return v->stopped ? 0 : vm_resume(v->vm);
}

static long vw_dirty_now(void *w)
{
	return vm_dirty_peek(((struct vmwork *)w)->vm);
}

static const struct workload_ops vmwork_ops = {
	.bind = vw_bind,
	.start = vw_start,
	.ended = vw_ended,
	.error = vw_error,
	.staged = vw_staged,
	.memory = vw_memory,
	.capture = vw_capture,
	.harvest = vw_harvest,
	.list = vw_list,
	.defer = vw_defer,
	.stage = vw_stage,
	.reserve = vw_reserve,
	.pause = vw_pause,
	.resume = vw_resume,
	.hold = vw_hold,
	.dirty_now = vw_dirty_now,
};

struct workload vmwork_workload(struct vmwork *v)
{
	return (struct workload){.ops = &vmwork_ops,
				 .w = v,
				 .mem_size = vm_mem_size(v->vm),
				 .page_size = VM_PAGE_SIZE,
				 .epoch_pages = v->epoch_pages};
}

int vmwork_init(struct vmwork *v, struct vm *vm, const struct config *cfg,
		char *err, size_t errlen)
{
	unsigned i;

	memset(v, 0, sizeof(*v));
	v->vm = vm;
	v->nslots = cfg->replication.max_inflight_epochs + 1;
	v->epoch_pages = cfg->replication.max_epoch_size / VM_PAGE_SIZE;
	v->slots = calloc(v->nslots, sizeof(*v->slots));
	v->bitmap = calloc(1, vm_bitmap_bytes(vm));
	v->carry = calloc(1, vm_bitmap_bytes(vm));
	v->round_pfns =
		malloc(vm_mem_size(vm) / VM_PAGE_SIZE * sizeof(*v->round_pfns));
	if (!v->slots || !v->bitmap || !v->carry || !v->round_pfns)
		goto nomem;
	for (i = 0; i < v->nslots; i++)
		if (staged_init(&v->slots[i]))
			goto nomem;
	if (copier_start(&v->copier))
		log_warn("no copy helper thread: pauses copy on one thread");
	return 0;
nomem:
	snprintf(err, errlen, "out of memory for the epoch pipeline");
	return -ENOMEM;
}

void vmwork_destroy(struct vmwork *v)
{
	unsigned i;

	vm_destroy(v->vm);
	for (i = 0; v->slots && i < v->nslots; i++)
		staged_destroy(&v->slots[i]);
	free(v->slots);
	free(v->bitmap);
	free(v->carry);
	free(v->round_pfns);
	copier_stop(&v->copier);
	memset(v, 0, sizeof(*v));
}
