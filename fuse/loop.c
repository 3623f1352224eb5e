/* Workers on a list under one lock; buffers from a small cache of mappings. At most
 * max_readers workers read the device: the kernel wakes a sleeping reader for every request
 * while there is one, so a reader more than needed costs a sleep and a wake-up per request;
 * with few, one back from a request finds the next queued. The device is read without
 * waiting: the commands of the requests a reader takes in a row are queued corked
 * (session_cork) and written, each connection's together, when nothing more is queued (or
 * after CORK_REQUESTS); only then does the reader wait, in poll. The other workers wait
 * parked, for a request that may block its worker (anything but a read or a write that
 * completes later, or fs_loop_blocking, which lun, session and conn call through
 * session_set_wait_hook before they wait): another takes its place as a reader, a parked
 * one or a new one (up to max_threads). A worker that finds
 * more than max_idle idle (reading or parked) after its request ends itself, and is joined
 * by the next start or at the end. Cancellation is enabled only while a worker waits for a
 * request, so a request that has begun is always carried through. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "fs.h" /* the FUSE API version, and libfuse */
#include "log.h"
#include "loop.h"
#include "session.h"

/* libfuse 3 reads up to 256 pages plus one for the headers (and caps max_write to fit);
 * the kernel writes no more than one request, at most FS_LOOP_MAX_WRITE of data and its
 * headers. Requests are read at RBUF_OFF, so that a write's data (after a fuse_in_header
 * and a fuse_write_in, 40 bytes each) starts on a page: the socket takes it from there. */
#define RBUF_READ (FS_LOOP_MAX_WRITE + 4096)
#define RBUF_OFF (4096 - 80)
#define RBUF_SIZE (RBUF_OFF + RBUF_READ)
/* Free buffers kept for reuse, bounded by the bytes requests have written into them (what
 * they hold in memory); beyond, a returned buffer is unmapped. */
#define CACHE_BYTES (8 * 1024 * 1024)
#define CACHE_MAX 64
#define OP_FORGET 2
#define OP_READ 15
#define OP_WRITE 16
#define OP_BATCH_FORGET 42
/* Requests whose commands may wait, corked, for the next: a bound on that wait; and a
 * request larger than this (a write's data) is not held back. */
#define CORK_REQUESTS 16
#define CORK_REQUEST_BYTES (16 * 1024)

struct fs_rbuf {
	struct fs_rbuf *next; /* in the cache */
	void *mem;
	size_t touched; /* the largest request read into it */
};

struct worker {
	struct worker *next;
	pthread_t thread;
	struct fs_rbuf *rb;
	/* Here, not on the worker's stack: a worker cancelled in its poll leaves its frame
	 * behind unwound, which AddressSanitizer would see as poisoned stack. */
	struct fuse_buf fb;
	struct pollfd pfd;
	int ncorked; /* requests whose commands it holds back (session_cork) */
	struct loop *lp;
	int blocking; /* the request being served may keep it waiting: replaced as a reader */
};

struct loop {
	struct fuse_session *se;
	pthread_mutex_t lock;
	struct worker *workers; /* running */
	struct worker *ended;   /* ended for being idle, to be joined */
	unsigned nworkers, max_threads, max_idle;
	unsigned navail;      /* workers reading the device (or in poll, waiting to) */
	unsigned nparked;     /* workers waiting on park */
	unsigned wakes;       /* of the parked, those woken and not yet back */
	unsigned max_readers; /* navail is kept at or below it */
	unsigned peak;        /* the most workers at once */
	int nonblock;         /* the device is read without waiting: commands may be corked */
	pthread_cond_t park;
	int stopping;
	int warned; /* that no further worker could be started */
	int error;
	sem_t finish;
};

static struct {
	pthread_mutex_t lock;
	struct fs_rbuf *head;
	size_t bytes; /* touched bytes of the cached buffers */
	int n;
	int closed; /* no loop runs: returned buffers are unmapped */
} cache = {.lock = PTHREAD_MUTEX_INITIALIZER, .closed = 1};

static __thread struct worker *cur; /* the worker this thread is, if any */

