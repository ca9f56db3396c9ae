/*
 * The workload types (workloads.h): a micro-VM (vmwork.h) and a process
 * tree checkpointed by CRIU (procwork.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cgroup.h"
#include "clock.h"
#include "criu.h"
#include "log.h"
#include "paths.h"
#include "primary.h"
#include "netout.h"
#include "prepared.h"
#include "procwork.h"
#include "state.h"
#include "svcnet.h"
#include "vmwork.h"
#include "workloads.h"

/* --- kvm ---------------------------------------------------------------- */

int workloads_read_file(const char *path, uint8_t **buf, size_t *len, char *why,
			size_t whylen)
{
	struct stat st;
	int fd = paths_open_regular(path, why, whylen);
	size_t got = 0;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) || st.st_size > (1 << 28)) {
		snprintf(why, whylen, "larger than 256 MiB");
		close(fd);
		return -EFBIG;
	}
	*buf = malloc((size_t)st.st_size + 1);
	if (!*buf) {
		snprintf(why, whylen, "%s", strerror(ENOMEM));
		close(fd);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, *buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	*len = got;
	return 0;
}

static void vm_destroy_owned(void *owned)
{
	vmwork_destroy(owned);
	free(owned);
}

/* The VM workload around vm (which it owns from here on). */
static int vm_made(const struct config *cfg, struct vmwork *vw, struct vm *vm,
		   struct workload_made *m, char *err, size_t errlen)
{
	int ret = vmwork_init(vw, vm, cfg, err, errlen);

	if (ret) {
		vm_destroy_owned(vw);
		return ret;
	}
	m->wl = vmwork_workload(vw);
	m->owned = vw;
	m->destroy = vm_destroy_owned;
	return 0;
}

static int kvm_make(const struct config *cfg, const struct config_node *self,
		    struct workload_made *m, char *err, size_t errlen)
{
	struct vm_config vc = {
		.dirty_log = 1,
		.mem_size = cfg->workload.memory,
		.hugetlb =
			cfg->workload.memory_backing == CONFIG_BACKING_HUGETLB,
		.hot_max = cfg->replication.hot_pages,
	};
	struct vmwork *vw = calloc(1, sizeof(*vw));
	char why[96];
	struct vm *vm;
	uint8_t *img;
	size_t len;
	int ret;

	(void)self;
	if (!vw)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	ret = workloads_read_file(cfg->workload.guest, &img, &len, why,
				  sizeof(why));
	if (ret) {
		snprintf(err, errlen,
			 "guest %s in %s: %s; change [workload] "
			 "guest",
			 cfg->workload.guest, cfg->path, why);
		free(vw);
		return ret;
	}
	vmwork_hooks(vw, &vc);
	ret = vm_create(&vm, &vc, err, errlen);
	if (ret) {
		free(img);
		free(vw);
		return ret;
	}
	ret = vm_load_elf(vm, img, len, cfg->workload.args);
	free(img);
	if (ret) {
		snprintf(err, errlen, "%s: %s", cfg->workload.guest,
			 vm_error(vm));
		vm_destroy(vm);
		free(vw);
		return ret;
	}
	return vm_made(cfg, vw, vm, m, err, errlen);
}

/* What a promotion makes ahead (prepared.h), made and taken at once. */
static int kvm_restore(const struct config *cfg, const struct config_node *self,
		       const struct primary_image *img, struct prepared **ready,
		       struct workload_made *m, char *err, size_t errlen)
{
	struct prepared *pv = NULL;
	int ret;

	(void)self;
	if (prepared_matches(*ready, img->mem_fd)) {
		pv = *ready;
		*ready = NULL;
		log_info("promoting on the VM made ahead for the replica's "
			 "memory");
	} else {
		ret = prepared_make(&pv, cfg, img->mem_fd, img->mem_size, err,
				    errlen);
		if (ret)
			return ret;
	}
	return prepared_take(pv, img->state, img->state_len, m, err, errlen);
}

static int kvm_check(const uint8_t *blob, size_t len, uint64_t mem_size,
		     char *why, size_t whylen)
{
	struct vm_state_view v;

	(void)mem_size;
	return vm_state_parse(blob, len, &v, why, whylen);
}

/* --- process ------------------------------------------------------------- */

/* The service's network a backup prepares (primary.h). */
struct primary_net {
	struct svcnet s;
};

int primary_net_prepare(const struct config *cfg, struct primary_net **net,
			char *err, size_t errlen)
{
	int ret;

	*net = NULL;
	if (!cfg->service.enabled)
		return 0;
	*net = calloc(1, sizeof(**net));
	if (!*net)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	ret = svcnet_prepare(&(*net)->s, cfg, 0, err, errlen);
	if (ret) {
		free(*net);
		*net = NULL;
	}
	return ret;
}

void primary_net_free(struct primary_net *net)
{
	if (!net)
		return;
	svcnet_destroy(&net->s);
	free(net);
}

/* A process workload with the argv and environment it runs with, and its
 * network: its own (a fresh primary) or a backup's (borrowed: net). */
