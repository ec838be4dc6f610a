/* SPDX-License-Identifier: MIT */
/* Small helpers shared by every layer of the library.  Internal. */
#ifndef IOMAP_LIB_COMPILER_H
#define IOMAP_LIB_COMPILER_H

#include <stddef.h>
#include <stdint.h>

#define container_of(ptr, type, member) ((type *)((char *)(ptr) - offsetof(type, member)))

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)

#define UNIQ_CAT_(a, n) a##n
#define UNIQ_CAT(a, n) UNIQ_CAT_(a, n)

/* Type-safe min/max that evaluate each argument once and nest freely. */
#define min_impl(a, b, n)                                                              \
	({                                                                             \
		__typeof__(a) UNIQ_CAT(min_a_, n) = (a);                               \
		__typeof__(b) UNIQ_CAT(min_b_, n) = (b);                               \
		UNIQ_CAT(min_a_, n) < UNIQ_CAT(min_b_, n) ? UNIQ_CAT(min_a_, n)        \
							  : UNIQ_CAT(min_b_, n);       \
	})
#define max_impl(a, b, n)                                                              \
	({                                                                             \
		__typeof__(a) UNIQ_CAT(max_a_, n) = (a);                               \
		__typeof__(b) UNIQ_CAT(max_b_, n) = (b);                               \
		UNIQ_CAT(max_a_, n) > UNIQ_CAT(max_b_, n) ? UNIQ_CAT(max_a_, n)        \
							  : UNIQ_CAT(max_b_, n);       \
	})
#define min(a, b) min_impl(a, b, __COUNTER__)
#define max(a, b) max_impl(a, b, __COUNTER__)

/* @a must be a power of two for the *_pow2 forms. */
#define round_down_pow2(x, a) ((x) & ~((__typeof__(x))(a) - 1))
#define round_up_pow2(x, a) round_down_pow2((x) + (a) - 1, (a))
#define div_round_up(x, d) (((x) + (d) - 1) / (d))

static inline int ilog2_u64(uint64_t v)
{
	return 63 - __builtin_clzll(v);
}

static inline int is_power_of_2(uint64_t v)
{
	return v && !(v & (v - 1));
}

#endif /* IOMAP_LIB_COMPILER_H */
