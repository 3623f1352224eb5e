/* The FUSE session loop of the daemon: worker threads, a few of them reading the device at a
 * time, others added when a request may block its worker and ended while too many are idle,
 * each reading requests into a buffer of its own. A request
 * handler may keep that buffer (a write whose data is sent later): the worker then reads the
 * next request into another, so the data is not copied out of it first. */
#ifndef ISCSIFS_LOOP_H
#define ISCSIFS_LOOP_H

#include <stddef.h>

struct fuse_session;
struct fs_rbuf;

/* The largest write a request buffer holds (with its headers): max_write must not exceed it,
 * whatever size libfuse passes to its read of the device. */
#define FS_LOOP_MAX_WRITE (1024 * 1024)

/* Serve se until it is unmounted or exited (a signal). 0, or -errno when reading the FUSE
 * device failed. */
int fs_loop_run(struct fuse_session *se, unsigned max_threads, unsigned max_idle);

/* From a request handler: if [data, data + len) lies in the buffer its request was read
 * into, take that buffer over and return it (give it back with fs_loop_put); NULL when the
 * request did not come from fs_loop_run's workers or no buffer can be had for the next. */
struct fs_rbuf *fs_loop_take(const void *data, size_t len);
void fs_loop_put(struct fs_rbuf *rb);

/* From a request handler about to wait (for the target, for room in a queue, for another
 * request): another worker takes this one's place as a reader. Requests other than READ and
 * WRITE are taken to wait anyway. No-op outside fs_loop_run's workers. */
void fs_loop_blocking(void);

struct fs_loop_stats {
	unsigned threads;     /* workers running */
	unsigned reading;     /* of them, waiting in the device's read */
	unsigned parked;      /* waiting for a request that blocks its worker */
	unsigned peak;        /* the most workers at once since the mount */
	unsigned max_reading; /* readers at most */
};

/* The workers of the loop that runs: 0, or -1 when fs_loop_run is not serving (-s,
 * clone_fd, not started yet). */
int fs_loop_stats(struct fs_loop_stats *st);

#endif
