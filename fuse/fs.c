/* FUSE low-level operations over the LUNs of the started channels.
 * Files are opened with direct I/O: the kernel keeps no second page cache over the LUN, so a
 * loop device or a database above it sees the target's data, and unaligned I/O is handled
 * here with read-modify-write. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bufpool.h"
#include "fs.h"
#include "log.h"
#include "loop.h"
#include "multipath.h"
#include "objcache.h"

#define FS_MAX_IO BUFPOOL_MAX
_Static_assert(FS_MAX_IO <= FS_LOOP_MAX_WRITE, "a write request must fit loop.c's buffers");
/* Free buffers kept for reuse: a queue's worth of 128 KiB requests, bounded all the same. */
#define FS_POOL_CACHE (8 * 1024 * 1024)
/* Writes up to this size keep their data (copied, or in the request's buffer from
 * FS_TAKE_MIN on) and are answered from their completion. Larger ones wait in their FUSE
 * thread: a queue of 1 MiB writes would otherwise hold twice its size in memory, while the
 * wait costs them little next to their transfer. */
#define FS_ASYNC_WRITE_MAX (128 * 1024)
#define ATTR_TIMEOUT 1.0
/* Reads from this size on may reach the reader without a copy in this process: the data
 * goes from the socket into a pipe and from there to the FUSE device (splice). Below it, the
 * system calls cost more than the copy they save. */
#define FS_SPLICE_MIN (32 * 1024)
/* From this size on an async write keeps the request's buffer instead of a copy (smaller
 * ones would hold a 1 MiB buffer for a few pages). */
#define FS_TAKE_MIN (32 * 1024)

struct fs_node {
	fuse_ino_t parent;
	char name[256];
	int is_dir;
	int removed;       /* the LUN went away: no longer listed or found by name */
	int opens;         /* open file handles (atomic): a busy channel is not stopped */
	struct channel *owner; /* the channel whose target directory this is */
	int is_link;       /* by-id and by-path entries: symbolic links to LUN files */
	struct lun *link_lun;
	char link[512];
	uint64_t size_seen; /* size the kernel was last told about */
	struct lun *lun;      /* of a multipath file: the device's shape only */
	struct mpath_dev *mp; /* a multipath file: I/O goes through the device */
	/* The write gate: aligned writes (asynchronous: they leave it from a receive thread)
	 * share it; a read-modify-write waits for them and holds it alone, so no aligned write
	 * to the same blocks can land between its read and its write. */
	pthread_mutex_t gate_lock;
	pthread_cond_t gate_cond;
	int aligned_writes, rmw_active;
};

/* Nodes are never freed or renumbered while mounted: an inode number the kernel holds always
 * means the same LUN. The array of pointers grows under the write lock. */
struct fs {
	pthread_rwlock_t lock;
	struct fs_node **nodes; /* index = inode number; 0 unused, 1 = root */
	int nnodes, cap;
	time_t mtime;
	struct channel **chs;
	int nchs;
	struct fuse_session *se;
	struct bufpool *pool;
	struct mpath_set *mps; /* the multipath devices over the channels' LUNs */
	int splice_write;      /* the kernel takes replies from a pipe */
};

/* Write lock held. */
static int add_node(struct fs *fs, fuse_ino_t parent, const char *name, int is_dir,
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
	pthread_mutex_init(&n->gate_lock, NULL);
	pthread_cond_init(&n->gate_cond, NULL);
	fs->nodes[fs->nnodes] = n;
	return fs->nnodes++;
}

#define BY_ID_INO 2
#define BY_PATH_INO 3
#define MULTIPATH_INO 4
#define FIRST_DYNAMIC_INO 5

static int is_file(const struct fs_node *n)
{
	return !n->is_dir && !n->is_link;
}

/* Lock held (either kind). */
static int find_child(const struct fs *fs, fuse_ino_t parent, const char *name)
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
	fuse_ino_t parent, ino;
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

/* The directory node of a channel's target, created or brought back as needed; -1 when the
 * target is shown by another channel (its name in any case: RFC 3722 makes it the same
 * target). A directory is named as its channel writes the name. Write lock held. */
