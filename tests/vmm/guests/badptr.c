/*
 * badptr: hands the VMM hypercall arguments that point outside guest
 * memory; the VMM must stop the VM with an error naming the call, and stay
 * up itself. Modes (all use the console call):
 *
 *   badptr          buffer address far beyond guest memory (0xfffffff000)
 *   badptr --block  the argument block itself outside guest memory
 *   badptr --len    a valid buffer address with a huge length (1 << 40)
 *   badptr --over   a valid buffer one byte longer than REMORA_HC_BUF_MAX
 *
 * Exit code 3 means the VMM accepted the call.
 */
#include "remora.h"

int main(int argc, char **argv)
{
	static char text[] = "badptr\n";
	const char *mode = argc > 1 ? argv[1] : "";
	struct remora_hc_buf b = {.addr = 0xfffffff000ull, .len = 16};

	if (!strcmp(mode, "--block")) {
		remora_hypercall(REMORA_HC_CONSOLE, (void *)0xfffffff0ul);
	} else {
		if (!strcmp(mode, "--len")) {
			b.addr = (uintptr_t)text;
			b.len = 1ull << 40;
		} else if (!strcmp(mode, "--over")) {
			/* The heap is big enough in any test configuration. */
			b.addr = (uintptr_t)malloc(REMORA_HC_BUF_MAX + 1);
			b.len = REMORA_HC_BUF_MAX + 1;
			if (!b.addr) {
				printf("badptr: heap too small for --over\n");
				return 2;
			}
		} else if (*mode) {
			printf("usage: badptr [--block | --len | --over]\n");
			return 2;
		}
		remora_hypercall(REMORA_HC_CONSOLE, &b);
	}
	printf("badptr: VMM accepted the call\n");
	return 3;
}
