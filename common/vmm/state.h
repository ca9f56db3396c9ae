/*
 * The vCPU state blob's parser, pure so that it can be fuzzed: it checks a
 * blob (format at the top of state.c) without a VM.
 */
#ifndef REMORA_VMM_STATE_H
#define REMORA_VMM_STATE_H

#include <stddef.h>
#include <stdint.h>

enum { S_REGS = 1, S_SREGS, S_XSAVE, S_FPU, S_XCRS, S_MSRS, S_CLOCK };

/* Where each section of a checked blob is (NULL: absent). */
struct vm_state_view {
	const uint8_t *sec[S_CLOCK + 1];
	uint32_t len[S_CLOCK + 1];
};

/* Returns 0, or -EBADMSG / -EPROTO with one line in err. */
int vm_state_parse(const uint8_t *buf, size_t len, struct vm_state_view *p,
		   char *err, size_t errlen);

#endif
