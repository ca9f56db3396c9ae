/*
 * spin: runs forever without hypercalls, writing to a few pages of its own
 * all the time, and prints nothing. For pause/resume and dirty-tracking
 * tests: the vCPU is always busy, so a pause must interrupt it in KVM_RUN,
 * and every epoch has the same few dirty pages.
 */
#include "remora.h"

#define SPIN_PAGES 4

static volatile uint64_t pages[SPIN_PAGES][512] __attribute__((aligned(4096)));

int main(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	for (uint64_t n = 0;; n++)
		pages[n % SPIN_PAGES][(n / SPIN_PAGES) % 512] = n;
}