static int channel_dir(struct fs *fs, struct channel *ch, struct notice **nt, int *nnt, int *cap)
{
	for (int i = 2; i < fs->nnodes; i++) {
		struct fs_node *n = fs->nodes[i];

		if (n->parent != FUSE_ROOT_ID || !iscsi_name_equal(n->name, ch->target_name))
			continue;
		if (!n->removed && n->owner != ch)
			return -1;
		if (n->removed && strcmp(n->name, ch->target_name) != 0)
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
		int i = add_node(fs, FUSE_ROOT_ID, ch->target_name, 1, NULL);
		struct notice e = {.kind = N_INVAL_ENTRY, .parent = FUSE_ROOT_ID};

		if (i < 0)
			return -1;
		fs->nodes[i]->owner = ch;
		snprintf(e.name, sizeof(e.name), "%s", ch->target_name);
		add_notice(nt, nnt, cap, &e);
		return i;
	}
}

/* One persistent name: a link in dir to the LUN's file, unless the name is taken. */
static void ensure_link(struct fs *fs, fuse_ino_t dir, const char *name, const char *target,
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
static void sync_links(struct fs *fs, struct notice **nt, int *nnt, int *cap)
{
	for (int i = FIRST_DYNAMIC_INO; i < fs->nnodes; i++) {
		struct fs_node *n = fs->nodes[i];
		struct notice e = {.kind = N_DELETE};

		if (!n->is_link || n->removed || !lun_gone(n->link_lun))
			continue;
		n->removed = 1;
		e.parent = n->parent;
		e.ino = (fuse_ino_t)i;
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
	for (int c = 0; c < fs->nchs; c++) {
		struct channel *ch = fs->chs[c];
		/* The portal in use: for an iSNS channel the configured one is only "isns". */
		const struct session_portal *p = &ch->portals[0];

		if (!ch->target_name[0] || ch->state == CH_STOPPED || !p->addr)
			continue;
		pthread_mutex_lock(&ch->lock);
		for (int k = 0; k < ch->nluns; k++) {
			struct lun *l = ch->luns[k];
			char target[512], name[512];

			if (lun_gone(l) || find_lun_node(fs, l) < 0)
				continue;
			snprintf(target, sizeof(target), "../%s/lun%u", ch->target_name, l->number);
			ensure_link(fs, BY_ID_INO, l->ident, target, l, nt, nnt, cap);
			snprintf(name, sizeof(name), "%s:%u-%s-lun%u", p->addr, p->port,
				 ch->target_name, l->number);
			ensure_link(fs, BY_PATH_INO, name, target, l, nt, nnt, cap);
		}
		pthread_mutex_unlock(&ch->lock);
	}
}

/* Whether a LUN of ch is served as its own file, not as a multipath path. */
static int has_own_files(struct fs *fs, struct channel *ch)
{
	int own = 0;

	pthread_mutex_lock(&ch->lock);
	for (int i = 0; i < ch->nluns && !own; i++)
		own = !lun_gone(ch->luns[i]) && !mpath_of_lun(fs->mps, ch->luns[i]);
	pthread_mutex_unlock(&ch->lock);
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
			n.ino = (fuse_ino_t)ino;
		} else if (!lun_gone(l) && fs->nodes[ino]->size_seen != lun_size(l)) {
			fs->nodes[ino]->size_seen = lun_size(l);
			n.kind = N_INVAL_INODE;
			n.ino = (fuse_ino_t)ino;
		} else {
			continue;
		}
		add_notice(nt, nnt, cap, &n);
	}
}

/* Bring the tree in line with the channels' LUN lists. The kernel is told after the lock is
 * dropped: a notification can wait on a request that is waiting for this lock. */
