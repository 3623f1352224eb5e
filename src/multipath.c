/* Multipath devices over the LUNs of several channels. A path is one channel's LUN; a device
 * keeps its paths in the order they joined (configuration order at start). I/O on a path that
 * is lost comes back here (the member sessions fail fast) and goes down another one; a worker
 * thread holds what no path can take yet and watches the paths' states for the log. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"
#include "config.h"
#include "lockrank.h"
#include "log.h"
#include "multipath.h"

#define HOLD_MS 1000   /* a path that lost an I/O is not chosen again before this */
#define MAX_TRIES 32   /* paths one I/O may be lost on before it fails */
#define POLL_MS 100    /* how often waiting I/O looks for a path again */

struct mp_path {
	struct channel *ch;       /* NULL: free slot */
	uint32_t number;          /* the LUN number on that channel */
	struct lun *lun;          /* NULL while not present */
	struct lun *released;     /* left with its channel's stop: never taken again */
	int dispatching;          /* commands being handed to its session right now */
	uint64_t ios, failures;
	uint64_t hold_until;      /* ms */
	int logged_ok;            /* the state the log last told: 1 usable, 0 not, -1 none */
	int policy_warned;
};

struct mpath_dev {
	struct mpath_set *set;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* a path's dispatching count fell */
	char name[96];
	uint32_t policy;
	struct lun geom;
	struct mp_path paths[MPATH_MAX_PATHS];
	int npaths;
	int active;               /* failover: the path in use, -1 none yet */
	unsigned rr;              /* round-robin: where the next choice starts */
	int waiting;              /* I/Os waiting for any path */
	int failing;              /* waiting I/O has started to fail (logged once) */
	const struct lun *refused[MPATH_MAX_PATHS]; /* other geometry: served alone */
	int nrefused;
};

struct mp_io {
	struct mpath_dev *dev;
	struct mp_path *path;     /* the one it went down last */
	struct lun *lun;          /* that path's LUN then */
	int write;
	uint64_t lba;
	uint32_t nblocks;
	void *buf;
	lun_io_cb cb;
	void *arg;
	uint64_t deadline;        /* ms; 0 until it first finds no path */
	int tries, counted;
	struct mp_io *next;
};

struct mpath_set {
	pthread_mutex_t lock;     /* devs, queue; before a device's (channel.h) */
	pthread_cond_t cond;
	struct mpath_dev **devs;
	int ndevs, cap;
	struct mp_io *pend_head, *pend_tail;
	int stop, worker_running;
	pthread_t worker;
};

static void set_lock(struct mpath_set *set)
{
	LOCKRANK_TAKE(LOCK_MPATH_SET);
	pthread_mutex_lock(&set->lock);
}

static void set_unlock(struct mpath_set *set)
{
	pthread_mutex_unlock(&set->lock);
	LOCKRANK_DROP(LOCK_MPATH_SET);
}

static void dev_lock(struct mpath_dev *d)
{
	LOCKRANK_TAKE(LOCK_MPATH_DEV);
	pthread_mutex_lock(&d->lock);
}

static void dev_unlock(struct mpath_dev *d)
{
	pthread_mutex_unlock(&d->lock);
	LOCKRANK_DROP(LOCK_MPATH_DEV);
}

/* Errors that say the path failed, not the logical unit. */
static int is_path_error(int r)
{
	return r == -ENOTCONN || r == -ENXIO || r == -ECONNRESET || r == -EPIPE ||
	       r == -ESHUTDOWN;
}

/* Why a present path cannot take I/O, or NULL when it can. Device lock held. */
static const char *path_trouble(const struct mp_path *p, uint64_t now)
{
	if (!p->lun)
		return "not present";
	if (lun_gone(p->lun))
		return "LUN gone";
	switch (session_status(p->lun->sess)) {
	case SESSION_UP:
		break;
	case SESSION_RECOVERING:
		return "session recovering";
	case SESSION_PAUSED:
		return "channel paused";
	default:
		return "session down";
	}
	if (now < p->hold_until)
		return "I/O lost on it";
	return NULL;
}

