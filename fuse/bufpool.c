/* Size-classed free lists with one lock each. A buffer's class follows from its size, so
 * nothing is stored in or around the buffer: read replies and Data-In land in it as is. */
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bufpool.h"

#define NCLASSES 9 /* 4 KiB .. 1 MiB */
/* From this size on buffers are mappings of their own: a freed one goes back to the
 * kernel, where malloc would keep it (locked, under mlockall) in some thread's heap. */
#define MAP_MIN (128 * 1024)

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

static void *alloc_bytes(size_t bytes)
{
	void *b;

	if (bytes < MAP_MIN)
		return aligned_alloc(BUFPOOL_MIN, bytes);
	b = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return b == MAP_FAILED ? NULL : b;
}

static void free_bytes(void *b, size_t bytes)
{
	if (bytes < MAP_MIN)
		free(b);
	else
		munmap(b, bytes);
}

static size_t round_page(size_t size)
{
	return (size + BUFPOOL_MIN - 1) / BUFPOOL_MIN * BUFPOOL_MIN;
}

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
		return alloc_bytes(round_page(size));
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
	return alloc_bytes((size_t)BUFPOOL_MIN << c);
}

void bufpool_put(struct bufpool *p, void *buf, size_t size)
{
	int c;
	size_t bytes;
	struct free_buf *b = buf;

	if (!buf)
		return;
	if (size > BUFPOOL_MAX) {
		free_bytes(buf, round_page(size));
		return;
	}
	c = class_of(size);
	bytes = (size_t)BUFPOOL_MIN << c;
	if (__atomic_add_fetch(&p->cached, bytes, __ATOMIC_RELAXED) > p->cache_bytes) {
		__atomic_sub_fetch(&p->cached, bytes, __ATOMIC_RELAXED);
		free_bytes(buf, bytes);
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

			free_bytes(b, (size_t)BUFPOOL_MIN << c);
			b = next;
		}
		pthread_mutex_destroy(&p->cls[c].lock);
	}
	free(p);
}
