#include "ccrc32c.h"
uint32_t ccrc32c_extend(uint32_t crc, const void *data, size_t len) { (void)data; (void)len; return crc; }