static const char *portal_of(const struct mp_path *p)
{
	return channel_conf(p->ch)->portals[0].addr;
}

/* The path for the next I/O, or NULL. Device lock held. */
static struct mp_path *pick(struct mpath_dev *d, uint64_t now)
{
	int n = d->npaths;

	if (d->policy == CFG_MPATH_ROUND_ROBIN) {
		for (int k = 0; k < n; k++) {
			int i = (int)((d->rr + (unsigned)k) % (unsigned)n);

			if (!path_trouble(&d->paths[i], now)) {
				d->rr = (unsigned)i + 1;
				return &d->paths[i];
			}
		}
		return NULL;
	}
	if (d->active >= 0 && d->active < n && !path_trouble(&d->paths[d->active], now))
		return &d->paths[d->active];
	for (int i = 0; i < n; i++) {
		if (path_trouble(&d->paths[i], now))
			continue;
		if (d->active >= 0)
			log_info("%s: failover to path %s via %s", d->name, d->paths[i].lun->label,
				 portal_of(&d->paths[i]));
		d->active = i;
		return &d->paths[i];
	}
	return NULL;
}

static int present_paths(const struct mpath_dev *d)
{
	int n = 0;

	for (int i = 0; i < d->npaths; i++)
		n += d->paths[i].lun != NULL;
	return n;
}

static int usable_paths(const struct mpath_dev *d, uint64_t now)
{
	int n = 0;

	for (int i = 0; i < d->npaths; i++)
		n += !path_trouble(&d->paths[i], now);
	return n;
}

/* How long I/O waits for a path: the longest replacement_timeout of the present paths.
 * Device lock held. */
static uint64_t wait_ms(const struct mpath_dev *d)
{
	uint32_t s = 0;

	for (int i = 0; i < d->npaths; i++)
		if (d->paths[i].lun && channel_conf(d->paths[i].ch)->attrs.replacement_timeout > s)
			s = channel_conf(d->paths[i].ch)->attrs.replacement_timeout;
	return (uint64_t)s * 1000;
}

static void finish(struct mp_io *io, int result)
{
	struct mpath_dev *d = io->dev;

	if (io->counted) {
		dev_lock(d);
		d->waiting--;
		dev_unlock(d);
	}
	io->cb(io->arg, result);
	free(io);
}

static void queue_pending(struct mp_io *io)
{
	struct mpath_set *set = io->dev->set;

	set_lock(set);
	if (set->stop) { /* no worker to wait for a path any more */
		set_unlock(set);
		finish(io, -EIO);
		return;
	}
	io->next = NULL;
	if (set->pend_tail)
		set->pend_tail->next = io;
	else
		set->pend_head = io;
	set->pend_tail = io;
	pthread_cond_signal(&set->cond);
	set_unlock(set);
}

static void path_done(void *arg, int result)
{
	struct mp_io *io = arg;
	struct mpath_dev *d = io->dev;
	struct mp_path *p = io->path;
	int lost;

	dev_lock(d);
	/* A stopping channel ends what it still had with EIO: those go elsewhere too. */
	lost = is_path_error(result) || (result && p->released == io->lun);
	if (lost) {
		p->failures++;
		p->hold_until = clock_ms() + HOLD_MS;
	}
	dev_unlock(d);
	if (lost && ++io->tries < MAX_TRIES) {
		log_dbg("%s: I/O lost on %s (%s): sent again", d->name, io->lun->label,
			strerror(-result));
		queue_pending(io);
		return;
	}
	finish(io, result);
}

