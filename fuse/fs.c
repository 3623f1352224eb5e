/* The file tree over the LUNs of the started channels: a directory per target with a file per
 * LUN, multipath/, by-id/ and by-path/, kept in line with the channels' starts, stops and
 * rescans; and the FUSE requests on names and attributes. The I/O on the files is fs_io.c's. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fs_int.h"
#include "lockrank.h"
#include "log.h"

#define ATTR_TIMEOUT 1 /* seconds */

/* Nodes are never freed or renumbered while mounted: an inode number the kernel holds always
 * means the same LUN. The array of pointers grows under the write lock.
 * refresh_lock lets one refresh run at a time and guards the channel list; it is held across
 * mpath_set_sync, which may wait for I/O being handed to a session, so no request handler and
 * nothing on the I/O path ever takes it. lock guards the tree and is never held across a wait. */
struct fs {
	pthread_mutex_t refresh_lock;
	struct channel **chs;  /* under refresh_lock */
	int nchs;
	pthread_rwlock_t lock;
	struct fs_node **nodes; /* index = inode number; 0 unused, 1 = root */
	int nnodes, cap;
	time_t mtime;
	struct fdev *dev;      /* where notifications go, once mounted */
	struct mpath_set *mps; /* the multipath devices over the channels' LUNs */
};

static void fs_refresh_lock(struct fs *fs)
{
	LOCKRANK_TAKE(LOCK_FS_REFRESH);
	pthread_mutex_lock(&fs->refresh_lock);
}

static void fs_refresh_unlock(struct fs *fs)
{
	pthread_mutex_unlock(&fs->refresh_lock);
	LOCKRANK_DROP(LOCK_FS_REFRESH);
}

static void fs_rdlock(struct fs *fs)
{
	LOCKRANK_TAKE(LOCK_FS_TREE);
	pthread_rwlock_rdlock(&fs->lock);
}

static void fs_wrlock(struct fs *fs)
{
	LOCKRANK_TAKE(LOCK_FS_TREE);
	pthread_rwlock_wrlock(&fs->lock);
}

static void fs_unlock(struct fs *fs)
{
	pthread_rwlock_unlock(&fs->lock);
	LOCKRANK_DROP(LOCK_FS_TREE);
}

/* Write lock held. */
static int add_node(struct fs *fs, uint64_t parent, const char *name, int is_dir,
		    struct lun *lun)
{
	struct fs_node *n;

	if (fs->nnodes == fs->cap) {
		int cap = fs->cap ? fs->cap * 2 : 16;
		struct fs_node **a = realloc(fs->nodes, sizeof(*a) * (size_t)cap);

		if (!a)
			return -ENOMEM;
		fs->nodes = a;
		fs->cap = cap;
	}
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->parent = parent;
	snprintf(n->name, sizeof(n->name), "%s", name);
	n->is_dir = is_dir;
	n->lun = lun;
	n->size_seen = lun ? lun_size(lun) : 0;
	fs_gate_init(&n->gate);
	fs->nodes[fs->nnodes] = n;
	return fs->nnodes++;
}

#define BY_ID_INO 2
#define BY_PATH_INO 3
#define MULTIPATH_INO 4
#define FIRST_DYNAMIC_INO 5

/* Lock held (either kind). */
static int find_child(const struct fs *fs, uint64_t parent, const char *name)
{
	for (int i = 2; i < fs->nnodes; i++)
		if (fs->nodes[i]->parent == parent && !fs->nodes[i]->removed &&
		    strcmp(fs->nodes[i]->name, name) == 0)
			return i;
	return -1;
}

static int find_lun_node(const struct fs *fs, const struct lun *l)
{
	for (int i = FIRST_DYNAMIC_INO; i < fs->nnodes; i++)
		if (fs->nodes[i]->lun == l)
			return i;
	return -1;
}

struct notice {
	enum { N_DELETE, N_INVAL_ENTRY, N_INVAL_INODE } kind;
	uint64_t parent, ino;
	char name[256];
};

static int add_notice(struct notice **nt, int *nnt, int *cap, const struct notice *n)
{
	if (*nnt == *cap) {
		int c = *cap ? *cap * 2 : 8;
		struct notice *a = realloc(*nt, sizeof(*a) * (size_t)c);

		if (!a)
			return -ENOMEM;
		*nt = a;
		*cap = c;
	}
	(*nt)[(*nnt)++] = *n;
	return 0;
}

