/* Size-classed free lists with one lock each. A buffer's class follows from its size, so
 * nothing is stored in or around the buffer: read replies and Data-In land in it as is. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#include "bufpool.h"

#define NCLASSES 9 /* 4 KiB .. 1 MiB */

struct free_buf {
	struct free_buf *next;
};

struct bufpool {
	size_t cache_bytes;
	size_t cached; /* atomic: bytes on the free lists */
	struct {
		pthread_mutex_t lock;
		struct free_buf *head;
	} cls[NCLASSES];
};

static int class_of(size_t size)
{
	int c = 0;

	while (c < NCLASSES - 1 && ((size_t)BUFPOOL_MIN << c) < size)
		c++;
	return c;
}

struct bufpool *bufpool_new(size_t cache_bytes)
{
	struct bufpool *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->cache_bytes = cache_bytes;
	for (int c = 0; c < NCLASSES; c++)
		pthread_mutex_init(&p->cls[c].lock, NULL);
	return p;
}

void *bufpool_get(struct bufpool *p, size_t size)
{
	int c;
	struct free_buf *b;

	if (size > BUFPOOL_MAX) /* an unaligned request's blocks: not kept, not refused */
		return aligned_alloc(BUFPOOL_MIN, (size + BUFPOOL_MIN - 1) / BUFPOOL_MIN * BUFPOOL_MIN);
	c = class_of(size);
	pthread_mutex_lock(&p->cls[c].lock);
	b = p->cls[c].head;
	if (b)
		p->cls[c].head = b->next;
	pthread_mutex_unlock(&p->cls[c].lock);
	if (b) {
		__atomic_sub_fetch(&p->cached, (size_t)BUFPOOL_MIN << c, __ATOMIC_RELAXED);
		return b;
	}
	return aligned_alloc(BUFPOOL_MIN, (size_t)BUFPOOL_MIN << c);
}

void bufpool_put(struct bufpool *p, void *buf, size_t size)
{
	int c;
	size_t bytes;
	struct free_buf *b = buf;

	if (!buf)
		return;
	if (size > BUFPOOL_MAX) {
		free(buf);
		return;
	}
	c = class_of(size);
	bytes = (size_t)BUFPOOL_MIN << c;
	if (__atomic_add_fetch(&p->cached, bytes, __ATOMIC_RELAXED) > p->cache_bytes) {
		__atomic_sub_fetch(&p->cached, bytes, __ATOMIC_RELAXED);
		free(buf);
		return;
	}
	pthread_mutex_lock(&p->cls[c].lock);
	b->next = p->cls[c].head;
	p->cls[c].head = b;
	pthread_mutex_unlock(&p->cls[c].lock);
}

void bufpool_free(struct bufpool *p)
{
	if (!p)
		return;
	for (int c = 0; c < NCLASSES; c++) {
		struct free_buf *b = p->cls[c].head;

		while (b) {
			struct free_buf *next = b->next;

			free(b);
			b = next;
		}
		pthread_mutex_destroy(&p->cls[c].lock);
	}
	free(p);
}
