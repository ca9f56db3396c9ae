/*
 * The control socket server (see ctl.h). The listening socket is a uv_pipe_t;
 * each client gets a uv_pipe_t and a deadline timer, and is freed once both
 * handles have closed. The reply (at most STATUS_REPLY_MAX bytes) is written
 * with one send(MSG_NOSIGNAL | MSG_DONTWAIT) rather than uv_write(): libuv
 * writes with writev(), which raises SIGPIPE when the client has hung up;
 * the daemons ignore it, but this server does not count on its caller
 * doing so (the tests' loops do not). One send
 * suffices: the reply is the first and only thing written on a fresh Unix
 * socket, whose send buffer is far larger than STATUS_REPLY_MAX.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "ctl.h"
#include "log.h"

/* Pending connections the kernel queues for us. */
#define CTL_BACKLOG 16
/*
 * The socket's mode: the owner and its group may ask, nobody else (a
 * status reveals the deployment's layout and load).
 */
#define CTL_MODE 0660

struct ctl_client {
	uv_pipe_t pipe;
	uv_timer_t timer; /* CTL_TIMEOUT_MS from the connection */
	struct ctl *ctl;
	struct ctl_client *prev, *next;
	int handles; /* open libuv handles; freed at 0 */
	int closing;
	size_t len; /* bytes of req received */
	char req[STATUS_REQUEST_MAX];
};

struct ctl {
	uv_pipe_t server;
	uv_pipe_t reject; /* a connection we have no memory for */
	int reject_open, reject_waiting;
	int closing;
	ctl_status_fn fn;
	void *opaque;
	struct ctl_client *clients; /* every client not yet freed */
	int nclients;		    /* of those, the ones not closing */
	int refs;  /* the server handle, every client, an open reject */
	dev_t dev; /* the socket file we bound, to remove */
	ino_t ino; /* only that one at close */
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char reply[STATUS_REPLY_MAX];
};

static void ctl_unref(struct ctl *c)
{
	if (--c->refs == 0)
		free(c);
}

static void on_server_closed(uv_handle_t *h)
{
	ctl_unref(h->data);
}

static void on_client_closed(uv_handle_t *h)
{
	struct ctl_client *cl = h->data;
	struct ctl *c = cl->ctl;

	if (--cl->handles)
		return;
	if (cl->prev)
		cl->prev->next = cl->next;
	else
		c->clients = cl->next;
	if (cl->next)
		cl->next->prev = cl->prev;
	free(cl);
	ctl_unref(c);
}

static void client_close(struct ctl_client *cl)
{
	if (cl->closing)
		return;
	cl->closing = 1;
	cl->ctl->nclients--;
	uv_close((uv_handle_t *)&cl->pipe, on_client_closed);
	uv_close((uv_handle_t *)&cl->timer, on_client_closed);
}

