/* CRC32C (Castagnoli) for the iSCSI header and data digests.
 * Slicing-by-8 tables everywhere; the SSE4.2 crc32 instruction on x86_64 CPUs that have it,
 * chosen once at run time. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>

#include "crc32c.h"

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CRC32C_HAVE_HW 1
#endif

#define CRC32C_POLY_REFLECTED 0x82f63b78u /* 0x1EDC6F41 with its bits reversed */

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;
static int crc_hw_present; /* the CPU has the instruction: fixed after crc_init */
static int crc_hw_on;      /* use it: crc32c_use_hw may clear it */

static void crc_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;

		for (int k = 0; k < 8; k++)
			c = (c >> 1) ^ (CRC32C_POLY_REFLECTED & (0u - (c & 1)));
		crc_table[0][n] = c;
	}
	/* crc_table[k][n]: the CRC of byte n followed by k zero bytes, for 8 bytes per step */
	for (uint32_t n = 0; n < 256; n++)
		for (int k = 1; k < 8; k++) {
			uint32_t prev = crc_table[k - 1][n];

			crc_table[k][n] = (prev >> 8) ^ crc_table[0][prev & 0xff];
		}
#ifdef CRC32C_HAVE_HW
	__builtin_cpu_init();
	crc_hw_present = __builtin_cpu_supports("sse4.2") != 0;
#endif
	__atomic_store_n(&crc_hw_on, crc_hw_present, __ATOMIC_RELAXED);
}

/* Byte by byte, so the result does not depend on the host's byte order or alignment. */
static inline uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t crc_sw(uint32_t crc, const uint8_t *p, size_t len)
{
	while (len >= 8) {
		uint32_t lo = load_le32(p) ^ crc;
		uint32_t hi = load_le32(p + 4);

		crc = crc_table[7][lo & 0xff] ^ crc_table[6][(lo >> 8) & 0xff] ^
		      crc_table[5][(lo >> 16) & 0xff] ^ crc_table[4][lo >> 24] ^
		      crc_table[3][hi & 0xff] ^ crc_table[2][(hi >> 8) & 0xff] ^
		      crc_table[1][(hi >> 16) & 0xff] ^ crc_table[0][hi >> 24];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ crc_table[0][(crc ^ *p++) & 0xff];
	return crc;
}

#ifdef CRC32C_HAVE_HW
/* The instruction computes the same reflected CRC as crc_sw, on the raw state. */
__attribute__((target("sse4.2"))) static uint32_t crc_hw(uint32_t crc, const uint8_t *p,
							   size_t len)
{
	uint64_t c = crc;

	/* align so the 8-byte loads do not straddle cache lines */
	while (len && ((uintptr_t)p & 7)) {
		c = _mm_crc32_u8((uint32_t)c, *p++);
		len--;
	}
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		c = _mm_crc32_u64(c, v);
		p += 8;
		len -= 8;
	}
	while (len--)
		c = _mm_crc32_u8((uint32_t)c, *p++);
	return (uint32_t)c;
}
#endif

uint32_t crc32c_update(uint32_t state, const void *buf, size_t len)
{
	pthread_once(&crc_once, crc_init);
#ifdef CRC32C_HAVE_HW
	if (__atomic_load_n(&crc_hw_on, __ATOMIC_RELAXED))
		return crc_hw(state, buf, len);
#endif
	return crc_sw(state, buf, len);
}

uint32_t crc32c(const void *buf, size_t len)
{
	return crc32c_final(crc32c_update(CRC32C_INIT, buf, len));
}

/* RFC 3720 B.4: the CRC's least significant byte goes first (0x8a9136aa is sent aa 36 91 8a). */
void crc32c_to_wire(uint32_t crc, uint8_t out[4])
{
	out[0] = (uint8_t)crc;
	out[1] = (uint8_t)(crc >> 8);
	out[2] = (uint8_t)(crc >> 16);
	out[3] = (uint8_t)(crc >> 24);
}

uint32_t crc32c_from_wire(const uint8_t in[4])
{
	return load_le32(in);
}

void crc32c_use_hw(int on)
{
	pthread_once(&crc_once, crc_init);
	__atomic_store_n(&crc_hw_on, on && crc_hw_present, __ATOMIC_RELAXED);
}