struct proc_owned {
	struct procwork pw;
	struct svcnet own;
	struct svcnet *net; /* &own, a backup's, or NULL: no [service] */
	struct netout gate;
	int pw_made; /* pw was initialised (destroying a zeroed one would
		      * close fd 0) */
	const char *argv[CONFIG_WORDS_MAX + 1];
	const char *envp[CONFIG_WORDS_MAX + 1];
	char name[2 * CONFIG_NAME_MAX + 2];
	char path[CONFIG_PATH_MAX]; /* the program, as paths_find_command() */
};

static void proc_destroy_owned(void *owned)
{
	struct proc_owned *po = owned;

	if (po->pw_made)
		procwork_destroy(&po->pw); /* the service first: it sends */
	netout_close(&po->gate);
	svcnet_destroy(&po->own);
	free(po);
}

/*
 * The packet gate on net (po->net): before the service runs, so that
 * none of its packets go out unheld.
 */
static int proc_gate(const struct config *cfg, struct proc_owned *po,
		     struct svcnet *net, struct procwork_opts *o, char *err,
		     size_t errlen)
{
	int ret;

	po->net = net;
	ret = netout_open(&po->gate, net->netns_fd, cfg->service.max_held_bytes,
			  err, errlen);
	if (ret)
		return ret;
	o->use_netns = 1;
	o->netns_fd = net->netns_fd;
	o->net = &po->gate;
	return 0;
}

static struct proc_owned *proc_opts(const struct config *cfg,
				    const struct config_node *self,
				    struct procwork_opts *o)
{
	struct proc_owned *po = calloc(1, sizeof(*po));
	char why[256];

	if (!po)
		return NULL;
	config_argv(cfg->workload.command, cfg->workload.command_argc, po->argv,
		    CONFIG_WORDS_MAX + 1);
	config_argv(cfg->workload.environment, cfg->workload.environment_count,
		    po->envp, CONFIG_WORDS_MAX + 1);
	snprintf(po->name, sizeof(po->name), "%s-%s", cfg->cluster, self->name);
	/* Found as the start-time check found it (PATH of environment). */
	if (paths_find_command(cfg, po->path, sizeof(po->path), why,
			       sizeof(why)))
		po->path[0] = '\0';
	*o = (struct procwork_opts){
		.argv = po->argv,
		.path = po->path[0] ? po->path : NULL,
		.envp = po->envp,
		.dir = cfg->workload.directory[0] ? cfg->workload.directory
						  : NULL,
		.data_dir = cfg->workload.data_directory[0]
				    ? cfg->workload.data_directory
				    : NULL,
		.criu = cfg->workload.criu[0] ? cfg->workload.criu : NULL,
		.name = po->name,
		.mem_size = cfg->workload.memory,
		.nslots = cfg->replication.max_inflight_epochs + 1,
	};
	return po;
}

/* po's workload in m (ret 0), or po freed (ret: why it failed). */
static int proc_made(struct proc_owned *po, int ret, struct workload_made *m)
{
	if (ret) {
		proc_destroy_owned(po);
		return ret;
	}
	m->wl = procwork_workload(&po->pw);
	m->owned = po;
	m->destroy = proc_destroy_owned;
	return 0;
}

static int proc_make(const struct config *cfg, const struct config_node *self,
		     struct workload_made *m, char *err, size_t errlen)
{
	struct procwork_opts o;
	struct proc_owned *po = proc_opts(cfg, self, &o);
	int ret;

	if (!po)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	ret = 0;
	if (cfg->service.enabled) {
		ret = svcnet_prepare(&po->own, cfg, 1, err, errlen);
		if (!ret)
			ret = proc_gate(cfg, po, &po->own, &o, err, errlen);
	}
	if (!ret) {
		po->pw_made = 1;
		ret = procwork_init(&po->pw, &o, err, errlen);
	}
	return proc_made(po, ret, m);
}

static int proc_restore(const struct config *cfg,
			const struct config_node *self,
			const struct primary_image *img,
			struct prepared **ready, struct workload_made *m,
			char *err, size_t errlen)
{
	(void)ready; /* a VM made ahead is a kvm workload's */
	struct procwork_opts o;
	struct proc_owned *po = proc_opts(cfg, self, &o);
	void *mem;
	int ret;

	if (!po)
		return snprintf(err, errlen, "out of memory"), -ENOMEM;
	mem = mmap(NULL, img->mem_size, PROT_READ, MAP_SHARED, img->mem_fd, 0);
	if (mem == MAP_FAILED) {
		ret = -errno;
		snprintf(err, errlen, "mapping the replica: %s",
			 strerror(-ret));
		free(po);
		return ret;
	}
	o.mem_size = img->mem_size;
	ret = 0;
	if (cfg->service.enabled) {
		/* Prepared by the backup at its start; made down now if not. */
		ret = img->net ? 0
			       : svcnet_prepare(&po->own, cfg, 0, err, errlen);
		if (!ret)
			ret = proc_gate(cfg, po,
					img->net ? &img->net->s : &po->own, &o,
					err, errlen);
	}
	if (!ret) {
		po->pw_made = 1;
		ret = procwork_restore(&po->pw, &o, mem, img->state,
				       img->state_len, err, errlen);
	}
	munmap(mem, img->mem_size);
	/* The restored service's sockets are in place: its address comes
	 * up and is announced (clients' retransmissions then reach them). */
	if (!ret && po->net)
		ret = svcnet_up(po->net, err, errlen);
	return proc_made(po, ret, m);
}

