/* The I/O path of the LUN and multipath files: open, read, write, fsync, fallocate.
 * Files are opened with direct I/O: the kernel keeps no second page cache over the LUN, so a
 * loop device or a database above it sees the target's data, and unaligned I/O is handled
 * here with read-modify-write. Requests arrive on event loops: reads and aligned writes go
 * to the target at once and are answered from their completion; what has to wait (a
 * read-modify-write, a cache flush) is handed to a worker thread. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fs_int.h"
#include "workq.h"

/* Direct I/O (no page cache over the LUN), no FLUSH at each close (nothing to do), and
 * direct writes of several threads at once (without it the kernel holds the inode's lock
 * across each direct write, so the synchronous writes of several threads reach the daemon
 * one at a time). */
static void op_open(struct freq *r, uint64_t ino, uint32_t flags)
{
	struct fs_node *n = fs_node_of(freq_fs(r), ino);
	struct fuse_open_out o = {.open_flags = FOPEN_DIRECT_IO | FOPEN_NOFLUSH |
						FOPEN_PARALLEL_DIRECT_WRITES};

	if (!n)
		freq_reply_err(r, ENOENT);
	else if (n->is_dir)
		freq_reply_err(r, EISDIR);
	else if (n->is_link)
		freq_reply_err(r, ELOOP);
	else if (n->removed)
		freq_reply_err(r, ENXIO);
	else if (n->lun->readonly && (flags & O_ACCMODE) != O_RDONLY)
		freq_reply_err(r, EROFS);
	else {
		__atomic_add_fetch(&n->opens, 1, __ATOMIC_ACQ_REL);
		if (freq_reply(r, &o, sizeof(o)) != 0)
			__atomic_sub_fetch(&n->opens, 1, __ATOMIC_ACQ_REL); /* the opener is gone */
	}
}

static void op_release(struct freq *r, uint64_t ino)
{
	struct fs_node *n = fs_node_of(freq_fs(r), ino);

	if (n && fs_node_is_file(n))
		__atomic_sub_fetch(&n->opens, 1, __ATOMIC_ACQ_REL);
	freq_reply_err(r, 0);
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

void fs_gate_init(struct fs_gate *g)
{
	pthread_mutex_init(&g->lock, NULL);
	pthread_cond_init(&g->cond, NULL);
}

void fs_gate_destroy(struct fs_gate *g)
{
	pthread_mutex_destroy(&g->lock);
	pthread_cond_destroy(&g->cond);
}

/* The write gate (fs_int.h). On a loop, an aligned write that finds a read-modify-write under
 * way goes to a worker. */
static int gate_try_aligned(struct fs_node *n)
{
	int ok;

	pthread_mutex_lock(&n->gate.lock);
	ok = !n->gate.rmw_active;
	if (ok)
		n->gate.aligned_writes++;
	pthread_mutex_unlock(&n->gate.lock);
	return ok;
}

static void gate_enter_aligned(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate.lock);
	while (n->gate.rmw_active)
		pthread_cond_wait(&n->gate.cond, &n->gate.lock);
	n->gate.aligned_writes++;
	pthread_mutex_unlock(&n->gate.lock);
}

/* From any thread: the write it was entered for has completed. */
static void gate_leave_aligned(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate.lock);
	if (--n->gate.aligned_writes == 0 && n->gate.rmw_active)
		pthread_cond_broadcast(&n->gate.cond);
	pthread_mutex_unlock(&n->gate.lock);
}

/* Alone: later aligned writes wait, earlier ones are waited for. */
static void gate_enter_rmw(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate.lock);
	while (n->gate.rmw_active)
		pthread_cond_wait(&n->gate.cond, &n->gate.lock);
	n->gate.rmw_active = 1;
	while (n->gate.aligned_writes)
		pthread_cond_wait(&n->gate.cond, &n->gate.lock);
	pthread_mutex_unlock(&n->gate.lock);
}

static void gate_leave_rmw(struct fs_node *n)
{
	pthread_mutex_lock(&n->gate.lock);
	n->gate.rmw_active = 0;
	pthread_cond_broadcast(&n->gate.cond);
	pthread_mutex_unlock(&n->gate.lock);
}

