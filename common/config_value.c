/*
 * The values of config keys: one parser per type (enum config_type), picked
 * by the key's row in config_keys.c. A parser reads the text libinih found
 * after "KEY =", checks it against the row's limits and only then stores
 * it in the row's field. Defaults go through the same parsers (from the
 * row's default text), and the docs describe each type from the same
 * limits, so that a message, a default and the docs cannot disagree.
 *
 * Pure code: no libuv, no name resolution (addresses are numeric).
 *
 * Words (command, environment) are split as a shell splits a simple
 * command, without anything else a shell does:
 *
 *   value   = blank* (word (blank+ word)*)? blank* comment?
 *   word    = (plain | squoted | dquoted | '\\' char)+
 *   squoted = "'" (char but "'")* "'"
 *   dquoted = '"' (char but '"' and '\\' | '\\' char)* '"'
 *   comment = ';' char*           (';' starting a word, after a blank)
 *   plain   = char but blank, "'", '"', '\\'     blank = ' ' or tab
 *
 * '...' is literal. In "...", a backslash makes the next '"' or '\'
 * literal, and is itself literal before any other character; outside
 * quotes it makes the next character literal. '' or "" is an empty word.
 * Nothing is expanded: no variables, globs, '~', substitutions or
 * redirections ($HOME is those five characters). A quote ends on its own
 * line. A ';' between quotes is literal: config.c hands these keys their
 * line as written, which libinih would have cut at the " ;". Never
 * wordexp(3): it runs a shell.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_keys.h"
#include "units.h"

/* One value being parsed: its key, its text, where it goes. */
struct value {
	const struct config_key *k;
	const char *v;
	char *base;  /* struct config or struct config_node */
	char *field; /* base + k->off */
	const char *dir;
	char *msg;
	size_t msglen;
};

