/* Status gathered once: the daemon (writeback protection, FUSE transport, event loops,
 * workers, iSNS), each channel asked for with its session, LUNs and maps, and the multipath
 * devices. Nothing here prints; status_render.c does. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuse_dev.h"
#include "status.h"

static int is_mounted(const char *dir)
{
	FILE *m = fopen("/proc/self/mounts", "r");
	char line[4096];
	int found = 0;

	if (!m)
		return 0;
	while (!found && fgets(line, sizeof(line), m)) {
		char *save = NULL, *mp;

		strtok_r(line, " ", &save);
		mp = strtok_r(NULL, " ", &save);
		found = mp && strcmp(mp, dir) == 0;
	}
	fclose(m);
	return found;
}

/* The threads that carry the I/O: the event loops, the FUSE transport, the workers. */
static int gather_threads(struct daemon *d, struct daemon_status *st)
{
	if (d->dev) {
		struct fdev_stats fst;

		fdev_get_stats(d->dev, &fst);
		st->have_fuse = 1;
		st->fuse_transport = fdev_mode_str(d->dev);
		st->fuse_requests = fst.requests;
		st->fuse_inflight = fst.inflight;
	}
	st->nloops = evloops_count();
	st->loops = calloc(st->nloops ? st->nloops : 1, sizeof(*st->loops));
	if (!st->loops)
		return -ENOMEM;
	for (unsigned i = 0; i < st->nloops; i++)
		evloop_get_stats(i, &st->loops[i]);
	workq_get_stats(&st->workers);
	return 0;
}

/* The DEVICE lines of a LUN, read after the channel's lock is let go: finding out whether
 * each is mounted reads /proc. */
static int gather_maps(const struct cfg *c, struct channel *ch, struct status_lun *sl)
{
	for (int m = 0; m < c->nmaps; m++) {
		const struct cfg_map *mp = &c->maps[m];
		struct status_map *sm, *grown;

		if (mp->channel != channel_id(ch) || mp->lun != sl->number)
			continue;
		grown = realloc(sl->maps, sizeof(*grown) * (size_t)(sl->nmaps + 1));
		if (!grown)
			return -ENOMEM;
		sl->maps = grown;
		sm = &sl->maps[sl->nmaps++];
		sm->partition = mp->partition;
		snprintf(sm->name, sizeof(sm->name), "%s", mp->name);
		daemon_map_dir(c, ch, mp->name, sm->dir, sizeof(sm->dir));
		sm->mounted = is_mounted(sm->dir);
	}
	return 0;
}

static int gather_luns(struct daemon *d, struct channel *ch, struct status_channel *sc)
{
	struct lun **luns;
	int rc = 0, n = channel_luns(ch, &luns);

	if (n < 0)
		return n;
	sc->luns = calloc(n ? (size_t)n : 1, sizeof(*sc->luns));
	for (int i = 0; sc->luns && i < n; i++) {
		const struct lun *l = luns[i];
		struct status_lun *sl = &sc->luns[sc->nluns];

		if (lun_gone(l))
			continue;
		sl->number = l->number;
		daemon_lun_file(d, ch, l, sl->file, sizeof(sl->file));
		sl->size = lun_size(l);
		sl->nblocks = lun_nblocks(l);
		sl->block_size = l->block_size;
		snprintf(sl->vendor, sizeof(sl->vendor), "%s", l->inq.vendor);
		snprintf(sl->product, sizeof(sl->product), "%s", l->inq.product);
		snprintf(sl->ident, sizeof(sl->ident), "%s", l->ident);
		sl->read_only = l->readonly;
		sl->thin = l->unmap;
		sl->reads = __atomic_load_n(&l->reads, __ATOMIC_RELAXED);
		sl->read_bytes = __atomic_load_n(&l->read_bytes, __ATOMIC_RELAXED);
		sl->writes = __atomic_load_n(&l->writes, __ATOMIC_RELAXED);
		sl->write_bytes = __atomic_load_n(&l->write_bytes, __ATOMIC_RELAXED);
		sl->scsi_errors = __atomic_load_n(&l->scsi_errors, __ATOMIC_RELAXED);
		sc->nluns++;
	}
	free(luns);
	if (!sc->luns)
		return -ENOMEM;
	for (int i = 0; rc == 0 && i < sc->nluns; i++)
		rc = gather_maps(daemon_cfg(d), ch, &sc->luns[i]);
	return rc;
}

