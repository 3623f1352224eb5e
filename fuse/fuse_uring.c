/* FUSE over io_uring (Linux 6.14 and later, with fuse's enable_uring on). The kernel keeps a
 * queue of requests per CPU and puts each request in a ring entry of the queue of the CPU
 * its application runs on; the entries of queue q are registered on the io_uring of event
 * loop q % loops, so with a loop per CPU a request is served on the loop of its CPU. An
 * entry is two buffers: headers (the request's header and first argument, the answer's
 * header) and a payload (the rest: a write's data, a read's answer), which is where a read's
 * data is received from the socket. The answer is committed by the entry's own loop, which
 * fetches the next request with the same command. The loop waits in io_uring_enter, with its
 * epoll set (sockets, wake-ups) watched by a multishot poll on the ring.
 * FORGET and INTERRUPT still come through the device, which the classic readers serve. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuse_dev_int.h"

#ifndef HAVE_LIBURING

int fdev_uring_available(void)
{
	return 0;
}

int fdev_uring_start(struct fdev *d, char *err, size_t errlen)
{
	(void)d;
	snprintf(err, errlen, "built without liburing: no FUSE over io_uring");
	return -EOPNOTSUPP;
}

void fdev_uring_stop(struct fdev *d)
{
	(void)d;
}

void fdev_uring_free(struct fdev *d)
{
	(void)d;
}

void *fdev_uring_buf(struct freq *r, size_t *cap)
{
	(void)r;
	*cap = 0;
	return NULL;
}

int fdev_uring_reply(struct freq *r, int err, const struct iovec *iov, int n)
{
	(void)r;
	(void)err;
	(void)iov;
	(void)n;
	return -EOPNOTSUPP;
}

#else

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fuse_abi.h"
#include "log.h"

/* Entries per queue. A request the kernel cannot place waits in its queue until an entry of
 * that queue is committed, and the kernel may put every background request on one CPU's
 * queue: a queue needs FDEV_URING_MAX_BACKGROUND entries and some for synchronous requests
 * (a target that stops answering can hold all the background ones). With few CPUs every
 * queue has that many from the start; with many, fewer to begin with and more while nearly
 * all of a queue's are busy, up to the same bound. Payloads are touched when allocated, so
 * that the daemon's memory is what it will stay. */
#define ENTS_HEADROOM 8
#define ENTS_MAX (FDEV_URING_MAX_BACKGROUND + ENTS_HEADROOM)
#define ENTS_MIN 8
#define ENTS_GROW 8
#define POLL_TAG 1 /* user_data of the epoll set's poll; entries use their address */

struct uring_loop;

struct uring_queue {
	uint16_t qid;
	unsigned registered, busy; /* atomic: the queue's entries move between loops */
};

struct uring_ent {
	struct freq req;
	struct fuse_uring_req_header hdr;
	char *payload;
	struct iovec iov[2];
	struct uring_loop *ul;
	struct uring_queue *q;
	uint16_t qid;
	int dead;
	struct ev_task commit_task; /* an answer from another thread: the loop commits it */
};

struct uring_loop {
	struct io_uring ring;
	int ring_ok;
	struct fdev *dev;
	struct evloop *loop;
	int dev_fd;
	int poll_armed;
	struct uring_queue *queues;
	unsigned nqueues;
	struct uring_ent **ents;
	unsigned nents, cap, ndead;
	unsigned ents_start; /* per queue, registered when the loop starts */
	int start_err;
};

struct fdev_uring {
	struct uring_loop *uls;
	unsigned nuls;
};

/* Whether the kernel would offer it: the module parameter, which only root may change. */
int fdev_uring_available(void)
{
	char c = 'N';
	int fd = open("/sys/module/fuse/parameters/enable_uring", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (read(fd, &c, 1) != 1)
		c = 'N';
	close(fd);
	return c == 'Y' || c == 'y' || c == '1';
}

/* The kernel's number of queues: one per possible CPU. */
static unsigned possible_cpus(void)
{
	char buf[256];
	unsigned n = 0;
	ssize_t len;
	int fd = open("/sys/devices/system/cpu/possible", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return 0;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len <= 0)
		return 0;
	buf[len] = '\0';
	/* "0-3,8-11": the highest CPU number plus one. */
	for (char *p = buf; *p;) {
		char *end;
		unsigned long a = strtoul(p, &end, 10), b = a;

		if (end == p)
			break;
		if (*end == '-')
			b = strtoul(end + 1, &end, 10);
		if (b + 1 > n)
			n = (unsigned)b + 1;
		p = *end == ',' ? end + 1 : end;
		if (*p == '\n')
			break;
	}
	return n;
}

static struct io_uring_sqe *get_sqe(struct uring_loop *ul)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ul->ring);

	if (!sqe) { /* full: send what is there and take room */
		io_uring_submit(&ul->ring);
		sqe = io_uring_get_sqe(&ul->ring);
	}
	if (sqe)
		memset(sqe, 0, 2 * sizeof(*sqe)); /* SQE128: the command area too */
	return sqe;
}

