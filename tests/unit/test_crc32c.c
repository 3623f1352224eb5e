/* CRC32C: the RFC 3720 B.4 vectors and their wire bytes, on both implementations;
 * incremental updates; the hardware path against the table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "crc32c.h"

struct vector {
	const char *name;
	uint8_t data[48];
	size_t len;
	uint32_t crc;      /* as a number */
	uint8_t wire[4];   /* the "CRC:" line of the appendix, in order */
};

static struct vector vectors[5];

/* RFC 3720 appendix B.4. */
static void vectors_init(void)
{
	struct vector *v = vectors;

	v[0].name = "32 bytes of zeroes";
	v[0].len = 32;
	v[0].crc = 0x8a9136aa;
	memcpy(v[0].wire, "\xaa\x36\x91\x8a", 4);

	v[1].name = "32 bytes of ones";
	memset(v[1].data, 0xff, 32);
	v[1].len = 32;
	v[1].crc = 0x62a8ab43;
	memcpy(v[1].wire, "\x43\xab\xa8\x62", 4);

	v[2].name = "32 bytes of incrementing 00..1f";
	for (int i = 0; i < 32; i++)
		v[2].data[i] = (uint8_t)i;
	v[2].len = 32;
	v[2].crc = 0x46dd794e;
	memcpy(v[2].wire, "\x4e\x79\xdd\x46", 4);

	v[3].name = "32 bytes of decrementing 1f..00";
	for (int i = 0; i < 32; i++)
		v[3].data[i] = (uint8_t)(31 - i);
	v[3].len = 32;
	v[3].crc = 0x113fdb5c;
	memcpy(v[3].wire, "\x5c\xdb\x3f\x11", 4);

	v[4].name = "an iSCSI SCSI Read (10) command PDU";
	memcpy(v[4].data,
	       "\x01\xc0\x00\x00" "\x00\x00\x00\x00" "\x00\x00\x00\x00" "\x00\x00\x00\x00"
	       "\x14\x00\x00\x00" "\x00\x00\x04\x00" "\x00\x00\x00\x14" "\x00\x00\x00\x18"
	       "\x28\x00\x00\x00" "\x00\x00\x00\x00" "\x02\x00\x00\x00" "\x00\x00\x00\x00", 48);
	v[4].len = 48;
	v[4].crc = 0xd9963a56;
	memcpy(v[4].wire, "\x56\x3a\x96\xd9", 4);
}

static int have_hw(void)
{
#if defined(__x86_64__)
	__builtin_cpu_init();
	return __builtin_cpu_supports("sse4.2") != 0;
#else
	return 0;
#endif
}

/* Deterministic data so that a failure can be reproduced. */
static uint32_t rng_state = 0x2545f491;

static uint32_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 17;
	rng_state ^= rng_state << 5;
	return rng_state;
}

static void fill_random(uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)rng();
}

static void check_vectors(void)
{
	for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
		const struct vector *v = &vectors[i];
		uint8_t wire[4];
		uint32_t crc = crc32c(v->data, v->len);

		if (crc != v->crc)
			print_error("%s: got 0x%08x\n", v->name, crc);
		assert_int_equal(crc, v->crc);
		crc32c_to_wire(crc, wire);
		assert_memory_equal(wire, v->wire, 4);
		assert_int_equal(crc32c_from_wire(v->wire), v->crc);
	}
}

static void test_rfc3720_vectors_table(void **state)
{
	(void)state;
	crc32c_use_hw(0);
	check_vectors();
}

static void test_rfc3720_vectors_hw(void **state)
{
	(void)state;
	if (!have_hw())
		skip();
	crc32c_use_hw(1);
	check_vectors();
}

/* The usual check value of CRC-32/ISCSI, and the empty buffer. */
static void test_check_value(void **state)
{
	for (int hw = 0; hw <= 1; hw++) {
		crc32c_use_hw(hw);
		assert_int_equal(crc32c("123456789", 9), 0xe3069283);
		assert_int_equal(crc32c("", 0), 0);
		assert_int_equal(crc32c_update(CRC32C_INIT, NULL, 0), CRC32C_INIT);
	}
	(void)state;
}

/* Running the CRC over data followed by its wire digest always ends in the same residue:
 * this holds only when the digest bytes are in the order the receiver expects. */
static void test_wire_order_residue(void **state)
{
	uint8_t buf[200];

	(void)state;
	for (int hw = 0; hw <= 1; hw++) {
		crc32c_use_hw(hw);
		for (size_t len = 0; len <= 196; len += 7) {
			uint32_t st;

			fill_random(buf, len);
			crc32c_to_wire(crc32c(buf, len), buf + len);
			st = crc32c_update(CRC32C_INIT, buf, len + 4);
			assert_int_equal(st, 0xb798b438);
		}
	}
}

static void test_wire_round_trip(void **state)
{
	uint8_t w[4];

	(void)state;
	crc32c_to_wire(0x01020304, w);
	assert_memory_equal(w, "\x04\x03\x02\x01", 4);
	for (int i = 0; i < 1000; i++) {
		uint32_t x = rng();

		crc32c_to_wire(x, w);
		assert_int_equal(crc32c_from_wire(w), x);
	}
}

static void check_incremental(void)
{
	uint8_t buf[4096];

	for (int round = 0; round < 200; round++) {
		size_t len = rng() % sizeof(buf);
		uint32_t whole, st = CRC32C_INIT;
		size_t off = 0;

		fill_random(buf, len);
		whole = crc32c(buf, len);
		while (off < len) {
			size_t n = rng() % (len - off + 1);

			st = crc32c_update(st, buf + off, n);
			off += n;
		}
		assert_int_equal(crc32c_final(st), whole);
	}
}

static void test_incremental_equals_one_shot_table(void **state)
{
	(void)state;
	crc32c_use_hw(0);
	check_incremental();
}

static void test_incremental_equals_one_shot_hw(void **state)
{
	(void)state;
	if (!have_hw())
		skip();
	crc32c_use_hw(1);
	check_incremental();
}

/* Every length 0..100 at every alignment 0..7, then a large buffer: hw and table agree. */
static void test_hw_matches_table(void **state)
{
	static uint8_t big[1 << 17];
	uint8_t buf[128];
	uint32_t sw, hw;

	(void)state;
	if (!have_hw())
		skip();
	fill_random(buf, sizeof(buf));
	for (size_t align = 0; align < 8; align++)
		for (size_t len = 0; len <= 100; len++) {
			crc32c_use_hw(0);
			sw = crc32c(buf + align, len);
			crc32c_use_hw(1);
			hw = crc32c(buf + align, len);
			assert_int_equal(hw, sw);
		}
	fill_random(big, sizeof(big));
	crc32c_use_hw(0);
	sw = crc32c(big + 3, sizeof(big) - 3);
	crc32c_use_hw(1);
	hw = crc32c(big + 3, sizeof(big) - 3);
	assert_int_equal(hw, sw);
}

static int setup(void **state)
{
	(void)state;
	vectors_init();
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	crc32c_use_hw(1);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_rfc3720_vectors_table, teardown),
		cmocka_unit_test_teardown(test_rfc3720_vectors_hw, teardown),
		cmocka_unit_test_teardown(test_check_value, teardown),
		cmocka_unit_test_teardown(test_wire_order_residue, teardown),
		cmocka_unit_test(test_wire_round_trip),
		cmocka_unit_test_teardown(test_incremental_equals_one_shot_table, teardown),
		cmocka_unit_test_teardown(test_incremental_equals_one_shot_hw, teardown),
		cmocka_unit_test_teardown(test_hw_matches_table, teardown),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
