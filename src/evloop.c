/* Event loops. Each is a thread around an epoll set and an eventfd that other threads kick
 * when they post work while it sleeps. A posted task runs after the events of the
 * iteration, so what the events queued (commands for a socket) goes out in one batch. */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "evloop.h"
#include "log.h"

#define MAX_EVENTS 64
#define MAX_LOOPS 64
#define MAX_DELETED 16

struct evloop {
	unsigned index;
	int ep, wake_fd;
	int cpu;
	pthread_t thread;
	int stop;    /* atomic */
	int polling; /* atomic: in epoll_wait, or about to be */
	/* Tasks posted by this loop's own thread: no lock. */
	struct ev_task *own_head, *own_tail;
	/* Tasks posted by other threads. */
	pthread_mutex_t lock;
	struct ev_task *mb_head, *mb_tail;
	/* Watches deleted while the current batch of events is being dispatched. */
	struct ev_watch *deleted[MAX_DELETED];
	int ndeleted, dispatching;
	int (*waiter)(void *arg, int ep, int block);
	void *waiter_arg;
	int ep_ready; /* the waiter saw the epoll set ready */
	int ep_more;  /* a callback left work: look at the epoll set again */
	uint64_t wakeups, events, tasks; /* atomic */
};

static struct evloop *loops[MAX_LOOPS];
static unsigned nloops;
static __thread struct evloop *current;

struct evloop *evloop_current(void)
{
	return current;
}

unsigned evloops_count(void)
{
	return nloops;
}

struct evloop *evloop_get(unsigned i)
{
	return i < nloops ? loops[i] : NULL;
}

unsigned evloop_index(const struct evloop *l)
{
	return l->index;
}

int evloop_add(struct evloop *l, struct ev_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	return epoll_ctl(l->ep, EPOLL_CTL_ADD, w->fd, &ev) < 0 ? -errno : 0;
}

int evloop_mod(struct evloop *l, struct ev_watch *w, uint32_t events)
{
	struct epoll_event ev = {.events = events, .data.ptr = w};

	return epoll_ctl(l->ep, EPOLL_CTL_MOD, w->fd, &ev) < 0 ? -errno : 0;
}

void evloop_del(struct evloop *l, struct ev_watch *w)
{
	epoll_ctl(l->ep, EPOLL_CTL_DEL, w->fd, NULL);
	/* An event for it may be waiting in the batch being dispatched: skip it. */
	if (l->dispatching && l->ndeleted < MAX_DELETED)
		l->deleted[l->ndeleted++] = w;
}