/* The state of a request in flight, in its scratch area. */
struct io_state {
	struct work work; /* for a worker, when it has to wait */
	struct freq *r;
	struct fs_node *n;
	char *buf;        /* read: the blocks around the request */
	int own_buf;      /* buf was allocated for it (blocks larger than freq_buf holds) */
	size_t skip, len; /* read: the part of buf asked for; write: the length */
	const char *data; /* write: the data, in the request */
	uint64_t off;
	uint64_t len64;   /* fallocate */
	uint32_t mode;
};
_Static_assert(sizeof(struct io_state) <= FDEV_SCRATCH, "the state fits the request's scratch");

static struct io_state *io_state(struct freq *r, struct fs_node *n)
{
	struct io_state *st = freq_scratch(r);

	memset(st, 0, sizeof(*st));
	st->r = r;
	st->n = n;
	return st;
}

/* Clamp [off, off+size) to the LUN; 0 means nothing to do. */
static size_t clamp(const struct lun *l, uint64_t off, size_t size)
{
	uint64_t end = lun_size(l);

	if (off >= end)
		return 0;
	if (size > end - off)
		size = (size_t)(end - off);
	return size;
}

/* Hand a request that must wait to a worker; without one it is answered EIO. */
static void to_worker(struct io_state *st, void (*fn)(struct work *w))
{
	st->work.fn = fn;
	if (workq_run(&st->work) < 0)
		freq_reply_err(st->r, EIO);
}

static void read_done(void *arg, int result)
{
	struct io_state *st = arg; /* in the request: gone with the answer */
	char *own = st->own_buf ? st->buf : NULL;

	if (result)
		freq_reply_err(st->r, -result);
	else
		freq_reply_data(st->r, st->buf + st->skip, st->len);
	free(own);
}

static void op_read(struct freq *r, uint64_t ino, uint64_t off, uint32_t size)
{
	struct fs_node *n = fs_node_of(freq_fs(r), ino);
	struct io_state *st;
	struct lun *l;
	uint64_t start, end;
	size_t cap, len;

	if (!n || !fs_node_is_file(n)) {
		freq_reply_err(r, !n ? ENOENT : n->is_dir ? EISDIR : EINVAL);
		return;
	}
	l = n->lun;
	len = clamp(l, off, size);
	if (!len) {
		freq_reply_data(r, NULL, 0);
		return;
	}
	/* Whole blocks around the request; the data lands in the request's buffer straight
	 * off the socket, and is answered from there. */
	start = off / l->block_size * l->block_size;
	end = (off + len + l->block_size - 1) / l->block_size * l->block_size;
	st = io_state(r, n);
	st->buf = freq_buf(r, &cap);
	if (end - start > cap) {
		st->buf = malloc(end - start);
		st->own_buf = 1;
		if (!st->buf) {
			freq_reply_err(r, ENOMEM);
			return;
		}
	}
	st->skip = (size_t)(off - start);
	st->len = len;
	node_io_async(n, 0, start / l->block_size, (uint32_t)((end - start) / l->block_size),
		      st->buf, read_done, st);
}

/* A write that does not cover whole blocks: read the blocks around it, patch, write back.
 * On a worker. */
static int write_rmw(struct fs_node *n, const char *buf, size_t size, uint64_t off)
{
	const struct lun *l = n->lun;
	uint64_t start = off / l->block_size * l->block_size;
	uint64_t end = (off + size + l->block_size - 1) / l->block_size * l->block_size;
	uint32_t nblocks = (uint32_t)((end - start) / l->block_size);
	char *b = malloc(end - start);
	int r;

	if (!b)
		return -ENOMEM;
	r = node_io(n, 0, start / l->block_size, nblocks, b);
	if (!r) {
		memcpy(b + (off - start), buf, size);
		r = node_io(n, 1, start / l->block_size, nblocks, b);
	}
	free(b);
	return r;
}

static void reply_write(struct freq *r, int result, size_t len)
{
	struct fuse_write_out o = {.size = (uint32_t)len};

	if (result)
		freq_reply_err(r, -result);
	else
		freq_reply(r, &o, sizeof(o));
}

static void write_done(void *arg, int result)
{
	struct io_state *st = arg;

	gate_leave_aligned(st->n);
	reply_write(st->r, result, st->len);
}

static void rmw_work(struct work *w)
{
	struct io_state *st = (struct io_state *)w;
	int r;

	gate_enter_rmw(st->n);
	r = write_rmw(st->n, st->data, st->len, st->off);
	gate_leave_rmw(st->n);
	reply_write(st->r, r, st->len);
}

