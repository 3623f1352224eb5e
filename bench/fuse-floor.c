/* A FUSE server that does no work, to measure what FUSE alone costs on this machine: a
 * directory holding "zeros", a 1 GiB file whose reads are answered with zeros and whose writes
 * are taken, at once, by the thread that received them. It speaks the kernel protocol itself,
 * over /dev/fuse (threads reading one device, or a clone each) or over FUSE-over-io_uring (a ring
 * per thread serving the per-CPU queues); libfuse only mounts it. bench/fuse-floor measures it;
 * bench/fuse-uring-check drives its test switches to check the io_uring rules on a kernel. */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 34
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <liburing.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "fuse/fuse_abi.h"

#define FILE_INO 2
#define FILE_SIZE (1ULL << 30)
#define MAX_IO (1u << 20) /* max_write, and the largest read with 256 pages, as iscsifs */
#define RBUF_SIZE (MAX_IO + 4096) /* a /dev/fuse read: MAX_IO of data and the headers */
#define NOPS 64                   /* opcodes counted one by one; higher ones in the last slot */
#define PATH_DEV 0
#define PATH_RING 1

static char zeros[MAX_IO];

static struct {
	int uring;           /* serve over io_uring (the mode), else /dev/fuse only */
	unsigned threads;    /* classic: readers in all; uring: ring threads */
	int shared;          /* classic: the threads read one descriptor, not a clone each */
	int pin;             /* pin thread i to CPU i (a ring thread: its first queue's CPU) */
	unsigned depth;      /* ring entries per queue */
	int plain_ring;      /* no IORING_SETUP_SINGLE_ISSUER|IORING_SETUP_DEFER_TASKRUN */
	size_t payload;      /* payload buffer per entry; 0: the least the kernel takes */
	size_t header;       /* the header iovec's length; 0: sizeof(fuse_uring_req_header) */
	unsigned max_write;  /* INIT reply */
	unsigned max_pages;  /* INIT reply */
	unsigned minor;      /* INIT reply's minor; 0: the kernel's or this header's, the lower */
	int skip_queue;      /* a queue left without entries, or -1 */
	unsigned read_delay; /* ms to hold each READ before answering it */
	int probes;          /* try REGISTERs the kernel must refuse, and record what it says */
	const char *ready;   /* written once the file system serves */
	const char *stats;   /* written at exit, and on SIGUSR2 */
} opt = {.threads = 1, .depth = 64, .max_write = MAX_IO, .max_pages = 256, .skip_queue = -1};

/* Counters written by one thread and read by another for a snapshot: relaxed, no lock. */
#define BUMP(x) __atomic_store_n(&(x), __atomic_load_n(&(x), __ATOMIC_RELAXED) + 1, __ATOMIC_RELAXED)
#define PEEK(x) __atomic_load_n(&(x), __ATOMIC_RELAXED)

struct ring_ent {
	struct fuse_uring_req_header *hdr;
	char *payload;
	size_t dirty; /* payload bytes that may not be zero */
	struct iovec iov[2];
	uint16_t qid;
};

struct worker {
	pthread_t tid;
	unsigned idx;
	int fd;
	uint64_t ops[2][NOPS];
	uint64_t *per_queue;
	struct io_uring ring;
	int fixed_file;
	struct ring_ent *ents;
	unsigned nents;
	char *payloads;
	size_t payloads_len;
	union {
		struct fuse_entry_out entry;
		struct fuse_attr_out attr;
		struct fuse_open_out open;
		struct fuse_write_out write;
		struct fuse_statfs_out statfs;
	} scratch;
};

static int dev_fd = -1;
static unsigned nr_queues;
static struct worker *workers; /* [0] is the main thread, the /dev/fuse reader of dev_fd */
static unsigned nworkers;
static pthread_barrier_t ready_barrier;
static volatile sig_atomic_t want_notify, want_stats;

/* What the protocol said, for the stats file. 1 marks "not seen". */
static pthread_mutex_t facts_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	uint32_t kminor, kflags, kflags2, rminor, rflags, rflags2;
	int offered, asked;
	int probe_early, probe_no_sqe128, probe_disabled;
	unsigned reg_submitted, reg_failed, ring_errors, fixed_files;
	int reg_error, ring_error;
	int dev_end, ring_end;
	int lookup_payload_sz;
	char lookup_name[32];
	int notify;
	int destroy;
} facts = {.probe_early = 1, .probe_no_sqe128 = 1, .probe_disabled = 1, .reg_error = 1,
	   .ring_error = 1, .dev_end = 1, .ring_end = 1, .lookup_payload_sz = -1, .notify = 1};

static void die(const char *what, int err)
{
	fprintf(stderr, "fuse-floor: %s: %s\n", what, strerror(err));
	exit(1);
}

static void fill_attr(uint64_t ino, struct fuse_attr *a)
{
	memset(a, 0, sizeof(*a));
	a->ino = ino;
	a->blksize = 4096;
	if (ino == FUSE_ROOT_ID) {
		a->mode = S_IFDIR | 0755;
		a->nlink = 2;
	} else {
		a->mode = S_IFREG | 0644;
		a->nlink = 1;
		a->size = FILE_SIZE;
		a->blocks = FILE_SIZE / 512;
	}
}