/* Send io down a healthy path: 1; none: 0, or -errno when it cannot wait. */
static int try_dispatch(struct mp_io *io, uint64_t now)
{
	struct mpath_dev *d = io->dev;
	struct mp_path *p;
	struct lun *l;

	dev_lock(d);
	p = pick(d, now);
	if (!p) {
		int r = 0;

		if (!present_paths(d)) {
			r = -ENXIO;
		} else if (!io->deadline) {
			io->deadline = now + wait_ms(d);
			if (!io->counted && d->waiting++ == 0)
				log_warn("%s: no path can take I/O; it waits up to %llu s for one",
					 d->name, (unsigned long long)(io->deadline - now) / 1000);
			io->counted = 1;
		}
		dev_unlock(d);
		return r;
	}
	if (io->counted) {
		io->counted = 0;
		d->waiting--;
	}
	d->failing = 0;
	io->deadline = 0;
	p->dispatching++;
	p->ios++;
	io->path = p;
	io->lun = l = p->lun;
	dev_unlock(d);
	/* io may be finished and freed before this returns. */
	lun_io_async(l, io->write, io->lba, io->nblocks, io->buf, path_done, io);
	dev_lock(d);
	p->dispatching--;
	pthread_cond_broadcast(&d->cond);
	dev_unlock(d);
	return 1;
}

/* Log each path's change of state once. Set lock held. */
static void watch_paths(struct mpath_set *set, uint64_t now)
{
	for (int k = 0; k < set->ndevs; k++) {
		struct mpath_dev *d = set->devs[k];

		dev_lock(d);
		for (int i = 0; i < d->npaths; i++) {
			struct mp_path *p = &d->paths[i];
			const char *why = p->lun ? path_trouble(p, now) : NULL;
			int ok = !why;

			if (!p->lun || ok == p->logged_ok)
				continue;
			if (ok && p->logged_ok == 0)
				log_info("%s: path %s via %s is back", d->name, p->lun->label,
					 portal_of(p));
			else if (!ok)
				log_warn("%s: path %s via %s failed (%s); %d of %d paths usable",
					 d->name, p->lun->label, portal_of(p), why,
					 usable_paths(d, now), present_paths(d));
			p->logged_ok = ok;
		}
		dev_unlock(d);
	}
}

static void *worker_main(void *arg)
{
	struct mpath_set *set = arg;

	set_lock(set);
	while (!set->stop) {
		struct mp_io *list = set->pend_head, *keep = NULL, *last = NULL;
		struct timespec until;
		uint64_t now = clock_ms();
		int arrived;

		set->pend_head = set->pend_tail = NULL;
		set_unlock(set);
		while (list) {
			struct mp_io *io = list;
			int r;

			list = io->next;
			io->next = NULL;
			r = try_dispatch(io, now);
			if (r == 1)
				continue;
			if (r < 0 || now >= io->deadline) {
				struct mpath_dev *d = io->dev;

				dev_lock(d);
				if (r == 0 && !d->failing)
					log_err("%s: no path came back in time: waiting I/O fails "
						"with EIO", d->name);
				d->failing = 1;
				dev_unlock(d);
				finish(io, r < 0 ? r : -EIO);
				continue;
			}
			if (last)
				last->next = io;
			else
				keep = io;
			last = io;
		}
		set_lock(set);
		watch_paths(set, now);
		arrived = set->pend_head != NULL;
		if (keep) {
			/* Those that waited longest stay first. */
			last->next = set->pend_head;
			if (!set->pend_head)
				set->pend_tail = last;
			set->pend_head = keep;
		}
		if (set->stop || arrived)
			continue;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (keep ? POLL_MS : 1000) * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&set->cond, &set->lock, &until);
	}
	set_unlock(set);
	return NULL;
}

struct mpath_set *mpath_set_new(void)
{
	struct mpath_set *set = calloc(1, sizeof(*set));

	if (!set)
		return NULL;
	pthread_mutex_init(&set->lock, NULL);
	pthread_cond_init(&set->cond, NULL);
	if (pthread_create(&set->worker, NULL, worker_main, set) != 0) {
		pthread_mutex_destroy(&set->lock);
		pthread_cond_destroy(&set->cond);
		free(set);
		return NULL;
	}
	set->worker_running = 1;
	return set;
}

