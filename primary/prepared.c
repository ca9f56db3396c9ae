/*
 * A promotion's VM made ahead (prepared.h): a restore from a replica's
 * memory split at the state, everything before it made at the backup's
 * leisure, the state load and the check request at the promotion.
 * kvm_restore() in workloads.c does both at once when nothing was made
 * ahead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "prepared.h"
#include "vm.h"
#include "vmwork.h"

struct prepared {
	struct vmwork vw; /* first: destroy() gets a struct prepared */
	dev_t dev;	  /* the memory's file */
	ino_t ino;
};

void prepared_free(struct prepared *pv)
{
	if (!pv)
		return;
	vmwork_destroy(&pv->vw); /* the VM and its parked thread first */
	free(pv);
}

static void destroy_owned(void *owned)
{
	prepared_free(owned);
}

int prepared_make(struct prepared **out, const struct config *cfg, int mem_fd,
		  uint64_t mem_size, char *err, size_t errlen)
{
	struct vm_config vc = {.mem_size = mem_size,
			       .dirty_log = 1,
			       .hot_max = cfg->replication.hot_pages};
	struct prepared *pv = calloc(1, sizeof(*pv));
	struct stat st;
	struct vm *vm;
	int ret;

	*out = NULL;
	if (!pv)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	if (fstat(mem_fd, &st)) {
		ret = -errno;
		snprintf(err, errlen, "replica memory: %s", strerror(errno));
		free(pv);
		return ret;
	}
	pv->dev = st.st_dev;
	pv->ino = st.st_ino;
	vmwork_hooks(&pv->vw, &vc);
	ret = vm_create_from_memfd(&vm, &vc, mem_fd, err, errlen);
	if (ret) {
		free(pv);
		return ret;
	}
	/* From here on the vmwork owns the VM, also on failure. */
	ret = vmwork_init(&pv->vw, vm, cfg, err, errlen);
	if (ret) {
		prepared_free(pv);
		return ret;
	}
	ret = vm_start_parked(vm);
	if (ret) {
		snprintf(err, errlen, "%s", vm_error(vm));
		prepared_free(pv);
		return ret;
	}
	*out = pv;
	return 0;
}

int prepared_matches(const struct prepared *pv, int mem_fd)
{
	struct stat st;

	return pv && !fstat(mem_fd, &st) && st.st_dev == pv->dev &&
	       st.st_ino == pv->ino;
}

int prepared_take(struct prepared *pv, const uint8_t *state, size_t state_len,
		  struct workload_made *m, char *err, size_t errlen)
{
	struct vm *vm = pv->vw.vm;
	int ret;

	ret = vm_state_load(vm, state, state_len);
	if (ret) {
		snprintf(err, errlen, "replica state: %s", vm_error(vm));
		prepared_free(pv);
		return ret;
	}
	/* A guest that checks itself after a restore (memstress) does. */
	vm_request_check(vm);
	m->wl = vmwork_workload(&pv->vw);
	m->owned = pv;
	m->destroy = destroy_owned;
	return 0;
}
