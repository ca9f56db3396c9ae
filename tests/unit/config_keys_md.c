/*
 * Prints the key table (common/config_keys.c) as the markdown key list of
 * docs/configuration.md, the text between its <!-- keys:begin --> and
 * <!-- keys:end --> lines. scripts/gen-config-docs puts it there, and the
 * unit test 'config_docs' fails when the docs hold anything else, so the
 * list cannot fall behind the parser.
 */
#include <stdio.h>
#include <string.h>

#include "config_keys.h"

/* A table cell: '|' would end it early, and a newline the row. */
static void cell(const char *s)
{
	putchar(' ');
	for (; *s; s++) {
		if (*s == '|')
			putchar('\\');
		putchar(*s == '\n' ? ' ' : *s);
	}
	fputs(" |", stdout);
}

/* The key's doc, after the workload type it is limited to, if any. */
static const char *doc(const struct config_key *k, char *buf, size_t size)
{
	const char *only = k->flags & CONFIG_KEY_KVM	   ? "kvm"
			   : k->flags & CONFIG_KEY_PROCESS ? "process"
							   : NULL;

	if (only)
		snprintf(buf, size, "Only for `type = %s`. %s", only, k->doc);
	else
		snprintf(buf, size, "%s", k->doc);
	return buf;
}

int main(void)
{
	char buf[512];

	puts("<!-- generated from common/config_keys.c by "
	     "scripts/gen-config-docs; edit the table there -->\n");
	puts("| section | key | type | default | accepts | what for |");
	puts("|---|---|---|---|---|---|");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		fputs("|", stdout);
		snprintf(buf, sizeof(buf), "`[%s%s]`",
			 config_section_names[k->sec],
			 k->sec == CONFIG_SEC_NODE ? " NAME" : "");
		cell(buf);
		snprintf(buf, sizeof(buf), "`%s`", k->name);
		cell(buf);
		cell(config_key_type_doc(k));
		if (!k->def)
			snprintf(buf, sizeof(buf), "required");
		else if (!*k->def)
			snprintf(buf, sizeof(buf), "empty");
		else
			snprintf(buf, sizeof(buf), "`%s`", k->def);
		cell(buf);
		cell(config_key_allowed(k, buf, sizeof(buf)));
		cell(doc(k, buf, sizeof(buf)));
		putchar('\n');
	}
	return ferror(stdout) ? 1 : 0;
}
