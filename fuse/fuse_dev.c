/* The FUSE protocol on the device, classic transport: each event loop reads requests from a
 * clone of the device of its own (FUSE_DEV_IOC_CLONE) and the kernel wakes one idle loop per
 * request (EPOLLEXCLUSIVE). A request is read into a buffer that it keeps until answered:
 * a WRITE's data is sent to the target from there, a READ's answer is received into it, so
 * neither is copied by the daemon. The answer goes back on the device it came from, from
 * whichever thread has it. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include "evloop.h"
#include "fuse_dev.h"
#include "fuse_dev_int.h"
#include "log.h"

/* A request buffer: the request struct at the start; the kernel's request read at RBUF_OFF,
 * so that a WRITE's data (after a fuse_in_header and a fuse_write_in, 40 bytes each) starts
 * on the page at RBUF_DATA; an answer's data is built from RBUF_DATA on. */
#define RBUF_OFF (4096 - 80)
#define RBUF_DATA 4096
#define RBUF_SIZE (RBUF_DATA + FDEV_MAX_DATA)
#define RBUF_READ (RBUF_SIZE - RBUF_OFF)
/* Free buffers kept, bounded by the bytes requests wrote into them (what they hold of
 * memory); beyond, a returned buffer is unmapped. */
#define CACHE_BYTES (8 * 1024 * 1024)
#define CACHE_MAX 128
/* Requests one loop takes in a row before it looks at its sockets again. */
#define READ_BATCH 16

_Static_assert(sizeof(struct freq) <= RBUF_OFF, "the request struct fits before the request");

