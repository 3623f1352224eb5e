/* Objects of one size kept for reuse: the data path takes one per I/O on the event loop
 * that read the FUSE request and gives it back on the loop of the connection that answered,
 * often another, the pattern in which malloc's per-thread caches help least. Bounded: past max free objects, a returned one is freed. */
#ifndef ISCSIFS_OBJCACHE_H
#define ISCSIFS_OBJCACHE_H

#include <pthread.h>
#include <stddef.h>

struct objcache {
	pthread_mutex_t lock;
	void *head;  /* free objects, linked through their first word */
	size_t size; /* at least a pointer's */
	unsigned n, max;
};

#define OBJCACHE_INIT(sz, mx)                                                                \
	{ .lock = PTHREAD_MUTEX_INITIALIZER, .size = (sz) < sizeof(void *) ? sizeof(void *) : (sz), \
	  .max = (mx) }

/* A zeroed object, or NULL when memory is short. */
void *objcache_get(struct objcache *oc);
/* Give back an object from objcache_get of the same cache; NULL is ignored. */
void objcache_put(struct objcache *oc, void *obj);
/* Free what the cache holds (objects given out stay valid and may still be put back). */
void objcache_drain(struct objcache *oc);

#endif
