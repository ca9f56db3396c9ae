/*
 * Broken invariants stop the process. A state machine that meets a
 * transition its table forbids, or an event that contradicts what it
 * knows, is confused; a confused primary could release output its backup
 * never saw, and a confused backup could promote a second primary. An HA
 * pair is safer with a crashed node: its peer takes over (docs/design.md,
 * "Broken invariants fail fast"). State machines call this through a
 * pointer they are given, so that unit tests can catch the call instead.
 */
#ifndef REMORA_INVARIANT_H
#define REMORA_INVARIANT_H

/* Logs "bug at file:line: what" and abort()s (a core dump to read). */
void invariant_broken(const char *file, int line, const char *what)
	__attribute__((noreturn));

#endif