void mpath_set_stop(struct mpath_set *set)
{
	if (!set)
		return;
	set_lock(set);
	set->stop = 1;
	pthread_cond_signal(&set->cond);
	set_unlock(set);
	if (set->worker_running)
		pthread_join(set->worker, NULL);
	set->worker_running = 0;
	while (set->pend_head) {
		struct mp_io *io = set->pend_head;

		set->pend_head = io->next;
		finish(io, -EIO);
	}
}

void mpath_set_free(struct mpath_set *set)
{
	if (!set)
		return;
	mpath_set_stop(set);
	for (int i = 0; i < set->ndevs; i++) {
		struct mpath_dev *d = set->devs[i];

		lun_destroy(&d->geom);
		pthread_mutex_destroy(&d->lock);
		pthread_cond_destroy(&d->cond);
		free(d);
	}
	free(set->devs);
	pthread_mutex_destroy(&set->lock);
	pthread_cond_destroy(&set->cond);
	free(set);
}

/* Set lock held. */
static struct mpath_dev *find_dev(struct mpath_set *set, const char *name)
{
	for (int i = 0; i < set->ndevs; i++)
		if (strcmp(set->devs[i]->name, name) == 0)
			return set->devs[i];
	return NULL;
}

/* A device for the identifier of l, shaped like l. Set lock held. */
static struct mpath_dev *new_dev(struct mpath_set *set, const struct lun *l, uint32_t policy)
{
	struct mpath_dev *d;

	if (set->ndevs == set->cap) {
		int cap = set->cap ? set->cap * 2 : 4;
		struct mpath_dev **a = realloc(set->devs, sizeof(*a) * (size_t)cap);

		if (!a)
			return NULL;
		set->devs = a;
		set->cap = cap;
	}
	d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->cond, NULL);
	d->set = set;
	snprintf(d->name, sizeof(d->name), "%s", l->ident);
	d->policy = policy;
	d->active = -1;
	/* The file's shape; never used for I/O. */
	d->geom = *l;
	d->geom.sess = NULL;
	d->geom.gone = 0;
	snprintf(d->geom.label, sizeof(d->geom.label), "%.*s", (int)sizeof(d->geom.label) - 1,
		 d->name);
	lun_init_queue(&d->geom, 1);
	set->devs[set->ndevs++] = d;
	log_info("%s: multipath device (%s) over %s", d->name, cfg_multipath_str(policy), l->label);
	return d;
}

static int channel_listed(struct channel *const *chs, int n, const struct channel *ch)
{
	for (int i = 0; i < n; i++)
		if (chs[i] == ch)
			return 1;
	return 0;
}