/* REGISTER (commit_id 0) or COMMIT_AND_FETCH of an entry. On its loop. */
static void queue_cmd(struct uring_ent *e, uint32_t op, uint64_t commit_id)
{
	struct io_uring_sqe *sqe = get_sqe(e->ul);
	struct fuse_uring_cmd_req *cr;

	if (!sqe) {
		log_err("FUSE: the io_uring of loop %u is full; a request is lost",
			evloop_index(e->ul->loop));
		return;
	}
	sqe->opcode = IORING_OP_URING_CMD;
	sqe->fd = e->ul->dev_fd;
	sqe->cmd_op = op;
	if (op == FUSE_IO_URING_CMD_REGISTER) {
		sqe->addr = (uint64_t)(uintptr_t)e->iov;
		sqe->len = 2;
	}
	cr = (struct fuse_uring_cmd_req *)sqe->cmd;
	cr->commit_id = commit_id;
	cr->qid = e->qid;
	io_uring_sqe_set_data64(sqe, (uint64_t)(uintptr_t)e);
}

static void commit(struct uring_ent *e)
{
	__atomic_sub_fetch(&e->q->busy, 1, __ATOMIC_RELAXED);
	queue_cmd(e, FUSE_IO_URING_CMD_COMMIT_AND_FETCH, e->req.unique);
}

static void commit_task(struct ev_task *t)
{
	commit((struct uring_ent *)((char *)t - offsetof(struct uring_ent, commit_task)));
}

void *fdev_uring_buf(struct freq *r, size_t *cap)
{
	*cap = FDEV_URING_MAX_DATA;
	return r->ent->payload;
}

/* Put the answer in the entry (its data at the payload's start) and commit it from the
 * entry's loop. */