/* The size of an opcode's first argument, the fixed struct that /dev/fuse puts right after
 * fuse_in_header and the ring puts in op_in; what follows it (a name, write data) is "data". */
static size_t first_arg_size(uint32_t opcode)
{
	switch (opcode) {
	case FUSE_GETATTR: return sizeof(struct fuse_getattr_in);
	case FUSE_SETATTR: return sizeof(struct fuse_setattr_in);
	case FUSE_OPEN:
	case FUSE_OPENDIR: return sizeof(struct fuse_open_in);
	case FUSE_READ:
	case FUSE_READDIR: return sizeof(struct fuse_read_in);
	case FUSE_WRITE: return sizeof(struct fuse_write_in);
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR: return sizeof(struct fuse_release_in);
	case FUSE_FLUSH: return sizeof(struct fuse_flush_in);
	case FUSE_FSYNC: return sizeof(struct fuse_fsync_in);
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: return sizeof(struct fuse_getxattr_in);
	case FUSE_INTERRUPT: return sizeof(struct fuse_interrupt_in);
	case FUSE_FORGET: return sizeof(struct fuse_forget_in);
	case FUSE_BATCH_FORGET: return sizeof(struct fuse_batch_forget_in);
	case FUSE_ACCESS: return sizeof(struct fuse_access_in);
	default: return 0; /* LOOKUP (a name only), STATFS, DESTROY, ... */
	}
}

struct answer {
	int error;       /* -errno, 0 */
	int none;        /* no reply at all (FORGET, INTERRUPT) */
	const void *arg; /* the reply's argument */
	size_t len;
	size_t zeros; /* or this many bytes of zeros */
};

/* One request, from either path: arg is its first argument (first_arg_size bytes), data what
 * follows. Fills the answer, using the worker's scratch for a reply argument. */
static void serve(struct worker *w, const struct fuse_in_header *in, const void *arg,
		  const char *data, size_t data_len, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	switch (in->opcode) {
	case FUSE_LOOKUP:
		if (in->nodeid != FUSE_ROOT_ID || data_len < 6 || memcmp(data, "zeros", 6) != 0) {
			a->error = -ENOENT;
			break;
		}
		memset(&w->scratch.entry, 0, sizeof(w->scratch.entry));
		w->scratch.entry.nodeid = FILE_INO;
		w->scratch.entry.generation = 1;
		w->scratch.entry.entry_valid = w->scratch.entry.attr_valid = 3600;
		fill_attr(FILE_INO, &w->scratch.entry.attr);
		a->arg = &w->scratch.entry;
		a->len = sizeof(w->scratch.entry);
		break;
	case FUSE_GETATTR:
	case FUSE_SETATTR: /* the attributes stay what they are */
		if (in->nodeid != FUSE_ROOT_ID && in->nodeid != FILE_INO) {
			a->error = -ENOENT;
			break;
		}
		memset(&w->scratch.attr, 0, sizeof(w->scratch.attr));
		w->scratch.attr.attr_valid = 3600;
		fill_attr(in->nodeid, &w->scratch.attr.attr);
		a->arg = &w->scratch.attr;
		a->len = sizeof(w->scratch.attr);
		break;
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		if ((in->opcode == FUSE_OPEN) != (in->nodeid == FILE_INO)) {
			a->error = in->opcode == FUSE_OPEN ? -EISDIR : -ENOTDIR;
			break;
		}
		memset(&w->scratch.open, 0, sizeof(w->scratch.open));
		/* As iscsifs opens its LUN files. */
		if (in->opcode == FUSE_OPEN)
			w->scratch.open.open_flags =
				FOPEN_DIRECT_IO | FOPEN_NOFLUSH | FOPEN_PARALLEL_DIRECT_WRITES;
		a->arg = &w->scratch.open;
		a->len = sizeof(w->scratch.open);
		break;
	case FUSE_READ: {
		const struct fuse_read_in *r = arg;
		uint64_t n = r->size;

		if (r->offset >= FILE_SIZE)
			n = 0;
		else if (n > FILE_SIZE - r->offset)
			n = FILE_SIZE - r->offset;
		if (n > MAX_IO)
			n = MAX_IO;
		a->zeros = n;
		if (opt.read_delay)
			usleep(opt.read_delay * 1000u);
		break;
	}
	case FUSE_WRITE:
		memset(&w->scratch.write, 0, sizeof(w->scratch.write));
		w->scratch.write.size = ((const struct fuse_write_in *)arg)->size;
		a->arg = &w->scratch.write;
		a->len = sizeof(w->scratch.write);
		break;
	case FUSE_STATFS:
		memset(&w->scratch.statfs, 0, sizeof(w->scratch.statfs));
		w->scratch.statfs.st.bsize = w->scratch.statfs.st.frsize = 4096;
		w->scratch.statfs.st.blocks = FILE_SIZE / 4096;
		w->scratch.statfs.st.files = 2;
		w->scratch.statfs.st.namelen = 255;
		a->arg = &w->scratch.statfs;
		a->len = sizeof(w->scratch.statfs);
		break;
	case FUSE_READDIR: /* empty: ls is never needed */
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR:
	case FUSE_FLUSH:
	case FUSE_FSYNC:
		break;
	case FUSE_DESTROY:
		__atomic_store_n(&facts.destroy, 1, __ATOMIC_RELAXED);
		break;
	case FUSE_FORGET:
	case FUSE_BATCH_FORGET:
	case FUSE_INTERRUPT: /* the answer to the interrupted request comes in its own time */
		a->none = 1;
		break;
	default: /* GETXATTR and all else: the kernel stops asking after ENOSYS */
		a->error = -ENOSYS;
		break;
	}
}