static int refuse(const struct value *x, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* "KEY: why" in msg; returns -EINVAL for the parser to pass on. */
static int refuse(const struct value *x, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!x->msg || !x->msglen)
		return -EINVAL;
	n = snprintf(x->msg, x->msglen, "%s: ", x->k->name);
	if (n >= 0 && (size_t)n < x->msglen) {
		va_start(ap, fmt);
		vsnprintf(x->msg + n, x->msglen - (size_t)n, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

const char *config_show(char *buf, const char *s)
{
	size_t i;

	for (i = 0; s[i] && i < 40; i++) {
		unsigned char ch = (unsigned char)s[i];

		buf[i] = ch < 0x20 || ch == 0x7f ? '?' : (char)ch;
	}
	if (s[i]) {
		/* Not in the middle of a UTF-8 character. */
		while (i > 0 && ((unsigned char)s[i] & 0xc0) == 0x80)
			i--;
		memcpy(buf + i, "...", 3);
		i += 3;
	}
	buf[i] = '\0';
	return buf;
}

/*
 * Text into the key's field (it fits), the rest of the field zeroed: the
 * default it replaces leaves nothing behind, so equal configs are equal
 * byte for byte.
 */
static void put_text(const struct value *x, const char *s, size_t n)
{
	memcpy(x->field, s, n);
	memset(x->field + n, 0, x->k->size - n);
}

/* --- numbers: integers, sizes, durations ------------------------------ */

/* A number of k's type as the operator writes it: "64", "4M", "25ms". */
static const char *fmt_number(const struct config_key *k, char *buf,
			      size_t size, uint64_t v)
{
	if (k->type == CONFIG_T_SIZE)
		return units_format_size(buf, size, v);
	if (k->type == CONFIG_T_DURATION)
		return units_format_duration(buf, size, v);
	snprintf(buf, size, "%llu", (unsigned long long)v);
	return buf;
}

/* "1ms..10min"; "" for a number bounded only by its type. */
static const char *fmt_range(const struct config_key *k, char *buf, size_t size)
{
	char lo[32], hi[32];

	if (k->hi == UINT64_MAX && !k->lo)
		buf[0] = '\0';
	else if (k->hi == UINT64_MAX)
		snprintf(buf, size, "at least %s",
			 fmt_number(k, lo, sizeof(lo), k->lo));
	else
		snprintf(buf, size, "%s..%s",
			 fmt_number(k, lo, sizeof(lo), k->lo),
			 fmt_number(k, hi, sizeof(hi), k->hi));
	return buf;
}

/* What every number has in common once parsed: limits, step, storing. */
static int set_number(const struct value *x, int err, uint64_t v)
{
	const struct config_key *k = x->k;
	char b[CONFIG_SHOW_MAX], range[80], step[32];
	uint32_t v32 = (uint32_t)v;

	fmt_range(k, range, sizeof(range));
	if (err && !*range)
		return refuse(x, "'%s' is too large", config_show(b, x->v));
	if (err || v < k->lo || v > k->hi)
		return refuse(x, "'%s' is out of range (%s)",
			      config_show(b, x->v), range);
	if (k->step && v % k->step)
		return refuse(x, "'%s' is not a multiple of %s",
			      config_show(b, x->v),
			      fmt_number(k, step, sizeof(step), k->step));
	/* A 32-bit field: its row's hi fits (tests/unit/test_config.c). */
	if (k->size == sizeof(v32))
		memcpy(x->field, &v32, sizeof(v32));
	else
		memcpy(x->field, &v, sizeof(v));
	return 0;
}

static int set_uint(const struct value *x)
{
	char b[CONFIG_SHOW_MAX];
	uint64_t v;
	int err = units_parse_uint(x->v, &v);

	if (err == -EINVAL)
		return refuse(x, "'%s' is not a decimal number",
			      config_show(b, x->v));
	return set_number(x, err, v);
}

static int set_size(const struct value *x)
{
	const char *why = "";
	char b[CONFIG_SHOW_MAX];
	uint64_t v;
	int err = units_parse_size(x->v, &v, &why);

	if (err == -EINVAL)
		return refuse(x, "'%s': %s", config_show(b, x->v), why);
	return set_number(x, err, v);
}

static int set_duration(const struct value *x)
{
	const char *why = "", *def = x->k->def;
	char b[CONFIG_SHOW_MAX];
	uint64_t v, n;
	int err = units_parse_duration(x->v, &v, &why);

	/* A bare number is the likely slip: the default shows a unit. */
	if (err == -EINVAL && units_parse_uint(x->v, &n) == 0)
		return refuse(x, "'%s' needs a unit, e.g. %s",
			      config_show(b, x->v), def && *def ? def : "1s");
	if (err == -EINVAL)
		return refuse(x, "'%s': %s", config_show(b, x->v), why);
	return set_number(x, err, v);
}

/* --- words ------------------------------------------------------------ */

static const struct config_choice bool_words[] = {
	{"on", 1}, {"yes", 1},	 {"true", 1}, {"off", 0},
	{"no", 0}, {"false", 0}, {NULL, 0},
};
#define BOOL_DOC "`on`/`off`, `yes`/`no`, `true`/`false`"

/* One of words: its value into an int (an enum), or the word itself. */
static int set_word(const struct value *x, const struct config_choice *words,
		    const char *refusal, int as_text)
{
	char b[CONFIG_SHOW_MAX];

	for (const struct config_choice *w = words; w->word; w++) {
		if (strcmp(x->v, w->word) != 0)
			continue;
		/* Every word fits its field: tests/unit/test_config.c. */
		if (as_text)
			put_text(x, w->word, strlen(w->word));
		else
			memcpy(x->field, &w->value, sizeof(w->value));
		if (as_text && x->k->off2)
			memcpy(x->base + x->k->off2, &w->value,
			       sizeof(w->value));
		return 0;
	}
	return refuse(x, "'%s' %s", config_show(b, x->v), refusal);
}

static int set_choice(const struct value *x)
{
	return set_word(x, x->k->choices, x->k->refusal, 0);
}

static int set_word_text(const struct value *x)
{
	return set_word(x, x->k->choices, x->k->refusal, 1);
}

static int set_bool(const struct value *x)
{
	return set_word(x, bool_words, "is not on or off", 0);
}

/* --- text ------------------------------------------------------------- */

int config_check_name(const char *what, const char *v, size_t size, char *msg,
		      size_t msglen)
{
	char b[CONFIG_SHOW_MAX];

	if (strlen(v) >= size) {
		snprintf(msg, msglen, "%s: '%s' is longer than %zu characters",
			 what, config_show(b, v), size - 1);
		return -EINVAL;
	}
	for (const char *s = v; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' &&
		    *s != '-') {
			snprintf(msg, msglen,
				 "%s: '%s' may only contain A-Z a-z 0-9 . _ -",
				 what, config_show(b, v));
			return -EINVAL;
		}
	return 0;
}

static int set_name(const struct value *x)
{
	if (config_check_name(x->k->name, x->v, x->k->size, x->msg, x->msglen))
		return -EINVAL;
	put_text(x, x->v, strlen(x->v));
	return 0;
}

static int set_text(const struct value *x)
{
	size_t n = strlen(x->v);

	if (n >= x->k->size)
		return refuse(x, "longer than %zu bytes", x->k->size - 1);
	put_text(x, x->v, n);
	return 0;
}

/* More of a text, after a space (args spanning lines). */
static int append_text(const struct value *x)
{
	size_t have = strnlen(x->field, x->k->size), add = strlen(x->v);

	if (!add)
		return 0;
	if (have + 1 + add >= x->k->size)
		return refuse(x, "longer than %zu bytes", x->k->size - 1);
	x->field[have] = ' ';
	memcpy(x->field + have + 1, x->v, add + 1);
	return 0;
}

/* A control character is a slip (a tab in words is a blank). */
static int no_controls(const struct value *x, int tab_ok)
{
	for (size_t i = 0; x->v[i]; i++) {
		unsigned char ch = (unsigned char)x->v[i];

		if ((ch < 0x20 && !(tab_ok && ch == '\t')) || ch == 0x7f)
			return refuse(x, "control character at byte %zu",
				      i + 1);
	}
	return 0;
}

/* A line for /bin/sh -c: a control character in it is a slip. */
static int set_command(const struct value *x)
{
	size_t n = strlen(x->v);

	for (size_t i = 0; i < n && n < x->k->size; i++)
		if ((unsigned char)x->v[i] < 0x20 || x->v[i] == 0x7f)
			return refuse(x, "control character at byte %zu",
				      i + 1);
	return set_text(x);
}

/* --- words: command, environment -------------------------------------- */

/* Words being split: those the field held, then the new ones. */
struct words {
	char buf[CONFIG_ARGS_MAX];
	size_t used; /* bytes, with a NUL after each word */
	int n;
};

static int put_char(const struct value *x, struct words *w, char ch)
{
	size_t max = x->k->size < sizeof(w->buf) ? x->k->size : sizeof(w->buf);

	if (w->used >= max)
		return refuse(x,
			      "too long (at most %zu bytes, counting a NUL "
			      "after each word)",
			      max);
	w->buf[w->used++] = ch;
	return 0;
}

/* The quoted part of a word, at v[*i] (the quote): into w. */
static int quoted(const struct value *x, struct words *w, size_t *i)
{
	const char *v = x->v;
	char q = v[*i];
	size_t at = *i;
	int err;

	for ((*i)++; v[*i] != q; (*i)++) {
		if (!v[*i])
			return refuse(x, "unterminated %c quote at byte %zu", q,
				      at + 1);
		if (q == '"' && v[*i] == '\\' &&
		    (v[*i + 1] == '"' || v[*i + 1] == '\\'))
			(*i)++;
		err = put_char(x, w, v[*i]);
		if (err)
			return err;
	}
	(*i)++;
	return 0;
}

/* The word at v[*i] (not a blank): into w, with its NUL. */
static int one_word(const struct value *x, struct words *w, size_t *i)
{
	const char *v = x->v;
	int err = 0;

	while (!err && v[*i] && v[*i] != ' ' && v[*i] != '\t') {
		if (v[*i] == '\'' || v[*i] == '"') {
			err = quoted(x, w, i);
			continue;
		}
		if (v[*i] == '\\' && !v[++*i])
			return refuse(x, "'\\' at the end escapes nothing "
					 "(quote it: '\\')");
		err = put_char(x, w, v[(*i)++]);
	}
	return err ? err : put_char(x, w, '\0');
}

/* x->v's words, after those already in w (the grammar on top). */
static int split_words(const struct value *x, struct words *w)
{
	size_t i = 0;
	int err = no_controls(x, 1);

	while (!err) {
		i += strspn(x->v + i, " \t");
		if (!x->v[i] || (i && x->v[i] == ';'))
			break;
		if (w->n == CONFIG_WORDS_MAX)
			return refuse(x, "more than %d words",
				      CONFIG_WORDS_MAX);
		err = one_word(x, w, &i);
		w->n++;
	}
	return err;
}

/*
 * An environment word: KEY=VALUE, KEY a name a shell could set (so that
 * the service can read it back), and not set before.
 */
static int check_env_word(const struct value *x, const struct words *w,
			  const char *word)
{
	char b[CONFIG_SHOW_MAX], name[CONFIG_SHOW_MAX];
	const char *eq = strchr(word, '='), *o;
	size_t len = eq ? (size_t)(eq - word) : 0;
	int ok = len > 0 && !isdigit((unsigned char)word[0]);

	if (!eq)
		return refuse(x, "'%s' is not KEY=VALUE", config_show(b, word));
	for (size_t i = 0; i < len; i++)
		ok &= isalnum((unsigned char)word[i]) || word[i] == '_';
	snprintf(b, sizeof(b), "%.*s", (int)len, word);
	config_show(name, b);
	if (!ok)
		return refuse(x,
			      "'%s' is not a variable name (A-Z a-z 0-9 _, "
			      "not a digit first)",
			      name);
	for (o = w->buf; o < word; o += strlen(o) + 1)
		if (strncmp(o, word, len + 1) == 0)
			return refuse(x, "%s is set twice", name);
	return 0;
}

/* All of w's words, as the key's type wants them. */
static int check_words(const struct value *x, const struct words *w)
{
	const char *word = w->buf;
	int err = 0;

	if (x->k->type == CONFIG_T_ARGV && !w->n)
		return refuse(x, "no words (give the program and its "
				 "arguments)");
	if (x->k->type == CONFIG_T_ARGV && !*word)
		return refuse(x, "the program (the first word) is empty");
	for (int i = 0; i < w->n && !err; i++, word += strlen(word) + 1)
		if (x->k->type == CONFIG_T_ENVIRON)
			err = check_env_word(x, w, word);
	return err;
}

/*
 * Words into the key's field (after those it holds when more is set) and
 * their count; the rest of the field zeroed.
 */
static int store_words(const struct value *x, int more)
{
	struct words w = {.n = 0};
	int err;

	if (more) {
		memcpy(&w.n, x->base + x->k->off2, sizeof(w.n));
		for (int i = 0; i < w.n; i++)
			w.used += strlen(x->field + w.used) + 1;
		memcpy(w.buf, x->field, w.used);
	}
	err = split_words(x, &w);
	if (!err)
		err = check_words(x, &w);
	if (err)
		return err;
	put_text(x, w.buf, w.used);
	memcpy(x->base + x->k->off2, &w.n, sizeof(w.n));
	return 0;
}

static int set_words(const struct value *x)
{
	return store_words(x, 0);
}

static int append_words(const struct value *x)
{
	return store_words(x, 1);
}

int config_argv(const char *words, int n, const char **argv, int max)
{
	if (n < 0)
		return -EINVAL;
	if (max < n + 1)
		return -ENOSPC;
	for (int i = 0; i < n; i++, words += strlen(words) + 1)
		argv[i] = words;
	argv[n] = NULL;
	return n;
}

/*
 * A path inside the workload's own view (data_directory): absolute, as it
 * is not a file of this host that the config's directory could place, and
 * never / or above where it says.
 */
static int set_abspath(const struct value *x)
{
	const char *v = x->v, *c;
	char b[CONFIG_SHOW_MAX];
	size_t n;

	if (v[0] != '/')
		return refuse(x, "'%s' is not an absolute path",
			      config_show(b, v));
	if (!v[strspn(v, "/")])
		return refuse(x, "'%s' is the root; name a directory under it",
			      config_show(b, v));
	for (c = v; *c; c += n) {
		c += strspn(c, "/");
		n = strcspn(c, "/");
		if (n == 2 && c[0] == '.' && c[1] == '.')
			return refuse(x, "'%s' has a '..' component",
				      config_show(b, v));
	}
	return set_text(x);
}

/*
 * A path from the file, relative ones taken from the file's directory so
 * that the config means the same whatever directory a daemon starts in.
 * "-" (stdout) stays as it is where allowed.
 */
static int set_path_or(const struct value *x, int dash_ok)
{
	const char *dir = x->dir, *sep = "/", *v = x->v;
	char b[CONFIG_SHOW_MAX];
	int n;

	if (v[0] == '/' || (dash_ok && strcmp(v, "-") == 0) || !dir || !*dir ||
	    strcmp(dir, ".") == 0)
		dir = sep = "";
	else if (dir[strlen(dir) - 1] == '/')
		sep = "";
	n = snprintf(NULL, 0, "%s%s%s", dir, sep, v);
	if (n < 0 || (size_t)n >= x->k->size)
		return refuse(x, "'%s' makes a path of %d bytes (at most %zu)",
			      config_show(b, v), n, x->k->size - 1);
	put_text(x, "", 0);
	snprintf(x->field, x->k->size, "%s%s%s", dir, sep, v);
	return 0;
}

static int set_path(const struct value *x)
{
	return set_path_or(x, 0);
}

static int set_sink(const struct value *x)
{
	return set_path_or(x, 1);
}

/*
 * "IPv4:PORT" or "[IPv6]:PORT", numeric only: no name is ever resolved.
 * The host goes to h (in its one canonical spelling), the port to *port.
 */
static int parse_address(const struct value *x, const char *v, char *h,
			 size_t hsize, uint16_t *port16)
{
	const char *host, *port, *end;
	unsigned char addr[16];
	char b[CONFIG_SHOW_MAX], t[64];
	size_t hl;
	uint64_t p;
	int af, err;

	if (v[0] == '[') {
		end = strchr(v, ']');
		if (!end)
			return refuse(
				x, "'%s' has no closing ']', e.g. [::1]:7301",
				config_show(b, v));
		host = v + 1;
		af = AF_INET6;
		if (end[1] != ':')
			return refuse(x, "'%s' has no port, e.g. [::1]:7301",
				      config_show(b, v));
		port = end + 2;
	} else {
		end = strrchr(v, ':');
		if (!end)
			return refuse(x,
				      "'%s' has no port, e.g. 127.0.0.1:7301",
				      config_show(b, v));
		if (memchr(v, ':', (size_t)(end - v)))
			return refuse(x,
				      "'%s': an IPv6 address goes in brackets, "
				      "e.g. [::1]:7301",
				      config_show(b, v));
		host = v;
		af = AF_INET;
		port = end + 1;
	}
	hl = (size_t)(end - host);
	if (hl >= sizeof(t) ||
	    (memcpy(t, host, hl), t[hl] = '\0', inet_pton(af, t, addr) != 1))
		return refuse(x,
			      "'%s' is not a numeric %s address and port "
			      "(names are not resolved)",
			      config_show(b, v),
			      af == AF_INET ? "IPv4" : "IPv6");
	err = units_parse_uint(port, &p);
	if (err == -EINVAL)
		return refuse(x, "port '%s' is not a decimal number",
			      config_show(b, port));
	if (err || p < 1 || p > 65535)
		return refuse(x, "port '%s' is out of range (1..65535)",
			      config_show(b, port));
	/* One spelling per address, so that equal addresses compare equal. */
	inet_ntop(af, addr, h, (socklen_t)hsize);
	*port16 = (uint16_t)p;
	return 0;
}

static int set_address(const struct value *x)
{
	char h[64];
	uint16_t p16 = 0;
	int err = parse_address(x, x->v, h, sizeof(h), &p16);

	if (err)
		return err;
	put_text(x, h, strlen(h));
	memcpy(x->base + x->k->off2, &p16, sizeof(p16));
	return 0;
}

/*
 * "http://ADDRESS:PORT[,http://ADDRESS:PORT...]": the etcd endpoints,
 * numeric like every address, stored in the same spelling with the IPv6
 * ones in brackets.
 */
#define URLS_MAX 8
static int set_urls(const struct value *x)
{
	static const char scheme[] = "http://";
	char out[CONFIG_URLS_MAX], one[96], h[64], b[CONFIG_SHOW_MAX];
	const char *v = x->v, *comma;
	size_t used = 0, n;
	uint16_t port = 0;
	int count = 0, w, err;

	if (!*v)
		return refuse(x, "is empty (e.g. http://127.0.0.1:2379)");
	for (;; v = comma + 1) {
		comma = strchr(v, ',');
		n = comma ? (size_t)(comma - v) : strlen(v);
		while (n && (*v == ' ' || *v == '\t'))
			v++, n--;
		while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
			n--;
		if (n < sizeof(scheme) - 1 || n >= sizeof(one) ||
		    strncmp(v, scheme, sizeof(scheme) - 1) != 0) {
			snprintf(one, sizeof(one), "%.*s",
				 (int)(n < 80 ? n : 80), v);
			return refuse(x,
				      "'%s' is not http://ADDRESS:PORT (e.g. "
				      "http://127.0.0.1:2379)",
				      config_show(b, one));
		}
		memcpy(one, v + sizeof(scheme) - 1, n - (sizeof(scheme) - 1));
		one[n - (sizeof(scheme) - 1)] = '\0';
		err = parse_address(x, one, h, sizeof(h), &port);
		if (err)
			return err;
		if (++count > URLS_MAX)
			return refuse(x, "more than %d endpoints", URLS_MAX);
		w = snprintf(out + used, sizeof(out) - used,
			     strchr(h, ':') ? "%s%s[%s]:%u" : "%s%s%s:%u",
			     used ? "," : "", scheme, h, (unsigned)port);
		if (w < 0 || (size_t)w >= sizeof(out) - used ||
		    used + (size_t)w >= x->k->size)
			return refuse(x, "longer than %zu bytes",
				      x->k->size - 1);
		used += (size_t)w;
		if (!comma)
			break;
	}
	put_text(x, out, used);
	return 0;
}

/* --- the service's network: IPv4, MAC, interface names ---------------- */

/*
 * Why a (host byte order) IPv4 address cannot be a host's, or NULL. Linux
 * would take some of these on an interface; none of them can be reached
 * from the network as a service.
 */
static const char *ipv4_unusable(uint32_t a)
{
	if (a == 0xffffffffu)
		return "the broadcast address";
	if ((a >> 24) == 0)
		return "in 0.0.0.0/8 (this network)";
	if ((a >> 24) == 127)
		return "a loopback address (127.0.0.0/8)";
	if ((a >> 28) == 0xe)
		return "a multicast address (224.0.0.0/4)";
	if ((a >> 28) == 0xf)
		return "reserved (240.0.0.0/4)";
	return NULL;
}

/* A numeric dotted quad, nothing else (inet_pton: no names, no 010). */
static int parse_ipv4(const char *v, size_t n, struct in_addr *a)
{
	char t[INET_ADDRSTRLEN];

	if (n >= sizeof(t))
		return -EINVAL;
	memcpy(t, v, n);
	t[n] = '\0';
	return inet_pton(AF_INET, t, a) == 1 ? 0 : -EINVAL;
}

/*
 * A.B.C.D/NN: a host's address, and the length of the prefix it is in.
 * Up to /30 the prefix's first and last addresses are its network and
 * broadcast addresses; /31 (RFC 3021) and /32 have none.
 */
static int set_ipv4_net(const struct value *x)
{
	const char *slash = strchr(x->v, '/'), *why;
	char b[CONFIG_SHOW_MAX];
	struct in_addr a;
	uint32_t h, host_mask;
	uint64_t p;
	int prefix, err;

	if (!slash)
		return refuse(x, "'%s' has no prefix length, e.g. 10.0.0.2/24",
			      config_show(b, x->v));
	if (parse_ipv4(x->v, (size_t)(slash - x->v), &a))
		return refuse(x,
			      "'%s' is not a numeric IPv4 address and prefix "
			      "(A.B.C.D/NN; names are not resolved)",
			      config_show(b, x->v));
	err = units_parse_uint(slash + 1, &p);
	if (err == -EINVAL)
		return refuse(x, "prefix length '%s' is not a decimal number",
			      config_show(b, slash + 1));
	if (err || p < 1 || p > 32)
		return refuse(x, "prefix length '%s' is out of range (1..32)",
			      config_show(b, slash + 1));
	prefix = (int)p;
	h = ntohl(a.s_addr);
	why = ipv4_unusable(h);
	if (why)
		return refuse(x, "'%s' is %s", config_show(b, x->v), why);
	host_mask = prefix == 32 ? 0 : 0xffffffffu >> prefix;
	if (prefix <= 30 && (h & host_mask) == 0)
		return refuse(x, "'%s' is the network address of its prefix",
			      config_show(b, x->v));
	if (prefix <= 30 && (h & host_mask) == host_mask)
		return refuse(x, "'%s' is the broadcast address of its prefix",
			      config_show(b, x->v));
	memcpy(x->field, &a, sizeof(a));
	memcpy(x->base + x->k->off2, &prefix, sizeof(prefix));
	return 0;
}

/* A.B.C.D, a host's address; whether it fits the prefix is config.c's. */
static int set_ipv4(const struct value *x)
{
	char b[CONFIG_SHOW_MAX];
	const char *why;
	struct in_addr a;
	int one = 1;

	if (parse_ipv4(x->v, strlen(x->v), &a))
		return refuse(x,
			      "'%s' is not a numeric IPv4 address (A.B.C.D; "
			      "names are not resolved)",
			      config_show(b, x->v));
	why = ipv4_unusable(ntohl(a.s_addr));
	if (why)
		return refuse(x, "'%s' is %s", config_show(b, x->v), why);
	memcpy(x->field, &a, sizeof(a));
	memcpy(x->base + x->k->off2, &one, sizeof(one));
	return 0;
}

static int hex_digit(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Six hex pairs separated by ':', of an interface that may send. */
static int set_mac(const struct value *x)
{
	char b[CONFIG_SHOW_MAX];
	uint8_t mac[6];
	const char *v = x->v;
	int one = 1, hi, lo;

	for (int i = 0; i < 6; i++, v += 3) {
		hi = hex_digit(v[0]);
		lo = hi < 0 ? -1 : hex_digit(v[1]);
		if (lo < 0 || v[2] != (i == 5 ? '\0' : ':'))
			return refuse(x,
				      "'%s' is not a MAC address "
				      "(xx:xx:xx:xx:xx:xx, hex)",
				      config_show(b, x->v));
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	if (mac[0] & 1)
		return refuse(x,
			      "'%s' is a multicast address (odd first byte); "
			      "an interface needs a unicast one",
			      config_show(b, x->v));
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5]))
		return refuse(x, "'%s' is not an interface's address",
			      config_show(b, x->v));
	memcpy(x->field, mac, sizeof(mac));
	memcpy(x->base + x->k->off2, &one, sizeof(one));
	return 0;
}

/*
 * A network interface's name: what the kernel takes (under IFNAMSIZ, not
 * "." or "..", no '/', ':' or white space), narrowed to the characters of
 * a node name so that it is safe in messages and shell commands.
 */
static int set_ifname(const struct value *x)
{
	char b[CONFIG_SHOW_MAX];

	if (config_check_name(x->k->name, x->v, x->k->size, x->msg, x->msglen))
		return -EINVAL;
	if (strcmp(x->v, ".") == 0 || strcmp(x->v, "..") == 0)
		return refuse(x, "'%s' is not an interface name",
			      config_show(b, x->v));
	put_text(x, x->v, strlen(x->v));
	return 0;
}

/* --- the types, and what the docs say of each -------------------------- */

static const char *allowed_name(const struct config_key *k, char *buf,
				size_t size)
{
	snprintf(buf, size, "1..%zu characters of `A-Z a-z 0-9 . _ -`",
		 k->size - 1);
	return buf;
}

static const char *allowed_address(const struct config_key *k, char *buf,
				   size_t size)
{
	(void)k;
	snprintf(buf, size,
		 "numeric `IPv4:PORT` or `[IPv6]:PORT`, port "
		 "1..65535");
	return buf;
}

static const char *allowed_urls(const struct config_key *k, char *buf,
				size_t size)
{
	(void)k;
	snprintf(buf, size,
		 "1..%d of `http://IPv4:PORT` or `http://[IPv6]:PORT`, "
		 "comma-separated",
		 URLS_MAX);
	return buf;
}

static const char *allowed_path(const struct config_key *k, char *buf,
				size_t size)
{
	snprintf(buf, size, "%s%zu bytes once resolved",
		 k->type == CONFIG_T_SINK ? "`-`, or a path of at most "
					  : "at most ",
		 k->size - 1);
	return buf;
}

static const char *allowed_text(const struct config_key *k, char *buf,
				size_t size)
{
	snprintf(buf, size, "%sat most %zu bytes%s",
		 k->type == CONFIG_T_COMMAND ? "one line, " : "", k->size - 1,
		 k->flags & CONFIG_KEY_LINES
			 ? ", may continue on indented lines"
			 : "");
	return buf;
}

static const char *allowed_words(const struct config_key *k, char *buf,
				 size_t size)
{
	snprintf(
		buf, size,
		"%s..%d words, at most %zu bytes with a NUL after each%s",
		k->type == CONFIG_T_ARGV ? "1" : "0", CONFIG_WORDS_MAX, k->size,
		k->flags & CONFIG_KEY_LINES ? ", may continue on indented lines"
					    : "");
	return buf;
}

static const char *allowed_abspath(const struct config_key *k, char *buf,
				   size_t size)
{
	snprintf(buf, size,
		 "an absolute path other than `/`, without `..`, at most %zu "
		 "bytes",
		 k->size - 1);
	return buf;
}

static const char *allowed_choice(const struct config_key *k, char *buf,
				  size_t size)
{
	const struct config_choice *w;
	size_t n = 0;

	buf[0] = '\0';
	for (w = k->choices; w->word && n < size; w++) {
		const char *sep = w == k->choices ? "" : ", ";

		if (w != k->choices && !w[1].word)
			sep = " or ";
		n += (size_t)snprintf(buf + n, size - n, "%s`%s`", sep,
				      w->word);
	}
	return buf;
}

static const char *allowed_bool(const struct config_key *k, char *buf,
				size_t size)
{
	(void)k;
	snprintf(buf, size, "%s", BOOL_DOC);
	return buf;
}

static const char *allowed_number(const struct config_key *k, char *buf,
				  size_t size)
{
	char range[80], step[32];

	fmt_range(k, range, sizeof(range));
	if (k->step)
		snprintf(buf, size, "%s%sa multiple of %s", range,
			 *range ? ", " : "",
			 fmt_number(k, step, sizeof(step), k->step));
	else
		snprintf(buf, size, "%s", *range ? range : "any");
	return buf;
}

static const char *allowed_ipv4_net(const struct config_key *k, char *buf,
				    size_t size)
{
	(void)k;
	snprintf(buf, size,
		 "numeric `A.B.C.D/NN`, NN 1..32; a host's address: not in "
		 "0.0.0.0/8, 127.0.0.0/8 or 224.0.0.0/3, and up to /30 not "
		 "its prefix's first or last address");
	return buf;
}

static const char *allowed_ipv4(const struct config_key *k, char *buf,
				size_t size)
{
	(void)k;
	snprintf(buf, size,
		 "numeric `A.B.C.D`; a host's address: not in 0.0.0.0/8, "
		 "127.0.0.0/8 or 224.0.0.0/3");
	return buf;
}

static const char *allowed_mac(const struct config_key *k, char *buf,
			       size_t size)
{
	(void)k;
	snprintf(buf, size,
		 "`xx:xx:xx:xx:xx:xx` (hex), unicast (even first byte), not "
		 "all zero");
	return buf;
}

static const char *allowed_ifname(const struct config_key *k, char *buf,
				  size_t size)
{
	snprintf(buf, size, "1..%zu characters of `A-Z a-z 0-9 . _ -`",
		 k->size - 1);
	return buf;
}

static const struct {
	int (*set)(const struct value *x);
	const char *doc; /* the type as the docs name it */
	const char *(*allowed)(const struct config_key *k, char *buf,
			       size_t size);
	int (*append)(const struct value *x); /* NULL: one line only */
} types[CONFIG_T_COUNT] = {
	[CONFIG_T_NAME] = {set_name, "name", allowed_name, NULL},
	[CONFIG_T_ADDRESS] = {set_address, "address", allowed_address, NULL},
	[CONFIG_T_URLS] = {set_urls, "URL list", allowed_urls, NULL},
	[CONFIG_T_PATH] = {set_path, "path", allowed_path, NULL},
	[CONFIG_T_ABSPATH] = {set_abspath, "absolute path", allowed_abspath,
			      NULL},
	[CONFIG_T_SINK] = {set_sink, "path or `-`", allowed_path, NULL},
	[CONFIG_T_TEXT] = {set_text, "text", allowed_text, append_text},
	[CONFIG_T_COMMAND] = {set_command, "shell command", allowed_text, NULL},
	[CONFIG_T_CHOICE] = {set_choice, "choice", allowed_choice, NULL},
	[CONFIG_T_WORD] = {set_word_text, "choice", allowed_choice, NULL},
	[CONFIG_T_ARGV] = {set_words, "words", allowed_words, append_words},
	[CONFIG_T_ENVIRON] = {set_words, "`KEY=VALUE` words", allowed_words,
			      append_words},
	[CONFIG_T_BOOL] = {set_bool, "boolean", allowed_bool, NULL},
	[CONFIG_T_UINT] = {set_uint, "integer", allowed_number, NULL},
	[CONFIG_T_SIZE] = {set_size, "size", allowed_number, NULL},
	[CONFIG_T_DURATION] = {set_duration, "duration", allowed_number, NULL},
	[CONFIG_T_IPV4_NET] = {set_ipv4_net, "IPv4 address/prefix",
			       allowed_ipv4_net, NULL},
	[CONFIG_T_IPV4] = {set_ipv4, "IPv4 address", allowed_ipv4, NULL},
	[CONFIG_T_MAC] = {set_mac, "MAC address", allowed_mac, NULL},
	[CONFIG_T_IFNAME] = {set_ifname, "interface name", allowed_ifname,
			     NULL},
};

int config_key_set(const struct config_key *k, void *base, const char *v,
		   const char *dir, char *msg, size_t msglen)
{
	struct value x = {
		.k = k,
		.v = v,
		.base = base,
		.field = (char *)base + k->off,
		.dir = dir,
		.msg = msg,
		.msglen = msglen,
	};

	if (msg && msglen)
		msg[0] = '\0';
	return types[k->type].set(&x);
}

int config_key_append(const struct config_key *k, void *base, const char *v,
		      char *msg, size_t msglen)
{
	struct value x = {
		.k = k,
		.v = v,
		.base = base,
		.field = (char *)base + k->off,
		.msg = msg,
		.msglen = msglen,
	};

	if (msg && msglen)
		msg[0] = '\0';
	if (!types[k->type].append)
		return -ENOTSUP;
	return types[k->type].append(&x);
}

int config_key_default(const struct config_key *k, void *base, const char *node,
		       const char *dir, char *msg, size_t msglen)
{
	const char *def = k->def, *at;
	char text[256];
	int n;

	memset((char *)base + k->off, 0, k->size);
	if (!def || !*def)
		return 0;
	at = node ? strstr(def, "NAME") : NULL;
	if (at) {
		n = snprintf(text, sizeof(text), "%.*s%s%s", (int)(at - def),
			     def, node, at + 4);
		if (n < 0 || (size_t)n >= sizeof(text)) {
			snprintf(msg, msglen, "%s: default too long", k->name);
			return -EINVAL;
		}
		def = text;
	}
	return config_key_set(k, base, def, dir, msg, msglen);
}

const char *config_key_type_doc(const struct config_key *k)
{
	return types[k->type].doc;
}

const char *config_key_allowed(const struct config_key *k, char *buf,
			       size_t size)
{
	return types[k->type].allowed(k, buf, size);
}