/* What a refresh needs of a channel, read through its accessors before the tree's lock is
 * taken: the channel's own lock is never held while the tree changes. */
struct chview {
	struct channel *ch;
	enum channel_state state;
	char target[CFG_NAME_MAX]; /* "" while not known */
	int have_portal;           /* the portal of the last login, for by-path names */
	char host[PORTAL_HOST_MAX];
	uint16_t port;
	struct lun **luns;         /* every LUN seen (channel_luns) */
	int nluns;
};

/* A view of each channel, or NULL without memory. */
static struct chview *views_get(struct channel **chs, int n)
{
	struct chview *v = calloc((size_t)(n ? n : 1), sizeof(*v));

	for (int c = 0; v && c < n; c++) {
		v[c].ch = chs[c];
		v[c].state = channel_state(chs[c]);
		channel_target_name(chs[c], v[c].target, sizeof(v[c].target));
		v[c].have_portal = channel_portal_in_use(chs[c], v[c].host, sizeof(v[c].host),
							 &v[c].port);
		v[c].nluns = channel_luns(chs[c], &v[c].luns);
		if (v[c].nluns < 0) {
			for (int k = 0; k < c; k++)
				free(v[k].luns);
			free(v);
			v = NULL;
		}
	}
	return v;
}

static void views_free(struct chview *v, int n)
{
	for (int c = 0; v && c < n; c++)
		free(v[c].luns);
	free(v);
}

/* The directory node of a channel's target, created or brought back as needed; -1 when the
 * target is shown by another channel (its name in any case: RFC 3722 makes it the same
 * target). A directory is named as its channel writes the name. Write lock held. */
static int channel_dir(struct fs *fs, const struct chview *v, struct notice **nt, int *nnt,
		       int *cap)
{
	struct channel *ch = v->ch;

	for (int i = 2; i < fs->nnodes; i++) {
		struct fs_node *n = fs->nodes[i];

		if (n->parent != FUSE_ROOT_ID || !iscsi_name_equal(n->name, v->target))
			continue;
		if (!n->removed && n->owner != ch)
			return -1;
		if (n->removed && strcmp(n->name, v->target) != 0)
			continue; /* written otherwise now: a new directory of the new name */
		if (n->removed) {
			struct notice e = {.kind = N_INVAL_ENTRY, .parent = FUSE_ROOT_ID};

			n->removed = 0;
			n->owner = ch;
			snprintf(e.name, sizeof(e.name), "%s", n->name);
			add_notice(nt, nnt, cap, &e);
		}
		return i;
	}
	{
		int i = add_node(fs, FUSE_ROOT_ID, v->target, 1, NULL);
		struct notice e = {.kind = N_INVAL_ENTRY, .parent = FUSE_ROOT_ID};

		if (i < 0)
			return -1;
		fs->nodes[i]->owner = ch;
		snprintf(e.name, sizeof(e.name), "%s", v->target);
		add_notice(nt, nnt, cap, &e);
		return i;
	}
}

/* One persistent name: a link in dir to the LUN's file, unless the name is taken. */
static void ensure_link(struct fs *fs, uint64_t dir, const char *name, const char *target,
			struct lun *l, struct notice **nt, int *nnt, int *cap)
{
	int i = find_child(fs, dir, name);
	struct notice e = {.kind = N_INVAL_ENTRY, .parent = dir};

	if (i >= 0 || !name[0])
		return; /* present, or another path to the same name (the first one keeps it) */
	i = add_node(fs, dir, name, 0, NULL);
	if (i < 0)
		return;
	fs->nodes[i]->is_link = 1;
	fs->nodes[i]->link_lun = l;
	snprintf(fs->nodes[i]->link, sizeof(fs->nodes[i]->link), "%s", target);
	snprintf(e.name, sizeof(e.name), "%s", name);
	add_notice(nt, nnt, cap, &e);
}

/* by-id/<VPD identifier> and by-path/<address>:<port>-<target>-lun<N>: names that depend on
 * what the LUN is, not on the order of the configuration. Write lock held. */