/* --- /dev/fuse --- */

static int dev_reply(int fd, uint64_t unique, const struct answer *a)
{
	struct fuse_out_header oh = {.error = a->error, .unique = unique};
	struct iovec iov[2] = {{&oh, sizeof(oh)}, {NULL, 0}};
	int n = 1;

	if (!a->error && (a->len || a->zeros)) {
		iov[1].iov_base = a->zeros ? zeros : (void *)a->arg;
		iov[1].iov_len = a->zeros ? a->zeros : a->len;
		n = 2;
	}
	oh.len = (uint32_t)(iov[0].iov_len + iov[1].iov_len);
	if (writev(fd, iov, n) < 0 && errno != ENOENT) /* ENOENT: interrupted and gone */
		return -errno;
	return 0;
}

static void write_stats(const char *path);

/* The notification a rescan would send: forget "zeros" in the root. The kernel drops the
 * dentry and, as nothing holds the inode, sends FORGET. */
static void notify_inval_entry(int fd)
{
	struct {
		struct fuse_out_header oh;
		struct fuse_notify_inval_entry_out e;
		char name[6];
	} __attribute__((packed)) m = {
		.oh = {.len = sizeof(m), .error = FUSE_NOTIFY_INVAL_ENTRY},
		.e = {.parent = FUSE_ROOT_ID, .namelen = 5},
		.name = "zeros",
	};
	ssize_t n = write(fd, &m, sizeof(m));

	pthread_mutex_lock(&facts_lock);
	facts.notify = n < 0 ? -errno : 0;
	pthread_mutex_unlock(&facts_lock);
}

/* Reads and answers requests until the connection ends. The main thread also takes its
 * signals here (notification, stats snapshot): it polls with them unblocked. */
static void dev_loop(struct worker *w, int fd, int is_main)
{
	char *buf = aligned_alloc(4096, RBUF_SIZE);
	sigset_t open_mask;
	struct answer a;

	if (!buf)
		die("malloc", ENOMEM);
	sigemptyset(&open_mask);
	for (;;) {
		ssize_t n;
		const struct fuse_in_header *in = (const void *)buf;
		size_t fixed;

		if (is_main) {
			struct pollfd p = {.fd = fd, .events = POLLIN};

			if (want_notify) {
				want_notify = 0;
				notify_inval_entry(fd);
			}
			if (want_stats) {
				want_stats = 0;
				if (opt.stats)
					write_stats(opt.stats);
			}
			if (ppoll(&p, 1, NULL, &open_mask) < 0)
				continue; /* EINTR: a signal to handle */
		}
		n = read(fd, buf, RBUF_SIZE);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == ENOENT)
				continue;
			pthread_mutex_lock(&facts_lock);
			if (facts.dev_end == 1)
				facts.dev_end = errno;
			pthread_mutex_unlock(&facts_lock);
			break; /* ENODEV: unmounted */
		}
		if ((size_t)n < sizeof(*in) || in->len != (uint32_t)n)
			die("a request shorter than its header says", EPROTO);
		BUMP(w->ops[PATH_DEV][in->opcode < NOPS ? in->opcode : NOPS - 1]);
		fixed = first_arg_size(in->opcode);
		if ((size_t)n < sizeof(*in) + fixed)
			die("a request shorter than its argument", EPROTO);
		serve(w, in, buf + sizeof(*in), buf + sizeof(*in) + fixed, n - sizeof(*in) - fixed, &a);
		if (!a.none) {
			int err = dev_reply(fd, in->unique, &a);

			if (err == -ENODEV)
				break;
			if (err < 0)
				die("writing a reply to /dev/fuse", -err);
		}
	}
	free(buf);
}

static void pin_self(unsigned cpu)
{
	cpu_set_t set;
	int err;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	err = pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
	if (err)
		die("pinning a thread", err);
}

static void *dev_thread(void *p)
{
	struct worker *w = p;

	if (opt.pin)
		pin_self(w->idx % nr_queues);
	dev_loop(w, w->fd, 0);
	if (w->fd != dev_fd)
		close(w->fd);
	return NULL;
}