/* An aligned write that found a read-modify-write under way: it waits on a worker. */
static void aligned_work(struct work *w)
{
	struct io_state *st = (struct io_state *)w;
	const struct lun *l = st->n->lun;
	int r;

	gate_enter_aligned(st->n);
	r = node_io(st->n, 1, st->off / l->block_size, (uint32_t)(st->len / l->block_size),
		    (void *)st->data);
	gate_leave_aligned(st->n);
	reply_write(st->r, r, st->len);
}

/* The data stays in the request's buffer until the target has it: nothing is copied. */
static void op_write(struct freq *r, uint64_t ino, uint64_t off, const void *data, uint32_t size)
{
	struct fs_node *n = fs_node_of(freq_fs(r), ino);
	struct io_state *st;
	struct lun *l;
	size_t len;

	if (!n || !fs_node_is_file(n)) {
		freq_reply_err(r, !n ? ENOENT : n->is_dir ? EISDIR : EINVAL);
		return;
	}
	l = n->lun;
	len = clamp(l, off, size);
	if (!len) {
		freq_reply_err(r, size ? ENOSPC : 0);
		return;
	}
	st = io_state(r, n);
	st->data = data;
	st->len = len;
	st->off = off;
	if (off % l->block_size || len % l->block_size) {
		to_worker(st, rmw_work);
		return;
	}
	if (!gate_try_aligned(n)) {
		to_worker(st, aligned_work);
		return;
	}
	node_io_async(n, 1, off / l->block_size, (uint32_t)(len / l->block_size), (void *)data,
		      write_done, st);
}

/* Zero [off, off+len) inside one block range with read-modify-write. Gate held alone. */
static int zero_range(struct fs_node *n, uint64_t off, size_t len)
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
 * edges. On a worker. */
static void punch_work(struct work *w)
{
	struct io_state *st = (struct io_state *)w;
	struct fs_node *n = st->n;
	struct lun *l = n->lun;
	uint64_t start = st->off, end = st->off + st->len64;
	uint64_t first = (start + l->block_size - 1) / l->block_size, last = end / l->block_size;
	int r;

	gate_enter_rmw(n);
	if (first >= last) {
		r = zero_range(n, start, (size_t)(end - start)); /* within one block */
	} else {
		r = zero_range(n, start, (size_t)(first * l->block_size - start));
		if (!r)
			r = zero_range(n, last * l->block_size, (size_t)(end - last * l->block_size));
		if (!r)
			r = n->mp ? mpath_unmap(n->mp, first, last - first)
				  : lun_unmap(l, first, last - first);
	}
	gate_leave_rmw(n);
	freq_reply_err(st->r, r ? -r : 0);
}

/* Plain allocation inside the LUN has nothing to do. */
static void op_fallocate(struct freq *r, uint64_t ino, uint64_t off, uint64_t length,
			 uint32_t mode)
{
	struct fs_node *n = fs_node_of(freq_fs(r), ino);
	struct io_state *st;
	struct lun *l;
	size_t len;

	if (!n || !fs_node_is_file(n)) {
		freq_reply_err(r, !n ? ENOENT : n->is_dir ? EISDIR : EINVAL);
		return;
	}
	l = n->lun;
	if (mode == 0) {
		freq_reply_err(r, off + length <= lun_size(l) ? 0 : ENOSPC);
		return;
	}
	if (mode != (FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE) || !l->unmap) {
		freq_reply_err(r, EOPNOTSUPP);
		return;
	}
	len = clamp(l, off, length > SIZE_MAX ? SIZE_MAX : (size_t)length);
	if (!len) {
		freq_reply_err(r, 0);
		return;
	}
	st = io_state(r, n);
	st->off = off;
	st->len64 = len;
	to_worker(st, punch_work);
}

static void fsync_work(struct work *w)
{
	struct io_state *st = (struct io_state *)w;
	/* Every write was acknowledged by the target before it was acknowledged here; what is
	 * left is the target's own cache. */
	int r = st->n->mp ? mpath_sync_cache(st->n->mp) : lun_sync_cache(st->n->lun);

	freq_reply_err(st->r, r ? -r : 0);
}

static void op_fsync(struct freq *r, uint64_t ino)
{
	struct fs_node *n = fs_node_of(freq_fs(r), ino);

	if (!n || !fs_node_is_file(n))
		freq_reply_err(r, 0);
	else
		to_worker(io_state(r, n), fsync_work);
}

void fs_io_ops(struct fdev_ops *o)
{
	o->open = op_open;
	o->release = op_release;
	o->read = op_read;
	o->write = op_write;
	o->fsync = op_fsync;
	o->fallocate = op_fallocate;
}
