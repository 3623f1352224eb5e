/* Workers on a list under one lock; buffers from a small cache of mappings. A worker that
 * receives a request while no other is idle starts another (up to max_threads); one that
 * finds more than max_idle idle after its request ends itself, and is joined by the next
 * start or at the end. Cancellation is enabled only while a worker waits for a request, so
 * a request that has begun is always carried through. */
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>

#include "fs.h" /* the FUSE API version, and libfuse */
#include "log.h"
#include "loop.h"

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
#define OP_BATCH_FORGET 42

struct fs_rbuf {
	struct fs_rbuf *next; /* in the cache */
	void *mem;
	size_t touched; /* the largest request read into it */
};

struct worker {
	struct worker *next;
	pthread_t thread;
	struct fs_rbuf *rb;
	/* Here, not on the worker's stack: a worker cancelled in its read leaves its frame
	 * behind unwound, which AddressSanitizer would see as poisoned stack. */
	struct fuse_buf fb;
	struct loop *lp;
};

struct loop {
	struct fuse_session *se;
	pthread_mutex_t lock;
	struct worker *workers; /* running */
	struct worker *ended;   /* ended for being idle, to be joined */
	unsigned nworkers, navail, max_threads, max_idle;
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
	return 0;
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

		w->fb = (struct fuse_buf){.mem = (char *)w->rb->mem + RBUF_OFF, .size = RBUF_READ};
		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		r = fuse_session_receive_buf(lp->se, &w->fb);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (r == -EINTR || r == -EAGAIN)
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
		/* A burst of FORGETs must not start a thread each. */
		if (!(w->fb.flags & FUSE_BUF_IS_FD) && (size_t)r >= 8) {
			uint32_t op = ((const uint32_t *)w->fb.mem)[1];

			forget = op == OP_FORGET || op == OP_BATCH_FORGET;
		}
		pthread_mutex_lock(&lp->lock);
		if (!forget)
			lp->navail--;
		if (!lp->navail && lp->nworkers < lp->max_threads && !lp->stopping &&
		    start_worker(lp) < 0 && !lp->warned) {
			log_warn("cannot start another FUSE thread; %u serve the mount", lp->nworkers);
			lp->warned = 1;
		}
		pthread_mutex_unlock(&lp->lock);

		fuse_session_process_buf(lp->se, &w->fb);

		pthread_mutex_lock(&lp->lock);
		if (!forget)
			lp->navail++;
		if (lp->navail > lp->max_idle && lp->nworkers > 1 && !lp->stopping) {
			lp->navail--;
			lp->nworkers--;
			unlink_worker(lp, w);
			w->next = lp->ended;
			lp->ended = w;
			pthread_mutex_unlock(&lp->lock);
			return NULL;
		}
		pthread_mutex_unlock(&lp->lock);
	}
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
	};
	int r;

	pthread_mutex_lock(&cache.lock);
	cache.closed = 0;
	pthread_mutex_unlock(&cache.lock);
	sem_init(&lp.finish, 0, 0);
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
	pthread_mutex_lock(&lp.lock);
	lp.stopping = 1;
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
