/*
 * remoractl: the operator's view of a running node.
 *
 *   remoractl -c remora.conf --node b status [--json]
 *
 * It reads the deployment's config for the node's control_socket, sends one
 * request line there (common/status.h), and prints the daemon's reply:
 * the status table, or one JSON object on one line whose keys are in
 * docs/operations.md. Nothing is retried: a node that does not answer
 * within REMORACTL_TIMEOUT_S is reported as such.
 *
 * Exit status: 0 with the reply on stdout; 1 when the node cannot answer
 * or answers with an error (one line on stderr says which, and what to
 * do); 2 for usage errors (unknown option or command, no such node).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "status.h"

#define PROG		    "remoractl"
#define EXIT_FAIL	    1
#define EXIT_USAGE	    2
#define REMORACTL_TIMEOUT_S 5

static void usage(FILE *f)
{
	fprintf(f,
		"usage: " PROG " -c FILE --node NAME status [--json]\n"
		"\n"
		"Asks the daemon of node NAME, at the control_socket FILE "
		"gives it, how\nit is doing: role and term, state, epochs "
		"captured and acknowledged,\noutput held back, pause times, "
		"throughput and the peer's liveness\n(docs/operations.md "
		"explains each field).\n"
		"\n"
		"  -c, --config FILE   the deployment's remora.conf\n"
		"  -n, --node NAME     the node to ask ([node NAME] in FILE)\n"
		"  -j, --json          one JSON object on one line, for "
		"scripts\n"
		"  -h, --help          this text\n"
		"\n"
		"Exit status: 0 with the status on stdout; 1 when the node "
		"cannot answer\n(stderr says why); 2 for usage errors.\n");
}

struct opts {
	const char *config, *node;
	int json;
};

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'},
		{"node", required_argument, NULL, 'n'},
		{"json", no_argument, NULL, 'j'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, "c:n:jh", longopts, NULL)) != -1) {
		switch (c) {
		case 'c':
			o->config = optarg;
			break;
		case 'n':
			o->node = optarg;
			break;
		case 'j':
			o->json = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return EXIT_USAGE;
		}
	}
	if (optind == argc) {
		fprintf(stderr, PROG ": no command; try: " PROG
				     " -c FILE --node NAME status\n");
		return EXIT_USAGE;
	}
	if (strcmp(argv[optind], "status") != 0) {
		fprintf(stderr,
			PROG ": unknown command '%s'; the only one is status\n",
			argv[optind]);
		return EXIT_USAGE;
	}
	if (optind + 1 < argc) {
		fprintf(stderr,
			PROG ": unexpected argument '%s' after status\n",
			argv[optind + 1]);
		return EXIT_USAGE;
	}
	if (!o->config || !o->node) {
		fprintf(stderr,
			PROG ": -c FILE and --node NAME are required\n");
		return EXIT_USAGE;
	}
	return 0;
}

/* "a, b": the nodes a wrong --node could have meant. */
static void node_names(const struct config *cfg, char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = '\0';
	for (int i = 0; i < cfg->nnodes && n < len; i++) {
		int k = snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
				 cfg->nodes[i].name);

		if (k < 0)
			break;
		n += (size_t)k;
	}
}

/* Connects to the node's control socket; -1 after saying why. */
static int ctl_connect(const struct config_node *n)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {.tv_sec = REMORACTL_TIMEOUT_S};
	const char *path = n->control_socket;
	int fd, e;

	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, PROG ": socket: %s\n", strerror(errno));
		return -1;
	}
	/* The timeouts bound connect() too (a daemon whose backlog is full). */
	if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv))) {
		fprintf(stderr, PROG ": setsockopt: %s\n", strerror(errno));
		close(fd);
		return -1;
	}
	/* config.c has checked that the path fits sun_path. */
	memcpy(sa.sun_path, path, strnlen(path, sizeof(sa.sun_path) - 1));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
		return fd;
	e = errno;
	close(fd);
	switch (e) {
	case ENOENT:
	case ECONNREFUSED:
		fprintf(stderr,
			PROG ": node %s is not running: control socket %s: "
			     "%s\n",
			n->name, path, strerror(e));
		break;
	case EACCES:
	case EPERM:
		fprintf(stderr,
			PROG ": control socket %s: %s (run " PROG
			     " as the user or group node %s runs as)\n",
			path, strerror(e), n->name);
		break;
	case EAGAIN:
	case ETIMEDOUT:
	case EINPROGRESS:
		fprintf(stderr,
			PROG ": node %s did not accept within %d s: control "
			     "socket %s: it may be overloaded or stuck\n",
			n->name, REMORACTL_TIMEOUT_S, path);
		break;
	default:
		fprintf(stderr, PROG ": node %s: control socket %s: %s\n",
			n->name, path, strerror(e));
		break;
	}
	return -1;
}

