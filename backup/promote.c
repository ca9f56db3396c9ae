/*
 * Promotion (see promote.h). Everything here runs on the backup's loop
 * thread, with the guest not yet running, and takes milliseconds whatever
 * the memory size: the replica is mapped, never copied, and the VM on it
 * was made ahead (main.c, primary_prepare()), so that only the vCPU state
 * is loaded here.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "fdio.h"
#include "log.h"
#include "paths.h"
#include "promote.h"

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
	struct primary_image img = {
		.mem_fd = r->fd,
		.mem_size = r->mem_size,
		.state = r->state,
		.state_len = r->state_len,
		.console_offset = replica_console_end(r),
		.arb = pm->arb,
		.lease_until_ns = pm->lease_until_ns,
		.key = pm->key,
		.net = pm->net,
	};
	int ret;

	pm->sink = -1;
	ret = replica_can_take_over(r, pm->released, err, errlen);
	if (ret)
		return ret;
	/* Checked at start with the same call (main.c); opened again here,
	 * so a sink rotated meanwhile is followed. */
	ret = paths_open_console(cfg, self, err, errlen);
	if (ret < 0)
		return ret;
	pm->sink = ret;
	img.sink_fd = pm->sink;
	ret = primary_promote(p, loop, cfg, self, pm->term, &img, &pm->vm_ns,
			      err, errlen);
	if (ret) {
		char why[256];

		close(pm->sink);
		pm->sink = -1;
		/* The VM made ahead went with the attempt: made again for
		 * the next one (milliseconds, on a path already slow). */
		if (primary_prepare(p, cfg, r->fd, r->mem_size, why,
				    sizeof(why)) < 0)
			log_warn("cannot make the promotion's VM ahead again: "
				 "%s",
				 why);
		return ret;
	}
	/* Only once nothing can fail before the guest runs (a retry must
	 * not write the tail twice). A sink that fails loses this output,
	 * as a running primary's does: said, not fatal. */
	if (release_tail(pm, r, err, errlen))
		log_error("%s; the old primary's unreleased output is lost",
			  err);
	primary_run_guest(p);
	return 0;
}

void promote_finish(struct promotion *pm)
{
	if (pm->sink >= 0)
		close(pm->sink);
	pm->sink = -1;
}
