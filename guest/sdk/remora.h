/*
 * The one header a remora guest includes: the VMM interface (abi.h), the
 * hypercall wrappers, console output, assert() and the small C library
 * (libc.h). A guest is a static ELF whose main(argc, argv) is called by the
 * SDK's start code with the arguments from the boot command line; argv[0] is
 * "guest". Returning from main exits the VM with that code (0..255).
 */
#ifndef REMORA_GUEST_H
#define REMORA_GUEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdnoreturn.h>

#include "abi.h"
#include "libc.h"

/*
 * Passes the argument block arg to the hypercall on port. The VMM reads the
 * block and writes results back into it, hence the memory clobber. Blocks
 * must lie below 4 GiB: only the low 32 bits of the address are sent.
 */
static inline void remora_hypercall(unsigned port, void *arg)
{
	__asm__ volatile("outl %0, %w1"
			 :
			 : "a"((uint32_t)(uintptr_t)arg), "Nd"((uint16_t)port)
			 : "memory");
}

/* hypercall.c */
void remora_console_write(const void *buf, size_t len);
uint64_t remora_monotonic_ns(void);
uint64_t remora_wallclock_ns(void);
/* Sleeps until deadline_ns or earlier; returns the monotonic time. */
uint64_t remora_poll(uint64_t deadline_ns);
void remora_sleep_until(uint64_t deadline_ns);
void remora_sleep_ms(uint64_t ms);
void remora_random(void *buf, size_t len);
noreturn void remora_exit(int code);
noreturn void remora_abort(const char *msg);
noreturn void remora_assert_fail(const char *expr, const char *file, int line,
				 const char *func);

/* start.c: the boot information the VMM passed at entry. */
const volatile struct remora_boot *remora_boot_info(void);

/*
 * console.c: stdout is the console. printf formats into a buffer and writes
 * it with one hypercall per 512 bytes; each call is one write.
 */
int printf(const char *fmt, ...) REMORA_PRINTF(1, 2);
int vprintf(const char *fmt, va_list ap);
int puts(const char *s);
int putchar(int c);

int main(int argc, char **argv);

/* The file's own name: build-relative paths are long and say little. */
#ifdef __FILE_NAME__
#define REMORA_FILE __FILE_NAME__
#else
#define REMORA_FILE __FILE__
#endif

#ifdef NDEBUG
#define assert(expr) ((void)0)
#else
#define assert(expr)      \
	((expr) ? (void)0 \
		: remora_assert_fail(#expr, REMORA_FILE, __LINE__, __func__))
#endif

#endif
