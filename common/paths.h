/*
 * The files a daemon's config and command line name: opened without ever
 * blocking on them, and checked at start when they are needed only later.
 *
 * open(2) of a FIFO waits for the other end (for ever, if nobody comes),
 * and so would a daemon opening its config, its guest or its console sink
 * there, before it had said a word. So everything here opens with
 * O_NONBLOCK and looks at what it got through the descriptor (fstat(2) of
 * the fd: a stat-then-open could look at one file and open another): the
 * config and the guest, read whole, must be regular files; a console sink
 * may be a FIFO only when its reader is already there (the open fails with
 * ENXIO otherwise). What is opened is made blocking again, so reads and
 * writes behave as they always did.
 *
 * A backup needs its console sink, the --snapshot directory and the shell
 * that runs fence_command and health_check_command only when the primary
 * fails, maybe months after it started; a wrong path found then stops the
 * failover when it matters. So it checks them all at start, and a wrong one
 * stops it with one line that names the path and what to change. The same
 * goes for a process workload's program, directories and CRIU, which a
 * backup first uses when it promotes.
 *
 * No libuv, never exits: 0, a descriptor, or a negative errno, with one
 * line saying why where there is one to say.
 */
#ifndef REMORA_PATHS_H
#define REMORA_PATHS_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* The shell command.c runs fence_command and health_check_command with. */
#define PATHS_SHELL "/bin/sh"

/*
 * Opens path for reading: the descriptor (O_CLOEXEC), or a negative errno
 * with why set to strerror()'s text: -EISDIR for a directory, and -EINVAL
 * with why "a FIFO, not a regular file" (a device, a socket...) for any
 * other file that is not a regular one: it could block, never end, or not
 * be a file at all.
 */
int paths_open_regular(const char *path, char *why, size_t whylen);

/* What a file of this mode is, for "X, not a regular file": "a FIFO",
 * "a directory", ... */
const char *paths_kind(mode_t mode);

/*
 * Opens a console sink for appending, creating a file that is not there
 * ("-": a dup of stdout). Returns the descriptor (O_CLOEXEC, blocking), or
 * a negative errno: -ENXIO for a FIFO without a reader (or a socket).
 */
int paths_open_sink(const char *path);

/*
 * Opens node n's console sink (config_console()): the descriptor, or a
 * negative errno with one line in err naming the sink, the node, the
 * config, the problem and the key to change.
 */
int paths_open_console(const struct config *cfg, const struct config_node *n,
		       char *err, size_t errlen);

/*
 * Whether a snapshot can be written at path (snapshot.h writes PATH.tmp
 * next to it, then renames it over path): its directory exists and may be
 * written, and path is not a directory or a special file (which the rename
 * would replace). 0, or a negative errno with one line in err.
 */
int paths_check_snapshot(const char *path, char *err, size_t errlen);

/*
 * Whether the [failover] commands that are set can run: PATHS_SHELL is an
 * executable file, and a command whose first word is a plain path (it has
 * a '/' and nothing the shell would expand) names an executable file. 0,
 * or a negative errno with one line in err naming the key.
 */
int paths_check_commands(const struct config *cfg, char *err, size_t errlen);

/*
 * The program that [workload] command runs (type = process), into path:
 * argv[0] itself when it has a '/' (a relative one taken from [workload]
 * directory, where the service starts), else the first executable regular
 * file of that name in the PATH that [workload] environment sets or, when
 * it sets none, in the daemon's own PATH (or "/bin:/usr/bin" without one),
 * with relative PATH entries (and an empty one: ".") taken from directory.
 * 0, or a negative errno with one line in err naming the key, the program
 * and what to change: -ENOENT, -EACCES (not an executable regular file),
 * -ENAMETOOLONG, -EINVAL for a kvm workload.
 */
int paths_find_command(const struct config *cfg, char *path, size_t len,
		       char *err, size_t errlen);

/*
 * Whether a type = process workload can start, checked before it is needed
 * (0 at once for kvm): [workload] directory is a directory, command's
 * program is found (paths_find_command), criu (when set; empty is the
 * built-in one) is an executable regular file, and data_directory (when
 * set) is a directory. 0, or a negative errno with one line in err naming
 * the key, the path and what to change.
 */
int paths_check_process(const struct config *cfg, char *err, size_t errlen);

#endif