static struct {
	pthread_mutex_t lock;
	struct freq *head;
	size_t bytes;
	int n;
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static struct freq *rbuf_get(void)
{
	struct freq *r;
	void *mem;

	pthread_mutex_lock(&cache.lock);
	r = cache.head;
	if (r) {
		cache.head = r->next;
		cache.bytes -= r->touched;
		cache.n--;
	}
	pthread_mutex_unlock(&cache.lock);
	if (r)
		return r;
	mem = mmap(NULL, RBUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return NULL;
	r = mem;
	r->touched = RBUF_DATA;
	return r;
}

static void rbuf_put(struct freq *r)
{
	pthread_mutex_lock(&cache.lock);
	if (cache.n < CACHE_MAX && cache.bytes + r->touched <= CACHE_BYTES) {
		r->next = cache.head;
		cache.head = r;
		cache.bytes += r->touched;
		cache.n++;
		r = NULL;
	}
	pthread_mutex_unlock(&cache.lock);
	if (r)
		munmap(r, RBUF_SIZE);
}

static void rbuf_drain(void)
{
	pthread_mutex_lock(&cache.lock);
	while (cache.head) {
		struct freq *r = cache.head;

		cache.head = r->next;
		munmap(r, RBUF_SIZE);
	}
	cache.bytes = 0;
	cache.n = 0;
	pthread_mutex_unlock(&cache.lock);
}

static void note_touched(struct freq *r, size_t end)
{
	if (end > r->touched)
		r->touched = end;
}

void *freq_buf(struct freq *r, size_t *cap)
{
	if (r->ent)
		return fdev_uring_buf(r, cap);
	*cap = FDEV_MAX_DATA;
	return (char *)r + RBUF_DATA;
}

void *freq_scratch(struct freq *r)
{
	return r->scratch;
}

void *freq_fs(const struct freq *r)
{
	return r->dev->ops.fs;
}

void fdev_count_reply(struct fdev *d)
{
	__atomic_add_fetch(&d->replies, 1, __ATOMIC_RELAXED);
	__atomic_sub_fetch(&d->inflight, 1, __ATOMIC_RELAXED);
}

static void finish(struct freq *r)
{
	fdev_count_reply(r->dev);
	rbuf_put(r);
}

/* Write an answer: the header, then the pieces. */
static int reply_iov(struct freq *r, int err, struct iovec *iov, int n)
{
	struct fuse_out_header oh = {.error = -err, .unique = r->unique};
	struct iovec v[4];
	size_t len = sizeof(oh);
	int ret = 0;

	if (r->ent)
		return fdev_uring_reply(r, err, iov, n);
	v[0].iov_base = &oh;
	v[0].iov_len = sizeof(oh);
	for (int i = 0; i < n; i++) {
		v[i + 1] = iov[i];
		len += iov[i].iov_len;
	}
	oh.len = (uint32_t)len;
	if (writev(r->ch->fd, v, n + 1) < 0) {
		ret = -errno;
		if (errno != ENOENT)
			log_dbg("FUSE: answering request %llu (opcode %u): %s",
				(unsigned long long)r->unique, r->opcode, strerror(errno));
	}
	finish(r);
	return ret;
}

int freq_reply_err(struct freq *r, int err)
{
	return reply_iov(r, err, NULL, 0);
}

int freq_reply(struct freq *r, const void *arg, size_t len)
{
	struct iovec v = {(void *)arg, len};

	return reply_iov(r, 0, &v, len ? 1 : 0);
}

int freq_reply_data(struct freq *r, const void *data, size_t len)
{
	struct iovec v = {(void *)data, len};
	const char *buf = (const char *)r + RBUF_DATA;

	if (!r->ent && (const char *)data >= buf && (const char *)data <= buf + FDEV_MAX_DATA)
		note_touched(r, (size_t)((const char *)data - (const char *)r) + len);
	return reply_iov(r, 0, &v, len ? 1 : 0);
}

void freq_drop(struct freq *r)
{
	if (r->ent) {
		fdev_uring_reply(r, 0, NULL, -1);
		return;
	}
	finish(r);
}

/* The size of the fixed first argument of a request (the op's struct), by opcode: on the
 * device it comes right after the header, in a ring entry in a place of its own. */
size_t fdev_arg0_size(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_GETATTR:
		return sizeof(struct fuse_getattr_in);
	case FUSE_SETATTR:
		return sizeof(struct fuse_setattr_in);
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		return sizeof(struct fuse_open_in);
	case FUSE_READ:
	case FUSE_READDIR:
		return sizeof(struct fuse_read_in);
	case FUSE_WRITE:
		return sizeof(struct fuse_write_in);
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
		return sizeof(struct fuse_release_in);
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR:
		return sizeof(struct fuse_fsync_in);
	case FUSE_FLUSH:
		return sizeof(struct fuse_flush_in);
	case FUSE_FALLOCATE:
		return sizeof(struct fuse_fallocate_in);
	case FUSE_FORGET:
		return sizeof(struct fuse_forget_in);
	case FUSE_BATCH_FORGET:
		return sizeof(struct fuse_batch_forget_in);
	case FUSE_INTERRUPT:
		return sizeof(struct fuse_interrupt_in);
	case FUSE_INIT:
		return sizeof(struct fuse_init_in);
	default: /* LOOKUP (a name), READLINK, STATFS, DESTROY (nothing), the unknown */
		return 0;
	}
}

/* Decode one request and hand it to its handler: arg0 is its fixed first argument (alen
 * bytes of it), rest what follows (a name, a write's data). */
void fdev_dispatch(struct fdev *d, struct freq *r, const struct fuse_in_header *in,
		   const void *arg0, size_t alen, const void *rest, size_t rlen)
{
	const struct fdev_ops *o = &d->ops;
	const void *arg = arg0;

	r->dev = d;
	r->unique = in->unique;
	r->opcode = in->opcode;
	__atomic_add_fetch(&d->requests, 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&d->inflight, 1, __ATOMIC_RELAXED);
	if (alen < fdev_arg0_size(in->opcode)) {
		freq_reply_err(r, EINVAL);
		return;
	}
	if (__atomic_load_n(&d->closing, __ATOMIC_ACQUIRE) && in->opcode != FUSE_FORGET &&
	    in->opcode != FUSE_BATCH_FORGET && in->opcode != FUSE_INTERRUPT) {
		freq_reply_err(r, EIO);
		return;
	}
	switch (in->opcode) {
	case FUSE_LOOKUP:
		if (!rlen || memchr(rest, '\0', rlen) == NULL) {
			freq_reply_err(r, EINVAL);
			return;
		}
		o->lookup(r, in->nodeid, rest);
		return;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT:
		/* Nodes are never freed; an interrupted I/O is answered when it ends. */
		freq_drop(r);
		return;
	case FUSE_GETATTR:
		o->getattr(r, in->nodeid);
		return;
	case FUSE_SETATTR:
		o->setattr(r, in->nodeid, arg);
		return;
	case FUSE_READLINK:
		o->readlink(r, in->nodeid);
		return;
	case FUSE_OPEN:
		o->open(r, in->nodeid, ((const struct fuse_open_in *)arg)->flags);
		return;
	case FUSE_RELEASE:
		o->release(r, in->nodeid);
		return;
	case FUSE_READ:
	case FUSE_READDIR: {
		const struct fuse_read_in *ri = arg;
		uint32_t size = ri->size > d->max_write ? d->max_write : ri->size;

		if (in->opcode == FUSE_READ)
			o->read(r, in->nodeid, ri->offset, size);
		else
			o->readdir(r, in->nodeid, ri->offset, size);
		return;
	}
	case FUSE_WRITE: {
		const struct fuse_write_in *wi = arg;

		if (rlen < wi->size) {
			freq_reply_err(r, EINVAL);
			return;
		}
		o->write(r, in->nodeid, wi->offset, rest, wi->size);
		return;
	}
	case FUSE_STATFS:
		o->statfs(r);
		return;
	case FUSE_FSYNC:
		o->fsync(r, in->nodeid);
		return;
	case FUSE_FLUSH:
	case FUSE_RELEASEDIR:
	case FUSE_DESTROY:
		freq_reply_err(r, 0);
		return;
	case FUSE_OPENDIR: {
		struct fuse_open_out oo = {0};

		freq_reply(r, &oo, sizeof(oo));
		return;
	}
	case FUSE_FALLOCATE: {
		const struct fuse_fallocate_in *fi = arg;

		o->fallocate(r, in->nodeid, fi->offset, fi->length, fi->mode);
		return;
	}
	default:
		freq_reply_err(r, ENOSYS);
		return;
	}
}

/* The device is gone (unmounted): this reader stops; the last one tells fdev_wait. */
static void reader_done(struct fchan *ch)
{
	struct fdev *d = ch->dev;
	uint64_t one = 1;

	if (ch->done)
		return;
	ch->done = 1;
	evloop_del(ch->loop, &ch->watch);
	if (__atomic_sub_fetch(&d->readers, 1, __ATOMIC_ACQ_REL) == 0 &&
	    write(d->end_fd, &one, sizeof(one)) < 0)
		log_err("FUSE: cannot report the unmount: %s", strerror(errno));
}

static void on_readable(struct ev_watch *w, uint32_t events)
{
	struct fchan *ch = (struct fchan *)w;

	(void)events;
	for (int i = 0; !ch->done; i++) {
		if (i == READ_BATCH) {
			evloop_more(ch->loop); /* the sockets' turn; the rest next time */
			return;
		}
		struct freq *r = ch->spare ? ch->spare : rbuf_get();
		ssize_t n;

		ch->spare = NULL;
		if (!r) {
			log_err("FUSE: no memory for a request buffer");
			return; /* level-triggered: tried again */
		}
		n = read(ch->fd, (char *)r + RBUF_OFF, RBUF_READ);
		if (n < 0) {
			int e = errno;

			ch->spare = r;
			if (e == EAGAIN)
				return; /* another loop took it, or nothing more */
			if (e == EINTR || e == ENOENT)
				continue;
			if (e != ENODEV)
				log_err("FUSE: reading the device: %s", strerror(e));
			reader_done(ch);
			return;
		}
		if ((size_t)n < sizeof(struct fuse_in_header) ||
		    ((struct fuse_in_header *)((char *)r + RBUF_OFF))->len != (uint32_t)n) {
			log_err("FUSE: a malformed request of %zd bytes", n);
			ch->spare = r;
			continue;
		}
		memset(r, 0, offsetof(struct freq, touched));
		r->ch = ch;
		note_touched(r, RBUF_OFF + (size_t)n);
		{
			const struct fuse_in_header *in = (const void *)((char *)r + RBUF_OFF);
			size_t alen = (size_t)n - sizeof(*in), a0 = fdev_arg0_size(in->opcode);

			if (a0 > alen)
				a0 = alen;
			fdev_dispatch(ch->dev, r, in, in + 1, alen, (const char *)(in + 1) + a0,
				      alen - a0);
		}
	}
}

/* The answer to INIT: what we want of what the kernel offers. */
static int answer_init(struct fdev *d, const struct fuse_in_header *in,
		       const struct fuse_init_in *ii, int want_uring, char *err, size_t errlen)
{
	struct fuse_init_out o = {0};
	uint64_t offered = ii->flags, want = 0;
	struct {
		struct fuse_out_header h;
		struct fuse_init_out o;
	} ans;

	if (ii->major != FUSE_KERNEL_VERSION) {
		snprintf(err, errlen, "the kernel speaks FUSE %u.%u; this daemon needs %u", ii->major,
			 ii->minor, FUSE_KERNEL_VERSION);
		return -EPROTO;
	}
	if (offered & FUSE_INIT_EXT)
		offered |= (uint64_t)ii->flags2 << 32;
	want = offered & (FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ASYNC_DIO | FUSE_MAX_PAGES |
			  FUSE_PARALLEL_DIROPS | FUSE_ATOMIC_O_TRUNC);
	if (want_uring && (offered & FDEV_OVER_IO_URING))
		want |= FDEV_OVER_IO_URING | FUSE_INIT_EXT;
	d->uring = (want & FDEV_OVER_IO_URING) != 0;
	o.major = FUSE_KERNEL_VERSION;
	o.minor = ii->minor < FUSE_KERNEL_MINOR_VERSION ? ii->minor : FUSE_KERNEL_MINOR_VERSION;
	o.max_readahead = ii->max_readahead;
	o.flags = (uint32_t)want;
	o.flags2 = (uint32_t)(want >> 32);
	/* Large requests and many of them in flight: the kernel's defaults (128 KiB, 12
	 * background requests) starve a remote LUN. Over io_uring each one in flight holds a
	 * ring entry and its buffer: fewer, so that the entries a queue needs stay bounded,
	 * with room for synchronous requests beside them (fuse_uring.c). */
	o.max_background = d->uring ? FDEV_URING_MAX_BACKGROUND : 128;
	o.congestion_threshold = o.max_background * 3 / 4;
	d->max_write = d->uring ? FDEV_URING_MAX_WRITE : FDEV_MAX_WRITE;
	o.max_write = d->max_write;
	o.max_pages = (uint16_t)(d->max_write / 4096);
	o.time_gran = 1;
	d->minor = o.minor;
	ans.h.unique = in->unique;
	ans.h.error = 0;
	ans.h.len = sizeof(ans);
	ans.o = o;
	if (write(d->fd, &ans, sizeof(ans)) != (ssize_t)sizeof(ans)) {
		snprintf(err, errlen, "answering FUSE INIT: %s", strerror(errno));
		return -EIO;
	}
	log_dbg("FUSE: protocol %u.%u (kernel %u.%u), flags 0x%llx%s", o.major, o.minor, ii->major,
		ii->minor, (unsigned long long)want, d->uring ? ", io_uring" : "");
	return 0;
}

/* Read requests on the main device until INIT comes (nothing else can come first). */
static int do_init(struct fdev *d, int want_uring, char *err, size_t errlen)
{
	struct freq *r = rbuf_get();
	int ret;

	if (!r) {
		snprintf(err, errlen, "no memory for a FUSE request buffer");
		return -ENOMEM;
	}
	for (;;) {
		const struct fuse_in_header *in = (const void *)((char *)r + RBUF_OFF);
		ssize_t n = read(d->fd, (char *)r + RBUF_OFF, RBUF_READ);

		if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == ENOENT)) {
			struct pollfd p = {.fd = d->fd, .events = POLLIN};

			poll(&p, 1, 1000);
			continue;
		}
		if (n < 0) {
			snprintf(err, errlen, "reading FUSE INIT: %s", strerror(errno));
			ret = -errno;
			break;
		}
		if ((size_t)n < sizeof(*in) + sizeof(struct fuse_init_in) ||
		    in->opcode != FUSE_INIT) {
			snprintf(err, errlen, "the kernel's first FUSE request is not INIT");
			ret = -EPROTO;
			break;
		}
		ret = answer_init(d, in, (const struct fuse_init_in *)(in + 1), want_uring, err,
				  errlen);
		break;
	}
	rbuf_put(r);
	return ret;
}

