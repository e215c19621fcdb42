#ifndef CCRC32C_H
#define CCRC32C_H
#include <stddef.h>
#include <stdint.h>
/// Extends a CRC32C (Castagnoli, reflected) over `len` bytes. Start with crc = 0.
uint32_t ccrc32c_extend(uint32_t crc, const void *data, size_t len);
#endif
