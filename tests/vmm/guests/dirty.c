/*
 * dirty: writes one byte (1) at each guest-physical address given in hex,
 * prints "dirty done" and exits 0, so a test can check that exactly those
 * pages appear in the dirty log. With --wait it does not exit but sleeps in
 * poll hypercalls forever, so the test can harvest while the guest is idle.
 * The guest also dirties pages of its own: its stack (the top of RAM, above
 * heap_end), its .data/.bss and the first heap page;
 * in --wait mode each poll writes the stack again (the guest builds the
 * argument block, the VMM writes now_ns into it).
 *
 *   dirty [--wait] 0xADDR...
 */
#include "remora.h"

int main(int argc, char **argv)
{
	bool wait = false;
	int i = 1;

	if (i < argc && !strcmp(argv[i], "--wait")) {
		wait = true;
		i++;
	}
	if (i == argc) {
		printf("usage: dirty [--wait] 0xADDR...\n");
		return 2;
	}
	/* Parse everything first: a typo must not leave half the writes done. */
	for (int a = i; a < argc; a++) {
		char *end;

		strtoull(argv[a], &end, 16);
		if (end == argv[a] || *end) {
			printf("dirty: bad address '%s'\n", argv[a]);
			return 2;
		}
	}
	for (; i < argc; i++) {
		uintptr_t addr = strtoull(argv[i], NULL, 16);

		*(volatile uint8_t *)addr = 1;
	}
	printf("dirty done\n");
	if (wait) {
		for (;;)
			remora_sleep_ms(1000);
	}
	return 0;
}