/* On the loop: watch the channel's device. */
static void attach(void *arg)
{
	struct fchan *ch = arg;

	if (evloop_add(ch->loop, &ch->watch, EPOLLIN | EPOLLEXCLUSIVE) < 0) {
		log_err("FUSE: loop %u cannot watch its device: %s", evloop_index(ch->loop),
			strerror(errno));
		ch->done = 1;
		__atomic_sub_fetch(&ch->dev->readers, 1, __ATOMIC_ACQ_REL);
	}
}

static void detach(void *arg)
{
	struct fchan *ch = arg;

	if (!ch->done) {
		ch->done = 1;
		evloop_del(ch->loop, &ch->watch);
	}
	if (ch->spare) {
		rbuf_put(ch->spare);
		ch->spare = NULL;
	}
}

/* A device of its own for each loop. */
static int start_classic(struct fdev *d, char *err, size_t errlen)
{
	unsigned n = evloops_count();

	d->chans = calloc(n, sizeof(*d->chans));
	if (!d->chans)
		return -ENOMEM;
	d->nchans = n;
	for (unsigned i = 0; i < n; i++) {
		struct fchan *ch = &d->chans[i];
		uint32_t master = (uint32_t)d->fd;
		int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC | O_NONBLOCK);

		ch->fd = -1;
		if (fd < 0 || ioctl(fd, FUSE_DEV_IOC_CLONE, &master) < 0) {
			snprintf(err, errlen, "cannot clone the FUSE device: %s", strerror(errno));
			if (fd >= 0)
				close(fd);
			return -errno;
		}
		ch->fd = fd;
		ch->dev = d;
		ch->loop = evloop_get(i);
		ch->watch.fd = fd;
		ch->watch.cb = on_readable;
	}
	d->readers = (int)n;
	for (unsigned i = 0; i < n; i++)
		evloop_call_sync(d->chans[i].loop, attach, &d->chans[i]);
	return 0;
}