/* --- FUSE-over-io_uring --- */

static int sqe_flags(void)
{
	return opt.plain_ring ? 0 : IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
}

static void prep_cmd(struct io_uring_sqe *sqe, int fd, int fixed, struct ring_ent *e, uint32_t cmd,
		     uint64_t commit_id)
{
	struct fuse_uring_cmd_req *req = (void *)sqe->cmd;

	memset(sqe, 0, 2 * sizeof(*sqe)); /* an SQE128 slot */
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = fixed ? 0 : fd;
	if (fixed)
		sqe->flags = IOSQE_FIXED_FILE;
	sqe->cmd_op = cmd;
	if (cmd == FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uintptr_t)e->iov;
		sqe->len = 2;
	}
	req->qid = e->qid;
	req->commit_id = commit_id;
	io_uring_sqe_set_data(sqe, e);
}

/* The least payload buffer the kernel takes: max(8192, max_write, max_pages pages). */
static size_t min_payload(void)
{
	size_t n = 8192;

	if (opt.max_write > n)
		n = opt.max_write;
	if ((size_t)opt.max_pages * 4096 > n)
		n = (size_t)opt.max_pages * 4096;
	return n;
}

/* One REGISTER the kernel should refuse, from a ring of its own: its CQE's result, or 1 when
 * none came within a second (the kernel took the entry; the ring's end cancels it). */
static int probe_register(int sqe128)
{
	struct io_uring ring;
	struct io_uring_params p = {.flags = sqe128 ? IORING_SETUP_SQE128 : 0};
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	struct __kernel_timespec ts = {.tv_sec = 1};
	struct fuse_uring_req_header *hdr = calloc(1, sizeof(*hdr));
	size_t plen = min_payload();
	char *payload = malloc(plen);
	struct ring_ent e = {.hdr = hdr, .payload = payload,
			     .iov = {{hdr, sizeof(*hdr)}, {payload, plen}}};
	int ret;

	if (!hdr || !payload)
		die("malloc", ENOMEM);
	ret = io_uring_queue_init_params(4, &ring, &p);
	if (ret < 0)
		return ret;
	sqe = io_uring_get_sqe(&ring);
	if (!sqe)
		die("no free SQE", EOVERFLOW);
	if (sqe128) {
		prep_cmd(sqe, dev_fd, 0, &e, FUSE_IO_URING_CMD_REGISTER, 0);
	} else {
		memset(sqe, 0, sizeof(*sqe));
		sqe->opcode = IORING_OP_URING_CMD;
		sqe->fd = dev_fd;
		sqe->cmd_op = FUSE_IO_URING_CMD_REGISTER;
		sqe->addr = (uintptr_t)e.iov;
		sqe->len = 2;
	}
	ret = io_uring_submit_and_wait_timeout(&ring, &cqe, 1, &ts, NULL);
	if (ret >= 0 && cqe) {
		ret = cqe->res;
		io_uring_cqe_seen(&ring, cqe);
	} else {
		ret = ret == -ETIME ? 1 : ret;
	}
	io_uring_queue_exit(&ring);
	free(hdr);
	free(payload);
	return ret;
}

/* Answers the request in entry e and queues its commit (the next request comes with it). */
static void ring_serve(struct worker *w, struct ring_ent *e)
{
	struct fuse_in_header in;
	struct fuse_out_header *oh = (void *)e->hdr->in_out;
	struct fuse_uring_ent_in_out *io = &e->hdr->ring_ent_in_out;
	uint64_t commit_id = io->commit_id;
	size_t data_len = io->payload_sz, len = 0;
	struct io_uring_sqe *sqe;
	struct answer a;

	memcpy(&in, e->hdr->in_out, sizeof(in));
	BUMP(w->ops[PATH_RING][in.opcode < NOPS ? in.opcode : NOPS - 1]);
	BUMP(w->per_queue[e->qid]);
	if (data_len > e->iov[1].iov_len)
		die("a payload larger than its buffer", EPROTO);
	if (data_len > e->dirty)
		e->dirty = data_len;
	if (in.opcode == FUSE_LOOKUP && __atomic_load_n(&facts.lookup_payload_sz, __ATOMIC_RELAXED) < 0) {
		pthread_mutex_lock(&facts_lock);
		facts.lookup_payload_sz = (int)data_len;
		snprintf(facts.lookup_name, sizeof(facts.lookup_name), "%.*s",
			 (int)(data_len < 31 ? data_len : 31), e->payload);
		pthread_mutex_unlock(&facts_lock);
	}
	serve(w, &in, e->hdr->op_in, e->payload, data_len, &a);
	if (a.none)
		a.error = -ENOSYS; /* never sent over a ring; an entry must be committed */
	if (!a.error && a.zeros) {
		if (e->dirty) {
			memset(e->payload, 0, e->dirty);
			e->dirty = 0;
		}
		len = a.zeros;
	} else if (!a.error && a.len) {
		memcpy(e->payload, a.arg, a.len);
		if (a.len > e->dirty)
			e->dirty = a.len;
		len = a.len;
	}
	oh->len = (uint32_t)(sizeof(*oh) + len);
	oh->error = a.error;
	oh->unique = in.unique;
	io->payload_sz = (uint32_t)len;
	sqe = io_uring_get_sqe(&w->ring);
	if (!sqe) /* the SQ has a slot for every entry */
		die("no free SQE", EOVERFLOW);
	prep_cmd(sqe, dev_fd, w->fixed_file, e, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, commit_id);
}