/* Writes the whole reply now or not at all (see the top of the file). */
static void client_send(struct ctl_client *cl, const char *buf, size_t len)
{
	uv_os_fd_t fd;
	ssize_t k;

	if (uv_fileno((uv_handle_t *)&cl->pipe, &fd))
		return;
	do {
		k = send(fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	} while (k < 0 && errno == EINTR);
	if (k < 0)
		log_debug("control socket %s: a client left before its reply: "
			  "%s",
			  cl->ctl->path, strerror(errno));
	else if ((size_t)k < len)
		log_warn("control socket %s: sent %zd of %zu bytes of a reply; "
			 "the client sees it cut short",
			 cl->ctl->path, k, len);
}

/* Answers with an error line and closes. */
static void client_refuse(struct ctl_client *cl, const char *why)
{
	struct ctl *c = cl->ctl;
	int n = snprintf(c->reply, sizeof(c->reply), "error: %s\n", why);

	client_send(cl, c->reply, (size_t)n);
	client_close(cl);
}

/* The request is the first len bytes of cl->req (newline included). */
static void client_answer(struct ctl_client *cl, size_t len)
{
	struct ctl *c = cl->ctl;
	char err[STATUS_ERR_MAX];
	struct node_status st;
	enum ctl_cmd cmd;
	int json, n;

	uv_read_stop((uv_stream_t *)&cl->pipe);
	if (status_parse_request(cl->req, len, &cmd, &json, err, sizeof(err))) {
		client_refuse(cl, err);
		return;
	}
	switch (cmd) {
	case CTL_CMD_STATUS:
		memset(&st, 0, sizeof(st));
		st.since_last_frame_ms = -1;
		c->fn(c->opaque, &st);
		n = status_format(&st, json, c->reply, sizeof(c->reply));
		if (n < 0) {
			/* status.h promises it fits: a bug, said so. */
			log_error("control socket %s: the status does not fit "
				  "in %d bytes",
				  c->path, STATUS_REPLY_MAX);
			client_refuse(cl, "internal error: the status does not "
					  "fit the reply buffer");
			return;
		}
		client_send(cl, c->reply, (size_t)n);
		break;
	}
	client_close(cl);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct ctl_client *cl = h->data;

	(void)suggested;
	/* Never more than the request can still be; 0 when full (ENOBUFS). */
	*buf = uv_buf_init(cl->req + cl->len,
			   (unsigned)(sizeof(cl->req) - cl->len));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct ctl_client *cl = s->data;
	const char *nl;

	(void)buf;
	if (nread == 0)
		return;
	if (nread < 0) {
		/* A request without its newline gets told so; else just go. */
		if (nread == UV_EOF && cl->len > 0)
			client_answer(cl, cl->len);
		else
			client_close(cl);
		return;
	}
	nl = memchr(cl->req + cl->len, '\n', (size_t)nread);
	cl->len += (size_t)nread;
	if (nl) {
		client_answer(cl, (size_t)(nl - cl->req) + 1);
		return;
	}
	if (cl->len == sizeof(cl->req)) {
		char why[96];

		uv_read_stop(s);
		snprintf(why, sizeof(why),
			 "request longer than %d bytes; try: status [json]",
			 STATUS_REQUEST_MAX);
		client_refuse(cl, why);
	}
}

static void on_timeout(uv_timer_t *t)
{
	struct ctl_client *cl = t->data;
	char why[96];

	uv_read_stop((uv_stream_t *)&cl->pipe);
	snprintf(why, sizeof(why),
		 "no request line within %d ms; try: status [json]",
		 CTL_TIMEOUT_MS);
	client_refuse(cl, why);
}

/*
 * A connection we cannot serve for want of memory is still accepted (into
 * c->reject, kept for that) and closed at once: libuv stops watching a
 * server whose connection is left waiting, so not accepting would stall the
 * socket for good. One that comes while the last is still closing waits
 * for it (libuv resumes watching once it is accepted).
 */
static void reject_one(struct ctl *c);

static void on_reject_closed(uv_handle_t *h)
{
	struct ctl *c = h->data;

	c->reject_open = 0;
	if (c->reject_waiting && !c->closing) {
		c->reject_waiting = 0;
		reject_one(c);
	}
	ctl_unref(c);
}

static void reject_one(struct ctl *c)
{
	if (c->reject_open) {
		c->reject_waiting = 1;
		return;
	}
	uv_pipe_init(c->server.loop, &c->reject, 0);
	c->reject.data = c;
	c->reject_open = 1;
	c->refs++;
	uv_accept((uv_stream_t *)&c->server, (uv_stream_t *)&c->reject);
	uv_close((uv_handle_t *)&c->reject, on_reject_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct ctl *c = server->data;
	struct ctl_client *cl;
	int ret;

	if (status < 0) {
		log_warn("control socket %s: %s", c->path, uv_strerror(status));
		return;
	}
	cl = calloc(1, sizeof(*cl));
	if (!cl) {
		log_error("control socket %s: out of memory for a client; "
			  "closed it",
			  c->path);
		reject_one(c);
		return;
	}
	cl->ctl = c;
	uv_pipe_init(server->loop, &cl->pipe, 0);
	uv_timer_init(server->loop, &cl->timer);
	cl->pipe.data = cl;
	cl->timer.data = cl;
	cl->handles = 2;
	cl->next = c->clients;
	if (c->clients)
		c->clients->prev = cl;
	c->clients = cl;
	c->nclients++;
	c->refs++;

	ret = uv_accept(server, (uv_stream_t *)&cl->pipe);
	if (ret) {
		log_warn("control socket %s: accept: %s", c->path,
			 uv_strerror(ret));
		client_close(cl);
		return;
	}
	if (c->nclients > CTL_CLIENTS_MAX) {
		client_refuse(cl, "too many control clients at once; try "
				  "again");
		return;
	}
	uv_timer_start(&cl->timer, on_timeout, CTL_TIMEOUT_MS, 0);
	ret = uv_read_start((uv_stream_t *)&cl->pipe, on_alloc, on_read);
	if (ret)
		client_close(cl);
}

/*
 * What is at path: 0 when it is free (nothing there, or a stale socket we
 * removed), else a negative errno with err set.
 */
static int claim_path(const char *path, char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat st;
	int fd, ret;

	if (lstat(path, &st)) {
		if (errno == ENOENT)
			return 0;
		ret = -errno;
		snprintf(err, errlen, "control socket %s: %s", path,
			 strerror(errno));
		return ret;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, errlen,
			 "control socket %s exists and is not a socket; "
			 "remove it or set another control_socket",
			 path);
		return -EEXIST;
	}

	/*
	 * A daemon that is alive accepts (or, with a full backlog, makes a
	 * non-blocking connect fail with EAGAIN); the socket of one that
	 * died refuses.
	 */
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: socket: %s", path,
			 strerror(errno));
		return ret;
	}
	memcpy(sa.sun_path, path, strlen(path));
	ret = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	close(fd);
	switch (ret) {
	case 0:
	case -EAGAIN:
	case -EINPROGRESS:
		snprintf(err, errlen,
			 "control socket %s is in use by another daemon; stop "
			 "it, or give this node another control_socket",
			 path);
		return -EADDRINUSE;
	case -ECONNREFUSED:
		if (unlink(path) && errno != ENOENT) {
			ret = -errno;
			snprintf(err, errlen,
				 "control socket %s: cannot remove the stale "
				 "socket: %s",
				 path, strerror(errno));
			return ret;
		}
		log_info("control socket %s: removed a stale socket (its "
			 "daemon is gone)",
			 path);
		return 0;
	case -ENOENT:
		return 0; /* removed while we looked */
	default:
		snprintf(err, errlen,
			 "control socket %s: cannot tell whether it is in "
			 "use: %s",
			 path, strerror(-ret));
		return ret;
	}
}