struct fdev *fdev_start(int fd, const struct fdev_ops *ops, enum fdev_mode mode, char *err,
			size_t errlen)
{
	struct fdev *d = calloc(1, sizeof(*d));
	int r;

	if (!d) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	d->fd = fd;
	d->ops = *ops;
	d->end_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->end_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		free(d);
		return NULL;
	}
	r = do_init(d, mode != FDEV_CLASSIC && fdev_uring_available(), err, errlen);
	if (!r && mode == FDEV_URING && !d->uring) {
		snprintf(err, errlen, "the kernel does not offer FUSE over io_uring (see "
			 "/sys/module/fuse/parameters/enable_uring)");
		r = -EOPNOTSUPP;
	}
	/* The device's readers in any case: FORGET and INTERRUPT come there, and so does all
	 * until every io_uring queue has its entries. */
	if (!r)
		r = start_classic(d, err, errlen);
	if (!r && d->uring)
		r = fdev_uring_start(d, err, errlen);
	if (r) {
		fdev_stop(d);
		fdev_free(d);
		return NULL;
	}
	return d;
}

int fdev_wait(struct fdev *d, int stop_fd)
{
	struct pollfd p[2] = {{.fd = d->end_fd, .events = POLLIN}, {.fd = stop_fd, .events = POLLIN}};

	for (;;) {
		int n = poll(p, stop_fd >= 0 ? 2 : 1, -1);

		if (n < 0 && errno != EINTR)
			return 0;
		if (p[0].revents)
			return 1;
		if (stop_fd >= 0 && p[1].revents)
			return 0;
	}
}

