/* SPDX-License-Identifier: MIT */
/*
 * A fixed-size object allocator: objects of one size carved out of 64 KiB
 * slabs aligned to their size, so an object costs its own size and no
 * per-object header (malloc would add 8 to 16 bytes to a 16-byte object).
 * Internal.  Thread safe: one mutex per cache.
 */
#ifndef IOMAP_LIB_SLAB_H
#define IOMAP_LIB_SLAB_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#define SLAB_BYTES (64U * 1024U)

struct slab;

struct slab_cache {
	pthread_mutex_t lock;
	size_t obj_size; /* rounded up to 8 */
	unsigned int objs_per_slab;
	struct slab *partial; /* slabs with free objects */
	struct slab *empty; /* one fully free slab kept for reuse */
	uint64_t slabs; /* slabs held, including the empty one */
	uint64_t objects; /* objects handed out */
};

/* @obj_size: 8 .. 4096 bytes.  Returns 0 or -EINVAL. */
int slab_cache_init(struct slab_cache *cache, size_t obj_size);

/* Every object must have been freed.  Releases all slabs. */
void slab_cache_destroy(struct slab_cache *cache);

/* A zeroed object, or NULL when out of memory. */
void *slab_alloc(struct slab_cache *cache);
void slab_free(struct slab_cache *cache, void *obj);

/* Memory held by the cache: slabs times SLAB_BYTES. */
uint64_t slab_cache_bytes(struct slab_cache *cache);

#endif /* IOMAP_LIB_SLAB_H */
