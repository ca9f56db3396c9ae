/*
 * Fuzz target: the netlink datagrams a packet gate reads from the kernel's
 * netfilter queue (common/proc/netgate.h, netgate_feed()). The kernel is
 * trusted less than it could be: every length, attribute and id is checked
 * before it counts. The first byte of the input is how many times the
 * rest is fed (1..4: ids across datagrams must keep increasing).
 * Properties: no read past the input; a refusal is -EPROTO with one line
 * of why; what is held is counted the same in the open epoch and the
 * statistics; a rejected verdict left in verr is a real negative errno.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "netgate.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct netgate g;
	uint64_t held = 0;
	uint8_t *buf;
	int rounds, verr = 0, rc = 0;

	if (size < 1 || size > (1u << 20))
		return 0;
	rounds = 1 + data[0] % 4;
	/* An exact-size, aligned copy: netlink headers are read in place. */
	buf = malloc(size - 1 ? size - 1 : 1);
	FUZZ_CHECK(buf);
	memcpy(buf, data + 1, size - 1);
	memset(&g, 0, sizeof(g));
	g.fd = -1;
	g.queue_num = 0;
	for (int r = 0; r < rounds && rc >= 0; r++) {
		rc = netgate_feed(&g, buf, (int)(size - 1), &verr);
		if (rc >= 0)
			held += (uint64_t)rc;
	}
	if (rc < 0)
		FUZZ_CHECK(rc == -EPROTO && g.why[0] && !strchr(g.why, '\n'));
	FUZZ_CHECK(g.st.held.packets == g.open.packets);
	FUZZ_CHECK(g.st.held.bytes == g.open.bytes);
	FUZZ_CHECK(g.open.packets >= held);
	FUZZ_CHECK(g.open.bytes >= g.open.packets); /* no empty packet */
	FUZZ_CHECK(verr == 0 || (verr < 0 && verr >= -4095 && verr != -ENOENT));
	free(buf);
	return 0;
}
