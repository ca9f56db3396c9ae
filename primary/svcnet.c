/* The service's network on this node (svcnet.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "events.h"
#include "log.h"
#include "spawn.h"
#include "svcnet.h"

void svcnet_service(const struct config *cfg, struct netns_service *s)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->host_if, sizeof(s->host_if), "%s", cfg->service.interface);
	snprintf(s->bridge, sizeof(s->bridge), "%s", cfg->service.bridge);
	s->addr = cfg->service.address;
	s->prefix = cfg->service.prefix;
	if (cfg->service.has_gateway)
		s->gateway = cfg->service.gateway;
	config_service_mac(cfg, s->mac);
}

static void said(const struct svcnet *n, const char *action)
{
	char addr[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &n->s.addr, addr, sizeof(addr));
	events_emit("service", EV_S("action", action), EV_S("address", addr),
		    EV_S("interface", n->s.host_if));
	log_info("service network %s: %s/%d on %s (%s)", action, addr,
		 n->s.prefix, n->s.host_if,
		 n->s.bridge[0] ? n->s.bridge : "routed");
}

int svcnet_prepare(struct svcnet *n, const struct config *cfg, int up,
		   char *err, size_t errlen)
{
	struct netns_plumbed got;
	char why[256];
	int ret;

	memset(n, 0, sizeof(*n));
	svcnet_service(cfg, &n->s);
	ret = proc_netns_new(&n->netns_fd, err, errlen);
	if (ret)
		return ret;
	n->made = 1;
	ret = netns_plumb(n->netns_fd, &n->s, up, &got, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "[service] in %s: %s", cfg->path, why);
		svcnet_destroy(n);
		return ret;
	}
	n->plumbed = 1;
	if (got.stale_removed)
		log_warn("%s", why);
	ret = linkguard_start(&n->guard, got.host_ifindex, why, sizeof(why));
	if (ret) {
		snprintf(err, errlen, "[service] %s: %s", n->s.host_if, why);
		svcnet_destroy(n);
		return ret;
	}
	n->up = up;
	said(n, up ? "up" : "prepared");
	return 0;
}

int svcnet_up(struct svcnet *n, char *err, size_t errlen)
{
	int ret = netns_service_up(n->netns_fd, &n->s, err, errlen);

	if (!ret) {
		n->up = 1;
		said(n, "up");
	}
	return ret;
}

void svcnet_destroy(struct svcnet *n)
{
	char err[256];

	if (n->plumbed && netns_unplumb(&n->s, err, sizeof(err)))
		log_warn("removing the service's interface: %s", err);
	linkguard_disarm(&n->guard);
	if (n->made)
		close(n->netns_fd);
	memset(n, 0, sizeof(*n)); /* empty: destroying it again is a no-op */
}