/* The loop that runs, for fs_loop_stats. */
static pthread_mutex_t running_lock = PTHREAD_MUTEX_INITIALIZER;
static struct loop *running;

static void rbuf_unmap(struct fs_rbuf *rb)
{
	munmap(rb->mem, RBUF_SIZE);
	free(rb);
}

static struct fs_rbuf *rbuf_get(void)
{
	struct fs_rbuf *rb;

	pthread_mutex_lock(&cache.lock);
	rb = cache.head;
	if (rb) {
		cache.head = rb->next;
		cache.bytes -= rb->touched;
		cache.n--;
	}
	pthread_mutex_unlock(&cache.lock);
	if (rb)
		return rb;
	rb = calloc(1, sizeof(*rb));
	if (!rb)
		return NULL;
	rb->mem = mmap(NULL, RBUF_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (rb->mem == MAP_FAILED) {
		free(rb);
		return NULL;
	}
	return rb;
}

void fs_loop_put(struct fs_rbuf *rb)
{
	if (!rb)
		return;
	pthread_mutex_lock(&cache.lock);
	if (!cache.closed && cache.n < CACHE_MAX && cache.bytes + rb->touched <= CACHE_BYTES) {
		rb->next = cache.head;
		cache.head = rb;
		cache.bytes += rb->touched;
		cache.n++;
		rb = NULL;
	}
	pthread_mutex_unlock(&cache.lock);
	if (rb)
		rbuf_unmap(rb);
}

struct fs_rbuf *fs_loop_take(const void *data, size_t len)
{
	struct worker *w = cur;
	uintptr_t p = (uintptr_t)data, b;
	struct fs_rbuf *taken;

	if (!w) /* not one of this loop's workers */
		return NULL;
	b = (uintptr_t)w->rb->mem;
	if (p < b || len > RBUF_SIZE || p - b > RBUF_SIZE - len)
		return NULL;
	taken = w->rb;
	w->rb = rbuf_get();
	if (!w->rb) { /* no buffer for the next request: the caller copies instead */
		w->rb = taken;
		return NULL;
	}
	return taken;
}

static void free_worker(struct worker *w)
{
	fs_loop_put(w->rb);
	free(w);
}

static void join_ended(struct loop *lp)
{
	while (lp->ended) {
		struct worker *w = lp->ended;

		lp->ended = w->next;
		pthread_join(w->thread, NULL); /* it holds nothing: it is on its way out */
		free_worker(w);
	}
}

static void *worker_main(void *arg);

/* With lp->lock held. Signals go to the main thread, which waits for the end. */
static int start_worker(struct loop *lp)
{
	struct worker *w = calloc(1, sizeof(*w));
	sigset_t all, old;
	int r;

	join_ended(lp);
	if (!w || !(w->rb = rbuf_get())) {
		free(w);
		return -ENOMEM;
	}
	w->lp = lp;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&w->thread, NULL, worker_main, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r) {
		free_worker(w);
		return -r;
	}
	w->next = lp->workers;
	lp->workers = w;
	lp->nworkers++;
	lp->navail++;
	if (lp->nworkers > lp->peak)
		lp->peak = lp->nworkers;
	return 0;
}

/* With lp->lock held: get another worker reading, a parked one or a new one. */
static void add_reader(struct loop *lp)
{
	if (lp->stopping)
		return;
	if (lp->nparked > lp->wakes) {
		lp->wakes++;
		pthread_cond_signal(&lp->park);
		return;
	}
	if (lp->nworkers < lp->max_threads && start_worker(lp) < 0 && !lp->warned) {
		log_warn("cannot start another FUSE thread; %u serve the mount", lp->nworkers);
		lp->warned = 1;
	}
}

/* Out with the commands this worker held back. */
static void uncork(struct worker *w)
{
	session_uncork();
	w->ncorked = 0;
}

void fs_loop_blocking(void)
{
	struct worker *w = cur;

	if (!w) {
		session_uncork();
		return;
	}
	uncork(w);
	if (w->blocking)
		return;
	w->blocking = 1;
	pthread_mutex_lock(&w->lp->lock);
	if (w->lp->navail < w->lp->max_readers)
		add_reader(w->lp);
	pthread_mutex_unlock(&w->lp->lock);
}

