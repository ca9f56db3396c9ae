/*
 * Fuzz target: the control socket's request line (status_parse_request),
 * which arrives from any local client. Properties: no read past the bytes
 * (they are not NUL-terminated); the result is 0 or -EINVAL, and it is 0
 * exactly when an independent reading of the grammar in status.h accepts,
 * with json set as it says; a refusal is one printable line ending in
 * what to send instead, and the same line cut short in a small buffer.
 * The same bytes, taken as a struct node_status, check the reply side of
 * the promise the server relies on: whatever a daemon puts in the struct,
 * both reply forms fit STATUS_REPLY_MAX, are printable ASCII lines, and the
 * JSON one is a single line from '{' to "}\n".
 */
#include <errno.h>
#include <string.h>

#include "fuzz.h"
#include "status.h"

#define TRY "; try: status [json]"

/* The grammar read directly: words split on spaces, one trailing LF. */
static int oracle(const uint8_t *d, size_t n, int *json)
{
	char line[STATUS_REQUEST_MAX], *words[3], *save = NULL, *w;
	int nw = 0;

	if (n == 0 || n > STATUS_REQUEST_MAX || d[n - 1] != '\n')
		return 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (d[i] < 0x20 || d[i] > 0x7e)
			return 0;
	memcpy(line, d, n - 1);
	line[n - 1] = '\0';
	for (w = strtok_r(line, " ", &save); w && nw < 3;
	     w = strtok_r(NULL, " ", &save))
		words[nw++] = w;
	if (nw == 1 && strcmp(words[0], "status") == 0) {
		*json = 0;
		return 1;
	}
	if (nw == 2 && strcmp(words[0], "status") == 0 &&
	    strcmp(words[1], "json") == 0) {
		*json = 1;
		return 1;
	}
	return 0;
}

static void check_printable(const char *s, int newlines)
{
	for (; *s; s++)
		FUZZ_CHECK((*s >= 0x20 && *s < 0x7f) ||
			   (newlines && *s == '\n'));
}

static void check_request(const uint8_t *data, size_t size)
{
	static char err[STATUS_ERR_MAX], small[16];
	enum ctl_cmd cmd = 0;
	int json = -1, want_json = -1, ret, again;
	size_t n;

	memset(err, 'x', sizeof(err));
	ret = status_parse_request((const char *)data, size, &cmd, &json, err,
				   sizeof(err));
	FUZZ_CHECK(ret == 0 || ret == -EINVAL);
	FUZZ_CHECK((ret == 0) == oracle(data, size, &want_json));
	if (ret == 0) {
		FUZZ_CHECK(cmd == CTL_CMD_STATUS);
		FUZZ_CHECK(json == want_json);
		FUZZ_CHECK(err[0] == '\0');
		return;
	}
	FUZZ_CHECK(cmd == 0 && json == -1);
	n = strnlen(err, sizeof(err));
	FUZZ_CHECK(n > strlen(TRY) && n < sizeof(err));
	FUZZ_CHECK(strcmp(err + n - strlen(TRY), TRY) == 0);
	check_printable(err, 0);

	memset(small, 'x', sizeof(small));
	again = status_parse_request((const char *)data, size, &cmd, &json,
				     small, sizeof(small));
	FUZZ_CHECK(again == ret);
	FUZZ_CHECK(strnlen(small, sizeof(small)) < sizeof(small));
	FUZZ_CHECK(strncmp(small, err, strlen(small)) == 0);
}

static void check_reply(const uint8_t *data, size_t size)
{
	static struct node_status s;
	static char buf[STATUS_REPLY_MAX];
	int n;

	memset(&s, 0, sizeof(s));
	memcpy(&s, data, size < sizeof(s) ? size : sizeof(s));

	n = status_format(&s, 1, buf, sizeof(buf));
	FUZZ_CHECK(n > 3 && (size_t)n == strlen(buf));
	FUZZ_CHECK(buf[0] == '{' && buf[n - 2] == '}' && buf[n - 1] == '\n');
	FUZZ_CHECK(memchr(buf, '\n', (size_t)n - 1) == NULL);
	check_printable(buf, 1);

	n = status_format(&s, 0, buf, sizeof(buf));
	FUZZ_CHECK(n > 0 && (size_t)n == strlen(buf));
	FUZZ_CHECK(buf[n - 1] == '\n');
	check_printable(buf, 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_request(data, size);
	check_reply(data, size);
	return 0;
}
