/* Inside the FUSE device code: what the classic and the io_uring transports share. */
#ifndef ISCSIFS_FUSE_DEV_INT_H
#define ISCSIFS_FUSE_DEV_INT_H

#include <stdint.h>
#include <sys/uio.h>

#include "evloop.h"
#include "fuse_dev.h"

#define FDEV_MAX_WRITE (1024 * 1024)
/* Reads are answered in whole blocks around the request: room for blocks this large. */
#define FDEV_MAX_BLOCK 16384
#define FDEV_MAX_DATA (FDEV_MAX_WRITE + 2 * FDEV_MAX_BLOCK)
/* Over io_uring every request in flight holds a ring entry, whose payload buffer takes the
 * largest request: smaller requests and fewer of them in flight bound the daemon's memory
 * (a loop device's writeback keeps them all busy). */
#define FDEV_URING_MAX_WRITE (128 * 1024)
#define FDEV_URING_MAX_BACKGROUND 32
#define FDEV_URING_MAX_DATA (FDEV_URING_MAX_WRITE + 2 * FDEV_MAX_BLOCK)
/* flags2 bit 9 of FUSE_INIT (Linux 6.14): requests over io_uring. */
#define FDEV_OVER_IO_URING (1ULL << 41)

struct uring_ent;
struct fdev_uring;

/* A loop's reader of the classic device. The watch comes first: the callback finds the
 * channel from it. */
struct fchan {
	struct ev_watch watch;
	int fd;
	struct fdev *dev;
	struct evloop *loop;
	struct freq *spare; /* the buffer for the next read */
	int done;
};

struct fdev {
	int fd; /* the mounted device: INIT and notifications */
	struct fdev_ops ops;
	uint32_t minor;
	uint32_t max_write; /* as negotiated: the largest READ or WRITE */
	int uring;
	struct fchan *chans;
	unsigned nchans;
	int readers;    /* atomic: channels still reading */
	int end_fd;     /* eventfd: the device is gone */
	int closing;    /* atomic: fdev_close was called */
	struct fdev_uring *ring;
	unsigned long long requests, replies; /* atomic */
	unsigned inflight;                    /* atomic */
};

struct freq {
	struct freq *next; /* free buffers */
	struct fchan *ch;  /* classic: the device to answer on */
	struct fdev *dev;
	struct uring_ent *ent; /* io_uring: the ring entry to answer in */
	uint64_t unique;
	uint32_t opcode;
	size_t touched; /* kept: how much of the buffer was ever written */
	_Alignas(16) unsigned char scratch[FDEV_SCRATCH];
};

size_t fdev_arg0_size(uint32_t opcode);
void fdev_count_reply(struct fdev *d);
void fdev_dispatch(struct fdev *d, struct freq *r, const struct fuse_in_header *in,
		   const void *arg0, size_t alen, const void *rest, size_t rlen);

/* The io_uring transport (fuse_uring.c). */
int fdev_uring_available(void);
int fdev_uring_start(struct fdev *d, char *err, size_t errlen);
void fdev_uring_stop(struct fdev *d);
void fdev_uring_free(struct fdev *d);
void *fdev_uring_buf(struct freq *r, size_t *cap);
/* n < 0: no answer at all (FORGET). 0 or -errno. */
int fdev_uring_reply(struct freq *r, int err, const struct iovec *iov, int n);

#endif