int fdev_uring_reply(struct freq *r, int err, const struct iovec *iov, int n)
{
	struct uring_ent *e = r->ent;
	struct fuse_out_header oh = {.error = -err, .unique = r->unique};
	size_t off = 0;

	for (int i = 0; i < n; i++) {
		if (iov[i].iov_base != e->payload + off)
			memmove(e->payload + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	oh.len = (uint32_t)(sizeof(oh) + off);
	memcpy(e->hdr.in_out, &oh, sizeof(oh));
	e->hdr.ring_ent_in_out.payload_sz = (uint32_t)off;
	fdev_count_reply(r->dev);
	{
		struct evloop *cur = evloop_current();
		struct fdev_uring *u = r->dev->ring;

		/* On a loop, the answer is committed there: the entry's next request then
		 * comes to this loop's ring. The loop that has the answer is the one whose
		 * socket brought the data, so the entry follows the connection and no
		 * answer waits for another loop to wake. A worker's answer goes to the
		 * entry's loop. */
		if (cur && evloop_index(cur) < u->nuls && u->uls[evloop_index(cur)].ring_ok) {
			e->ul = &u->uls[evloop_index(cur)];
			commit(e);
		} else {
			evloop_post(e->ul->loop, &e->commit_task);
		}
	}
	return 0;
}

static struct uring_ent *ent_new(struct uring_loop *ul, struct uring_queue *q);

/* Register n more entries for q. On the loop. */
static int add_ents(struct uring_loop *ul, struct uring_queue *q, unsigned n)
{
	if (ul->nents + n > ul->cap) {
		unsigned cap = ul->cap ? ul->cap * 2 : 64;
		struct uring_ent **a;

		while (cap < ul->nents + n)
			cap *= 2;
		a = realloc(ul->ents, sizeof(*a) * cap);
		if (!a)
			return -ENOMEM;
		ul->ents = a;
		ul->cap = cap;
	}
	for (unsigned k = 0; k < n; k++) {
		struct uring_ent *e = ent_new(ul, q);

		if (!e)
			return -ENOMEM;
		ul->ents[ul->nents++] = e;
		__atomic_add_fetch(&q->registered, 1, __ATOMIC_RELAXED);
		queue_cmd(e, FUSE_IO_URING_CMD_REGISTER, 0);
	}
	return 0;
}

/* A request is in the entry. */
static void take_request(struct uring_ent *e)
{
	struct freq *r = &e->req;
	const struct fuse_in_header *in = (const void *)e->hdr.in_out;
	uint32_t psz = e->hdr.ring_ent_in_out.payload_sz;
	struct uring_queue *q = e->q;

	unsigned busy = __atomic_add_fetch(&q->busy, 1, __ATOMIC_RELAXED);
	unsigned registered = __atomic_load_n(&q->registered, __ATOMIC_RELAXED);

	if (busy + ENTS_HEADROOM > registered && registered < ENTS_MAX) {
		if (add_ents(e->ul, q, ENTS_MAX - registered < ENTS_GROW ? ENTS_MAX - registered
									  : ENTS_GROW) < 0)
			log_warn("FUSE: no memory for more io_uring entries on queue %u", q->qid);
		else
			log_dbg("FUSE: queue %u has %u io_uring entries, %u of them busy", q->qid,
				__atomic_load_n(&q->registered, __ATOMIC_RELAXED), busy);
	}

	memset(r, 0, offsetof(struct freq, touched));
	r->ent = e;
	if (psz > FDEV_URING_MAX_DATA)
		psz = FDEV_URING_MAX_DATA;
	fdev_dispatch(e->ul->dev, r, in, e->hdr.op_in, sizeof(e->hdr.op_in), e->payload, psz);
}

static void on_cqe(struct uring_loop *ul, const struct io_uring_cqe *cqe, int *ep_ready)
{
	struct uring_ent *e;

	if (cqe->user_data == POLL_TAG) {
		*ep_ready = 1;
		if (!(cqe->flags & IORING_CQE_F_MORE))
			ul->poll_armed = 0;
		return;
	}
	e = (struct uring_ent *)(uintptr_t)cqe->user_data;
	if (cqe->res == 0) {
		take_request(e);
		return;
	}
	/* The connection ends (unmount: -ENOTCONN), or the entry was refused. */
	if (!e->dead) {
		e->dead = 1;
		ul->ndead++;
		if (cqe->res != -ENOTCONN && cqe->res != -ECONNABORTED && cqe->res != -ECANCELED)
			log_err("FUSE: io_uring entry of queue %u: %s", e->qid, strerror(-cqe->res));
	}
}

/* The loop's wait: submit what is queued (commits), wait when asked, handle completions. */
static int uring_wait(void *arg, int ep, int block)
{
	struct uring_loop *ul = arg;
	struct io_uring_cqe *cqe;
	unsigned head, seen = 0;
	int ep_ready = 0;

	if (!ul->poll_armed) {
		struct io_uring_sqe *sqe = get_sqe(ul);

		if (sqe) {
			io_uring_prep_poll_multishot(sqe, ep, POLLIN);
			io_uring_sqe_set_data64(sqe, POLL_TAG);
			ul->poll_armed = 1;
		}
	}
	if (block)
		io_uring_submit_and_wait(&ul->ring, 1);
	else
		io_uring_submit_and_get_events(&ul->ring);
	io_uring_for_each_cqe(&ul->ring, head, cqe) {
		seen++;
		on_cqe(ul, cqe, &ep_ready);
	}
	io_uring_cq_advance(&ul->ring, seen);
	return ep_ready;
}

/* On the loop: its ring, its entries registered, the loop waiting through the ring. */
static void setup_on_loop(void *arg)
{
	struct uring_loop *ul = arg;
	struct io_uring_params p = {0};
	int r;

	p.flags = IORING_SETUP_SQE128 | IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	/* Room for a command of every entry it may have; more wait for a submit. */
	r = io_uring_queue_init_params(256, &ul->ring, &p);
	if (r < 0) {
		ul->start_err = r;
		return;
	}
	ul->ring_ok = 1;
	/* Every possible CPU's queue needs entries, or requests on it wait forever. */
	for (unsigned i = 0; i < ul->nqueues; i++) {
		r = add_ents(ul, &ul->queues[i], ul->ents_start);
		if (r < 0) {
			ul->start_err = r;
			return;
		}
	}
	r = io_uring_submit(&ul->ring);
	if (r < 0) {
		ul->start_err = r;
		return;
	}
	evloop_set_waiter(ul->loop, uring_wait, ul);
}

static void teardown_on_loop(void *arg)
{
	struct uring_loop *ul = arg;

	if (!ul->ring_ok)
		return;
	evloop_set_waiter(ul->loop, NULL, NULL);
	io_uring_queue_exit(&ul->ring);
	ul->ring_ok = 0;
}

static struct uring_ent *ent_new(struct uring_loop *ul, struct uring_queue *q)
{
	struct uring_ent *e = calloc(1, sizeof(*e));

	if (!e)
		return NULL;
	e->payload = mmap(NULL, FDEV_URING_MAX_DATA, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (e->payload == MAP_FAILED) {
		free(e);
		return NULL;
	}
	e->ul = ul;
	e->q = q;
	e->qid = q->qid;
	e->iov[0].iov_base = &e->hdr;
	e->iov[0].iov_len = sizeof(e->hdr);
	e->iov[1].iov_base = e->payload;
	e->iov[1].iov_len = FDEV_URING_MAX_DATA;
	e->commit_task.fn = commit_task;
	return e;
}

int fdev_uring_start(struct fdev *d, char *err, size_t errlen)
{
	unsigned nq = possible_cpus(), nl = evloops_count(), start;
	struct fdev_uring *u;

	if (!nq || !nl) {
		snprintf(err, errlen, "FUSE over io_uring: cannot tell the CPUs");
		return -EINVAL;
	}
	u = calloc(1, sizeof(*u));
	if (!u || !(u->uls = calloc(nl, sizeof(*u->uls)))) {
		free(u);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	d->ring = u;
	u->nuls = nl;
	/* Twice a queue's bound spread over the queues, so that two busy CPUs need not grow. */
	start = nq ? 2 * ENTS_MAX / nq : ENTS_MAX;
	start = start > ENTS_MAX ? ENTS_MAX : start < ENTS_MIN ? ENTS_MIN : start;
	for (unsigned i = 0; i < nl; i++) {
		struct uring_loop *ul = &u->uls[i];
		unsigned mine = 0;

		ul->dev = d;
		ul->ents_start = start;
		ul->loop = evloop_get(i);
		ul->dev_fd = d->chans[i].fd;
		for (unsigned q = i; q < nq; q += nl)
			mine++;
		ul->queues = calloc(mine ? mine : 1, sizeof(*ul->queues));
		if (!ul->queues) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		for (unsigned q = i; q < nq; q += nl)
			ul->queues[ul->nqueues++].qid = (uint16_t)q;
	}
	for (unsigned i = 0; i < nl; i++) {
		struct uring_loop *ul = &u->uls[i];

		evloop_call_sync(ul->loop, setup_on_loop, ul);
		if (ul->start_err) {
			snprintf(err, errlen, "FUSE over io_uring on loop %u: %s", i,
				 strerror(-ul->start_err));
			return ul->start_err;
		}
	}
	log_info("FUSE over io_uring: %u queue(s) of %u entries (at most %d) of %u KiB on %u "
		 "loop(s)", nq, start, ENTS_MAX, FDEV_URING_MAX_DATA / 1024, nl);
	return 0;
}

void fdev_uring_stop(struct fdev *d)
{
	struct fdev_uring *u = d->ring;

	for (unsigned i = 0; u && i < u->nuls; i++)
		if (u->uls[i].loop)
			evloop_call_sync(u->uls[i].loop, teardown_on_loop, &u->uls[i]);
}

void fdev_uring_free(struct fdev *d)
{
	struct fdev_uring *u = d->ring;

	if (!u)
		return;
	for (unsigned i = 0; i < u->nuls; i++) {
		struct uring_loop *ul = &u->uls[i];

		for (unsigned k = 0; k < ul->nents; k++) {
			munmap(ul->ents[k]->payload, FDEV_URING_MAX_DATA);
			free(ul->ents[k]);
		}
		free(ul->ents);
		free(ul->queues);
	}
	free(u->uls);
	free(u);
	d->ring = NULL;
}

#endif