/* l of channel ch joins d (or is refused for its shape). Device lock held. */
static void join(struct mpath_dev *d, struct channel *ch, struct lun *l, struct channel **chs,
		 int n)
{
	const struct cfg_channel *cc = channel_conf(ch);
	struct mp_path *p = NULL;

	for (int i = 0; i < d->npaths && !p; i++)
		if (d->paths[i].ch == ch && d->paths[i].number == l->number)
			p = &d->paths[i];
	if (p && (p->lun == l || p->released == l))
		return;
	for (int i = 0; i < d->nrefused; i++)
		if (d->refused[i] == l)
			return;
	if (l->block_size != d->geom.block_size || lun_nblocks(l) != lun_nblocks(&d->geom)) {
		log_warn("%s: %s has the same identifier but %llu blocks of %u bytes, not %llu of "
			 "%u: not a path of the multipath device, served on its own", d->name,
			 l->label, (unsigned long long)lun_nblocks(l), l->block_size,
			 (unsigned long long)lun_nblocks(&d->geom), d->geom.block_size);
		if (d->nrefused < MPATH_MAX_PATHS)
			d->refused[d->nrefused++] = l;
		return;
	}
	if (!p && d->npaths < MPATH_MAX_PATHS)
		p = &d->paths[d->npaths++];
	for (int i = 0; i < d->npaths && !p; i++)
		if (!d->paths[i].lun && !channel_listed(chs, n, d->paths[i].ch))
			p = &d->paths[i]; /* a slot of a channel a reload removed */
	if (!p) {
		log_warn("%s: %s is one path too many (at most %d)", d->name, l->label,
			 MPATH_MAX_PATHS);
		return;
	}
	if (!present_paths(d))
		d->policy = cc->attrs.multipath; /* the first path decides */
	if (p->ch != ch) {
		memset(p, 0, sizeof(*p));
		p->ch = ch;
		p->number = l->number;
	}
	p->lun = l;
	p->hold_until = 0;
	p->logged_ok = -1;
	if (cc->attrs.multipath != d->policy && !p->policy_warned) {
		log_warn("%s: %s says multipath=%s; the device has %s, from its first path",
			 d->name, channel_label(ch), cfg_multipath_str(cc->attrs.multipath),
			 cfg_multipath_str(d->policy));
		p->policy_warned = 1;
	}
	log_info("%s: path %s via %s:%u joins (%d present)", d->name, l->label,
		 cc->portals[0].addr, cc->portals[0].port, present_paths(d));
}

/* The waits for dispatching are without the set lock: a command that fails at once comes
 * back through queue_pending, which takes it. */
void mpath_set_sync(struct mpath_set *set, struct channel **chs, int n)
{
	struct mpath_dev *d;

	/* Paths whose LUN went away (a rescan) are no longer present. */
	for (int k = 0; (d = mpath_get(set, k)); k++) {
		dev_lock(d);
		for (int i = 0; i < d->npaths; i++) {
			struct mp_path *p = &d->paths[i];

			if (p->lun && lun_gone(p->lun)) {
				log_info("%s: path %s leaves (the LUN went away)", d->name,
					 p->lun->label);
				p->released = p->lun;
				p->lun = NULL;
				while (p->dispatching)
					pthread_cond_wait(&d->cond, &d->lock);
			}
		}
		dev_unlock(d);
	}
	for (int c = 0; c < n; c++) {
		struct channel *ch = chs[c];
		enum channel_state st = channel_state(ch);
		struct lun **luns;
		int nluns;

		/* Only a channel whose session stays allocated: not one starting or stopping. */
		if (channel_conf(ch)->attrs.multipath == CFG_MPATH_OFF ||
		    (st != CH_RUNNING && st != CH_PAUSED))
			continue;
		nluns = channel_luns(ch, &luns);
		if (nluns < 0) {
			log_warn("%s: out of memory: its LUNs join no multipath device this time",
				 channel_label(ch));
			continue;
		}
		set_lock(set);
		for (int i = 0; i < nluns; i++) {
			struct lun *l = luns[i];

			if (lun_gone(l) || !l->ident[0])
				continue;
			d = find_dev(set, l->ident);
			if (!d)
				d = new_dev(set, l, channel_conf(ch)->attrs.multipath);
			if (!d)
				continue;
			dev_lock(d);
			join(d, ch, l, chs, n);
			dev_unlock(d);
		}
		set_unlock(set);
		free(luns);
	}
	set_lock(set);
	/* The device's shape follows its first present path (a resize comes through a rescan);
	 * with none present the file goes. */
	for (int k = 0; k < set->ndevs; k++) {
		const struct lun *first = NULL;

		d = set->devs[k];
		dev_lock(d);
		for (int i = 0; i < d->npaths && !first; i++) {
			first = d->paths[i].lun;
			/* So is its policy: a reload that changes it takes effect. */
			if (first)
				d->policy = channel_conf(d->paths[i].ch)->attrs.multipath;
		}
		if (first)
			__atomic_store_n(&d->geom.nblocks, lun_nblocks(first), __ATOMIC_RELEASE);
		__atomic_store_n(&d->geom.gone, first == NULL, __ATOMIC_RELEASE);
		dev_unlock(d);
	}
	set_unlock(set);
}

