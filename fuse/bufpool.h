/* Buffers for FUSE requests in flight (read replies, copies of write data): kept for reuse
 * in power-of-two size classes up to a byte budget, so the data path allocates nothing in
 * the steady state and the daemon's memory stays bounded by what is in flight. */
#ifndef ISCSIFS_BUFPOOL_H
#define ISCSIFS_BUFPOOL_H

#include <stddef.h>

#define BUFPOOL_MIN 4096
#define BUFPOOL_MAX (1024 * 1024)

struct bufpool;

/* cache_bytes: how much free memory the pool may keep. */
struct bufpool *bufpool_new(size_t cache_bytes);
/* A page-aligned buffer of at least size bytes, or NULL. Larger than BUFPOOL_MAX (the
 * blocks around an unaligned request of the largest size) is allocated and freed each time. */
void *bufpool_get(struct bufpool *p, size_t size);
/* Give back a buffer from bufpool_get with the same size; NULL is ignored. */
void bufpool_put(struct bufpool *p, void *buf, size_t size);
void bufpool_free(struct bufpool *p);

#endif
