/* Threads for work that waits (a read-modify-write, a cache flush, a command that must wait
 * for another): event loops hand it here and go on. */
#ifndef ISCSIFS_WORKQ_H
#define ISCSIFS_WORKQ_H

/* One piece of work; the node lives in the caller's object until fn runs. */
struct work {
	struct work *next;
	void (*fn)(struct work *w);
};

/* Run w->fn on a worker thread: an idle one, or a new one up to max_threads; beyond, it
 * waits in line. 0, or -errno when no thread can be had at all. */
int workq_run(struct work *w);
/* Set the bound (before the first workq_run). */
void workq_set_max(unsigned max_threads);
/* Stop the workers once the line is empty; for the end of the daemon. */
void workq_stop(void);

struct workq_stats {
	unsigned threads, busy, peak;
	unsigned long long done;
};
void workq_get_stats(struct workq_stats *st);

#endif
