/*
 * What runs between the VMM's entry into the guest and main(): check that
 * the boot information is what this SDK was built for, set up the heap and
 * the arguments, then run main and exit with its result. Any problem here is
 * a mismatch between VMM and guest, so it aborts with a message naming it.
 */
#include "remora.h"

/* Linker script symbols: .bss and the end of the image. */
extern char __bss_start[], __bss_end[], _end[];

noreturn void remora_start(struct remora_boot *boot);

/* A command line of n bytes has at most n / 2 + 1 arguments. */
#define MAX_ARGS (REMORA_CMDLINE_MAX / 2 + 1)

static const volatile struct remora_boot *boot_info;
static char cmdline[REMORA_CMDLINE_MAX];
static char *argv[1 + MAX_ARGS + 1];

const volatile struct remora_boot *remora_boot_info(void)
{
	return boot_info;
}

static noreturn void boot_error(const char *what, uint64_t got, uint64_t want)
{
	char msg[160];

	snprintf(msg, sizeof(msg), "remora guest: %s: 0x%llx (expected 0x%llx)",
		 what, (unsigned long long)got, (unsigned long long)want);
	remora_abort(msg);
}

noreturn void remora_start(struct remora_boot *boot)
{
	uint64_t len;
	int argc;

	/*
	 * The loader should have zeroed .bss already (fresh guest RAM is
	 * zero); clearing it here keeps the guest correct even if not.
	 */
	memset(__bss_start, 0, (size_t)(__bss_end - __bss_start));

	if (boot->magic != REMORA_BOOT_MAGIC)
		boot_error("bad boot magic", boot->magic, REMORA_BOOT_MAGIC);
	if (boot->abi_version != REMORA_ABI_VERSION)
		boot_error("VMM ABI version", boot->abi_version,
			   REMORA_ABI_VERSION);
	if (boot->page_size != 4096)
		boot_error("page size", boot->page_size, 4096);
	if (boot->heap_start < (uintptr_t)_end)
		boot_error("heap starts inside the image", boot->heap_start,
			   (uintptr_t)_end);
	if (boot->heap_end < boot->heap_start ||
	    boot->heap_end > boot->mem_size)
		boot_error("heap end", boot->heap_end, boot->mem_size);
	len = boot->cmdline_len;
	if (len >= REMORA_CMDLINE_MAX || boot->cmdline > boot->mem_size ||
	    len > boot->mem_size - boot->cmdline)
		boot_error("command line length", len, REMORA_CMDLINE_MAX - 1);
	boot_info = boot;

	remora_heap_init((void *)(uintptr_t)boot->heap_start,
			 boot->heap_end - boot->heap_start);

	/* A copy: the boot page is the VMM's, and splitting writes. */
	memcpy(cmdline, (const char *)(uintptr_t)boot->cmdline, len);
	cmdline[len] = '\0';
	argv[0] = "guest";
	argc = remora_split_args(cmdline, argv + 1, MAX_ARGS);
	if (argc < 0)
		remora_abort("remora guest: unbalanced quote in command line");
	argv[argc + 1] = NULL;

	remora_exit(main(argc + 1, argv));
}