static void sync_links(struct fs *fs, const struct chview *views, int nviews, struct notice **nt,
		       int *nnt, int *cap)
{
	for (int i = FIRST_DYNAMIC_INO; i < fs->nnodes; i++) {
		struct fs_node *n = fs->nodes[i];
		struct notice e = {.kind = N_DELETE};

		if (!n->is_link || n->removed || !lun_gone(n->link_lun))
			continue;
		n->removed = 1;
		e.parent = n->parent;
		e.ino = (uint64_t)i;
		snprintf(e.name, sizeof(e.name), "%s", n->name);
		add_notice(nt, nnt, cap, &e);
	}
	/* A multipath device's identifier names it, not one of its paths. */
	for (int k = 0; k < mpath_count(fs->mps); k++) {
		struct mpath_dev *d = mpath_get(fs->mps, k);
		char target[512];

		if (lun_gone(mpath_lun(d)))
			continue;
		snprintf(target, sizeof(target), "../multipath/%s", mpath_name(d));
		ensure_link(fs, BY_ID_INO, mpath_name(d), target, mpath_lun(d), nt, nnt, cap);
	}
	for (int c = 0; c < nviews; c++) {
		const struct chview *v = &views[c];

		/* The portal in use: for an iSNS channel the configured one is only "isns". */
		if (!v->target[0] || v->state == CH_STOPPED || !v->have_portal)
			continue;
		for (int k = 0; k < v->nluns; k++) {
			struct lun *l = v->luns[k];
			char target[512], name[512];

			if (lun_gone(l) || find_lun_node(fs, l) < 0)
				continue;
			snprintf(target, sizeof(target), "../%s/lun%u", v->target, l->number);
			ensure_link(fs, BY_ID_INO, l->ident, target, l, nt, nnt, cap);
			snprintf(name, sizeof(name), "%s:%u-%s-lun%u", v->host, v->port, v->target,
				 l->number);
			ensure_link(fs, BY_PATH_INO, name, target, l, nt, nnt, cap);
		}
	}
}

/* Whether a LUN of the channel is served as its own file, not as a multipath path. */
static int has_own_files(struct fs *fs, const struct chview *v)
{
	int own = 0;

	for (int i = 0; i < v->nluns && !own; i++)
		own = !lun_gone(v->luns[i]) && !mpath_of_lun(fs->mps, v->luns[i]);
	return own;
}

/* multipath/<identifier>: one file per multipath device, there while it has a path. Write
 * lock held. */
static void sync_mpath_files(struct fs *fs, struct notice **nt, int *nnt, int *cap)
{
	for (int k = 0; k < mpath_count(fs->mps); k++) {
		struct mpath_dev *d = mpath_get(fs->mps, k);
		struct lun *l = mpath_lun(d);
		int ino = find_lun_node(fs, l);
		struct notice n = {.parent = MULTIPATH_INO};

		snprintf(n.name, sizeof(n.name), "%s", mpath_name(d));
		if (ino < 0 && !lun_gone(l)) {
			ino = add_node(fs, MULTIPATH_INO, mpath_name(d), 0, l);
			if (ino < 0)
				continue;
			fs->nodes[ino]->mp = d;
			n.kind = N_INVAL_ENTRY;
		} else if (ino < 0) {
			continue;
		} else if (lun_gone(l) != fs->nodes[ino]->removed) {
			/* No path left, or one back: the same inode comes and goes. */
			fs->nodes[ino]->removed = lun_gone(l);
			n.kind = lun_gone(l) ? N_DELETE : N_INVAL_ENTRY;
			n.ino = (uint64_t)ino;
		} else if (!lun_gone(l) && fs->nodes[ino]->size_seen != lun_size(l)) {
			fs->nodes[ino]->size_seen = lun_size(l);
			n.kind = N_INVAL_INODE;
			n.ino = (uint64_t)ino;
		} else {
			continue;
		}
		add_notice(nt, nnt, cap, &n);
	}
}

/* Bring the multipath devices, then the tree, in line with the channels' LUN lists. The
 * devices are synced without fs->lock: a path that leaves is waited for until no other thread
 * (an event loop, a worker) is handing a command down it, and lookups, and the I/O that looks
 * its node up on those same threads, must not wait behind that. The kernel is told after
 * fs->lock is dropped: a notification can wait on a request that is waiting for that lock. */