/* A CQE: a request, or the end of an entry. Returns 0 while the entry lives. */
static int ring_cqe(struct worker *w, struct io_uring_cqe *cqe, int registering)
{
	struct ring_ent *e = io_uring_cqe_get_data(cqe);

	if (cqe->res >= 0) {
		ring_serve(w, e);
		return 0;
	}
	pthread_mutex_lock(&facts_lock);
	if (registering) {
		facts.reg_failed++;
		if (facts.reg_error == 1)
			facts.reg_error = cqe->res;
	} else if (cqe->res == -ENOTCONN) {
		if (facts.ring_end == 1)
			facts.ring_end = cqe->res;
	} else {
		facts.ring_errors++;
		if (facts.ring_error == 1)
			facts.ring_error = cqe->res;
	}
	pthread_mutex_unlock(&facts_lock);
	return -1;
}

static void *ring_thread(void *p)
{
	struct worker *w = p;
	struct io_uring_params prm = {0};
	struct io_uring_cqe *cqe;
	struct io_uring_sqe *sqe;
	size_t plen = opt.payload ? opt.payload : min_payload();
	size_t hlen = opt.header ? opt.header : sizeof(struct fuse_uring_req_header);
	unsigned q, i, live = 0, nq = 0;
	int ret;

	for (q = w->idx; q < nr_queues; q += nworkers - 1)
		nq += (int)q != opt.skip_queue;
	if (opt.pin)
		pin_self(w->idx);
	w->nents = nq * opt.depth;
	prm.flags = IORING_SETUP_SQE128 | IORING_SETUP_CQSIZE | sqe_flags();
	prm.cq_entries = 2 * (w->nents ? w->nents : 1);
	ret = io_uring_queue_init_params(w->nents ? w->nents : 1, &w->ring, &prm);
	if (ret < 0)
		die("io_uring_queue_init_params", -ret);
	w->fixed_file = io_uring_register_files(&w->ring, &dev_fd, 1) == 0;
	io_uring_register_ring_fd(&w->ring); /* a saving only; fine without */

	w->ents = calloc(w->nents ? w->nents : 1, sizeof(*w->ents));
	w->payloads_len = w->nents * plen;
	w->payloads = w->nents ? mmap(NULL, w->payloads_len, PROT_READ | PROT_WRITE,
				      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
			       : NULL;
	if (!w->ents || w->payloads == MAP_FAILED)
		die("allocating ring entries", ENOMEM);
	i = 0;
	for (q = w->idx; q < nr_queues; q += nworkers - 1) {
		unsigned d;

		if ((int)q == opt.skip_queue)
			continue;
		for (d = 0; d < opt.depth; d++, i++) {
			struct ring_ent *e = &w->ents[i];

			e->hdr = aligned_alloc(64, (hlen + 63) / 64 * 64 + 64);
			if (!e->hdr)
				die("malloc", ENOMEM);
			memset(e->hdr, 0, sizeof(*e->hdr));
			e->payload = w->payloads + (size_t)i * plen;
			e->iov[0] = (struct iovec){e->hdr, hlen};
			e->iov[1] = (struct iovec){e->payload, plen};
			e->qid = (uint16_t)q;
			sqe = io_uring_get_sqe(&w->ring);
			if (!sqe)
				die("no free SQE", EOVERFLOW);
			prep_cmd(sqe, dev_fd, w->fixed_file, e, FUSE_IO_URING_CMD_REGISTER, 0);
		}
	}
	ret = io_uring_submit(&w->ring);
	if (ret < 0)
		die("submitting REGISTER", -ret);
	live = w->nents;
	pthread_mutex_lock(&facts_lock);
	facts.reg_submitted += w->nents;
	facts.fixed_files += w->fixed_file;
	pthread_mutex_unlock(&facts_lock);
	/* A refused REGISTER completes at once; a taken one only with its first request. */
	while (io_uring_peek_cqe(&w->ring, &cqe) == 0) {
		live -= ring_cqe(w, cqe, 1) < 0;
		io_uring_cqe_seen(&w->ring, cqe);
	}
	pthread_barrier_wait(&ready_barrier);

	while (live > 0) {
		unsigned head, n = 0;

		ret = io_uring_submit_and_wait(&w->ring, 1);
		if (ret < 0 && ret != -EINTR && ret != -EAGAIN && ret != -EBUSY)
			die("io_uring_submit_and_wait", -ret);
		io_uring_for_each_cqe(&w->ring, head, cqe) {
			live -= ring_cqe(w, cqe, 0) < 0;
			n++;
		}
		io_uring_cq_advance(&w->ring, n);
	}
	io_uring_queue_exit(&w->ring);
	for (i = 0; i < w->nents; i++)
		free(w->ents[i].hdr);
	free(w->ents);
	if (w->payloads)
		munmap(w->payloads, w->payloads_len);
	return NULL;
}

/* --- INIT, stats, main --- */

/* Reads and answers INIT; returns 1 when the connection is to use io_uring. */
static int do_init(int fd)
{
	char *buf = malloc(RBUF_SIZE);
	const struct fuse_in_header *in = (const void *)buf;
	const struct fuse_init_in *ii = (const void *)(buf + sizeof(*in));
	struct fuse_init_out o = {0};
	struct answer a = {.arg = &o, .len = sizeof(o)};
	uint32_t want = FUSE_ASYNC_READ | FUSE_ASYNC_DIO | FUSE_BIG_WRITES | FUSE_MAX_PAGES;
	ssize_t n;
	int uring = 0;

	if (!buf)
		die("malloc", ENOMEM);
	do
		n = read(fd, buf, RBUF_SIZE);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		die("reading INIT", errno);
	if ((size_t)n < sizeof(*in) + 16 || in->opcode != FUSE_INIT || ii->major != 7)
		die("the first request is not an INIT of protocol 7", EPROTO);
	facts.kminor = ii->minor;
	facts.kflags = ii->flags;
	if ((ii->flags & FUSE_INIT_EXT) && (size_t)n >= sizeof(*in) + sizeof(*ii))
		facts.kflags2 = ii->flags2;
	facts.offered = !!(facts.kflags2 & FUSE_FLAGS2(FUSE_OVER_IO_URING));
	if (opt.probes)
		facts.probe_early = probe_register(1);

	o.major = 7;
	o.minor = opt.minor ? opt.minor
			    : ii->minor < FUSE_KERNEL_MINOR_VERSION ? ii->minor : FUSE_KERNEL_MINOR_VERSION;
	o.max_readahead = ii->max_readahead;
	o.flags = ii->flags & want;
	if (opt.uring && facts.offered) {
		o.flags |= FUSE_INIT_EXT;
		o.flags2 = FUSE_FLAGS2(FUSE_OVER_IO_URING);
		uring = 1;
	}
	o.max_background = 128; /* as iscsifs */
	o.congestion_threshold = 96;
	o.max_write = opt.max_write;
	o.time_gran = 1;
	o.max_pages = (uint16_t)opt.max_pages;
	facts.rminor = o.minor;
	facts.rflags = o.flags;
	facts.rflags2 = o.flags2;
	facts.asked = uring;
	if (dev_reply(fd, in->unique, &a) < 0)
		die("answering INIT", errno);
	free(buf);
	if (opt.probes) {
		facts.probe_no_sqe128 = probe_register(0);
		if (!facts.offered)
			facts.probe_disabled = probe_register(1);
	}
	return uring;
}

static const char *op_name(unsigned op)
{
	static const char *names[NOPS] = {
		[FUSE_LOOKUP] = "LOOKUP", [FUSE_FORGET] = "FORGET", [FUSE_GETATTR] = "GETATTR",
		[FUSE_SETATTR] = "SETATTR", [FUSE_OPEN] = "OPEN", [FUSE_READ] = "READ",
		[FUSE_WRITE] = "WRITE", [FUSE_STATFS] = "STATFS", [FUSE_RELEASE] = "RELEASE",
		[FUSE_FSYNC] = "FSYNC", [FUSE_SETXATTR] = "SETXATTR", [FUSE_GETXATTR] = "GETXATTR",
		[FUSE_LISTXATTR] = "LISTXATTR", [FUSE_FLUSH] = "FLUSH", [FUSE_INIT] = "INIT",
		[FUSE_OPENDIR] = "OPENDIR", [FUSE_READDIR] = "READDIR",
		[FUSE_RELEASEDIR] = "RELEASEDIR", [FUSE_ACCESS] = "ACCESS", [FUSE_CREATE] = "CREATE",
		[FUSE_INTERRUPT] = "INTERRUPT", [FUSE_DESTROY] = "DESTROY",
		[FUSE_BATCH_FORGET] = "BATCH_FORGET", [FUSE_READDIRPLUS] = "READDIRPLUS",
		[FUSE_LSEEK] = "LSEEK",
	};
	static char other[NOPS][8];

	if (op < NOPS && names[op])
		return names[op];
	snprintf(other[op % NOPS], sizeof(other[0]), "op%u", op);
	return other[op % NOPS];
}

/* key=value lines, for bench/fuse-uring-check and for reading. */
static void write_stats(const char *path)
{
	char tmp[4096];
	FILE *f;
	unsigned i, op, path_i;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return;
	pthread_mutex_lock(&facts_lock);
	fprintf(f, "kernel_minor=%u\ninit_flags=0x%x\ninit_flags2=0x%x\nuring_offered=%d\n"
		   "reply_minor=%u\nreply_flags=0x%x\nreply_flags2=0x%x\nuring_asked=%d\n",
		facts.kminor, facts.kflags, facts.kflags2, facts.offered, facts.rminor,
		facts.rflags, facts.rflags2, facts.asked);
	fprintf(f, "nr_queues=%u\n", nr_queues);
#define FACT(name, v) \
	if ((v) != 1)  \
		fprintf(f, "%s=%d\n", name, v)
	FACT("probe_register_before_init", facts.probe_early);
	FACT("probe_register_without_sqe128", facts.probe_no_sqe128);
	FACT("probe_register_not_offered", facts.probe_disabled);
	fprintf(f, "register_submitted=%u\nregister_failed=%u\nrings_with_fixed_file=%u\n",
		facts.reg_submitted, facts.reg_failed, facts.fixed_files);
	FACT("register_error", facts.reg_error);
	fprintf(f, "ring_errors=%u\n", facts.ring_errors);
	FACT("ring_error", facts.ring_error);
	FACT("dev_read_end_errno", facts.dev_end);
	FACT("ring_end_res", facts.ring_end);
	FACT("notify_inval_entry", facts.notify);
#undef FACT
	if (facts.lookup_payload_sz >= 0)
		fprintf(f, "ring_lookup_payload_sz=%d\nring_lookup_name=%s\n", facts.lookup_payload_sz,
			facts.lookup_name);
	fprintf(f, "destroy=%d\n", __atomic_load_n(&facts.destroy, __ATOMIC_RELAXED));
	pthread_mutex_unlock(&facts_lock);
	for (path_i = 0; path_i < 2; path_i++) {
		for (op = 0; op < NOPS; op++) {
			uint64_t sum = 0;

			for (i = 0; i < nworkers; i++)
				sum += PEEK(workers[i].ops[path_i][op]);
			if (sum)
				fprintf(f, "%s.%s=%llu\n", path_i == PATH_DEV ? "dev" : "ring",
					op_name(op), (unsigned long long)sum);
		}
	}
	for (op = 0; op < nr_queues; op++) {
		uint64_t sum = 0;

		for (i = 0; i < nworkers; i++)
			sum += PEEK(workers[i].per_queue[op]);
		fprintf(f, "queue.%u=%llu\n", op, (unsigned long long)sum);
	}
	if (fclose(f) == 0)
		rename(tmp, path);
}

/* The queues: one per possible CPU, as the kernel makes them (num_possible_cpus()). */
static unsigned possible_cpus(void)
{
	FILE *f = fopen("/sys/devices/system/cpu/possible", "r");
	unsigned a, b, n = 0;
	int c;

	if (!f)
		return (unsigned)sysconf(_SC_NPROCESSORS_CONF);
	while (fscanf(f, "%u", &a) == 1) {
		b = a;
		c = fgetc(f);
		if (c == '-') {
			if (fscanf(f, "%u", &b) != 1)
				break;
			c = fgetc(f);
		}
		n += b - a + 1;
		if (c != ',')
			break;
	}
	fclose(f);
	return n ? n : 1;
}

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		want_notify = 1;
	else
		want_stats = 1;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: fuse-floor [OPTION]... MOUNTPOINT\n"
		"  --mode=classic|uring   /dev/fuse only, or FUSE-over-io_uring (default classic)\n"
		"  --threads=N            classic: reader threads; uring: ring threads (default 1)\n"
		"  --shared               classic: the threads share one descriptor, not a clone each\n"
		"  --pin                  pin thread i to CPU i\n"
		"  --depth=N              uring: entries per queue (default 64)\n"
		"  --plain-ring           uring: without SINGLE_ISSUER|DEFER_TASKRUN\n"
		"  --ready=FILE --stats=FILE   where to say 'serving', and the counters at exit\n"
		"Checks: --probes --payload=BYTES --header=BYTES --max-write=BYTES --max-pages=N\n"
		"  --minor=N --skip-queue=Q --read-delay-ms=N. SIGUSR1: notify the kernel to forget\n"
		"  'zeros'; SIGUSR2: write the stats now.\n");
}

