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
 * With --repeat N it writes them N times (the byte is the round number,
 * 1..N), --every MS apart, before "dirty done".
 *
 *   dirty [--wait] [--repeat N] [--every MS] 0xADDR...
 */
#include "remora.h"

int main(int argc, char **argv)
{
	bool wait = false;
	long repeat = 1, every = 0;
	int i = 1, first;

	for (; i < argc; i++) {
		if (!strcmp(argv[i], "--wait"))
			wait = true;
		else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
			repeat = strtol(argv[++i], NULL, 10);
		else if (!strcmp(argv[i], "--every") && i + 1 < argc)
			every = strtol(argv[++i], NULL, 10);
		else
			break;
	}
	if (i == argc || repeat < 1 || every < 0) {
		printf("usage: dirty [--wait] [--repeat N] [--every MS] "
		       "0xADDR...\n");
		return 2;
	}
	first = i;
	/* Parse everything first: a typo must not leave half the writes done. */
	for (int a = i; a < argc; a++) {
		char *end;

		strtoull(argv[a], &end, 16);
		if (end == argv[a] || *end) {
			printf("dirty: bad address '%s'\n", argv[a]);
			return 2;
		}
	}
	for (long r = 1; r <= repeat; r++) {
		for (i = first; i < argc; i++) {
			uintptr_t addr = strtoull(argv[i], NULL, 16);

			*(volatile uint8_t *)addr = (uint8_t)r;
		}
		if (r < repeat && every)
			remora_sleep_ms((uint64_t)every);
	}
	printf("dirty done\n");
	if (wait) {
		for (;;)
			remora_sleep_ms(1000);
	}
	return 0;
}