/* Whether a request may keep its worker waiting: not a read, nor a write (whose handler says
 * so itself, with fs_loop_blocking, when it waits), nor a FORGET (no reply at all). */
static int may_block(uint32_t op)
{
	return op != OP_READ && op != OP_WRITE && op != OP_FORGET && op != OP_BATCH_FORGET;
}

static void unlink_worker(struct loop *lp, struct worker *w)
{
	for (struct worker **pp = &lp->workers; *pp; pp = &(*pp)->next) {
		if (*pp == w) {
			*pp = w->next;
			return;
		}
	}
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct loop *lp = w->lp;

	cur = w;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	while (!fuse_session_exited(lp->se)) {
		int r, forget = 0;
		uint32_t op = 0;

		w->fb = (struct fuse_buf){.mem = (char *)w->rb->mem + RBUF_OFF, .size = RBUF_READ};
		r = fuse_session_receive_buf(lp->se, &w->fb);
		if (r == -EAGAIN) {
			/* Nothing more queued: out with what this thread submitted, then wait. */
			w->pfd = (struct pollfd){.fd = fuse_session_fd(lp->se), .events = POLLIN};
			uncork(w);
			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
			poll(&w->pfd, 1, -1);
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
			continue;
		}
		if (r == -EINTR)
			continue;
		if (r <= 0) { /* 0: unmounted; the session is exited */
			if (r < 0) {
				pthread_mutex_lock(&lp->lock);
				lp->error = r;
				pthread_mutex_unlock(&lp->lock);
				fuse_session_exit(lp->se);
			}
			break;
		}
		if ((size_t)r + RBUF_OFF > w->rb->touched)
			w->rb->touched = (size_t)r + RBUF_OFF;
		if (!(w->fb.flags & FUSE_BUF_IS_FD) && (size_t)r >= 8)
			op = ((const uint32_t *)w->fb.mem)[1];
		/* A burst of FORGETs must not start a thread each. */
		forget = op == OP_FORGET || op == OP_BATCH_FORGET;
		w->blocking = may_block(op);
		pthread_mutex_lock(&lp->lock);
		if (!forget)
			lp->navail--;
		/* A request that may hold its worker has another take its place as a reader;
		 * otherwise one is added only while fewer than max_readers are up at all. */
		if (w->blocking ? lp->navail < lp->max_readers
				: !lp->navail &&
					  lp->nworkers - lp->nparked + lp->wakes < lp->max_readers)
			add_reader(lp);
		pthread_mutex_unlock(&lp->lock);

		if (w->blocking) {
			uncork(w);
		} else if (!forget && lp->nonblock) {
			session_cork();
			w->ncorked++;
		}
		fuse_session_process_buf(lp->se, &w->fb);
		/* A write of much data goes out at once: holding it back would delay more bytes
		 * than a command's worth, and writing several together saves little. */
		if (w->ncorked >= CORK_REQUESTS || (size_t)r > CORK_REQUEST_BYTES)
			uncork(w);

		pthread_mutex_lock(&lp->lock);
		/* Idle are the readers, the parked and this one. It ends only if that leaves a
		 * reader, or nobody parked (the busy come back to read). */
		if (lp->navail + lp->nparked + !forget > lp->max_idle && lp->nworkers > 1 &&
		    (lp->navail > (unsigned)forget || !lp->nparked) && !lp->stopping) {
			lp->nworkers--;
			if (forget)
				lp->navail--;
			unlink_worker(lp, w);
			w->next = lp->ended;
			lp->ended = w;
			pthread_mutex_unlock(&lp->lock);
			session_uncork();
			return NULL;
		}
		if (lp->navail + !forget > lp->max_readers && !lp->stopping) {
			if (forget)
				lp->navail--;
			lp->nparked++;
			if (w->ncorked) { /* nothing may wait on a parked thread */
				pthread_mutex_unlock(&lp->lock);
				uncork(w);
				pthread_mutex_lock(&lp->lock);
			}
			/* Woken, it reads only if still wanted: another may have come back since. */
			for (;;) {
				while (!lp->wakes && !lp->stopping)
					pthread_cond_wait(&lp->park, &lp->lock);
				if (lp->stopping)
					break;
				lp->wakes--;
				if (lp->navail < lp->max_readers)
					break;
			}
			lp->nparked--;
			if (lp->stopping) {
				pthread_mutex_unlock(&lp->lock);
				break;
			}
			lp->navail++;
		} else if (!forget) {
			lp->navail++;
		}
		pthread_mutex_unlock(&lp->lock);
	}
	session_uncork();
	sem_post(&lp->finish);
	return NULL;
}

