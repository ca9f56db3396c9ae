/*
 * The control socket each daemon serves for remoractl: a Unix stream socket
 * at the node's control_socket path, on the daemon's libuv loop. A client
 * sends one request line (status.h), gets one reply and the connection
 * closes:
 *
 *   "status\n"       -> the status table (status_format), then EOF
 *   "status json\n"  -> one JSON object on one line, then EOF
 *   anything else    -> "error: <what is wrong; what to send>\n", then EOF
 *
 * Clients cannot hurt the daemon: a request is at most STATUS_REQUEST_MAX
 * bytes and must arrive within CTL_TIMEOUT_MS, at most CTL_CLIENTS_MAX are
 * served at once (more are told so and closed), the reply is written
 * without blocking and without SIGPIPE, and nothing a client does stops
 * the server. The status itself comes from the daemon's callback, called on
 * the loop thread for each request.
 */
#ifndef REMORA_CTL_H
#define REMORA_CTL_H

#include <stddef.h>
#include <uv.h>

#include "status.h"

/* A client has this long, from connecting, to send its request. */
#define CTL_TIMEOUT_MS 2000
/* Clients served at once. */
#define CTL_CLIENTS_MAX 16

struct ctl;

/*
 * Fills out (zeroed beforehand, since_last_frame_ms preset to -1) with the
 * daemon's current status. Runs on the loop thread.
 */
typedef void (*ctl_status_fn)(void *opaque, struct node_status *out);

/*
 * Starts serving path on loop. A socket already at path is taken over only
 * when nothing answers there any more (a daemon that died); a live one
 * (another daemon), or a path that is not a socket, makes this fail. Returns
 * 0 with *out set, or a negative errno with one line in err naming the path
 * and what to do: -EADDRINUSE when another daemon serves path, -EEXIST when
 * it is not a socket, -ENAMETOOLONG, or what socket/bind/listen said. A
 * failure leaves nothing on the loop (the socket is handed to libuv only
 * once it listens), so uv_loop_close() can follow at once.
 */
int ctl_start(struct ctl **out, uv_loop_t *loop, const char *path,
	      ctl_status_fn fn, void *opaque, char *err, size_t errlen);

/*
 * Stops serving: the server and every client connection are closed (a
 * client waiting for its reply sees EOF) and the socket file is removed if
 * it is still ours. The memory is released by the loop's close callbacks:
 * run the loop once more before uv_loop_close(). c may be NULL.
 */
void ctl_close(struct ctl *c);

#endif