/*
 * Reads the whole reply (the daemon closes after it) into buf; returns its
 * length, or -1 after saying why.
 */
static ssize_t read_reply(int fd, const struct config_node *n, char *buf,
			  size_t len)
{
	size_t got = 0;
	ssize_t k;

	for (;;) {
		k = read(fd, buf + got, len - got);
		if (k == 0)
			return (ssize_t)got;
		if (k < 0 && errno == EINTR)
			continue;
		/*
		 * A daemon that refuses us (too many clients) sends its line
		 * and closes without reading our request: the close of a
		 * socket with unread data ends our side with ECONNRESET
		 * instead of EOF, after what it sent.
		 */
		if (k < 0 && got > 0 && (errno == ECONNRESET || errno == EPIPE))
			return (ssize_t)got;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			fprintf(stderr,
				PROG ": node %s did not answer within %d s "
				     "(control socket %s); its loop may be "
				     "stuck\n",
				n->name, REMORACTL_TIMEOUT_S,
				n->control_socket);
			return -1;
		}
		if (k < 0) {
			fprintf(stderr,
				PROG ": node %s: control socket %s: reading "
				     "the reply: %s\n",
				n->name, n->control_socket, strerror(errno));
			return -1;
		}
		got += (size_t)k;
		if (got == len) {
			fprintf(stderr,
				PROG ": node %s: the reply is longer than %zu "
				     "bytes; is %s a remora control socket?\n",
				n->name, len - 1, n->control_socket);
			return -1;
		}
	}
}

/* 0 when reply is one the daemon could have sent; else says why. */
static int check_reply(const struct config_node *n, const char *reply,
		       size_t len, int json)
{
	const char *why = NULL;

	if (len == 0)
		why = "closed the connection without a reply";
	else if (reply[len - 1] != '\n')
		why = "sent a reply cut short (no final newline)";
	for (size_t i = 0; !why && i < len; i++)
		if (reply[i] != '\n' && (reply[i] < 0x20 || reply[i] > 0x7e))
			why = "sent bytes that are not text";
	if (!why && strncmp(reply, "error: ", 7) == 0) {
		fprintf(stderr, PROG ": node %s answered: %.*s\n", n->name,
			(int)(len - 1), reply);
		return -1;
	}
	if (!why && json &&
	    (reply[0] != '{' || len < 3 || reply[len - 2] != '}' ||
	     memchr(reply, '\n', len - 1)))
		why = "sent a reply that is not one JSON object on one line";
	if (why) {
		fprintf(stderr,
			PROG ": node %s %s; is %s a remora control socket?\n",
			n->name, why, n->control_socket);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct config cfg; /* large: keep it off the stack */
	static char reply[STATUS_REPLY_MAX + 1];
	const struct config_node *n;
	char err[CONFIG_ERR_MAX], names[256];
	const char *req;
	struct opts o;
	ssize_t len;
	int fd, ret;

	ret = parse_opts(argc, argv, &o);
	if (ret)
		return ret;
	ret = config_load(o.config, &cfg, err, sizeof(err));
	if (ret) {
		fprintf(stderr, PROG ": %s\n", err);
		return EXIT_FAIL;
	}
	n = config_node(&cfg, o.node);
	if (!n) {
		node_names(&cfg, names, sizeof(names));
		fprintf(stderr, PROG ": %s has no node '%s' (its nodes: %s)\n",
			cfg.path, o.node, names);
		return EXIT_USAGE;
	}

	fd = ctl_connect(n);
	if (fd < 0)
		return EXIT_FAIL;
	req = o.json ? "status json\n" : "status\n";
	if (send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
		/*
		 * A daemon that refused us may have closed before our request
		 * came (EPIPE, ECONNRESET), its reason already on its way to
		 * us: that line, if any, says more than the error.
		 */
		int e = errno;

		len = e == EPIPE || e == ECONNRESET
			      ? read_reply(fd, n, reply, sizeof(reply))
			      : 0;
		if (len == 0)
			fprintf(stderr,
				PROG ": node %s: control socket %s: sending "
				     "the request: %s\n",
				n->name, n->control_socket, strerror(e));
		if (len <= 0) {
			close(fd);
			return EXIT_FAIL;
		}
	} else {
		len = read_reply(fd, n, reply, sizeof(reply));
	}
	close(fd);
	if (len < 0 || check_reply(n, reply, (size_t)len, o.json))
		return EXIT_FAIL;
	if (fwrite(reply, 1, (size_t)len, stdout) != (size_t)len ||
	    fflush(stdout)) {
		fprintf(stderr, PROG ": writing to stdout: %s\n",
			strerror(errno));
		return EXIT_FAIL;
	}
	return 0;
}
