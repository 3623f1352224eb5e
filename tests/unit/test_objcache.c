/* The object cache: objects come back zeroed, a returned one is reused, no more than max are
 * kept, and threads taking on one side and giving back on the other never share an object. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "objcache.h"

struct obj {
	uint64_t words[12];
};

static void test_zeroed_and_reused(void **state)
{
	struct objcache oc = OBJCACHE_INIT(sizeof(struct obj), 4);
	struct obj *a, *b;

	(void)state;
	a = objcache_get(&oc);
	assert_non_null(a);
	for (int i = 0; i < 12; i++)
		assert_int_equal(a->words[i], 0);
	memset(a, 0xa5, sizeof(*a)); /* ASan: the whole size is ours */
	objcache_put(&oc, a);
	b = objcache_get(&oc);
	assert_ptr_equal(a, b);
	for (int i = 0; i < 12; i++)
		assert_int_equal(b->words[i], 0);
	objcache_put(&oc, b);
	objcache_put(&oc, NULL);
	objcache_drain(&oc);
	assert_int_equal(oc.n, 0);
}

static void test_bounded(void **state)
{
	struct objcache oc = OBJCACHE_INIT(sizeof(struct obj), 3);
	void *objs[8];

	(void)state;
	for (int i = 0; i < 8; i++)
		assert_non_null(objs[i] = objcache_get(&oc));
	for (int i = 0; i < 8; i++)
		objcache_put(&oc, objs[i]); /* five are freed: ASan/LSan see to it */
	assert_int_equal(oc.n, 3);
	objcache_drain(&oc);
}

static void test_small_size(void **state)
{
	struct objcache oc = OBJCACHE_INIT(1, 2); /* room for the link all the same */
	char *p;

	(void)state;
	assert_true(oc.size >= sizeof(void *));
	p = objcache_get(&oc);
	assert_non_null(p);
	objcache_put(&oc, p);
	objcache_drain(&oc);
}

/* A producer takes objects and marks them, a consumer checks the mark and gives them back. */
#define ROUNDS 20000
#define RING 64

static struct objcache shared = OBJCACHE_INIT(sizeof(struct obj), 16);
static struct obj *ring[RING];
static pthread_mutex_t ring_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ring_cond = PTHREAD_COND_INITIALIZER;
static int head, tail, bad; /* bad: the consumer's count */

static void *consumer(void *arg)
{
	(void)arg;
	for (int i = 0; i < ROUNDS; i++) {
		struct obj *o;

		pthread_mutex_lock(&ring_lock);
		while (head == tail)
			pthread_cond_wait(&ring_cond, &ring_lock);
		o = ring[tail % RING];
		tail++;
		pthread_cond_broadcast(&ring_cond);
		pthread_mutex_unlock(&ring_lock);
		if (o->words[0] != (uint64_t)i || o->words[11] != ~(uint64_t)i)
			bad++;
		objcache_put(&shared, o);
	}
	return NULL;
}

static void test_across_threads(void **state)
{
	pthread_t t;
	int unzeroed = 0;

	(void)state;
	assert_int_equal(pthread_create(&t, NULL, consumer, NULL), 0);
	for (int i = 0; i < ROUNDS; i++) {
		struct obj *o = objcache_get(&shared);

		assert_non_null(o);
		if (o->words[0] || o->words[11])
			unzeroed++; /* still someone else's */
		o->words[0] = (uint64_t)i;
		o->words[11] = ~(uint64_t)i;
		pthread_mutex_lock(&ring_lock);
		while (head - tail == RING)
			pthread_cond_wait(&ring_cond, &ring_lock);
		ring[head % RING] = o;
		head++;
		pthread_cond_broadcast(&ring_cond);
		pthread_mutex_unlock(&ring_lock);
	}
	pthread_join(t, NULL);
	assert_int_equal(bad, 0);
	assert_int_equal(unzeroed, 0);
	objcache_drain(&shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zeroed_and_reused),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_small_size),
		cmocka_unit_test(test_across_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