void mpath_release_channel(struct mpath_set *set, struct channel *ch)
{
	struct mpath_dev *d;

	for (int k = 0; (d = mpath_get(set, k)); k++) {
		dev_lock(d);
		for (int i = 0; i < d->npaths; i++) {
			struct mp_path *p = &d->paths[i];

			if (p->ch != ch || !p->lun)
				continue;
			log_info("%s: path %s leaves (%s stops); %d left", d->name, p->lun->label,
				 channel_label(ch), present_paths(d) - 1);
			p->released = p->lun;
			p->lun = NULL;
			if (d->active == i)
				d->active = -1;
			while (p->dispatching)
				pthread_cond_wait(&d->cond, &d->lock);
		}
		dev_unlock(d);
	}
}

int mpath_count(struct mpath_set *set)
{
	int n;

	set_lock(set);
	n = set->ndevs;
	set_unlock(set);
	return n;
}

struct mpath_dev *mpath_get(struct mpath_set *set, int i)
{
	struct mpath_dev *d = NULL;

	set_lock(set);
	if (i >= 0 && i < set->ndevs)
		d = set->devs[i];
	set_unlock(set);
	return d;
}

struct mpath_dev *mpath_of_lun(struct mpath_set *set, const struct lun *l)
{
	struct mpath_dev *found = NULL;

	set_lock(set);
	for (int k = 0; k < set->ndevs && !found; k++) {
		struct mpath_dev *d = set->devs[k];

		dev_lock(d);
		/* One that left with its stopping channel is not served on its own either. */
		for (int i = 0; i < d->npaths && !found; i++)
			if (d->paths[i].lun == l || d->paths[i].released == l)
				found = d;
		dev_unlock(d);
	}
	set_unlock(set);
	return found;
}

int mpath_only_path(struct mpath_dev *d, const struct channel *ch)
{
	int mine = 0, all;

	dev_lock(d);
	all = present_paths(d);
	for (int i = 0; i < d->npaths; i++)
		mine += d->paths[i].lun && d->paths[i].ch == ch;
	dev_unlock(d);
	return mine && mine == all;
}

const char *mpath_name(const struct mpath_dev *d)
{
	return d->name;
}

struct lun *mpath_lun(struct mpath_dev *d)
{
	return &d->geom;
}

void mpath_io_async(struct mpath_dev *d, int write, uint64_t lba, uint32_t nblocks, void *buf,
		    lun_io_cb cb, void *arg)
{
	struct mp_io *io;
	int r;

	if (!nblocks) {
		cb(arg, 0);
		return;
	}
	if (lba + nblocks > lun_nblocks(&d->geom) || lba + nblocks < lba) {
		cb(arg, -EINVAL);
		return;
	}
	io = calloc(1, sizeof(*io));
	if (!io) {
		cb(arg, -ENOMEM);
		return;
	}
	io->dev = d;
	io->write = write;
	io->lba = lba;
	io->nblocks = nblocks;
	io->buf = buf;
	io->cb = cb;
	io->arg = arg;
	r = try_dispatch(io, clock_ms());
	if (r < 0)
		finish(io, r);
	else if (r == 0)
		queue_pending(io);
}

int mpath_io(struct mpath_dev *d, int write, uint64_t lba, uint32_t nblocks, void *buf)
{
	struct io_wait w = IO_WAIT_INIT;

	mpath_io_async(d, write, lba, nblocks, buf, io_wait_cb, &w);
	return io_wait_for(&w);
}