static int gather_channel(struct daemon *d, struct channel *ch, struct status_channel *sc)
{
	const struct cfg_portal *p = &channel_conf(ch)->portals[0];

	sc->id = channel_id(ch);
	sc->state = channel_state_str(ch);
	channel_target_name(ch, sc->target, sizeof(sc->target));
	channel_portal_str(ch, sc->portal, sizeof(sc->portal));
	snprintf(sc->netdev, sizeof(sc->netdev), "%s", p->netdev);
	sc->have_session = channel_session_info(ch, &sc->session);
	return gather_luns(d, ch, sc);
}

/* Whether a device has a path on one of the channels asked for. */
static int mpath_shown(const struct mpath_info *mi, struct channel **sel, int n)
{
	for (int p = 0; p < mi->npaths; p++)
		for (int i = 0; i < n; i++)
			if (mi->paths[p].ch == sel[i])
				return 1;
	return 0;
}

static int gather_mpaths(struct daemon *d, struct channel **sel, int n, struct daemon_status *st)
{
	struct mpath_set *set = fs_multipath(d->fs);
	int count = set ? mpath_count(set) : 0;

	st->mpaths = calloc(count ? (size_t)count : 1, sizeof(*st->mpaths));
	if (!st->mpaths)
		return -ENOMEM;
	for (int k = 0; k < count; k++) {
		struct mpath_dev *mp = mpath_get(set, k);
		const struct lun *g = mpath_lun(mp);
		struct status_mpath *sm = &st->mpaths[st->nmpaths];
		struct mpath_info mi;

		mpath_get_info(mp, &mi);
		if (!mi.present || !mpath_shown(&mi, sel, n))
			continue;
		snprintf(sm->name, sizeof(sm->name), "%s", mi.name);
		snprintf(sm->file, sizeof(sm->file), "%s/multipath/%s", d->mountpoint, mi.name);
		sm->policy = mi.policy;
		sm->size = lun_size(g);
		sm->block_size = g->block_size;
		sm->waiting = mi.waiting;
		sm->npaths = mi.npaths;
		for (int p = 0; p < mi.npaths; p++) {
			const struct mpath_path_info *pi = &mi.paths[p];
			struct status_path *sp = &sm->paths[p];

			sp->channel = channel_id(pi->ch);
			sp->lun = pi->lun;
			snprintf(sp->portal, sizeof(sp->portal), "%s", pi->portal);
			sp->state = pi->state;
			snprintf(sp->why, sizeof(sp->why), "%s", pi->why);
			sp->ios = pi->ios;
			sp->failures = pi->failures;
		}
		st->nmpaths++;
	}
	return 0;
}

int status_gather(struct daemon *d, struct channel **sel, int n, int whole,
		  struct daemon_status *st)
{
	int rc;

	memset(st, 0, sizeof(*st));
	st->pid = (long)getpid();
	st->mountpoint = d->mountpoint;
	st->whole = whole;
	st->wb = d->wb;
	rc = gather_threads(d, st);
	if (rc == 0 && d->isns) {
		st->have_isns = 1;
		isns_client_status(d->isns, &st->isns);
	}
	st->now = time(NULL);
	if (rc == 0) {
		st->channels = calloc(n ? (size_t)n : 1, sizeof(*st->channels));
		if (!st->channels)
			rc = -ENOMEM;
	}
	for (int i = 0; rc == 0 && i < n; i++) {
		rc = gather_channel(d, sel[i], &st->channels[i]);
		st->nchannels = i + 1;
	}
	if (rc == 0)
		rc = gather_mpaths(d, sel, n, st);
	if (rc < 0)
		status_free(st);
	return rc;
}

void status_free(struct daemon_status *st)
{
	for (int i = 0; i < st->nchannels; i++) {
		struct status_channel *sc = &st->channels[i];

		for (int k = 0; sc->luns && k < sc->nluns; k++)
			free(sc->luns[k].maps);
		free(sc->luns);
	}
	free(st->channels);
	free(st->mpaths);
	free(st->loops);
	memset(st, 0, sizeof(*st));
}