static void fs_refresh(struct fs *fs)
{
	struct notice *nt = NULL;
	int nnt = 0, cap = 0;
	struct fdev *dev;
	struct chview *views;

	fs_refresh_lock(fs);
	mpath_set_sync(fs->mps, fs->chs, fs->nchs);
	views = views_get(fs->chs, fs->nchs);
	if (!views) {
		fs_refresh_unlock(fs);
		log_err("out of memory: the file tree does not follow the last change of the "
			"channels");
		return;
	}
	fs_wrlock(fs);
	for (int c = 0; c < fs->nchs; c++) {
		const struct chview *v = &views[c];
		int dir, live = 0;

		if (!v->target[0])
			continue;
		/* A target whose LUNs are all paths of multipath devices gets no directory. */
		if (find_child(fs, FUSE_ROOT_ID, v->target) < 0 && !has_own_files(fs, v))
			continue;
		dir = channel_dir(fs, v, &nt, &nnt, &cap);
		if (dir < 0)
			continue; /* not shown (the target is shown by another channel) */
		for (int i = 0; i < v->nluns; i++) {
			struct lun *l = v->luns[i];
			int ino = find_lun_node(fs, l);
			struct notice n = {0};

			if (!lun_gone(l))
				live++;
			if (ino < 0 && !lun_gone(l) && mpath_of_lun(fs->mps, l))
				continue; /* a path: served as its multipath file */
			if (ino < 0 && !lun_gone(l)) {
				snprintf(n.name, sizeof(n.name), "lun%u", l->number);
				if (find_child(fs, (uint64_t)dir, n.name) >= 0 ||
				    add_node(fs, (uint64_t)dir, n.name, 0, l) < 0)
					continue;
				n.kind = N_INVAL_ENTRY;
				n.parent = (uint64_t)dir;
			} else if (ino >= 0 && lun_gone(l) && !fs->nodes[ino]->removed) {
				fs->nodes[ino]->removed = 1;
				n.kind = N_DELETE;
				n.parent = (uint64_t)dir;
				n.ino = (uint64_t)ino;
				snprintf(n.name, sizeof(n.name), "%s", fs->nodes[ino]->name);
			} else if (ino >= 0 && !lun_gone(l) &&
				   fs->nodes[ino]->size_seen != lun_size(l)) {
				fs->nodes[ino]->size_seen = lun_size(l);
				n.kind = N_INVAL_INODE;
				n.ino = (uint64_t)ino;
			} else {
				continue;
			}
			add_notice(&nt, &nnt, &cap, &n);
		}
		/* A stopped channel's directory goes with its files. */
		if (!live && v->state == CH_STOPPED && !fs->nodes[dir]->removed) {
			struct notice n = {.kind = N_DELETE, .parent = FUSE_ROOT_ID,
					   .ino = (uint64_t)dir};

			fs->nodes[dir]->removed = 1;
			snprintf(n.name, sizeof(n.name), "%s", fs->nodes[dir]->name);
			add_notice(&nt, &nnt, &cap, &n);
		}
	}
	sync_mpath_files(fs, &nt, &nnt, &cap);
	sync_links(fs, views, fs->nchs, &nt, &nnt, &cap);
	fs->mtime = time(NULL);
	dev = fs->dev;
	fs_unlock(fs);
	views_free(views, fs->nchs);
	fs_refresh_unlock(fs);
	for (int i = 0; dev && i < nnt; i++) {
		switch (nt[i].kind) {
		case N_DELETE:
			fdev_notify_delete(dev, nt[i].parent, nt[i].ino, nt[i].name);
			break;
		case N_INVAL_ENTRY:
			fdev_notify_inval_entry(dev, nt[i].parent, nt[i].name);
			break;
		case N_INVAL_INODE:
			fdev_notify_inval_inode(dev, nt[i].ino);
			break;
		}
	}
	free(nt);
}

static void on_channel_change(void *arg)
{
	fs_refresh(arg);
}

struct fs *fs_new(void)
{
	struct fs *fs = calloc(1, sizeof(*fs));

	if (!fs)
		return NULL;
	pthread_mutex_init(&fs->refresh_lock, NULL);
	pthread_rwlock_init(&fs->lock, NULL);
	fs->mtime = time(NULL);
	fs->mps = mpath_set_new();
	if (!fs->mps || add_node(fs, 0, "", 1, NULL) < 0 || add_node(fs, 0, "", 1, NULL) < 0 ||
	    add_node(fs, FUSE_ROOT_ID, "by-id", 1, NULL) != BY_ID_INO ||
	    add_node(fs, FUSE_ROOT_ID, "by-path", 1, NULL) != BY_PATH_INO ||
	    add_node(fs, FUSE_ROOT_ID, "multipath", 1, NULL) != MULTIPATH_INO) {
		fs_free(fs);
		return NULL;
	}
	return fs;
}

