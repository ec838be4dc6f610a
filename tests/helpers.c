/* SPDX-License-Identifier: MIT */
#include "helpers.h"

#include <stdarg.h>
#include <string.h>

void t_fail_at(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(T_EXIT_FAIL);
}

void t_rng_seed(struct t_rng *rng, uint64_t seed)
{
	rng->s = seed ? seed : 0x9e3779b97f4a7c15ULL;
}

uint64_t t_rng_next(struct t_rng *rng)
{
	uint64_t x = rng->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	rng->s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

uint64_t t_rng_below(struct t_rng *rng, uint64_t n)
{
	return t_rng_next(rng) % n;
}

static uint8_t pattern_byte(uint64_t pos, uint64_t seed)
{
	uint64_t x = (pos + 1) * 0x9e3779b97f4a7c15ULL ^ seed;

	x ^= x >> 29;
	return (uint8_t)(x | 1); /* never zero, so zero-fill bugs show */
}

void t_fill_pattern(void *buf, size_t len, uint64_t pos, uint64_t seed)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		p[i] = pattern_byte(pos + i, seed);
}

long t_check_pattern(const void *buf, size_t len, uint64_t pos, uint64_t seed)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i] != pattern_byte(pos + i, seed))
			return (long)i;
	return -1;
}

void *t_malloc(size_t size)
{
	void *p = malloc(size ? size : 1);

	if (!p)
		t_fail("out of memory (%zu bytes)", size);
	return p;
}

void *t_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		t_fail("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

void *t_aligned_alloc(size_t align, size_t size)
{
	void *p = aligned_alloc(align, (size + align - 1) / align * align);

	if (!p)
		t_fail("out of memory (%zu bytes aligned %zu)", size, align);
	return p;
}

bool t_is_zero(const void *buf, size_t len)
{
	const uint8_t *p = buf;

	for (size_t i = 0; i < len; i++)
		if (p[i])
			return false;
	return true;
}