static void fs_refresh(struct fs *fs)
{
	struct notice *nt = NULL;
	int nnt = 0, cap = 0;

	pthread_rwlock_wrlock(&fs->lock);
	mpath_set_sync(fs->mps, fs->chs, fs->nchs);
	for (int c = 0; c < fs->nchs; c++) {
		struct channel *ch = fs->chs[c];
		int dir, live = 0;

		if (!ch->target_name[0])
			continue;
		/* A target whose LUNs are all paths of multipath devices gets no directory. */
		if (find_child(fs, FUSE_ROOT_ID, ch->target_name) < 0 && !has_own_files(fs, ch))
			continue;
		dir = channel_dir(fs, ch, &nt, &nnt, &cap);
		if (dir < 0)
			continue; /* not shown (the target is shown by another channel) */
		pthread_mutex_lock(&ch->lock);
		for (int i = 0; i < ch->nluns; i++) {
			struct lun *l = ch->luns[i];
			int ino = find_lun_node(fs, l);
			struct notice n = {0};

			if (!lun_gone(l))
				live++;
			if (ino < 0 && !lun_gone(l) && mpath_of_lun(fs->mps, l))
				continue; /* a path: served as its multipath file */
			if (ino < 0 && !lun_gone(l)) {
				snprintf(n.name, sizeof(n.name), "lun%u", l->number);
				if (find_child(fs, (fuse_ino_t)dir, n.name) >= 0 ||
				    add_node(fs, (fuse_ino_t)dir, n.name, 0, l) < 0)
					continue;
				n.kind = N_INVAL_ENTRY;
				n.parent = (fuse_ino_t)dir;
			} else if (ino >= 0 && lun_gone(l) && !fs->nodes[ino]->removed) {
				fs->nodes[ino]->removed = 1;
				n.kind = N_DELETE;
				n.parent = (fuse_ino_t)dir;
				n.ino = (fuse_ino_t)ino;
				snprintf(n.name, sizeof(n.name), "%s", fs->nodes[ino]->name);
			} else if (ino >= 0 && !lun_gone(l) &&
				   fs->nodes[ino]->size_seen != lun_size(l)) {
				fs->nodes[ino]->size_seen = lun_size(l);
				n.kind = N_INVAL_INODE;
				n.ino = (fuse_ino_t)ino;
			} else {
				continue;
			}
			add_notice(&nt, &nnt, &cap, &n);
		}
		pthread_mutex_unlock(&ch->lock);
		/* A stopped channel's directory goes with its files. */
		if (!live && ch->state == CH_STOPPED && !fs->nodes[dir]->removed) {
			struct notice n = {.kind = N_DELETE, .parent = FUSE_ROOT_ID,
					   .ino = (fuse_ino_t)dir};

			fs->nodes[dir]->removed = 1;
			snprintf(n.name, sizeof(n.name), "%s", fs->nodes[dir]->name);
			add_notice(&nt, &nnt, &cap, &n);
		}
	}
	sync_mpath_files(fs, &nt, &nnt, &cap);
	sync_links(fs, &nt, &nnt, &cap);
	fs->mtime = time(NULL);
	pthread_rwlock_unlock(&fs->lock);
	for (int i = 0; fs->se && i < nnt; i++) {
		switch (nt[i].kind) {
		case N_DELETE:
			fuse_lowlevel_notify_delete(fs->se, nt[i].parent, nt[i].ino, nt[i].name,
						    strlen(nt[i].name));
			break;
		case N_INVAL_ENTRY:
			fuse_lowlevel_notify_inval_entry(fs->se, nt[i].parent, nt[i].name,
							 strlen(nt[i].name));
			break;
		case N_INVAL_INODE:
			fuse_lowlevel_notify_inval_inode(fs->se, nt[i].ino, 0, 0);
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
	pthread_rwlock_init(&fs->lock, NULL);
	fs->mtime = time(NULL);
	fs->pool = bufpool_new(FS_POOL_CACHE);
	fs->mps = mpath_set_new();
	if (!fs->pool || !fs->mps || add_node(fs, 0, "", 1, NULL) < 0 ||
	    add_node(fs, 0, "", 1, NULL) < 0 ||
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
	pthread_rwlock_wrlock(&fs->lock);
	free(fs->chs);
	fs->chs = copy;
	fs->nchs = n;
	pthread_rwlock_unlock(&fs->lock);
	for (int i = 0; i < n; i++)
		channel_set_change_callback(chs[i], on_channel_change, fs);
	fs_refresh(fs);
	return 0;
}

int fs_channel_busy(struct fs *fs, struct channel *ch, char *which, size_t len)
{
	int busy = 0;

	pthread_rwlock_rdlock(&fs->lock);
	pthread_mutex_lock(&ch->lock);
	for (int i = 2; i < fs->nnodes && !busy; i++) {
		struct fs_node *n = fs->nodes[i];

		if (!n->lun || !__atomic_load_n(&n->opens, __ATOMIC_ACQUIRE))
			continue;
		/* A multipath file lets a path go while another one is there. */
		if (n->mp && mpath_only_path(n->mp, ch)) {
			busy = 1;
			snprintf(which, len, "multipath/%s", n->name);
		}
		for (int k = 0; k < ch->nluns && !busy && !n->mp; k++)
			if (ch->luns[k] == n->lun) {
				busy = 1;
				snprintf(which, len, "%s/%s", ch->target_name, n->name);
			}
	}
	pthread_mutex_unlock(&ch->lock);
	pthread_rwlock_unlock(&fs->lock);
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

void fs_set_session(struct fs *fs, struct fuse_session *se)
{
	pthread_rwlock_wrlock(&fs->lock);
	fs->se = se;
	pthread_rwlock_unlock(&fs->lock);
}

static void drain_req_caches(void);

void fs_free(struct fs *fs)
{
	if (!fs)
		return;
	mpath_set_free(fs->mps);
	for (int i = 0; i < fs->nnodes; i++) {
		pthread_mutex_destroy(&fs->nodes[i]->gate_lock);
		pthread_cond_destroy(&fs->nodes[i]->gate_cond);
		free(fs->nodes[i]);
	}
	free(fs->nodes);
	free(fs->chs);
	bufpool_free(fs->pool);
	drain_req_caches();
	pthread_rwlock_destroy(&fs->lock);
	free(fs);
}

static struct fs *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

static struct fs_node *node_of(struct fs *fs, fuse_ino_t ino)
{
	struct fs_node *n = NULL;

	pthread_rwlock_rdlock(&fs->lock);
	if (ino >= FUSE_ROOT_ID && ino < (fuse_ino_t)fs->nnodes)
		n = fs->nodes[ino];
	pthread_rwlock_unlock(&fs->lock);
	return n;
}

static void fill_attr(const struct fs *fs, fuse_ino_t ino, const struct fs_node *n,
		      struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_mtime = st->st_ctime = st->st_atime = fs->mtime;
	if (n->is_dir) {
		st->st_mode = S_IFDIR | 0755;
		st->st_nlink = 2;
		return;
	}
	if (n->is_link) {
		st->st_mode = S_IFLNK | 0777;
		st->st_nlink = 1;
		st->st_size = (off_t)strlen(n->link);
		return;
	}
	st->st_mode = S_IFREG | (n->lun->readonly ? 0400 : 0600);
	st->st_nlink = 1;
	st->st_size = (off_t)lun_size(n->lun);
	st->st_blksize = n->lun->block_size;
	st->st_blocks = st->st_size / 512;
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct fs *fs = userdata;

	/* Large requests and many of them in flight: the kernel's defaults (128 KiB, 12
	 * background requests) starve a remote LUN. */
	conn->max_write = FS_MAX_IO;
	conn->max_background = 128;
	conn->congestion_threshold = 96;
	conn->want &= ~(unsigned)(FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE);
	/* Only fuse_reply_data splices, and only read_take calls it. */
	if (conn->capable & FUSE_CAP_SPLICE_WRITE) {
		conn->want |= FUSE_CAP_SPLICE_WRITE;
		fs->splice_write = 1;
	}
	if (conn->capable & FUSE_CAP_ASYNC_DIO)
		conn->want |= FUSE_CAP_ASYNC_DIO;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs *fs = fs_of(req);
	struct fuse_entry_param e;
	int i;

	memset(&e, 0, sizeof(e));
	pthread_rwlock_rdlock(&fs->lock);
	i = find_child(fs, parent, name);
	if (i >= 0) {
		e.ino = (fuse_ino_t)i;
		e.attr_timeout = ATTR_TIMEOUT;
		e.entry_timeout = ATTR_TIMEOUT;
		fill_attr(fs, e.ino, fs->nodes[i], &e.attr);
	}
	pthread_rwlock_unlock(&fs->lock);
	if (i < 0)
		fuse_reply_err(req, ENOENT);
	else
		fuse_reply_entry(req, &e);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(fs, ino);
	struct stat st;

	(void)fi;
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	fill_attr(fs, ino, n, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

/* A LUN file has the size of the LUN: truncation and time changes are accepted and change
 * nothing (as for a block device node); ownership and mode are fixed. */
static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(fs, ino);
	struct stat st;

	(void)attr;
	(void)fi;
	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (to_set & (FUSE_SET_ATTR_MODE | FUSE_SET_ATTR_UID | FUSE_SET_ATTR_GID)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	fill_attr(fs, ino, n, &st);
	fuse_reply_attr(req, &st, ATTR_TIMEOUT);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	struct fs *fs = fs_of(req);
	struct fs_node *n = node_of(fs, ino);
	char *buf;
	size_t used = 0;
	off_t idx = 0;

	(void)fi;
	if (!n || !n->is_dir) {
		fuse_reply_err(req, n ? ENOTDIR : ENOENT);
		return;
	}
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* Entries: ".", "..", then children in inode order; off is the index of the next one.
	 * Removed entries keep their index so offsets stay stable between calls. */
	pthread_rwlock_rdlock(&fs->lock);
	for (int i = -2; i < fs->nnodes; i++) {
		struct stat st = {0};
		const char *name;
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
			st.st_ino = ino;
			st.st_mode = S_IFDIR;
		} else if (i == -1) {
			name = "..";
			st.st_ino = n->parent ? n->parent : FUSE_ROOT_ID;
			st.st_mode = S_IFDIR;
		} else {
			name = fs->nodes[i]->name;
			st.st_ino = (ino_t)i;
			st.st_mode = fs->nodes[i]->is_dir    ? S_IFDIR
				     : fs->nodes[i]->is_link ? S_IFLNK
							     : S_IFREG;
		}
		sz = fuse_add_direntry(req, buf + used, size - used, name, &st, idx);
		if (sz > size - used)
			break;
		used += sz;
	}
	pthread_rwlock_unlock(&fs->lock);
	fuse_reply_buf(req, buf, used);
	free(buf);
}

/* The open reply as the kernel reads it (struct fuse_open_out of <linux/fuse.h>), written
 * here because libfuse 3.14's fuse_file_info has no bit for FOPEN_PARALLEL_DIRECT_WRITES:
 * without it the kernel holds the inode's lock across each direct write, so the synchronous
 * writes of several threads or processes reach the daemon one at a time. NOFLUSH spares
 * each close() the FLUSH request (op_flush has nothing to do). Kernels before 6.0 and 5.16
 * ignore the two flags. */
#define OPEN_DIRECT_IO (1u << 0)
#define OPEN_NOFLUSH (1u << 5)
#define OPEN_PARALLEL_DIRECT_WRITES (1u << 6)
struct open_reply {
	uint64_t fh;
	uint32_t open_flags;
	int32_t unused;
};
_Static_assert(sizeof(struct open_reply) == 16, "the kernel's fuse_open_out is 16 bytes");

static int reply_open_direct(fuse_req_t req, const struct fuse_file_info *fi)
{
	struct open_reply o = {.fh = fi->fh,
			       .open_flags = OPEN_DIRECT_IO | OPEN_NOFLUSH |
					     OPEN_PARALLEL_DIRECT_WRITES};

	return fuse_reply_buf(req, (const char *)&o, sizeof(o));
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_node *n = node_of(fs_of(req), ino);

	if (!n) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (n->is_dir) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (n->is_link) {
		fuse_reply_err(req, ELOOP);
		return;
	}
	if (n->removed) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (n->lun->readonly && (fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	__atomic_add_fetch(&n->opens, 1, __ATOMIC_ACQ_REL);
	if (reply_open_direct(req, fi) != 0)
		__atomic_sub_fetch(&n->opens, 1, __ATOMIC_ACQ_REL); /* the opener is gone */
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_node *n = node_of(fs_of(req), ino);

	(void)fi;
	if (n && is_file(n))
		__atomic_sub_fetch(&n->opens, 1, __ATOMIC_ACQ_REL);
	fuse_reply_err(req, 0);
}

/* A LUN file's I/O goes to its LUN, a multipath file's to its device. */
static void node_io_async(struct fs_node *n, int write, uint64_t lba, uint32_t nblocks, void *buf,
			  lun_io_cb cb, void *arg)
{
	if (n->mp)
		mpath_io_async(n->mp, write, lba, nblocks, buf, cb, arg);
	else
		lun_io_async(n->lun, write, lba, nblocks, buf, cb, arg);
}

static int node_io(struct fs_node *n, int write, uint64_t lba, uint32_t nblocks, void *buf)
{
	return n->mp ? mpath_io(n->mp, write, lba, nblocks, buf)
		     : lun_io(n->lun, write, lba, nblocks, buf);
}

static void gate_enter_aligned(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate_lock);
	if (n->rmw_active) {
		/* About to wait: not under the gate's lock, since fs_loop_blocking writes the
		 * commands this thread held back to their sockets, and a receive thread needs the
		 * lock to complete a write (gate_leave_aligned). */
		pthread_mutex_unlock(&n->gate_lock);
		fs_loop_blocking();
		pthread_mutex_lock(&n->gate_lock);
	}
	while (n->rmw_active)
		pthread_cond_wait(&n->gate_cond, &n->gate_lock);
	n->aligned_writes++;
	pthread_mutex_unlock(&n->gate_lock);
}

/* From any thread: the write it was entered for has completed. */
static void gate_leave_aligned(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate_lock);
	if (--n->aligned_writes == 0 && n->rmw_active)
		pthread_cond_broadcast(&n->gate_cond);
	pthread_mutex_unlock(&n->gate_lock);
}

/* Alone: later aligned writes wait, earlier ones are waited for. */
static void gate_enter_rmw(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate_lock);
	while (n->rmw_active)
		pthread_cond_wait(&n->gate_cond, &n->gate_lock);
	n->rmw_active = 1;
	while (n->aligned_writes)
		pthread_cond_wait(&n->gate_cond, &n->gate_lock);
	pthread_mutex_unlock(&n->gate_lock);
}

static void gate_leave_rmw(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate_lock);
	n->rmw_active = 0;
	pthread_cond_broadcast(&n->gate_cond);
	pthread_mutex_unlock(&n->gate_lock);
}

struct read_req {
	fuse_req_t req;
	struct bufpool *pool;
	char *buf;
	size_t size;      /* of buf */
	size_t skip, len; /* the part of buf the caller asked for */
};

static struct objcache read_reqs = OBJCACHE_INIT(sizeof(struct read_req), 256);

static void read_req_free(struct read_req *rr)
{
	bufpool_put(rr->pool, rr->buf, rr->size);
	objcache_put(&read_reqs, rr);
}

static void read_done(void *arg, int result)
{
	struct read_req *rr = arg;

	if (result)
		fuse_reply_err(rr->req, -result);
	else
		fuse_reply_buf(rr->req, rr->buf + rr->skip, rr->len);
	read_req_free(rr);
}

/* The data of a whole-block read, in a pipe on the receive thread: the kernel moves it to
 * the reader's pages (one copy, in the FUSE device) instead of a recv and a writev. */
static void read_take(void *arg, int fd, size_t len)
{
	struct read_req *rr = arg;
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(len);

	bv.buf[0].flags = FUSE_BUF_IS_FD;
	bv.buf[0].fd = fd;
	fuse_reply_data(rr->req, &bv, 0);
	read_req_free(rr);
}

/* Clamp [off, off+size) to the LUN; 0 means nothing to do. */
static size_t clamp(const struct lun *l, off_t off, size_t size)
{
	uint64_t end = lun_size(l);

	if (off < 0 || (uint64_t)off >= end)
		return 0;
	if (size > end - (uint64_t)off)
		size = (size_t)(end - (uint64_t)off);
	return size;
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fs_node *n = node_of(fs_of(req), ino);
	struct read_req *rr;
	struct lun *l;
	uint64_t start, end;

	(void)fi;
	if (!n || !is_file(n)) {
		fuse_reply_err(req, !n ? ENOENT : n->is_dir ? EISDIR : EINVAL);
		return;
	}
	l = n->lun;
	size = clamp(l, off, size);
	if (!size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	/* Whole blocks around the request; the data lands in this buffer straight off the
	 * socket, and the reply is sent from the receive thread. */
	start = (uint64_t)off / l->block_size * l->block_size;
	end = ((uint64_t)off + size + l->block_size - 1) / l->block_size * l->block_size;
	rr = objcache_get(&read_reqs);
	if (!rr || !(rr->buf = bufpool_get(fs_of(req)->pool, end - start))) {
		objcache_put(&read_reqs, rr);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	rr->pool = fs_of(req)->pool;
	rr->size = end - start;
	rr->req = req;
	rr->skip = (size_t)((uint64_t)off - start);
	rr->len = size;
	if (!n->mp && fs_of(req)->splice_write && !rr->skip && rr->len == rr->size &&
	    rr->len >= FS_SPLICE_MIN)
		lun_read_async_pipe(l, start / l->block_size,
				    (uint32_t)((end - start) / l->block_size), rr->buf, read_done,
				    read_take, rr);
	else
		node_io_async(n, 0, start / l->block_size,
			      (uint32_t)((end - start) / l->block_size), rr->buf, read_done, rr);
}

/* A write that does not cover whole blocks: read the blocks around it, patch, write back. */
static int write_rmw(struct fs_node *n, const char *buf, size_t size, off_t off)
{
	const struct lun *l = n->lun;
	uint64_t start = (uint64_t)off / l->block_size * l->block_size;
	uint64_t end = ((uint64_t)off + size + l->block_size - 1) / l->block_size * l->block_size;
	uint32_t nblocks = (uint32_t)((end - start) / l->block_size);
	char *b = malloc(end - start);
	int r;

	if (!b)
		return -ENOMEM;
	r = node_io(n, 0, start / l->block_size, nblocks, b);
	if (!r) {
		memcpy(b + ((uint64_t)off - start), buf, size);
		r = node_io(n, 1, start / l->block_size, nblocks, b);
	}
	free(b);
	return r;
}

struct write_req {
	fuse_req_t req;
	struct fs_node *n;
	struct bufpool *pool;
	void *buf;  /* a copy of the data, or the data in rbuf */
	struct fs_rbuf *rbuf; /* the buffer the request was read into, taken over */
	size_t len;
};

static struct objcache write_reqs = OBJCACHE_INIT(sizeof(struct write_req), 256);

static void drain_req_caches(void)
{
	objcache_drain(&read_reqs);
	objcache_drain(&write_reqs);
}

static void write_done(void *arg, int result)
{
	struct write_req *wr = arg;

	gate_leave_aligned(wr->n);
	if (result)
		fuse_reply_err(wr->req, -result);
	else
		fuse_reply_write(wr->req, wr->len);
	if (wr->rbuf)
		fs_loop_put(wr->rbuf);
	else
		bufpool_put(wr->pool, wr->buf, wr->len);
	objcache_put(&write_reqs, wr);
}

/* Up to FS_ASYNC_WRITE_MAX: keep the data (from FS_TAKE_MIN on, the very buffer the request
 * was read into; below, a copy) and answer from the completion, so the FUSE thread is free at
 * once and no thread waits per command. Larger writes, or when no buffer can be had: send
 * from the request's buffer and wait. */
static void write_aligned(fuse_req_t req, struct fs_node *n, const char *buf, size_t len,
			  off_t off)
{
	struct fs *fs = fs_of(req);
	struct lun *l = n->lun;
	struct write_req *wr = len <= FS_ASYNC_WRITE_MAX ? objcache_get(&write_reqs) : NULL;
	int r;

	if (wr) {
		wr->rbuf = len >= FS_TAKE_MIN ? fs_loop_take(buf, len) : NULL;
		wr->buf = wr->rbuf ? (void *)buf : bufpool_get(fs->pool, len);
		if (wr->buf && !wr->rbuf)
			memcpy(wr->buf, buf, len);
	}
	if (wr && wr->buf) {
		wr->req = req;
		wr->n = n;
		wr->pool = fs->pool;
		wr->len = len;
		gate_enter_aligned(n);
		node_io_async(n, 1, (uint64_t)off / l->block_size, (uint32_t)(len / l->block_size),
			      wr->buf, write_done, wr);
		return;
	}
	objcache_put(&write_reqs, wr);
	fs_loop_blocking();
	gate_enter_aligned(n);
	r = node_io(n, 1, (uint64_t)off / l->block_size, (uint32_t)(len / l->block_size),
		    (void *)buf);
	gate_leave_aligned(n);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, len);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs_node *n = node_of(fs_of(req), ino);
	struct lun *l;
	size_t len;
	int r;

	(void)fi;
	if (!n || !is_file(n)) {
		fuse_reply_err(req, !n ? ENOENT : n->is_dir ? EISDIR : EINVAL);
		return;
	}
	l = n->lun;
	len = clamp(l, off, size);
	if (!len) {
		fuse_reply_err(req, size ? ENOSPC : 0);
		return;
	}
	if ((uint64_t)off % l->block_size == 0 && len % l->block_size == 0) {
		write_aligned(req, n, buf, len, off);
		return;
	}
	fs_loop_blocking();
	gate_enter_rmw(n);
	r = write_rmw(n, buf, len, off);
	gate_leave_rmw(n);
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_write(req, len);
}

/* Zero [off, off+len) inside one block range with read-modify-write. Gate held alone. */
static int zero_range(struct fs_node *n, off_t off, size_t len)
{
	char *z;
	int r;

	if (!len)
		return 0;
	z = calloc(1, len);
	if (!z)
		return -ENOMEM;
	r = write_rmw(n, z, len, off);
	free(z);
	return r;
}

/* PUNCH_HOLE becomes UNMAP for the whole blocks and zeroes for the partial ones at the
 * edges; plain allocation inside the LUN has nothing to do. */
static void op_fallocate(fuse_req_t req, fuse_ino_t ino, int mode, off_t off, off_t length,
			 struct fuse_file_info *fi)
{
	struct fs_node *n = node_of(fs_of(req), ino);
	struct lun *l;
	uint64_t start, end, first, last;
	size_t len;
	int r;

	(void)fi;
	if (!n || !is_file(n)) {
		fuse_reply_err(req, !n ? ENOENT : n->is_dir ? EISDIR : EINVAL);
		return;
	}
	l = n->lun;
	if (mode == 0) {
		fuse_reply_err(req, (uint64_t)off + (uint64_t)length <= lun_size(l) ? 0 : ENOSPC);
		return;
	}
	if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) || !l->unmap) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	len = clamp(l, off, (size_t)length);
	if (!len) {
		fuse_reply_err(req, 0);
		return;
	}
	start = (uint64_t)off;
	end = start + len;
	first = (start + l->block_size - 1) / l->block_size;
	last = end / l->block_size;
	gate_enter_rmw(n);
	if (first >= last) {
		r = zero_range(n, off, len); /* within one block */
	} else {
		r = zero_range(n, off, (size_t)(first * l->block_size - start));
		if (!r)
			r = zero_range(n, (off_t)(last * l->block_size), (size_t)(end - last * l->block_size));
		if (!r)
			r = n->mp ? mpath_unmap(n->mp, first, last - first)
				  : lun_unmap(l, first, last - first);
	}
	gate_leave_rmw(n);
	fuse_reply_err(req, r ? -r : 0);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct fs_node *n = node_of(fs_of(req), ino);

	if (!n || !n->is_link)
		fuse_reply_err(req, n ? EINVAL : ENOENT);
	else
		fuse_reply_readlink(req, n->link);
}

static void op_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs_node *n = node_of(fs_of(req), ino);
	int r;

	(void)datasync;
	(void)fi;
	if (!n || !is_file(n)) {
		fuse_reply_err(req, 0);
		return;
	}
	/* Every write was acknowledged by the target before it was acknowledged here; what is
	 * left is the target's own cache. */
	r = n->mp ? mpath_sync_cache(n->mp) : lun_sync_cache(n->lun);
	fuse_reply_err(req, r ? -r : 0);
}

static void op_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct fs *fs = fs_of(req);
	struct statvfs sv = {0};

	(void)ino;
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_files = (fsfilcnt_t)__atomic_load_n(&fs->nnodes, __ATOMIC_RELAXED);
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readdir = op_readdir,
	.readlink = op_readlink,
	.open = op_open,
	.release = op_release,
	.read = op_read,
	.write = op_write,
	.fsync = op_fsync,
	.fallocate = op_fallocate,
	.flush = op_flush,
	.statfs = op_statfs,
};

const struct fuse_lowlevel_ops *fs_ops(void)
{
	return &ops;
}
