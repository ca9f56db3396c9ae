/*
 * remora-primary --standalone: runs a guest without replication, with its
 * console on stdout; optionally snapshots it after a while, or continues one
 * from a snapshot. (main.c sends --standalone command lines here.)
 *
 * Exit status: the guest's exit code; 134 if it aborted; 139 if it crashed;
 * 70 if it made a bad hypercall or the VMM failed; 1 for set-up errors
 * (KVM, image, snapshot); 2 for usage errors.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "main.h"
#include "workloads.h"
#include "paths.h"
#include "snapshot.h"
#include "units.h"
#include "vm.h"

#define PROG "remora-primary"

struct opts {
	int standalone;
	const char *guest;
	uint64_t mem;
	uint64_t snapshot_after_ns; /* 0: never */
	const char *snapshot_file;
	const char *restore;
	char cmdline[4096];
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " --standalone --guest PATH [--mem SIZE]\n"
		"           [--snapshot-after DURATION --snapshot-file FILE]\n"
		"           [-- GUEST ARGS...]\n"
		"       " PROG " --standalone --restore FILE [--snapshot-after "
		"DURATION --snapshot-file FILE]\n"
		"\n"
		"Runs a guest program in remora's micro-VM with its console "
		"on stdout\nand exits with the guest's exit code.\n"
		"\n"
		"  --standalone            run without replication (see "
		"--help without it)\n"
		"  --guest PATH            static ELF guest (guest/examples/)\n"
		"  --mem SIZE              guest memory, 4M..4G, multiple of "
		"2M (default 64M)\n"
		"  --snapshot-after DUR    pause after DUR (e.g. 500ms), write "
		"the snapshot, exit 0\n"
		"  --snapshot-file FILE    where --snapshot-after writes\n"
		"  --restore FILE          continue the guest saved in FILE\n"
		"  -h, --help              this text\n");
}

/* One line on stderr for a usage error; returns the usage exit status. */
static int bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int bad(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, PROG ": ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	return EXIT_USAGE;
}

/*
 * Appends one guest argument to the command line in the grammar of abi.h:
 * quoted when empty or holding whitespace, with '\\' and '"' escaped.
 * Returns -1 if it does not fit.
 */
static int quote_arg(char *cmd, size_t cap, size_t *used, const char *arg)
{
	int quote = *arg == '\0' || strpbrk(arg, " \t\n\r\v\f") != NULL;
	size_t n = *used;

	/* Worst case: separator, two quotes, every byte escaped, NUL. */
	if (n + 3 + 2 * strlen(arg) + 1 > cap)
		return -1;
	if (n)
		cmd[n++] = ' ';
	if (quote)
		cmd[n++] = '"';
	for (; *arg; arg++) {
		if (*arg == '"' || *arg == '\\')
			cmd[n++] = '\\';
		cmd[n++] = *arg;
	}
	if (quote)
		cmd[n++] = '"';
	cmd[n] = '\0';
	*used = n;
	return 0;
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"standalone", no_argument, NULL, 'S'},
		{"guest", required_argument, NULL, 'g'},
		{"mem", required_argument, NULL, 'm'},
		{"snapshot-after", required_argument, NULL, 'a'},
		{"snapshot-file", required_argument, NULL, 'f'},
		{"restore", required_argument, NULL, 'r'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *why;
	size_t used = 0;
	int c, i;

	memset(o, 0, sizeof(*o));
	o->mem = 64ull << 20;
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'S':
			o->standalone = 1;
			break;
		case 'g':
			o->guest = optarg;
			break;
		case 'm':
			if (units_parse_size(optarg, &o->mem, &why))
				return bad("--mem %s: %s", optarg, why);
			break;
		case 'a':
			if (units_parse_duration(optarg, &o->snapshot_after_ns,
						 &why))
				return bad("--snapshot-after %s: %s", optarg,
					   why);
			if (o->snapshot_after_ns == 0)
				return bad("--snapshot-after %s: %s", optarg,
					   "must be more than 0");
			break;
		case 'f':
			o->snapshot_file = optarg;
			break;
		case 'r':
			o->restore = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (!o->standalone)
		return bad("--standalone is required in this mode");
	if (!o->guest == !o->restore)
		return bad("give exactly one of --guest and --restore");
	if (!o->snapshot_after_ns != !o->snapshot_file)
		return bad("--snapshot-after and --snapshot-file go together");
	if (o->restore && optind < argc)
		return bad("guest arguments are part of the snapshot; none "
			   "may follow --restore");
	for (i = optind; i < argc; i++)
		if (quote_arg(o->cmdline, sizeof(o->cmdline), &used, argv[i]))
			return bad("guest argument '%s': %s", argv[i],
				   "arguments too long for the boot page");
	return 0;
}