int fs_set_channels(struct fs *fs, struct channel **chs, int n)
{
	struct channel **copy = calloc((size_t)(n ? n : 1), sizeof(*copy));

	if (!copy)
		return -ENOMEM;
	memcpy(copy, chs, sizeof(*copy) * (size_t)n);
	fs_refresh_lock(fs);
	free(fs->chs);
	fs->chs = copy;
	fs->nchs = n;
	fs_refresh_unlock(fs);
	for (int i = 0; i < n; i++)
		channel_set_change_callback(chs[i], on_channel_change, fs);
	fs_refresh(fs);
	return 0;
}

int fs_channel_busy(struct fs *fs, struct channel *ch, char *which, size_t len)
{
	char target[CFG_NAME_MAX];
	int busy = 0;

	channel_target_name(ch, target, sizeof(target));
	fs_rdlock(fs);
	for (int i = 2; i < fs->nnodes && !busy; i++) {
		struct fs_node *n = fs->nodes[i];

		if (!n->lun || !__atomic_load_n(&n->opens, __ATOMIC_ACQUIRE))
			continue;
		/* A multipath file lets a path go while another one is there. */
		if (n->mp && mpath_only_path(n->mp, ch)) {
			busy = 1;
			snprintf(which, len, "multipath/%s", n->name);
		}
		if (!busy && !n->mp && channel_has_lun(ch, n->lun)) {
			busy = 1;
			snprintf(which, len, "%s/%s", target, n->name);
		}
	}
	fs_unlock(fs);
	return busy;
}

void fs_channel_stopping(struct fs *fs, struct channel *ch)
{
	if (fs)
		mpath_release_channel(fs->mps, ch);
}

struct mpath_set *fs_multipath(struct fs *fs)
{
	return fs ? fs->mps : NULL;
}

void fs_set_dev(struct fs *fs, struct fdev *dev)
{
	fs_wrlock(fs);
	fs->dev = dev;
	fs_unlock(fs);
}

void fs_stop(struct fs *fs)
{
	if (fs)
		mpath_set_stop(fs->mps);
}

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	mpath_set_free(fs->mps);
	for (int i = 0; i < fs->nnodes; i++) {
		fs_gate_destroy(&fs->nodes[i]->gate);
		free(fs->nodes[i]);
	}
	free(fs->nodes);
	free(fs->chs);
	pthread_rwlock_destroy(&fs->lock);
	pthread_mutex_destroy(&fs->refresh_lock);
	free(fs);
}

struct fs_node *fs_node_of(struct fs *fs, uint64_t ino)
{
	struct fs_node *n = NULL;

	fs_rdlock(fs);
	if (ino >= FUSE_ROOT_ID && ino < (uint64_t)fs->nnodes)
		n = fs->nodes[ino];
	fs_unlock(fs);
	return n;
}

static void fill_attr(const struct fs *fs, uint64_t ino, const struct fs_node *n,
		      struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->uid = getuid();
	a->gid = getgid();
	a->mtime = a->ctime = a->atime = (uint64_t)fs->mtime;
	a->blksize = 4096;
	if (n->is_dir) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
		return;
	}
	if (n->is_link) {
		a->mode = S_IFLNK | 0777;
		a->nlink = 1;
		a->size = strlen(n->link);
		return;
	}
	a->mode = S_IFREG | (n->lun->readonly ? 0400 : 0600);
	a->nlink = 1;
	a->size = lun_size(n->lun);
	a->blksize = n->lun->block_size;
	a->blocks = a->size / 512;
}

static void reply_attr(struct freq *r, struct fs *fs, uint64_t ino, const struct fs_node *n)
{
	struct fuse_attr_out o = {.attr_valid = ATTR_TIMEOUT};

	fill_attr(fs, ino, n, &o.attr);
	freq_reply(r, &o, sizeof(o));
}

static void op_lookup(struct freq *r, uint64_t parent, const char *name)
{
	struct fs *fs = freq_fs(r);
	struct fuse_entry_out e = {.entry_valid = ATTR_TIMEOUT, .attr_valid = ATTR_TIMEOUT};
	int i;

	fs_rdlock(fs);
	i = find_child(fs, parent, name);
	if (i >= 0) {
		e.nodeid = (uint64_t)i;
		fill_attr(fs, e.nodeid, fs->nodes[i], &e.attr);
	}
	fs_unlock(fs);
	if (i < 0)
		freq_reply_err(r, ENOENT);
	else
		freq_reply(r, &e, sizeof(e));
}

