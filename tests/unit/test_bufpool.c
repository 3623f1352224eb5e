/* The request buffer pool: sizes round up to a class, buffers come back for reuse up to the
 * budget, requests beyond the largest class still get a buffer, and many threads taking and
 * giving back never get the same buffer twice at once. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bufpool.h"

static void test_aligned_and_writable(void **state)
{
	struct bufpool *p = bufpool_new(1 << 20);
	size_t sizes[] = {1, 512, 4096, 4097, 65536, 131072 + 512, BUFPOOL_MAX};

	(void)state;
	assert_non_null(p);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		char *b = bufpool_get(p, sizes[i]);

		assert_non_null(b);
		assert_int_equal((uintptr_t)b % BUFPOOL_MIN, 0);
		memset(b, 0xa5, sizes[i]); /* ASan: the whole size is ours */
		bufpool_put(p, b, sizes[i]);
	}
	bufpool_free(p);
}

static void test_reuse_within_class(void **state)
{
	struct bufpool *p = bufpool_new(1 << 20);
	void *a, *b;

	(void)state;
	a = bufpool_get(p, 6000); /* the 8 KiB class */
	bufpool_put(p, a, 6000);
	b = bufpool_get(p, 8192);
	assert_ptr_equal(a, b);
	bufpool_put(p, b, 8192);
	bufpool_free(p);
}

/* An unaligned 1 MiB request covers more than 1 MiB of blocks: it must not be refused. */
static void test_larger_than_largest_class(void **state)
{
	struct bufpool *p = bufpool_new(1 << 20);
	size_t size = BUFPOOL_MAX + 512;
	char *b = bufpool_get(p, size);

	(void)state;
	assert_non_null(b);
	memset(b, 0, size);
	bufpool_put(p, b, size);
	bufpool_free(p);
}

/* With no budget nothing is kept: the next buffer of the class is a fresh one, and
 * ASan sees every buffer freed. */
static void test_budget(void **state)
{
	struct bufpool *p = bufpool_new(4096);
	void *a = bufpool_get(p, 4096), *b = bufpool_get(p, 4096);

	(void)state;
	assert_ptr_not_equal(a, b);
	bufpool_put(p, a, 4096); /* kept: within 4 KiB */
	bufpool_put(p, b, 4096); /* over the budget: freed */
	assert_ptr_equal(bufpool_get(p, 4096), a);
	bufpool_put(p, a, 4096);
	bufpool_free(p);
}

#define THREADS 4
#define ROUNDS 20000

static void *churn(void *arg)
{
	struct bufpool *p = arg;
	unsigned seed = (unsigned)(uintptr_t)&seed;

	for (int i = 0; i < ROUNDS; i++) {
		size_t size = (size_t)4096 << (rand_r(&seed) % 4);
		uint32_t *b = bufpool_get(p, size);
		uint32_t tag = (uint32_t)(uintptr_t)&seed ^ (uint32_t)i;

		if (!b)
			return (void *)1;
		/* Whoever else held this buffer now would overwrite the tag. */
		for (size_t k = 0; k < size / 4; k += 256)
			b[k] = tag;
		for (size_t k = 0; k < size / 4; k += 256)
			if (b[k] != tag)
				return (void *)1;
		bufpool_put(p, b, size);
	}
	return NULL;
}

static void test_threads(void **state)
{
	struct bufpool *p = bufpool_new(64 * 4096);
	pthread_t th[THREADS];

	(void)state;
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, churn, p), 0);
	for (int i = 0; i < THREADS; i++) {
		void *r;

		pthread_join(th[i], &r);
		assert_null(r);
	}
	bufpool_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aligned_and_writable),
		cmocka_unit_test(test_reuse_within_class),
		cmocka_unit_test(test_larger_than_largest_class),
		cmocka_unit_test(test_budget),
		cmocka_unit_test(test_threads),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
