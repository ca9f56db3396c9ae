/*
 * The config keys as one table (config_keys.c): each row is a key's
 * section, name, type, default, limits, one line of documentation and the
 * field it fills. Parsing, defaults and limits (config_value.c) and the key
 * list in docs/configuration.md (tests/unit/config_keys_md.c) all read it,
 * so a new key is one row plus its field in config.h.
 *
 * Internal to common/ and its tests; daemons use config.h.
 */
#ifndef REMORA_CONFIG_KEYS_H
#define REMORA_CONFIG_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

enum config_section {
	CONFIG_SEC_NONE, /* before the first header */
	CONFIG_SEC_CLUSTER,
	CONFIG_SEC_NODE, /* [node NAME]: its keys fill a struct config_node */
	CONFIG_SEC_WORKLOAD,
	CONFIG_SEC_SERVICE, /* only with [workload] type = process */
	CONFIG_SEC_REPLICATION,
	CONFIG_SEC_FAILOVER,
	CONFIG_SEC_COUNT
};

/* "cluster", "node", ...; NULL for CONFIG_SEC_NONE. */
extern const char *const config_section_names[CONFIG_SEC_COUNT];

/* How a value is written; each type has one parser in config_value.c. */
enum config_type {
	CONFIG_T_NAME,	   /* A-Z a-z 0-9 . _ -; char[] */
	CONFIG_T_ADDRESS,  /* numeric IPv4:PORT or [IPv6]:PORT; see off2 */
	CONFIG_T_URLS,	   /* http://ADDRESS:PORT, comma-separated; char[] */
	CONFIG_T_PATH,	   /* from the file's directory; char[] */
	CONFIG_T_ABSPATH,  /* absolute, taken as is: not /, no ..; char[] */
	CONFIG_T_SINK,	   /* a path, or "-" for stdout; char[] */
	CONFIG_T_TEXT,	   /* verbatim; char[] */
	CONFIG_T_COMMAND,  /* a line for /bin/sh -c, no control chars; char[] */
	CONFIG_T_CHOICE,   /* a word of choices, stored as its value; enum */
	CONFIG_T_WORD,	   /* a word of choices, stored as the word; char[],
			    * and as its value too in the int at off2 if set */
	CONFIG_T_ARGV,	   /* words (config_value.c's grammar), stored one
			    * after the other with a NUL each; char[], and
			    * their count in the int at off2 */
	CONFIG_T_ENVIRON,  /* the same, each word KEY=VALUE, KEYs distinct */
	CONFIG_T_BOOL,	   /* on/off, yes/no, true/false; int, 1 or 0 */
	CONFIG_T_UINT,	   /* decimal digits; uint32_t or uint64_t */
	CONFIG_T_SIZE,	   /* bytes, with units.h's suffixes; uint64_t */
	CONFIG_T_DURATION, /* with a unit (units.h), in ns; uint64_t */
	CONFIG_T_IPV4_NET, /* A.B.C.D/NN, a host's address: struct in_addr,
			    * and NN in the int at off2 */
	CONFIG_T_IPV4,	   /* A.B.C.D, a host's: struct in_addr, and 1 in the
			    * int at off2 */
	CONFIG_T_MAC,	   /* xx:xx:xx:xx:xx:xx, unicast: uint8_t[6], and 1
			    * in the int at off2 */
	CONFIG_T_IFNAME,   /* a network interface's name; char[16] */
	CONFIG_T_COUNT
};

struct config_choice {
	const char *word;
	int value;
};

/* Flags of a key. */
#define CONFIG_KEY_LINES 1u /* indented lines after it continue its value */
/* A [workload] key of one type only: refused for the other, and when it has
 * no default, required for its own. */
#define CONFIG_KEY_KVM	   2u
#define CONFIG_KEY_PROCESS 4u

/* Bounds the per-section bookkeeping in config.c; config_keys.c checks. */
#define CONFIG_KEYS_MAX 64

struct config_key {
	enum config_section sec;
	const char *name;
	enum config_type type;
	/*
	 * The default as the file would spell it. It is applied by parsing
	 * it, so it obeys the key's own limits. NULL: the key is required.
	 * "": the field stays zeroed (empty), which a file cannot say. In
	 * [node NAME], "NAME" stands for the node's name.
	 */
	const char *def;
	uint64_t lo, hi; /* numbers: the limits, inclusive */
	uint64_t step;	 /* numbers: the value is a multiple of it, or 0 */
	const struct config_choice *choices; /* ends with {NULL, 0} */
	const char *refusal; /* choices: message after "KEY: 'VALUE' " */
	unsigned flags;	     /* CONFIG_KEY_* */
	size_t off, size;    /* the field, in struct config or config_node */
	/* a second field: CONFIG_T_ADDRESS's uint16_t port, the int count
	 * of words of CONFIG_T_ARGV and _ENVIRON, CONFIG_T_WORD's int value
	 * (0: none), CONFIG_T_IPV4_NET's int prefix, CONFIG_T_IPV4's and
	 * _MAC's int "is set" */
	size_t off2;
	const char *doc; /* one line for docs/configuration.md */
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* The key called name in section sec, or NULL. */
const struct config_key *config_key_find(enum config_section sec,
					 const char *name);

/*
 * Parses v as k's value into k's field in base (a struct config, or a
 * struct config_node for a [node NAME] key); relative paths start at dir
 * (NULL: as given). Returns 0, or -EINVAL with one line "KEY: what is
 * wrong" in msg and the field unchanged.
 */
int config_key_set(const struct config_key *k, void *base, const char *v,
		   const char *dir, char *msg, size_t msglen);

/*
 * More of k's value, from an indented line after it (a key flagged
 * CONFIG_KEY_LINES): text after one space, or more words. Returns 0, or
 * -EINVAL with one line "KEY: what is wrong" in msg and the field
 * unchanged; -ENOTSUP for a type that cannot span lines.
 */
int config_key_append(const struct config_key *k, void *base, const char *v,
		      char *msg, size_t msglen);

/*
 * Whether k belongs to a workload of this kind: every key but the
 * [workload] keys flagged for the other type.
 */
int config_key_for(const struct config_key *k, enum config_workload kind);

/* "kvm" or "process". */
const char *config_workload_name(enum config_workload kind);

/*
 * Applies k's default to base the same way; node is the node's name for a
 * [node NAME] key. A required key (no default) is left alone.
 */
int config_key_default(const struct config_key *k, void *base, const char *node,
		       const char *dir, char *msg, size_t msglen);

/* k's type as the docs name it: "duration", "path or `-`", ... */
const char *config_key_type_doc(const struct config_key *k);

/*
 * What k accepts, for the docs: the same limits that messages quote
 * ("1ms..10min", "`lz4` or `none`"); "any" when any value of the type goes.
 */
const char *config_key_allowed(const struct config_key *k, char *buf,
			       size_t size);

/*
 * A cluster or node name: they end up in file names and log lines. Returns
 * 0, or -EINVAL with "WHAT: ..." in msg. size counts the NUL.
 */
int config_check_name(const char *what, const char *v, size_t size, char *msg,
		      size_t msglen);

/*
 * Text from the file as a message may quote it: at most 40 bytes (cut at a
 * UTF-8 character), control characters as '?'. buf holds CONFIG_SHOW_MAX.
 */
#define CONFIG_SHOW_MAX 48
const char *config_show(char *buf, const char *s);

#endif
