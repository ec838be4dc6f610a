/* SPDX-License-Identifier: MIT */
/*
 * Helpers shared by the test programs.  Each test is a standalone program
 * that exits T_EXIT_PASS, T_EXIT_SKIP or T_EXIT_FAIL.
 */
#ifndef T_HELPERS_H
#define T_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

enum t_exit {
	T_EXIT_PASS = 0,
	T_EXIT_FAIL = 1,
	T_EXIT_SKIP = 77,
};

/* Fail the test with file:line and a message; never returns. */
#define t_fail(...) t_fail_at(__FILE__, __LINE__, __VA_ARGS__)
void t_fail_at(const char *file, int line, const char *fmt, ...)
	__attribute__((noreturn, format(printf, 3, 4)));

/* Check a condition; on failure print the expression and exit. */
#define t_assert(cond)                                                   \
	do {                                                             \
		if (!(cond))                                             \
			t_fail("assertion failed: %s", #cond);           \
	} while (0)

/* Check that two integers are equal, printing both when they are not. */
#define t_assert_eq(a, b)                                                        \
	do {                                                                     \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);          \
		if (t_a_ != t_b_)                                                \
			t_fail("%s == %lld, expected %s == %lld", #a, t_a_, #b, t_b_); \
	} while (0)

/* Deterministic pseudo-random numbers (xorshift64*). */
struct t_rng {
	uint64_t s;
};
void t_rng_seed(struct t_rng *rng, uint64_t seed);
uint64_t t_rng_next(struct t_rng *rng);
/* Uniform in [0, n); n > 0. */
uint64_t t_rng_below(struct t_rng *rng, uint64_t n);

/* Fill @buf with a pattern derived from @seed and the byte offset @pos. */
void t_fill_pattern(void *buf, size_t len, uint64_t pos, uint64_t seed);
/* Offset of the first byte that differs from the pattern, or -1. */
long t_check_pattern(const void *buf, size_t len, uint64_t pos, uint64_t seed);

/* Allocate or fail the test. */
void *t_malloc(size_t size);
void *t_calloc(size_t n, size_t size);
void *t_aligned_alloc(size_t align, size_t size);

/* Is every byte zero? */
bool t_is_zero(const void *buf, size_t len);

#endif /* T_HELPERS_H */
