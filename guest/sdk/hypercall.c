/*
 * The hypercall wrappers: each fills an argument block on the stack (guest
 * memory below 4 GiB, as abi.h requires) and passes its address to the VMM.
 * Buffers longer than the VMM accepts in one call are sent in pieces.
 */
#include "remora.h"

static void send_buf(unsigned port, const void *buf, size_t len)
{
	while (len) {
		size_t n = len < REMORA_HC_BUF_MAX ? len : REMORA_HC_BUF_MAX;
		struct remora_hc_buf b = {.addr = (uintptr_t)buf, .len = n};

		remora_hypercall(port, &b);
		buf = (const char *)buf + n;
		len -= n;
	}
}

void remora_console_write(const void *buf, size_t len)
{
	send_buf(REMORA_HC_CONSOLE, buf, len);
}

void remora_random(void *buf, size_t len)
{
	send_buf(REMORA_HC_RANDOM, buf, len);
}

uint64_t remora_monotonic_ns(void)
{
	struct remora_hc_time t = {0};

	remora_hypercall(REMORA_HC_MONOTONIC, &t);
	return t.ns;
}

uint64_t remora_wallclock_ns(void)
{
	struct remora_hc_time t = {0};

	remora_hypercall(REMORA_HC_WALLCLOCK, &t);
	return t.ns;
}

uint64_t remora_poll(uint64_t deadline_ns)
{
	struct remora_hc_poll p = {.deadline_ns = deadline_ns};

	remora_hypercall(REMORA_HC_POLL, &p);
	return p.now_ns;
}

/* The VMM may return from a poll early (to pause the VM): poll again. */
void remora_sleep_until(uint64_t deadline_ns)
{
	uint64_t now = remora_monotonic_ns();

	while (now < deadline_ns)
		now = remora_poll(deadline_ns);
}

void remora_sleep_ms(uint64_t ms)
{
	remora_sleep_until(remora_monotonic_ns() + ms * 1000000);
}

/* The VMM does not come back from EXIT or ABORT; if it does, crash loudly. */
noreturn void remora_exit(int code)
{
	struct remora_hc_exit e = {.code = (unsigned)code & 0xff};

	remora_hypercall(REMORA_HC_EXIT, &e);
	for (;;)
		__builtin_trap();
}

noreturn void remora_abort(const char *msg)
{
	struct remora_hc_buf b = {
		.addr = (uintptr_t)msg,
		.len = strnlen(msg, REMORA_HC_BUF_MAX),
	};

	remora_hypercall(REMORA_HC_ABORT, &b);
	for (;;)
		__builtin_trap();
}

noreturn void remora_assert_fail(const char *expr, const char *file, int line,
				 const char *func)
{
	char msg[256];

	snprintf(msg, sizeof(msg), "%s:%d: %s: assertion '%s' failed", file,
		 line, func, expr);
	remora_abort(msg);
}

noreturn void remora_libc_panic(const char *msg)
{
	remora_abort(msg);
}
