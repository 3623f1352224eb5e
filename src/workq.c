/* A pool of worker threads fed from one line under one lock. Threads are started when work
 * finds none idle and kept: blocking work comes in bursts (an fsync per writer, a
 * read-modify-write per unaligned writer). */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

#include "log.h"
#include "workq.h"

#define WORKQ_DEFAULT_MAX 32

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct work *head, *tail;
	unsigned threads, idle, busy, peak, max;
	unsigned long long done;
	int stop, warned;
	pthread_t *tids;
	unsigned ntids, cap;
} wq = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER,
	.max = WORKQ_DEFAULT_MAX};

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&wq.lock);
	for (;;) {
		struct work *w;

		while (!wq.head && !wq.stop) {
			wq.idle++;
			pthread_cond_wait(&wq.cond, &wq.lock);
			wq.idle--;
		}
		if (!wq.head)
			break; /* stopping, and nothing left */
		w = wq.head;
		wq.head = w->next;
		if (!wq.head)
			wq.tail = NULL;
		wq.busy++;
		pthread_mutex_unlock(&wq.lock);
		w->fn(w);
		pthread_mutex_lock(&wq.lock);
		wq.busy--;
		wq.done++;
	}
	pthread_mutex_unlock(&wq.lock);
	return NULL;
}

/* Lock held. */
static int start_thread(void)
{
	sigset_t all, old;
	pthread_t t;
	int r;

	if (wq.ntids == wq.cap) {
		unsigned cap = wq.cap ? wq.cap * 2 : 8;
		pthread_t *a = realloc(wq.tids, sizeof(*a) * cap);

		if (!a)
			return -ENOMEM;
		wq.tids = a;
		wq.cap = cap;
	}
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	r = pthread_create(&t, NULL, worker_main, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r)
		return -r;
	wq.tids[wq.ntids++] = t;
	wq.threads++;
	if (wq.threads > wq.peak)
		wq.peak = wq.threads;
	return 0;
}

int workq_run(struct work *w)
{
	int r = 0;

	w->next = NULL;
	pthread_mutex_lock(&wq.lock);
	if (wq.stop) {
		pthread_mutex_unlock(&wq.lock);
		return -ESHUTDOWN;
	}
	if (wq.tail)
		wq.tail->next = w;
	else
		wq.head = w;
	wq.tail = w;
	if (wq.idle) {
		pthread_cond_signal(&wq.cond);
	} else if (wq.threads < wq.max) {
		r = start_thread();
		if (r && !wq.threads) {
			/* Nobody would ever take it. */
			wq.head = wq.tail = NULL;
			pthread_mutex_unlock(&wq.lock);
			return r;
		}
		if (r && !wq.warned) {
			log_warn("cannot start another worker thread; %u serve", wq.threads);
			wq.warned = 1;
		}
		r = 0;
	}
	pthread_mutex_unlock(&wq.lock);
	return r;
}

void workq_set_max(unsigned max_threads)
{
	pthread_mutex_lock(&wq.lock);
	wq.max = max_threads ? max_threads : 1;
	pthread_mutex_unlock(&wq.lock);
}

void workq_stop(void)
{
	pthread_mutex_lock(&wq.lock);
	wq.stop = 1;
	pthread_cond_broadcast(&wq.cond);
	pthread_mutex_unlock(&wq.lock);
	for (unsigned i = 0; i < wq.ntids; i++)
		pthread_join(wq.tids[i], NULL);
	free(wq.tids);
	wq.tids = NULL;
	wq.ntids = wq.cap = 0;
	wq.threads = 0;
}

void workq_get_stats(struct workq_stats *st)
{
	pthread_mutex_lock(&wq.lock);
	st->threads = wq.threads;
	st->busy = wq.busy;
	st->peak = wq.peak;
	st->done = wq.done;
	pthread_mutex_unlock(&wq.lock);
}
