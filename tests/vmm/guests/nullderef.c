/*
 * nullderef: faults on purpose, so that a test can check the VMM reports a
 * guest crash (with registers) instead of hanging or dying itself. By
 * default it reads address 0 (page 0 is never mapped); with --jump it jumps
 * to 0xdead00000000, far beyond guest memory, so the fault is on an
 * instruction fetch. Exit code 3 means the fault did not happen.
 *
 *   nullderef [--jump]
 */
#include "remora.h"

#define WILD_RIP 0xdead00000000ull

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "--jump")) {
		void (*volatile fn)(void) = (void (*)(void))WILD_RIP;

		fn();
		printf("nullderef: jump to 0x%llx returned\n", WILD_RIP);
	} else {
		int *volatile null = NULL;

		printf("nullderef: read 0x%x at address 0\n", *null);
	}
	return 3;
}