static void console_stdout(void *opaque, const uint8_t *buf, size_t len)
{
	(void)opaque;
	/* stdout gone: the guest runs on regardless. */
	fd_write_all(STDOUT_FILENO, buf, len);
}

int exit_status(const struct vm_status *st)
{
	switch (st->how) {
	case VM_EXITED:
		return st->code;
	case VM_ABORTED:
		fprintf(stderr, PROG ": %s\n", st->msg);
		return EXIT_ABORTED;
	case VM_CRASHED:
		fprintf(stderr, PROG ": %s\n", st->msg);
		return EXIT_CRASHED;
	default:
		fprintf(stderr, PROG ": %s\n", st->msg);
		return EXIT_VMM;
	}
}

int standalone_main(int argc, char **argv)
{
	struct vm_config cfg = {.console = console_stdout};
	struct vm_status st;
	struct opts o;
	struct vm *vm = NULL;
	char err[VM_ERR_MAX], why[96];
	uint8_t *img = NULL;
	size_t len = 0;
	int ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret;

	if (o.restore) {
		uint64_t split[2];

		ret = vm_snapshot_restore(o.restore, &cfg, &vm, split, err,
					  sizeof(err));
		if (ret) {
			fprintf(stderr, PROG ": %s\n", err);
			return 1;
		}
		fprintf(stderr,
			PROG ": restored %s: %llu MiB, memory read %.1f ms, "
			     "set-up %.1f ms\n",
			o.restore, (unsigned long long)(vm_mem_size(vm) >> 20),
			split[0] / 1e6, split[1] / 1e6);
	} else {
		ret = workloads_read_file(o.guest, &img, &len, why,
					  sizeof(why));
		if (ret) {
			fprintf(stderr, PROG ": guest %s: %s\n", o.guest, why);
			return 1;
		}
		cfg.mem_size = o.mem;
		ret = vm_create(&vm, &cfg, err, sizeof(err));
		if (ret) {
			fprintf(stderr, PROG ": %s\n", err);
			free(img);
			return 1;
		}
		ret = vm_load_elf(vm, img, len, o.cmdline);
		free(img);
		if (ret) {
			fprintf(stderr, PROG ": %s: %s\n", o.guest,
				vm_error(vm));
			vm_destroy(vm);
			return 1;
		}
	}

	if (vm_start(vm)) {
		fprintf(stderr, PROG ": %s\n", vm_error(vm));
		vm_destroy(vm);
		return 1;
	}
	if (o.snapshot_after_ns) {
		int ms = (int)(o.snapshot_after_ns / 1000000);

		if (vm_wait(vm, ms, &st) == -ETIMEDOUT && vm_pause(vm) == 0) {
			ret = vm_snapshot_save(vm, o.snapshot_file);
			if (ret)
				fprintf(stderr, PROG ": %s\n", vm_error(vm));
			else
				fprintf(stderr,
					PROG ": snapshot written to %s after "
					     "%d ms\n",
					o.snapshot_file, ms);
			vm_destroy(vm);
			return ret ? 1 : 0;
		}
		fprintf(stderr, PROG ": guest stopped before the snapshot\n");
	}
	vm_wait(vm, -1, &st);
	vm_destroy(vm);
	return exit_status(&st);
}
