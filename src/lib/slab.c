/* SPDX-License-Identifier: MIT */
/*
 * Slab layout: a header, then objs_per_slab slots.  Free slots form a
 * singly linked list through their first word.  Invariants, under
 * cache->lock:
 *  - a slab with 0 < used < objs_per_slab is on the partial list;
 *  - a full slab is on no list;
 *  - at most one slab with used == 0 is kept, in cache->empty;
 *  - slabs are aligned to SLAB_BYTES, so an object finds its slab by masking.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lib/compiler.h"
#include "lib/slab.h"

struct slab {
	struct slab *next, *prev; /* partial list */
	void *free; /* first free slot */
	unsigned int used;
	unsigned int pad;
};

#define SLAB_HDR round_up_pow2(sizeof(struct slab), 64)

static struct slab *obj_slab(void *obj)
{
	return (struct slab *)((uintptr_t)obj & ~((uintptr_t)SLAB_BYTES - 1));
}

int slab_cache_init(struct slab_cache *cache, size_t obj_size)
{
	if (obj_size < 8 || obj_size > 4096)
		return -EINVAL;
	memset(cache, 0, sizeof(*cache));
	pthread_mutex_init(&cache->lock, NULL);
	cache->obj_size = round_up_pow2(obj_size, 8);
	cache->objs_per_slab = (SLAB_BYTES - SLAB_HDR) / cache->obj_size;
	return 0;
}

void slab_cache_destroy(struct slab_cache *cache)
{
	while (cache->partial) {
		struct slab *s = cache->partial;

		cache->partial = s->next;
		free(s);
	}
	free(cache->empty);
	cache->empty = NULL;
	cache->slabs = 0;
	pthread_mutex_destroy(&cache->lock);
}

static struct slab *slab_new(struct slab_cache *cache)
{
	struct slab *s = aligned_alloc(SLAB_BYTES, SLAB_BYTES);
	char *slot;

	if (!s)
		return NULL;
	memset(s, 0, sizeof(*s));
	slot = (char *)s + SLAB_HDR;
	for (unsigned int i = 0; i < cache->objs_per_slab; i++) {
		char *next = i + 1 < cache->objs_per_slab ? slot + cache->obj_size : NULL;

		memcpy(slot, &next, sizeof(next));
		slot += cache->obj_size;
	}
	s->free = (char *)s + SLAB_HDR;
	cache->slabs++;
	return s;
}

static void partial_add(struct slab_cache *cache, struct slab *s)
{
	s->prev = NULL;
	s->next = cache->partial;
	if (s->next)
		s->next->prev = s;
	cache->partial = s;
}

static void partial_del(struct slab_cache *cache, struct slab *s)
{
	if (s->prev)
		s->prev->next = s->next;
	else
		cache->partial = s->next;
	if (s->next)
		s->next->prev = s->prev;
	s->next = s->prev = NULL;
}

void *slab_alloc(struct slab_cache *cache)
{
	struct slab *s;
	void *obj;

	pthread_mutex_lock(&cache->lock);
	s = cache->partial;
	if (!s) {
		s = cache->empty ? cache->empty : slab_new(cache);
		cache->empty = NULL;
		if (!s) {
			pthread_mutex_unlock(&cache->lock);
			return NULL;
		}
		partial_add(cache, s);
	}
	obj = s->free;
	memcpy(&s->free, obj, sizeof(void *));
	if (++s->used == cache->objs_per_slab)
		partial_del(cache, s);
	cache->objects++;
	pthread_mutex_unlock(&cache->lock);
	memset(obj, 0, cache->obj_size);
	return obj;
}

void slab_free(struct slab_cache *cache, void *obj)
{
	struct slab *s = obj_slab(obj);

	pthread_mutex_lock(&cache->lock);
	if (s->used == cache->objs_per_slab)
		partial_add(cache, s);
	memcpy(obj, &s->free, sizeof(void *));
	s->free = obj;
	cache->objects--;
	if (--s->used == 0) {
		partial_del(cache, s);
		if (cache->empty) {
			free(s);
			cache->slabs--;
		} else {
			cache->empty = s;
		}
	}
	pthread_mutex_unlock(&cache->lock);
}

uint64_t slab_cache_bytes(struct slab_cache *cache)
{
	uint64_t n;

	pthread_mutex_lock(&cache->lock);
	n = cache->slabs * SLAB_BYTES;
	pthread_mutex_unlock(&cache->lock);
	return n;
}