/* A synchronous command on one healthy path, on another when that one is lost. */
static int with_path(struct mpath_dev *d, int (*fn)(struct lun *l, void *arg), void *arg)
{
	uint64_t deadline = 0;
	int counted = 0, r = -EIO;

	for (int tries = 0; tries < MAX_TRIES;) {
		uint64_t now = clock_ms();
		struct mp_path *p;
		struct lun *l;
		int lost;

		dev_lock(d);
		p = pick(d, now);
		if (!p) {
			int present = present_paths(d);

			if (present && !deadline)
				deadline = now + wait_ms(d);
			/* Waiting for a path, as queued I/O does: status counts it. */
			if (present && !counted) {
				d->waiting++;
				counted = 1;
			}
			dev_unlock(d);
			if (!present) {
				r = -ENXIO;
				break;
			}
			if (now >= deadline)
				break;
			nanosleep(&(struct timespec){0, POLL_MS * 1000000L}, NULL);
			continue;
		}
		if (counted) {
			d->waiting--;
			counted = 0;
		}
		p->dispatching++;
		p->ios++;
		l = p->lun;
		dev_unlock(d);
		r = fn(l, arg);
		dev_lock(d);
		p->dispatching--;
		pthread_cond_broadcast(&d->cond);
		lost = is_path_error(r) || (r && p->released == l);
		if (lost) {
			p->failures++;
			p->hold_until = clock_ms() + HOLD_MS;
		}
		dev_unlock(d);
		if (!lost)
			return r;
		r = -EIO;
		tries++;
	}
	if (counted) {
		dev_lock(d);
		d->waiting--;
		dev_unlock(d);
	}
	return r;
}

static int sync_one(struct lun *l, void *arg)
{
	(void)arg;
	return lun_sync_cache(l);
}

int mpath_sync_cache(struct mpath_dev *d)
{
	/* The cache is the logical unit's: one path flushes it for all. */
	return with_path(d, sync_one, NULL);
}

struct unmap_args {
	uint64_t lba, nblocks;
};

static int unmap_one(struct lun *l, void *arg)
{
	const struct unmap_args *a = arg;

	return lun_unmap(l, a->lba, a->nblocks);
}

int mpath_unmap(struct mpath_dev *d, uint64_t lba, uint64_t nblocks)
{
	struct unmap_args a = {lba, nblocks};

	return with_path(d, unmap_one, &a);
}

const char *mpath_state_str(enum mpath_path_state st)
{
	switch (st) {
	case MPATH_ACTIVE:
		return "active";
	case MPATH_STANDBY:
		return "standby";
	case MPATH_FAILED:
		return "failed";
	}
	return "?";
}

void mpath_get_info(struct mpath_dev *d, struct mpath_info *out)
{
	uint64_t now = clock_ms();
	int act;

	memset(out, 0, sizeof(*out));
	dev_lock(d);
	snprintf(out->name, sizeof(out->name), "%s", d->name);
	out->policy = d->policy;
	out->present = present_paths(d) > 0;
	out->waiting = d->waiting;
	/* Failover before its first I/O: the path it would take. */
	act = d->active;
	for (int i = 0; i < d->npaths && (act < 0 || path_trouble(&d->paths[act], now)); i++)
		if (!path_trouble(&d->paths[i], now))
			act = i;
	for (int i = 0; i < d->npaths; i++) {
		const struct mp_path *p = &d->paths[i];
		struct mpath_path_info *pi = &out->paths[out->npaths];
		const char *why;

		if (!p->lun)
			continue;
		why = path_trouble(p, now);
		pi->ch = p->ch;
		pi->lun = p->number;
		snprintf(pi->portal, sizeof(pi->portal), "%s:%u", channel_conf(p->ch)->portals[0].addr,
			 channel_conf(p->ch)->portals[0].port);
		pi->state = why ? MPATH_FAILED
			    : d->policy == CFG_MPATH_ROUND_ROBIN || act == i ? MPATH_ACTIVE
			    : MPATH_STANDBY;
		snprintf(pi->why, sizeof(pi->why), "%s", why ? why : "");
		pi->ios = p->ios;
		pi->failures = p->failures;
		out->npaths++;
	}
	dev_unlock(d);
}
