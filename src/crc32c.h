/* CRC32C (Castagnoli), the iSCSI header and data digest (RFC 7143 13.1, RFC 3720 B.4).
 * Uses the CPU's CRC32 instruction when present, a table otherwise. */
#ifndef ISCSIFS_CRC32C_H
#define ISCSIFS_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Running state: start with CRC32C_INIT, feed with crc32c_update, finish with crc32c_final. */
#define CRC32C_INIT 0xffffffffu
uint32_t crc32c_update(uint32_t state, const void *buf, size_t len);
static inline uint32_t crc32c_final(uint32_t state)
{
	return state ^ 0xffffffffu;
}
/* The CRC of one buffer. */
uint32_t crc32c(const void *buf, size_t len);
/* The 4 digest bytes as they go on the wire, and back. */
void crc32c_to_wire(uint32_t crc, uint8_t out[4]);
uint32_t crc32c_from_wire(const uint8_t in[4]);
/* For tests: force the table implementation (0) or the best available (1). */
void crc32c_use_hw(int on);

#endif
