/* SPDX-License-Identifier: MIT */
/* crc32c: CRC32C (Castagnoli), the checksum of the state file's records,
 * through the SSE4.2 instruction where the CPU has it (unless built with
 * FR_STATE_SWCRC), else slicing by 8. */
#ifndef FR_CRC32C_H
#define FR_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/* Choose the implementation (once, however often called): before the others. */
void fr_crc32c_init(void);
/* The CRC32C of the n bytes at p. */
uint32_t fr_crc32c(const unsigned char *p, size_t n);
/* The running CRC c, updated by the n bytes at p: start from ~0u and invert
 * the last to get the CRC32C of all the bytes. */
uint32_t fr_crc32c_update(uint32_t c, const unsigned char *p, size_t n);

#endif
