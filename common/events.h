/*
 * Machine-readable events: what a daemon decided, one JSON object per line,
 * for tests, drills and operators' tooling. Log lines are for humans and
 * may be reworded; an event's name and fields are an interface
 * (docs/design.md lists them). Every line carries the node, its role, a
 * wall-clock timestamp and the monotonic time in milliseconds:
 *
 *   {"t_ms": 1234.567, "time": "2026-12-07T01:02:03.456Z", "node": "b",
 *    "role": "backup", "event": "state", "from": "replicating",
 *    "to": "promoting", ...}
 *
 * The sink is set once at start-up (events_init, before any thread) and is
 * the one piece of process-wide state here, as for log.c; each line is one
 * write(2) on an O_APPEND file, so lines never interleave. Without
 * events_init every call is a no-op.
 */
#ifndef REMORA_EVENTS_H
#define REMORA_EVENTS_H

#include <stddef.h>
#include <stdint.h>

enum ev_type { EV_STR, EV_U64, EV_I64, EV_F64 };

/* One field of an event: use the EV_* constructors below. */
struct ev_field {
	const char *key;
	enum ev_type type;
	union {
		const char *s;
		uint64_t u;
		int64_t i;
		double f;
	};
};

#define EV_S(k, v) ((struct ev_field){.key = (k), .type = EV_STR, .s = (v)})
#define EV_U(k, v) \
	((struct ev_field){.key = (k), .type = EV_U64, .u = (uint64_t)(v)})
#define EV_I(k, v) \
	((struct ev_field){.key = (k), .type = EV_I64, .i = (int64_t)(v)})
#define EV_F(k, v) \
	((struct ev_field){.key = (k), .type = EV_F64, .f = (double)(v)})

/*
 * Opens path for appending (created 0644). Returns 0 or -errno; role and
 * node name every line. events_set_role() changes the role (a promoted
 * backup is a primary from then on).
 */
int events_init(const char *path, const char *node, const char *role);
void events_set_role(const char *role);
void events_close(void);

/* Writes one event line: {"t_ms", "time", "node", "role", "event", f...}. */
void events_emitv(const char *event, const struct ev_field *f, size_t n);

#define events_emit(event, ...)                                 \
	do {                                                    \
		const struct ev_field ev_f_[] = {__VA_ARGS__};  \
		events_emitv((event), ev_f_,                    \
			     sizeof(ev_f_) / sizeof(ev_f_[0])); \
	} while (0)

/*
 * Formats one event line into buf (at most len bytes, always terminated,
 * ending in '\n'); returns its length. What events_emitv writes, without
 * the time fields; pure, for the unit test.
 */
size_t events_format(char *buf, size_t len, const char *event,
		     const struct ev_field *f, size_t n);

#endif
