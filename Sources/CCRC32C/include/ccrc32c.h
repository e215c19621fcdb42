#ifndef CCRC32C_H
#define CCRC32C_H
#include <stddef.h>
#include <stdint.h>

/// Extends a CRC32C (Castagnoli, reflected) over `len` bytes. Start with crc = 0.
/// The result is the finished CRC (pre- and post-inverted, like zlib's crc32), so
/// ccrc32c_extend(ccrc32c_extend(0, a, n), b, m) equals the CRC of a followed by b.
/// Uses the CPU's CRC32C instruction when available (checked once at runtime).
uint32_t ccrc32c_extend(uint32_t crc, const void *data, size_t len);

/// Same result as ccrc32c_extend, always computed with the portable table code.
/// Exposed so tests can compare the hardware path against it.
uint32_t ccrc32c_extend_portable(uint32_t crc, const void *data, size_t len);

/// Non-zero when ccrc32c_extend uses a hardware instruction on this machine.
int ccrc32c_hardware_available(void);

#endif