/*
 * What running or restoring a process needs: root, cgroup v2, CRIU, and
 * the paths of its keys.
 */
static int proc_preflight(const struct config *cfg, char *err, size_t errlen)
{
	const char *criu = cfg->workload.criu[0] ? cfg->workload.criu
						 : proc_criu_default();
	char mnt[256];
	int ret;

	if (geteuid() != 0)
		return snprintf(err, errlen,
				"type = process needs root (namespaces, cgroup "
				"v2, CRIU); run the daemon as root"),
		       -EPERM;
	ret = proc_cgroup_v2_mount(mnt, sizeof(mnt), err, errlen);
	if (ret)
		return ret;
	if (access(criu, X_OK))
		return snprintf(err, errlen,
				"criu %s: %s; scripts/setup builds it, or set "
				"[workload] criu",
				criu, strerror(errno)),
		       -ENOENT;
	return paths_check_process(cfg, err, errlen);
}

static int kvm_preflight(const struct config *cfg, char *err, size_t errlen)
{
	(void)cfg;
	(void)err;
	(void)errlen;
	return 0;
}

/* --- the table ----------------------------------------------------------- */

static const struct {
	int (*make)(const struct config *cfg, const struct config_node *self,
		    struct workload_made *m, char *err, size_t errlen);
	int (*restore)(const struct config *cfg, const struct config_node *self,
		       const struct primary_image *img, struct prepared **ready,
		       struct workload_made *m, char *err, size_t errlen);
	primary_state_check_fn check;
	int (*preflight)(const struct config *cfg, char *err, size_t errlen);
} types[] = {
	[CONFIG_WORKLOAD_KVM] = {kvm_make, kvm_restore, kvm_check,
				 kvm_preflight},
	[CONFIG_WORKLOAD_PROCESS] = {proc_make, proc_restore,
				     procwork_check_state, proc_preflight},
};

int workloads_make(const struct config *cfg, const struct config_node *self,
		   struct workload_made *m, char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	int ret;

	memset(m, 0, sizeof(*m));
	ret = types[cfg->workload.kind].make(cfg, self, m, err, errlen);
	m->make_ns = now_ns() - t0;
	return ret;
}

int workloads_restore(const struct config *cfg, const struct config_node *self,
		      const struct primary_image *img, struct prepared **ready,
		      struct workload_made *m, char *err, size_t errlen)
{
	uint64_t t0 = now_ns();
	int ret;

	memset(m, 0, sizeof(*m));
	ret = types[cfg->workload.kind].restore(cfg, self, img, ready, m, err,
						errlen);
	m->make_ns = now_ns() - t0;
	return ret;
}

primary_state_check_fn primary_state_check(const struct config *cfg)
{
	return types[cfg->workload.kind].check;
}

void primary_describe_workload(const struct config *cfg, char *buf, size_t len)
{
	const char *argv[CONFIG_WORDS_MAX + 1];

	if (cfg->workload.kind == CONFIG_WORKLOAD_KVM) {
		snprintf(buf, len, "guest %s (%s), %llu MiB",
			 cfg->workload.guest,
			 *cfg->workload.args ? cfg->workload.args
					     : "no arguments",
			 (unsigned long long)(cfg->workload.memory >> 20));
		return;
	}
	config_argv(cfg->workload.command, cfg->workload.command_argc, argv,
		    CONFIG_WORDS_MAX + 1);
	snprintf(buf, len,
		 "process %s (%d argument%s), %llu MiB page space, full CRIU "
		 "dumps (no soft-dirty tracking here)",
		 argv[0], cfg->workload.command_argc - 1,
		 cfg->workload.command_argc == 2 ? "" : "s",
		 (unsigned long long)(cfg->workload.memory >> 20));
}

int primary_preflight(const struct config *cfg, char *err, size_t errlen)
{
	return types[cfg->workload.kind].preflight(cfg, err, errlen);
}

void primary_workload_status(const struct config *cfg, double pause_us_p50,
			     char *buf, size_t len)
{
	int behind = pause_us_p50 * 1e3 >=
		     (double)cfg->replication.epoch_interval_ns;

	if (cfg->workload.kind == CONFIG_WORKLOAD_KVM)
		snprintf(buf, len, "kvm micro-VM, dirty logging");
	else
		snprintf(buf, len, "process, full CRIU dumps%s",
			 behind ? "; back to back: a dump outlasts "
				  "epoch_interval"
				: "");
}
