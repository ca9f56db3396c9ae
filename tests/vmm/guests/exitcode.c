/*
 * exitcode: ends the VM the way a test asks, to check that the VMM reports
 * exit codes and abort messages faithfully.
 *
 *   exitcode N            exit with code N (0..255)
 *   exitcode --abort MSG  abort with MSG
 *   exitcode --assert     fail an assert(), which aborts with file:line
 */
#include "remora.h"

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "--abort"))
		remora_abort(argv[2]);
	if (argc == 2 && !strcmp(argv[1], "--assert")) {
		volatile int one = 1;

		assert(one == 2);
	}
	if (argc == 2 && isdigit((unsigned char)argv[1][0]))
		return atoi(argv[1]);
	printf("usage: exitcode N | --abort MSG | --assert\n");
	return 2;
}