static unsigned long num_arg(const char *s, const char *name)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end) {
		fprintf(stderr, "fuse-floor: %s wants a number, not '%s'\n", name, s);
		exit(2);
	}
	return v;
}

int main(int argc, char *argv[])
{
	char *fargs[] = {argv[0], "-o", "fsname=fuse-floor,subtype=floor", NULL};
	struct fuse_args args = FUSE_ARGS_INIT(3, fargs);
	struct fuse_lowlevel_ops ops;
	struct fuse_session *se;
	struct sigaction sa;
	sigset_t block;
	const char *mnt = NULL;
	unsigned i, nthreads;
	int uring, err, a;

	for (a = 1; a < argc; a++) {
		const char *s = argv[a];
		const char *v = strchr(s, '=');

		v = v ? v + 1 : "";
		if (!strcmp(s, "--mode=classic"))
			opt.uring = 0;
		else if (!strcmp(s, "--mode=uring"))
			opt.uring = 1;
		else if (!strncmp(s, "--threads=", 10))
			opt.threads = (unsigned)num_arg(v, "--threads");
		else if (!strcmp(s, "--shared"))
			opt.shared = 1;
		else if (!strcmp(s, "--pin"))
			opt.pin = 1;
		else if (!strncmp(s, "--depth=", 8))
			opt.depth = (unsigned)num_arg(v, "--depth");
		else if (!strcmp(s, "--plain-ring"))
			opt.plain_ring = 1;
		else if (!strncmp(s, "--payload=", 10))
			opt.payload = num_arg(v, "--payload");
		else if (!strncmp(s, "--header=", 9))
			opt.header = num_arg(v, "--header");
		else if (!strncmp(s, "--max-write=", 12))
			opt.max_write = (unsigned)num_arg(v, "--max-write");
		else if (!strncmp(s, "--max-pages=", 12))
			opt.max_pages = (unsigned)num_arg(v, "--max-pages");
		else if (!strncmp(s, "--minor=", 8))
			opt.minor = (unsigned)num_arg(v, "--minor");
		else if (!strncmp(s, "--skip-queue=", 13))
			opt.skip_queue = (int)num_arg(v, "--skip-queue");
		else if (!strncmp(s, "--read-delay-ms=", 16))
			opt.read_delay = (unsigned)num_arg(v, "--read-delay-ms");
		else if (!strcmp(s, "--probes"))
			opt.probes = 1;
		else if (!strncmp(s, "--ready=", 8))
			opt.ready = v;
		else if (!strncmp(s, "--stats=", 8))
			opt.stats = v;
		else if (!strcmp(s, "-h") || !strcmp(s, "--help")) {
			usage(stdout);
			return 0;
		} else if (s[0] != '-' && !mnt)
			mnt = s;
		else {
			usage(stderr);
			return 2;
		}
	}
	if (!mnt || !opt.threads || !opt.depth || opt.max_write > MAX_IO || opt.max_pages > 256 ||
	    (opt.header && opt.header > 4096)) {
		usage(stderr);
		return 2;
	}
	nr_queues = possible_cpus();

	/* libfuse mounts and hands over the descriptor; its loop never runs. */
	memset(&ops, 0, sizeof(ops));
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (!se || fuse_session_mount(se, mnt) != 0) {
		fprintf(stderr, "fuse-floor: cannot mount %s\n", mnt);
		return 1;
	}
	dev_fd = fuse_session_fd(se);

	/* Signals go to the main thread only, which takes them while it polls. */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigaddset(&block, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &block, NULL);

	uring = do_init(dev_fd);
	nthreads = opt.threads;
	if (uring && nthreads > nr_queues)
		nthreads = nr_queues;
	/* The main thread reads /dev/fuse: in classic mode it is one of the readers; with io_uring
	 * it takes what stays there (FORGET, INTERRUPT) and everything should a REGISTER fail. */
	nworkers = uring ? nthreads + 1 : nthreads;
	workers = calloc(nworkers, sizeof(*workers));
	if (!workers)
		die("malloc", ENOMEM);
	for (i = 0; i < nworkers; i++) {
		workers[i].idx = uring ? i - 1 : i;
		workers[i].fd = dev_fd;
		workers[i].per_queue = calloc(nr_queues, sizeof(uint64_t));
		if (!workers[i].per_queue)
			die("malloc", ENOMEM);
	}
	if (uring) {
		pthread_barrier_init(&ready_barrier, NULL, nworkers);
		for (i = 1; i < nworkers; i++) {
			err = pthread_create(&workers[i].tid, NULL, ring_thread, &workers[i]);
			if (err)
				die("pthread_create", err);
		}
		pthread_barrier_wait(&ready_barrier);
	} else {
		for (i = 1; i < nworkers; i++) {
			if (!opt.shared) {
				uint32_t master = (uint32_t)dev_fd;

				workers[i].fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
				if (workers[i].fd < 0)
					die("opening /dev/fuse", errno);
				if (ioctl(workers[i].fd, FUSE_DEV_IOC_CLONE, &master) < 0)
					die("FUSE_DEV_IOC_CLONE", errno);
			}
			err = pthread_create(&workers[i].tid, NULL, dev_thread, &workers[i]);
			if (err)
				die("pthread_create", err);
		}
		if (opt.pin)
			pin_self(0);
	}
	if (opt.ready) {
		FILE *f = fopen(opt.ready, "w");

		if (f) {
			fprintf(f, "uring=%d\nregister_failed=%u\n", uring, facts.reg_failed);
			fclose(f);
		}
	}
	dev_loop(&workers[0], dev_fd, 1);
	for (i = 1; i < nworkers; i++)
		pthread_join(workers[i].tid, NULL);
	if (opt.stats)
		write_stats(opt.stats);
	fuse_session_unmount(se);
	fuse_session_destroy(se);
	fuse_opt_free_args(&args);
	for (i = 0; i < nworkers; i++)
		free(workers[i].per_queue);
	free(workers);
	return 0;
}