static void op_getattr(struct freq *r, uint64_t ino)
{
	struct fs *fs = freq_fs(r);
	struct fs_node *n = fs_node_of(fs, ino);

	if (!n)
		freq_reply_err(r, ENOENT);
	else
		reply_attr(r, fs, ino, n);
}

/* A LUN file has the size of the LUN: truncation and time changes are accepted and change
 * nothing (as for a block device node); ownership and mode are fixed. */
static void op_setattr(struct freq *r, uint64_t ino, const struct fuse_setattr_in *in)
{
	struct fs *fs = freq_fs(r);
	struct fs_node *n = fs_node_of(fs, ino);

	if (!n)
		freq_reply_err(r, ENOENT);
	else if (in->valid & (FATTR_MODE | FATTR_UID | FATTR_GID))
		freq_reply_err(r, EPERM);
	else
		reply_attr(r, fs, ino, n);
}

/* One directory entry into buf, as the kernel reads it; 0 when it does not fit. */
static size_t add_dirent(char *buf, size_t room, const char *name, uint64_t ino, uint32_t mode,
			 uint64_t next)
{
	size_t namelen = strlen(name);
	size_t len = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + namelen);
	struct fuse_dirent *d = (struct fuse_dirent *)buf;

	if (len > room)
		return 0;
	d->ino = ino;
	d->off = next;
	d->namelen = (uint32_t)namelen;
	d->type = mode >> 12;
	memcpy(d->name, name, namelen);
	memset(d->name + namelen, 0, len - FUSE_NAME_OFFSET - namelen);
	return len;
}

static void op_readdir(struct freq *r, uint64_t ino, uint64_t off, uint32_t size)
{
	struct fs *fs = freq_fs(r);
	struct fs_node *n = fs_node_of(fs, ino);
	size_t cap, used = 0;
	char *buf = freq_buf(r, &cap);
	uint64_t idx = 0;

	if (!n || !n->is_dir) {
		freq_reply_err(r, n ? ENOTDIR : ENOENT);
		return;
	}
	if (size < cap)
		cap = size;
	/* Entries: ".", "..", then children in inode order; off is the index of the next one.
	 * Removed entries keep their index so offsets stay stable between calls. */
	fs_rdlock(fs);
	for (int i = -2; i < fs->nnodes; i++) {
		const char *name;
		uint64_t child;
		uint32_t mode;
		size_t sz;

		if (i >= 0 && (i < 2 || fs->nodes[i]->parent != ino))
			continue;
		if (i >= 0 && fs->nodes[i]->removed) {
			idx++;
			continue;
		}
		if (idx++ < off)
			continue;
		if (i == -2) {
			name = ".";
			child = ino;
			mode = S_IFDIR;
		} else if (i == -1) {
			name = "..";
			child = n->parent ? n->parent : FUSE_ROOT_ID;
			mode = S_IFDIR;
		} else {
			name = fs->nodes[i]->name;
			child = (uint64_t)i;
			mode = fs->nodes[i]->is_dir    ? S_IFDIR
			       : fs->nodes[i]->is_link ? S_IFLNK
						       : S_IFREG;
		}
		sz = add_dirent(buf + used, cap - used, name, child, mode, idx);
		if (!sz)
			break;
		used += sz;
	}
	fs_unlock(fs);
	freq_reply_data(r, buf, used);
}

static void op_readlink(struct freq *r, uint64_t ino)
{
	struct fs_node *n = fs_node_of(freq_fs(r), ino);

	if (!n || !n->is_link)
		freq_reply_err(r, n ? EINVAL : ENOENT);
	else
		freq_reply_data(r, n->link, strlen(n->link));
}

static void op_statfs(struct freq *r)
{
	struct fs *fs = freq_fs(r);
	struct fuse_statfs_out o = {0};

	o.st.bsize = 4096;
	o.st.frsize = 4096;
	o.st.files = (uint64_t)__atomic_load_n(&fs->nnodes, __ATOMIC_RELAXED);
	o.st.namelen = 255;
	freq_reply(r, &o, sizeof(o));
}

struct fdev_ops fs_dev_ops(struct fs *fs)
{
	struct fdev_ops o = {
		.lookup = op_lookup,
		.getattr = op_getattr,
		.setattr = op_setattr,
		.readlink = op_readlink,
		.readdir = op_readdir,
		.statfs = op_statfs,
		.fs = fs,
	};

	fs_io_ops(&o);
	return o;
}