int fs_loop_run(struct fuse_session *se, unsigned max_threads, unsigned max_idle)
{
	struct loop lp = {
		.se = se,
		.lock = PTHREAD_MUTEX_INITIALIZER,
		.max_threads = max_threads ? max_threads : 1,
		.max_idle = max_idle,
		.park = PTHREAD_COND_INITIALIZER,
	};
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	int r;

	/* One reader per four CPUs, one at least: a reader takes a request in a few
	 * microseconds, so one keeps up with a queue of 4 KiB I/O the target needs both CPUs of
	 * a small machine for, and finds the next request queued instead of sleeping. */
	lp.max_readers = ncpu >= 8 ? (unsigned)ncpu / 4 : 1;
	if (lp.max_readers > lp.max_threads)
		lp.max_readers = lp.max_threads;

	pthread_mutex_lock(&cache.lock);
	cache.closed = 0;
	pthread_mutex_unlock(&cache.lock);
	sem_init(&lp.finish, 0, 0);
	/* Readers find out that nothing is queued without sleeping in read(); a reader that
	 * could sleep there must hold nothing back. */
	r = fcntl(fuse_session_fd(se), F_GETFL);
	lp.nonblock = r >= 0 && fcntl(fuse_session_fd(se), F_SETFL, r | O_NONBLOCK) == 0;
	pthread_mutex_lock(&running_lock);
	running = &lp;
	pthread_mutex_unlock(&running_lock);
	pthread_mutex_lock(&lp.lock);
	r = start_worker(&lp);
	pthread_mutex_unlock(&lp.lock);
	/* The signal handlers only mark the session exited: look again now and then. */
	while (!r && !fuse_session_exited(se)) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		sem_timedwait(&lp.finish, &ts);
	}
	pthread_mutex_lock(&running_lock);
	running = NULL;
	pthread_mutex_unlock(&running_lock);
	pthread_mutex_lock(&lp.lock);
	lp.stopping = 1;
	pthread_cond_broadcast(&lp.park);
	for (struct worker *w = lp.workers; w; w = w->next)
		pthread_cancel(w->thread);
	pthread_mutex_unlock(&lp.lock);
	/* No worker starts or ends itself from here on: the list is the main thread's. */
	while (lp.workers) {
		struct worker *w = lp.workers;

		lp.workers = w->next;
		pthread_join(w->thread, NULL);
		free_worker(w);
	}
	join_ended(&lp);
	sem_destroy(&lp.finish);
	pthread_cond_destroy(&lp.park);
	pthread_mutex_lock(&cache.lock);
	cache.closed = 1;
	while (cache.head) {
		struct fs_rbuf *rb = cache.head;

		cache.head = rb->next;
		rbuf_unmap(rb);
	}
	cache.bytes = 0;
	cache.n = 0;
	pthread_mutex_unlock(&cache.lock);
	return r ? r : lp.error;
}

int fs_loop_stats(struct fs_loop_stats *st)
{
	int r = -1;

	pthread_mutex_lock(&running_lock);
	if (running) {
		r = 0;
		pthread_mutex_lock(&running->lock);
		st->threads = running->nworkers;
		st->reading = running->navail;
		st->parked = running->nparked;
		st->peak = running->peak;
		st->max_reading = running->max_readers;
		pthread_mutex_unlock(&running->lock);
	}
	pthread_mutex_unlock(&running_lock);
	return r;
}
