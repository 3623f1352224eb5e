/* Event loops: a few threads, each waiting on its own epoll set (sockets, its FUSE device)
 * and running everything that arrives there to completion. Other threads hand a loop work
 * through its mailbox. Nothing that runs on a loop may wait for another thread. */
#ifndef ISCSIFS_EVLOOP_H
#define ISCSIFS_EVLOOP_H

#include <stdint.h>

struct evloop;

/* A file descriptor watched by a loop; cb runs on that loop's thread. */
struct ev_watch {
	int fd;
	void (*cb)(struct ev_watch *w, uint32_t events);
};

/* Work run at the end of the loop iteration it was queued in (or the next one of the loop
 * it was posted to): one node, queued at most once at a time. */
struct ev_task {
	struct ev_task *next;
	void (*fn)(struct ev_task *t);
	int queued; /* atomic */
};

/* Start n loops (0: one per online CPU); pin: bind loop i to CPU i. 0 or -errno. */
int evloops_start(unsigned n, int pin);
/* Stop and join them; every watch must be gone by then. */
void evloops_stop(void);
unsigned evloops_count(void);
struct evloop *evloop_get(unsigned i);
/* The loop this thread is, or NULL. */
struct evloop *evloop_current(void);
unsigned evloop_index(const struct evloop *l);

/* Watch w->fd for events (EPOLLIN, EPOLLOUT, EPOLLEXCLUSIVE...), level-triggered. Any
 * thread. */
int evloop_add(struct evloop *l, struct ev_watch *w, uint32_t events);
int evloop_mod(struct evloop *l, struct ev_watch *w, uint32_t events);
/* Stop watching. On l's own thread, or through evloop_call_sync: the callback may be
 * running otherwise. */
void evloop_del(struct evloop *l, struct ev_watch *w);

/* Run t->fn on l's thread at the end of an iteration: the current loop's own when l is
 * the current loop, else its next one (l is woken). A task already queued is not queued
 * again: 0, else 1. */
int evloop_post(struct evloop *l, struct ev_task *t);
/* Run fn(arg) on l's thread and wait for it; on l's thread, at once. */
void evloop_call_sync(struct evloop *l, void (*fn)(void *arg), void *arg);

/* From a watch's callback that left work for its next call (a budget spent): the loop
 * looks at its epoll set again even when its waiter hears of nothing new. */
void evloop_more(struct evloop *l);

/* Wait some other way than epoll_wait: wait(arg, ep, block) waits (block: until something
 * happens; else not at all) for its own events, which it handles, and for the epoll set ep,
 * whose readiness it returns (1: epoll_wait will find events). For an io_uring that watches
 * the epoll set among its other work. On l's own thread. */
void evloop_set_waiter(struct evloop *l, int (*wait)(void *arg, int ep, int block), void *arg);

struct evloop_stats {
	uint64_t wakeups;   /* returns from epoll_wait that found work */
	uint64_t events;    /* watch callbacks run */
	uint64_t tasks;     /* posted tasks run */
	int cpu;            /* pinned CPU, or -1 */
};
void evloop_get_stats(unsigned i, struct evloop_stats *st);

#endif