static void nothing(void *arg)
{
	(void)arg;
}

void fdev_close(struct fdev *d)
{
	if (!d)
		return;
	__atomic_store_n(&d->closing, 1, __ATOMIC_RELEASE);
	/* A handler that began before runs on its loop: once each loop has run this, none is. */
	for (unsigned i = 0; i < evloops_count(); i++)
		evloop_call_sync(evloop_get(i), nothing, NULL);
}

void fdev_stop(struct fdev *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->nchans; i++)
		if (d->chans[i].loop)
			evloop_call_sync(d->chans[i].loop, detach, &d->chans[i]);
	fdev_uring_stop(d);
}

void fdev_free(struct fdev *d)
{
	if (!d)
		return;
	for (unsigned i = 0; i < d->nchans; i++)
		if (d->chans[i].fd >= 0)
			close(d->chans[i].fd);
	free(d->chans);
	fdev_uring_free(d);
	if (d->end_fd >= 0)
		close(d->end_fd);
	free(d);
	rbuf_drain();
}

const char *fdev_mode_str(const struct fdev *d)
{
	return d->uring ? "io_uring" : "classic";
}

static int notify(struct fdev *d, int code, struct iovec *iov, int n)
{
	struct fuse_out_header oh = {.error = code, .unique = 0};
	struct iovec v[4];
	size_t len = sizeof(oh);

	v[0].iov_base = &oh;
	v[0].iov_len = sizeof(oh);
	for (int i = 0; i < n; i++) {
		v[i + 1] = iov[i];
		len += iov[i].iov_len;
	}
	oh.len = (uint32_t)len;
	if (writev(d->fd, v, n + 1) < 0)
		return -errno;
	return 0;
}

