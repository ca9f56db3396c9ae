/*
 * Promotion (see promote.h). Everything here runs on the backup's loop
 * thread, with the guest not yet running, and takes milliseconds whatever
 * the memory size: the replica is mapped, never copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"
#include "promote.h"
#include "vm.h"

static uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int open_sink(const char *path)
{
	if (strcmp(path, "-") == 0)
		return dup(STDOUT_FILENO);
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

/*
 * The console bytes of applied epochs past what the old primary said it
 * released: it may have died between an Ack and writing them. Written
 * before the guest runs, so the stream stays in order.
 */
static int release_tail(struct promotion *pm, const struct replica *r,
			char *err, size_t errlen)
{
	uint64_t from = pm->released > r->tail_off ? pm->released : r->tail_off;
	uint64_t end = replica_console_end(r);
	int ret;

	pm->console_missing =
		pm->released < r->tail_off ? r->tail_off - pm->released : 0;
	if (from >= end)
		return 0;
	ret = fd_write_all(pm->sink, r->tail + (from - r->tail_off),
			   (size_t)(end - from));
	if (ret) {
		snprintf(err, errlen, "console sink: %s", strerror(-ret));
		return ret;
	}
	pm->console_released = (size_t)(end - from);
	return 0;
}

int promote(struct promotion *pm, struct primary *p, uv_loop_t *loop,
	    const struct config *cfg, const struct config_node *self,
	    const struct replica *r, char *err, size_t errlen)
{
	struct vm_config vc = {.mem_size = r->mem_size, .dirty_log = 1};
	struct primary_opts po = {.term = pm->term, .promoted = 1};
	const char *sink_path = config_console(cfg, self);
	uint64_t t0 = mono_ns();
	int ret;

	pm->vm = NULL;
	pm->sink = -1;
	if (!r->epoch) {
		snprintf(err, errlen, "no consistent replica");
		return -EAGAIN;
	}
	if (pm->released > replica_console_end(r)) {
		snprintf(err, errlen,
			 "the old primary released console output up to byte "
			 "%llu, the replica's ends at %llu",
			 (unsigned long long)pm->released,
			 (unsigned long long)replica_console_end(r));
		return -ESTALE;
	}
	primary_console_hooks(p, &vc);
	ret = vm_create_from_memfd(&pm->vm, &vc, r->fd, err, errlen);
	if (ret)
		return ret;
	ret = vm_state_load(pm->vm, r->state, r->state_len);
	if (ret) {
		snprintf(err, errlen, "replica state: %s", vm_error(pm->vm));
		goto fail;
	}
	/* A guest that checks itself after a restore (memstress) does. */
	vm_request_check(pm->vm);
	pm->vm_ns = mono_ns() - t0;

	pm->sink = open_sink(sink_path);
	if (pm->sink < 0) {
		ret = -errno;
		snprintf(err, errlen, "console sink %s: %s", sink_path,
			 strerror(errno));
		goto fail;
	}
	ret = release_tail(pm, r, err, errlen);
	if (ret)
		goto fail;
	po.console_offset = replica_console_end(r);
	po.sink_fd = pm->sink;
	ret = primary_start(p, loop, cfg, self, pm->vm, &po);
	if (ret) {
		snprintf(err, errlen, "starting the primary: %s",
			 strerror(-ret));
		primary_finish(p);
		goto fail;
	}
	p->stats.guest_start_ns = now_ns();
	if (vm_start(pm->vm)) {
		/* Its handles are open: stopping closes them, the loop ends
		 * and the daemon exits with this status. */
		p->exit_code = 70;
		primary_abort(p, vm_error(pm->vm));
	}
	return 0;
fail:
	vm_destroy(pm->vm);
	pm->vm = NULL;
	if (pm->sink >= 0)
		close(pm->sink);
	pm->sink = -1;
	return ret;
}

void promote_finish(struct promotion *pm, struct primary *p)
{
	vm_destroy(pm->vm);
	pm->vm = NULL;
	primary_finish(p);
	if (pm->sink >= 0)
		close(pm->sink);
	pm->sink = -1;
}