static void kick(struct evloop *l)
{
	uint64_t one = 1;

	if (write(l->wake_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_err("event loop %u: cannot wake it: %s", l->index, strerror(errno));
}

int evloop_post(struct evloop *l, struct ev_task *t)
{
	int was = 0;

	if (!__atomic_compare_exchange_n(&t->queued, &was, 1, 0, __ATOMIC_ACQ_REL,
					 __ATOMIC_ACQUIRE))
		return 0;
	t->next = NULL;
	if (current == l) {
		if (l->own_tail)
			l->own_tail->next = t;
		else
			l->own_head = t;
		l->own_tail = t;
		return 1;
	}
	pthread_mutex_lock(&l->lock);
	if (l->mb_tail)
		l->mb_tail->next = t;
	else
		l->mb_head = t;
	l->mb_tail = t;
	pthread_mutex_unlock(&l->lock);
	/* The loop sets polling before it looks at its mailbox for the last time: either it
	 * sees this task, or this sees it polling. */
	if (__atomic_load_n(&l->polling, __ATOMIC_SEQ_CST))
		kick(l);
	return 1;
}

struct sync_call {
	struct ev_task task;
	void (*fn)(void *arg);
	void *arg;
	pthread_mutex_t m;
	pthread_cond_t c;
	int done;
};

static void run_sync_call(struct ev_task *t)
{
	struct sync_call *sc = (struct sync_call *)t;

	sc->fn(sc->arg);
	pthread_mutex_lock(&sc->m);
	sc->done = 1;
	pthread_cond_signal(&sc->c);
	pthread_mutex_unlock(&sc->m);
}

void evloop_call_sync(struct evloop *l, void (*fn)(void *arg), void *arg)
{
	struct sync_call sc = {.task.fn = run_sync_call, .fn = fn, .arg = arg,
			       .m = PTHREAD_MUTEX_INITIALIZER, .c = PTHREAD_COND_INITIALIZER};

	if (current == l) {
		fn(arg);
		return;
	}
	evloop_post(l, &sc.task);
	pthread_mutex_lock(&sc.m);
	while (!sc.done)
		pthread_cond_wait(&sc.c, &sc.m);
	pthread_mutex_unlock(&sc.m);
	pthread_mutex_destroy(&sc.m);
	pthread_cond_destroy(&sc.c);
}

/* Run what is posted; tasks that post more run in the same round, up to a bound, so that
 * the sockets are looked at again now and then. Whether any task is left. */
static int run_tasks(struct evloop *l)
{
	for (int round = 0; round < 64; round++) {
		struct ev_task *list;

		pthread_mutex_lock(&l->lock);
		list = l->mb_head;
		l->mb_head = l->mb_tail = NULL;
		pthread_mutex_unlock(&l->lock);
		if (l->own_head) {
			/* Own tasks after the mailbox's: they are the iteration's flushes. */
			if (list) {
				struct ev_task *last = list;

				while (last->next)
					last = last->next;
				last->next = l->own_head;
			} else {
				list = l->own_head;
			}
			l->own_head = l->own_tail = NULL;
		}
		if (!list)
			return 0;
		while (list) {
			struct ev_task *t = list;

			list = t->next;
			t->next = NULL;
			__atomic_store_n(&t->queued, 0, __ATOMIC_RELEASE);
			t->fn(t);
			__atomic_add_fetch(&l->tasks, 1, __ATOMIC_RELAXED);
		}
	}
	return 1;
}

static int mailbox_empty(struct evloop *l)
{
	int empty;

	pthread_mutex_lock(&l->lock);
	empty = l->mb_head == NULL;
	pthread_mutex_unlock(&l->lock);
	return empty && !l->own_head;
}

static void *loop_main(void *arg)
{
	struct evloop *l = arg;
	struct epoll_event evs[MAX_EVENTS];
	int more = 0;

	current = l;
	while (!__atomic_load_n(&l->stop, __ATOMIC_ACQUIRE)) {
		int n, timeout = -1;

		__atomic_store_n(&l->polling, 1, __ATOMIC_SEQ_CST);
		if (more || !mailbox_empty(l))
			timeout = 0;
		if (l->waiter) {
			/* The waiter hears only of new readiness, not of what a watch left for
			 * its next turn (evloop_more) or of events beyond one batch. */
			if (l->waiter(l->waiter_arg, l->ep, timeout && !l->ep_ready))
				l->ep_ready = 1;
			n = l->ep_ready ? epoll_wait(l->ep, evs, MAX_EVENTS, 0) : 0;
			l->ep_ready = n == MAX_EVENTS;
		} else {
			n = epoll_wait(l->ep, evs, MAX_EVENTS, timeout);
		}
		__atomic_store_n(&l->polling, 0, __ATOMIC_RELAXED);
		if (n < 0 && errno != EINTR) {
			log_err("event loop %u: epoll_wait: %s", l->index, strerror(errno));
			break;
		}
		if (n > 0)
			__atomic_add_fetch(&l->wakeups, 1, __ATOMIC_RELAXED);
		l->dispatching = 1;
		l->ndeleted = 0;
		for (int i = 0; i < n; i++) {
			struct ev_watch *w = evs[i].data.ptr;
			int gone = 0;

			if (!w) { /* the wake-up eventfd */
				uint64_t v;

				if (read(l->wake_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
					log_err("event loop %u: eventfd: %s", l->index,
						strerror(errno));
				continue;
			}
			for (int k = 0; k < l->ndeleted && !gone; k++)
				gone = l->deleted[k] == w;
			if (gone)
				continue;
			w->cb(w, evs[i].events);
			__atomic_add_fetch(&l->events, 1, __ATOMIC_RELAXED);
		}
		l->dispatching = 0;
		if (l->ep_more) {
			l->ep_ready = 1;
			l->ep_more = 0;
		}
		more = run_tasks(l);
	}
	run_tasks(l);
	return NULL;
}

static void loop_free(struct evloop *l)
{
	if (!l)
		return;
	if (l->ep >= 0)
		close(l->ep);
	if (l->wake_fd >= 0)
		close(l->wake_fd);
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* The i-th CPU this process may run on, or -1. */
static int nth_cpu(unsigned i)
{
	cpu_set_t set;
	unsigned seen = 0;

	if (sched_getaffinity(0, sizeof(set), &set) < 0)
		return -1;
	for (int c = 0; c < CPU_SETSIZE; c++)
		if (CPU_ISSET(c, &set) && seen++ == i)
			return c;
	return -1;
}

int evloops_start(unsigned n, int pin)
{
	sigset_t all, old;
	int r = 0;

	if (!n) {
		long c = sysconf(_SC_NPROCESSORS_ONLN);

		n = c > 0 ? (unsigned)c : 1;
	}
	if (n > MAX_LOOPS)
		n = MAX_LOOPS;
	/* Signals are the main thread's. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < n && !r; i++) {
		struct evloop *l = calloc(1, sizeof(*l));
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		if (!l) {
			r = -ENOMEM;
			break;
		}
		l->index = i;
		l->cpu = -1;
		pthread_mutex_init(&l->lock, NULL);
		l->ep = epoll_create1(EPOLL_CLOEXEC);
		l->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->ep < 0 || l->wake_fd < 0 ||
		    epoll_ctl(l->ep, EPOLL_CTL_ADD, l->wake_fd, &ev) < 0) {
			r = -errno;
			loop_free(l);
			break;
		}
		r = -pthread_create(&l->thread, NULL, loop_main, l);
		if (r) {
			loop_free(l);
			break;
		}
		if (pin) {
			int cpu = nth_cpu(i);
			cpu_set_t set;

			CPU_ZERO(&set);
			if (cpu >= 0) {
				CPU_SET(cpu, &set);
				if (pthread_setaffinity_np(l->thread, sizeof(set), &set) == 0)
					l->cpu = cpu;
			}
		}
		loops[nloops++] = l;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		evloops_stop();
	return r;
}

void evloops_stop(void)
{
	for (unsigned i = 0; i < nloops; i++) {
		__atomic_store_n(&loops[i]->stop, 1, __ATOMIC_RELEASE);
		kick(loops[i]);
	}
	for (unsigned i = 0; i < nloops; i++) {
		pthread_join(loops[i]->thread, NULL);
		loop_free(loops[i]);
		loops[i] = NULL;
	}
	nloops = 0;
}

void evloop_more(struct evloop *l)
{
	l->ep_more = 1;
}

void evloop_set_waiter(struct evloop *l, int (*wait)(void *arg, int ep, int block), void *arg)
{
	l->waiter = wait;
	l->waiter_arg = arg;
}

void evloop_get_stats(unsigned i, struct evloop_stats *st)
{
	struct evloop *l = evloop_get(i);

	memset(st, 0, sizeof(*st));
	st->cpu = -1;
	if (!l)
		return;
	st->wakeups = __atomic_load_n(&l->wakeups, __ATOMIC_RELAXED);
	st->events = __atomic_load_n(&l->events, __ATOMIC_RELAXED);
	st->tasks = __atomic_load_n(&l->tasks, __ATOMIC_RELAXED);
	st->cpu = l->cpu;
}