int fdev_notify_inval_entry(struct fdev *d, uint64_t parent, const char *name)
{
	struct fuse_notify_inval_entry_out o = {.parent = parent, .namelen = (uint32_t)strlen(name)};
	struct iovec v[2] = {{&o, sizeof(o)}, {(void *)name, strlen(name) + 1}};

	return notify(d, FUSE_NOTIFY_INVAL_ENTRY, v, 2);
}

int fdev_notify_delete(struct fdev *d, uint64_t parent, uint64_t child, const char *name)
{
	struct fuse_notify_delete_out o = {.parent = parent, .child = child,
					   .namelen = (uint32_t)strlen(name)};
	struct iovec v[2] = {{&o, sizeof(o)}, {(void *)name, strlen(name) + 1}};

	if (d->minor < 18)
		return fdev_notify_inval_entry(d, parent, name);
	return notify(d, FUSE_NOTIFY_DELETE, v, 2);
}

int fdev_notify_inval_inode(struct fdev *d, uint64_t ino)
{
	struct fuse_notify_inval_inode_out o = {.ino = ino, .off = 0, .len = 0};
	struct iovec v = {&o, sizeof(o)};

	return notify(d, FUSE_NOTIFY_INVAL_INODE, &v, 1);
}

void fdev_get_stats(const struct fdev *d, struct fdev_stats *st)
{
	st->requests = __atomic_load_n(&d->requests, __ATOMIC_RELAXED);
	st->replies = __atomic_load_n(&d->replies, __ATOMIC_RELAXED);
	st->inflight = __atomic_load_n(&d->inflight, __ATOMIC_RELAXED);
}
