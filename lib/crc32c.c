/* SPDX-License-Identifier: MIT */
/* crc32c: CRC32C (Castagnoli, as in iSCSI and ext4), the checksum of the
 * state file's records: the SSE4.2 instruction where there is one, else
 * slicing by 8. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

static uint32_t crctab[8][256];
static uint32_t (*crcfn)(uint32_t, const unsigned char *, size_t);
static pthread_once_t crconce = PTHREAD_ONCE_INIT;

static uint32_t
crcsw(uint32_t c, const unsigned char *p, size_t n)
{
	for (; n >= 8; p += 8, n -= 8) {
		c ^= (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
		    (uint32_t)p[3] << 24;
		c = crctab[7][c & 0xff] ^ crctab[6][(c >> 8) & 0xff] ^
		    crctab[5][(c >> 16) & 0xff] ^ crctab[4][c >> 24] ^
		    crctab[3][p[4]] ^ crctab[2][p[5]] ^ crctab[1][p[6]] ^ crctab[0][p[7]];
	}
	for (; n > 0; p++, n--)
		c = crctab[0][(c ^ *p) & 0xff] ^ (c >> 8);
	return c;
}

#if defined(__x86_64__) && defined(__GNUC__) && !defined(FR_STATE_SWCRC)
__attribute__((target("sse4.2"))) static uint32_t
crchw(uint32_t c, const unsigned char *p, size_t n)
{
	unsigned long long c64 = c, w[4];
	uint32_t v;

	for (; n >= 32; p += 32, n -= 32) {
		memcpy(w, p, 32);
		c64 = __builtin_ia32_crc32di(c64, w[0]);
		c64 = __builtin_ia32_crc32di(c64, w[1]);
		c64 = __builtin_ia32_crc32di(c64, w[2]);
		c64 = __builtin_ia32_crc32di(c64, w[3]);
	}
	for (; n >= 8; p += 8, n -= 8) {
		memcpy(w, p, 8);
		c64 = __builtin_ia32_crc32di(c64, w[0]);
	}
	c = (uint32_t)c64;
	if (n >= 4) {	/* a record's last word, or most of a short name */
		memcpy(&v, p, 4);
		c = __builtin_ia32_crc32si(c, v);
		p += 4, n -= 4;
	}
	for (; n > 0; p++, n--)
		c = __builtin_ia32_crc32qi(c, *p);
	return c;
}
#define HAVE_CRCHW() __builtin_cpu_supports("sse4.2")
#else
#define crchw crcsw
#define HAVE_CRCHW() 0
#endif

static void
crcinit(void)
{
	uint32_t c;
	int i, k;

	if (HAVE_CRCHW()) {
		crcfn = crchw;
		return;
	}
	for (i = 0; i < 256; i++) {
		for (c = (uint32_t)i, k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
		crctab[0][i] = c;
	}
	for (i = 0; i < 256; i++) {
		for (k = 1; k < 8; k++)
			crctab[k][i] = (crctab[k - 1][i] >> 8) ^ crctab[0][crctab[k - 1][i] & 0xff];
	}
	crcfn = crcsw;
}

uint32_t
fr_crc32c(const unsigned char *p, size_t n)
{
	return ~crcfn(~0u, p, n);
}

void
fr_crc32c_init(void)
{
	pthread_once(&crconce, crcinit);
}

uint32_t
fr_crc32c_update(uint32_t c, const unsigned char *p, size_t n)
{
	return crcfn(c, p, n);
}