/* A listening socket at path (free by now): an fd, or -errno with err set. */
__attribute__((nonnull)) static int listen_at(const char *path, struct stat *st,
					      char *err, size_t errlen)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd, ret;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: socket: %s", path,
			 strerror(errno));
		return ret;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: cannot bind: %s%s",
			 path, strerror(errno),
			 errno == ENOENT ? " (create its directory, or set "
					   "another control_socket)"
					 : "");
		close(fd);
		return ret;
	}
	if (chmod(path, CTL_MODE) || lstat(path, st) ||
	    listen(fd, CTL_BACKLOG)) {
		ret = -errno;
		snprintf(err, errlen, "control socket %s: %s", path,
			 strerror(-ret));
		unlink(path);
		close(fd);
		return ret;
	}
	return fd;
}

int ctl_start(struct ctl **out, uv_loop_t *loop, const char *path,
	      ctl_status_fn fn, void *opaque, char *err, size_t errlen)
{
	struct ctl *c;
	struct stat st;
	int fd, ret;

	*out = NULL;
	if (errlen)
		err[0] = '\0';
	if (!*path || strlen(path) >= sizeof(c->path)) {
		snprintf(err, errlen,
			 "control socket '%s': a socket path must have 1 to "
			 "%zu bytes",
			 path, sizeof(c->path) - 1);
		return -ENAMETOOLONG;
	}
	ret = claim_path(path, err, errlen);
	if (ret)
		return ret;
	c = calloc(1, sizeof(*c));
	if (!c) {
		snprintf(err, errlen, "control socket %s: out of memory", path);
		return -ENOMEM;
	}
	/*
	 * The socket is made with plain calls and handed to libuv only once
	 * it listens, so that a failure leaves nothing on the loop.
	 */
	fd = listen_at(path, &st, err, errlen);
	if (fd < 0) {
		free(c);
		return fd;
	}
	c->fn = fn;
	c->opaque = opaque;
	c->refs = 1;
	c->dev = st.st_dev;
	c->ino = st.st_ino;
	memcpy(c->path, path, strlen(path) + 1);
	uv_pipe_init(loop, &c->server, 0);
	c->server.data = c;
	ret = uv_pipe_open(&c->server, fd);
	if (ret) {
		close(fd);
		goto err_handle;
	}
	ret = uv_listen((uv_stream_t *)&c->server, CTL_BACKLOG, on_connection);
	if (ret)
		goto err_handle;
	*out = c;
	return 0;

err_handle:
	/*
	 * Not expected of a fresh listening socket. c is freed by the close
	 * callback, when the caller runs the loop.
	 */
	snprintf(err, errlen, "control socket %s: %s", path, uv_strerror(ret));
	unlink(path);
	uv_close((uv_handle_t *)&c->server, on_server_closed);
	return ret;
}

void ctl_close(struct ctl *c)
{
	struct stat st;

	if (!c)
		return;
	c->closing = 1;
	/* A daemon that took the path over since then keeps its socket. */
	if (!lstat(c->path, &st) && st.st_dev == c->dev && st.st_ino == c->ino)
		unlink(c->path);
	for (struct ctl_client *cl = c->clients; cl; cl = cl->next)
		client_close(cl);
	uv_close((uv_handle_t *)&c->server, on_server_closed);
}
