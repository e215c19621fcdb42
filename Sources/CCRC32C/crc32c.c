// CRC32C (Castagnoli, reflected polynomial 0x82f63b78) for iSCSI digests.
//
// Two implementations of the same raw register update (no inversion):
//  - portable slicing-by-8 tables (8 bytes per step, any CPU);
//  - x86-64 SSE4.2 `crc32` instruction, run over three independent streams so
//    the instruction's 3-cycle latency is hidden; the three partial CRCs are
//    joined with precomputed "append N zero bytes" operators (CRC linearity:
//    crc(A||B) = shift(crc(A), |B|) ^ crc0(B)).
// All tables are built once, lazily, under pthread_once.

#include "ccrc32c.h"

#include <pthread.h>
#include <string.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#define CCRC32C_X86 1
#endif

#define CRC32C_POLY 0x82f63b78u

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;
// slice[k][b]: CRC of byte b followed by k zero bytes.
static uint32_t slice[8][256];

static inline uint32_t load_le32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t portable_update(uint32_t crc, const uint8_t *p, size_t len) {
    while (len >= 8) {
        uint32_t lo = crc ^ load_le32(p);
        uint32_t hi = load_le32(p + 4);
        crc = slice[7][lo & 0xff] ^ slice[6][(lo >> 8) & 0xff] ^ slice[5][(lo >> 16) & 0xff] ^
              slice[4][lo >> 24] ^ slice[3][hi & 0xff] ^ slice[2][(hi >> 8) & 0xff] ^
              slice[1][(hi >> 16) & 0xff] ^ slice[0][hi >> 24];
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = (crc >> 8) ^ slice[0][(crc ^ *p++) & 0xff];
    }
    return crc;
}

#ifdef CCRC32C_X86
// Stream lengths for the 3-way interleave: long blocks for bulk data, short
// blocks so mid-sized buffers (a few KiB) still get the parallel path.
enum { LONG_BLOCK = 2048, SHORT_BLOCK = 256 };

static int use_hardware;
// shift_*[k][b]: the raw register after appending *_BLOCK zero bytes to a
// register holding b << 8k. By linearity the four lookups XOR together.
static uint32_t shift_long[4][256];
static uint32_t shift_short[4][256];

static void build_shift_table(uint32_t table[4][256], size_t zero_bytes) {
    static const uint8_t zeros[LONG_BLOCK];
    uint32_t bit_image[32];
    for (int bit = 0; bit < 32; bit++) {
        bit_image[bit] = portable_update(1u << bit, zeros, zero_bytes);
    }
    for (int k = 0; k < 4; k++) {
        table[k][0] = 0;
        for (unsigned v = 1; v < 256; v++) {
            table[k][v] = table[k][v & (v - 1)] ^ bit_image[8 * k + __builtin_ctz(v)];
        }
    }
}

static inline uint32_t shift(const uint32_t table[4][256], uint32_t crc) {
    return table[0][crc & 0xff] ^ table[1][(crc >> 8) & 0xff] ^ table[2][(crc >> 16) & 0xff] ^
           table[3][crc >> 24];
}

__attribute__((target("sse4.2")))
static const uint8_t *hardware_blocks(uint64_t *crc, const uint8_t *p, size_t *len, size_t block,
                                      const uint32_t table[4][256]) {
    uint64_t c0 = *crc;
    while (*len >= 3 * block) {
        uint64_t c1 = 0, c2 = 0;
        const uint8_t *end = p + block;
        do {
            uint64_t a, b, c;
            memcpy(&a, p, 8);
            memcpy(&b, p + block, 8);
            memcpy(&c, p + 2 * block, 8);
            c0 = _mm_crc32_u64(c0, a);
            c1 = _mm_crc32_u64(c1, b);
            c2 = _mm_crc32_u64(c2, c);
            p += 8;
        } while (p < end);
        c0 = shift(table, (uint32_t)c0) ^ (uint32_t)c1;
        c0 = shift(table, (uint32_t)c0) ^ (uint32_t)c2;
        p += 2 * block;
        *len -= 3 * block;
    }
    *crc = c0;
    return p;
}

__attribute__((target("sse4.2")))
static uint32_t hardware_update(uint32_t crc32, const uint8_t *p, size_t len) {
    uint64_t crc = crc32;
    while (len > 0 && ((uintptr_t)p & 7) != 0) {
        crc = _mm_crc32_u8((uint32_t)crc, *p++);
        len--;
    }
    p = hardware_blocks(&crc, p, &len, LONG_BLOCK, shift_long);
    p = hardware_blocks(&crc, p, &len, SHORT_BLOCK, shift_short);
    while (len >= 8) {
        uint64_t word;
        memcpy(&word, p, 8);
        crc = _mm_crc32_u64(crc, word);
        p += 8;
        len -= 8;
    }
    while (len--) {
        crc = _mm_crc32_u8((uint32_t)crc, *p++);
    }
    return (uint32_t)crc;
}
#endif

static void build_tables(void) {
    for (unsigned b = 0; b < 256; b++) {
        uint32_t crc = b;
        for (int i = 0; i < 8; i++) {
            crc = (crc >> 1) ^ (CRC32C_POLY & (0u - (crc & 1)));
        }
        slice[0][b] = crc;
    }
    for (unsigned b = 0; b < 256; b++) {
        for (int k = 1; k < 8; k++) {
            slice[k][b] = (slice[k - 1][b] >> 8) ^ slice[0][slice[k - 1][b] & 0xff];
        }
    }
#ifdef CCRC32C_X86
    __builtin_cpu_init();
    if (__builtin_cpu_supports("sse4.2")) {
        build_shift_table(shift_long, LONG_BLOCK);
        build_shift_table(shift_short, SHORT_BLOCK);
        use_hardware = 1;
    }
#endif
}

uint32_t ccrc32c_extend(uint32_t crc, const void *data, size_t len) {
    pthread_once(&tables_once, build_tables);
#ifdef CCRC32C_X86
    if (use_hardware) {
        return ~hardware_update(~crc, (const uint8_t *)data, len);
    }
#endif
    return ~portable_update(~crc, (const uint8_t *)data, len);
}

uint32_t ccrc32c_extend_portable(uint32_t crc, const void *data, size_t len) {
    pthread_once(&tables_once, build_tables);
    return ~portable_update(~crc, (const uint8_t *)data, len);
}

int ccrc32c_hardware_available(void) {
    pthread_once(&tables_once, build_tables);
#ifdef CCRC32C_X86
    return use_hardware;
#else
    return 0;
#endif
}
