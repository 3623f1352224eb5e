/* Our end of the kernel's FUSE protocol: the INIT handshake, requests read by the event
 * loops (each from a device of its own, or from its io_uring queues) and decoded, answers
 * written back to where each request came from, and notifications. libfuse only mounts. */
#ifndef ISCSIFS_FUSE_DEV_H
#define ISCSIFS_FUSE_DEV_H

#include <linux/fuse.h>
#include <stddef.h>
#include <stdint.h>

/* One request being served. It is answered exactly once (freq_reply*, or freq_drop for
 * those that take no answer), from any thread; after that it is gone. */
struct freq;

/* What the file system does with each request. A handler answers now or later, or hands the
 * request to a worker (workq) when the answer must wait for something: it runs on an event
 * loop and must not wait itself. Requests without a handler are answered ENOSYS, but for
 * OPENDIR and RELEASEDIR (success) and FORGET, BATCH_FORGET, INTERRUPT (nothing). */
struct fdev_ops {
	void (*lookup)(struct freq *r, uint64_t parent, const char *name);
	void (*getattr)(struct freq *r, uint64_t ino);
	void (*setattr)(struct freq *r, uint64_t ino, const struct fuse_setattr_in *in);
	void (*readlink)(struct freq *r, uint64_t ino);
	void (*open)(struct freq *r, uint64_t ino, uint32_t flags);
	void (*release)(struct freq *r, uint64_t ino);
	void (*read)(struct freq *r, uint64_t ino, uint64_t off, uint32_t size);
	/* data stays valid until the request is answered */
	void (*write)(struct freq *r, uint64_t ino, uint64_t off, const void *data, uint32_t size);
	void (*fsync)(struct freq *r, uint64_t ino);
	void (*readdir)(struct freq *r, uint64_t ino, uint64_t off, uint32_t size);
	void (*fallocate)(struct freq *r, uint64_t ino, uint64_t off, uint64_t len, uint32_t mode);
	void (*statfs)(struct freq *r);
	void *fs;
};

enum fdev_mode {
	FDEV_AUTO,    /* io_uring when the kernel offers it, else classic */
	FDEV_CLASSIC, /* read and write the FUSE device */
	FDEV_URING,   /* io_uring, or fail */
};

struct fdev;

/* Answer the kernel's INIT on fd (the mounted device) and attach a reader to each event
 * loop. Waits for INIT; 0 or -errno with the reason. */
struct fdev *fdev_start(int fd, const struct fdev_ops *ops, enum fdev_mode mode, char *err,
			size_t errlen);
/* Until the file system is unmounted, or stop_fd (an eventfd, or -1) is readable: 1 when
 * unmounted, 0 when told to stop. */
int fdev_wait(struct fdev *d, int stop_fd);
/* From now on every request is answered EIO at once, and when this returns no handler is
 * running on a loop: what is in flight still gets its answer, nothing new reaches the file
 * system. NULL is ignored. */
void fdev_close(struct fdev *d);
/* Take the readers off the loops (the loops keep running). */
void fdev_stop(struct fdev *d);
void fdev_free(struct fdev *d);
/* "io_uring" or "classic". */
const char *fdev_mode_str(const struct fdev *d);

/* Tell the kernel that an entry or an inode changed. Not on an event loop: the kernel may
 * wait for requests that wait for the caller. 0 or -errno. */
int fdev_notify_inval_entry(struct fdev *d, uint64_t parent, const char *name);
int fdev_notify_delete(struct fdev *d, uint64_t parent, uint64_t child, const char *name);
int fdev_notify_inval_inode(struct fdev *d, uint64_t ino);

/* The request's data buffer: room for cap bytes (at least the largest read), where an
 * answer's data can be built or received, and sent from without a copy. */
void *freq_buf(struct freq *r, size_t *cap);
/* FDEV_SCRATCH bytes of the request's own for the handler's state, until the answer. */
#define FDEV_SCRATCH 512
void *freq_scratch(struct freq *r);
/* The answers: 0, or -errno when the kernel did not take it (the request was interrupted,
 * or the file system is unmounted); the request is gone either way. */
int freq_reply_err(struct freq *r, int err); /* err: positive errno, or 0 */
int freq_reply(struct freq *r, const void *arg, size_t len);
/* Data for READ, READLINK, READDIR: from freq_buf's buffer or anywhere else. */
int freq_reply_data(struct freq *r, const void *data, size_t len);
void freq_drop(struct freq *r);
void *freq_fs(const struct freq *r);

struct fdev_stats {
	unsigned long long requests, replies;
	unsigned inflight;
};
void fdev_get_stats(const struct fdev *d, struct fdev_stats *st);

#endif
