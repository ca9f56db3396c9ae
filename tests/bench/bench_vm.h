/*
 * What the benchmarks that run guests share: pause and resume that die on
 * failure, and the check that this process can run a VM at all. Include
 * after bench_util.h.
 */
#ifndef REMORA_BENCH_VM_H
#define REMORA_BENCH_VM_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"

static BENCH_UNUSED void pause_vm(struct vm *vm)
{
	if (vm_pause(vm))
		die("vm_pause: %s", vm_error(vm));
}

static BENCH_UNUSED void resume_vm(struct vm *vm)
{
	if (vm_resume(vm))
		die("vm_resume: %s", vm_error(vm));
}

/*
 * Can this process run a VM at all? If not: with skip, a SKIP line and exit
 * 77 (a skip for meson); without, an error and exit 1.
 */
static BENCH_UNUSED void probe_kvm(int skip)
{
	struct vm_config cfg = {.mem_size = VM_MEM_MIN, .dirty_log = 1};
	char err[VM_ERR_MAX];
	struct vm *vm;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, sizeof(err), "open: %s", strerror(errno));
	} else {
		close(fd);
		if (vm_create(&vm, &cfg, err, sizeof(err)) == 0) {
			vm_destroy(vm);
			return;
		}
	}
	fflush(stdout);
	if (skip) {
		printf("SKIP: /dev/kvm is not usable here (%s); " BENCH_PROG
		       " runs real guests\n",
		       err);
		exit(77);
	}
	fprintf(stderr, BENCH_PROG ": /dev/kvm not usable: %s\n", err);
	exit(1);
}

#endif
