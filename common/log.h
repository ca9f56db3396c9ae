/*
 * Daemon logging: one line per event on stderr, with a UTC timestamp, the
 * program, the node and a level:
 *
 *   2026-11-22T03:40:01.123Z remora-backup[b] info: applied epoch 42 ...
 *
 * Errors also carry the source file and line. The identity is set once at
 * start-up (log_init) before any thread exists; after that the module only
 * reads it, and each line is one write(2), so lines from several threads
 * never interleave.
 */
#ifndef REMORA_LOG_H
#define REMORA_LOG_H

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

void log_init(const char *prog, const char *node, enum log_level min);

void log_msg(enum log_level level, const char *file, int line, const char *fmt,
	     ...) __attribute__((format(printf, 4, 5)));

#define log_debug(...) log_msg(LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_msg(LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
