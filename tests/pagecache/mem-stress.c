/* SPDX-License-Identifier: MIT */
/*
 * Memory pressure with everything at once, on an 8 MiB budget, through a
 * device that completes writes on its own thread after a random delay:
 * writers dirtying their files under i_rwsem and throttling, readers
 * checking every byte of a large clean file and of the writers' files, a
 * hole puncher and invalidator, pagecache_sync in a loop, a thread
 * creating, dirtying and destroying inodes, and the flusher with a short
 * expiry.  Throughout, the cache's data bytes stay within budget + slack
 * (checked by sampling and by peak_bytes); at the end every counter agrees
 * with what the mappings hold and everything is freed.
 *
 * Usage: pagecache-mem-stress [seed [seconds]]
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "mem-helpers.h"
#include "pagecache/internal.h"

#define MIB (1ULL << 20)
#define BUDGET (8 * MIB)
#define FILE_BYTES (64 * MIB)
#define WRITERS 3
#define READERS 2

struct shared {
	struct pagecache *cache;
	struct t_file big; /* clean, read only */
	struct t_file wfile[WRITERS];
	_Atomic bool stop;
};

struct worker {
	struct shared *sh;
	struct t_rng rng;
	unsigned int id;
	uint64_t ops;
};

static bool stopping(struct worker *w)
{
	return atomic_load(&w->sh->stop);
}

/* A run of pages, like a buffered write under i_rwsem, throttled as iomap will be. */
static void *writer(void *arg)
{
	struct worker *w = arg;
	struct t_file *f = &w->sh->wfile[w->id];
	uint64_t pages = FILE_BYTES / PAGE_SIZE;

	for (; !stopping(w); w->ops++) {
		uint64_t index = t_rng_below(&w->rng, pages), run = 1 + t_rng_below(&w->rng, 64);

		pthread_rwlock_wrlock(&f->inode.i_rwsem);
		for (uint64_t i = index; i < min(index + run, pages); i++) {
			pthread_rwlock_rdlock(&f->inode.invalidate_lock);
			t_assert_eq(t_dirty_page(f, i), 0);
			pthread_rwlock_unlock(&f->inode.invalidate_lock);
			balance_dirty_pages_ratelimited(f->inode.i_mapping);
		}
		pthread_rwlock_unlock(&f->inode.i_rwsem);
		if (t_rng_below(&w->rng, 50) == 0)
			t_assert_eq(filemap_write_and_wait_range(f->inode.i_mapping, 0, UINT64_MAX),
				    0);
	}
	return NULL;
}

static void *reader(void *arg)
{
	struct worker *w = arg;
	char *buf = t_malloc(MIB);

	for (; !stopping(w); w->ops++) {
		unsigned int which = (unsigned int)t_rng_below(&w->rng, WRITERS + 2);
		struct t_file *f = which < WRITERS ? &w->sh->wfile[which] : &w->sh->big;
		uint64_t pos = t_rng_below(&w->rng, FILE_BYTES);
		size_t len = 1 + t_rng_below(&w->rng, MIB);
		ssize_t ret;

		pthread_rwlock_rdlock(&f->inode.i_rwsem);
		ret = filemap_read(&f->inode, pos, buf, len);
		pthread_rwlock_unlock(&f->inode.i_rwsem);
		if (ret < 0 || (size_t)ret > len)
			t_fail("filemap_read(%llu, %zu) = %zd", (unsigned long long)pos, len, ret);
		t_check_file_data(f, buf, (size_t)ret, pos);
	}
	free(buf);
	return NULL;
}

/* Page aligned punches (no zeroing, so the data stays the pattern) and invalidation. */
static void *puncher(void *arg)
{
	struct worker *w = arg;
	uint64_t pages = FILE_BYTES / PAGE_SIZE;

	for (; !stopping(w); w->ops++) {
		struct t_file *f = &w->sh->wfile[t_rng_below(&w->rng, WRITERS)];
		uint64_t a = t_rng_below(&w->rng, pages), n = 1 + t_rng_below(&w->rng, 256);

		pthread_rwlock_wrlock(&f->inode.i_rwsem);
		pthread_rwlock_wrlock(&f->inode.invalidate_lock);
		truncate_pagecache_range(&f->inode, a * PAGE_SIZE, (a + n) * PAGE_SIZE - 1);
		pthread_rwlock_unlock(&f->inode.invalidate_lock);
		pthread_rwlock_unlock(&f->inode.i_rwsem);
		invalidate_mapping_pages(w->sh->big.inode.i_mapping, a, a + n);
		usleep(1000);
	}
	return NULL;
}

static void *syncer(void *arg)
{
	struct worker *w = arg;

	for (; !stopping(w); w->ops++) {
		t_assert_eq(pagecache_sync(w->sh->cache), 0);
		usleep(5000);
	}
	return NULL;
}

static void *churner(void *arg)
{
	struct worker *w = arg;

	for (; !stopping(w); w->ops++) {
		struct t_file *f = t_malloc(sizeof(*f));
		uint64_t n = 1 + t_rng_below(&w->rng, 512);

		t_file_init(f, w->sh->cache, &t_wb_aops, FILE_BYTES, t_rng_next(&w->rng));
		for (uint64_t i = 0; i < n; i++) {
			t_assert_eq(t_dirty_page(f, i), 0);
			balance_dirty_pages_ratelimited(f->inode.i_mapping);
		}
		if (t_rng_below(&w->rng, 2))
			usleep((useconds_t)t_rng_below(&w->rng, 20000));
		inode_destroy(&f->inode);
		free(f);
	}
	return NULL;
}

/* Nothing locked, under writeback or tagged wrongly once quiet; returns its dirty bytes. */
static uint64_t check_quiescent(struct t_file *f)
{
	struct address_space *mapping = f->inode.i_mapping;
	struct folio *batch[16];
	uint64_t start = 0, found = 0, dirty = 0;
	unsigned int n;

	while ((n = filemap_get_folios(mapping, &start, UINT64_MAX, batch, 16))) {
		for (unsigned int i = 0; i < n; i++) {
			struct folio *folio = batch[i];

			t_assert(!folio_test_locked(folio) && !folio_test_writeback(folio));
			t_assert(folio_test(folio, FOLIO_LRU));
			t_assert_eq(atomic_load(&folio->refcount), 2);
			dirty += folio_test_dirty(folio) ? folio_size(folio) : 0;
			found++;
			folio_put(folio);
		}
	}
	t_assert_eq(found, mapping_nr_folios(mapping));
	t_assert_eq(atomic_load(&mapping->nr_dirty) * PAGE_SIZE, dirty);
	t_assert_eq(atomic_load(&mapping->nr_writeback), 0);
	return dirty;
}

#define NTHREADS (WRITERS + READERS + 3)

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x57e55;
	unsigned int seconds = argc > 2 ? (unsigned int)strtoul(argv[2], NULL, 0) : 4;
	void *(*fns[NTHREADS])(void *);
	struct pagecache_opts opts = {
		.budget_bytes = BUDGET,
		.dirty_expire_ms = 100,
		.flusher_interval_ms = 20,
	};
	struct shared sh = { 0 };
	struct worker w[NTHREADS];
	pthread_t th[NTHREADS];
	struct pagecache_stats st;
	uint64_t end, dirty = 0, folios = 0;
	struct t_wbdev *dev = t_wbdev_start(20);

	atomic_store(&t_wbdev, dev);
	sh.cache = t_cache_create_opts(&opts);
	t_file_init(&sh.big, sh.cache, &t_wb_aops, FILE_BYTES, seed);
	for (unsigned int i = 0; i < WRITERS; i++) {
		t_file_init(&sh.wfile[i], sh.cache, &t_wb_aops, FILE_BYTES, seed + 1 + i);
		fns[i] = writer;
	}
	for (unsigned int i = 0; i < READERS; i++)
		fns[WRITERS + i] = reader;
	fns[WRITERS + READERS] = puncher;
	fns[WRITERS + READERS + 1] = syncer;
	fns[WRITERS + READERS + 2] = churner;
	for (unsigned int i = 0; i < NTHREADS; i++) {
		w[i] = (struct worker){ .sh = &sh, .id = i };
		t_rng_seed(&w[i].rng, seed * 977 + i);
		pthread_create(&th[i], NULL, fns[i], &w[i]);
	}
	end = t_now_ms() + seconds * 1000ULL;
	while (t_now_ms() < end) {
		pagecache_get_stats(sh.cache, &st);
		t_assert(st.bytes <= BUDGET + pagecache_slack(sh.cache));
		usleep(1000);
	}
	atomic_store(&sh.stop, true);
	for (unsigned int i = 0; i < NTHREADS; i++) {
		pthread_join(th[i], NULL);
		t_assert(w[i].ops > 0);
	}

	t_assert_eq(pagecache_sync(sh.cache), 0);
	t_wbdev_stop(dev); /* its last folio_end_writeback may still hold a reference */
	dirty += check_quiescent(&sh.big);
	folios += mapping_nr_folios(sh.big.inode.i_mapping);
	for (unsigned int i = 0; i < WRITERS; i++) {
		dirty += check_quiescent(&sh.wfile[i]);
		folios += mapping_nr_folios(sh.wfile[i].inode.i_mapping);
	}
	pagecache_get_stats(sh.cache, &st);
	t_assert_eq(st.dirty_bytes, dirty);
	t_assert_eq(dirty, 0); /* nobody wrote after the last sync */
	t_assert_eq(st.writeback_bytes, 0);
	t_assert_eq(st.folios, folios);
	t_assert_eq(st.folios_added - st.folios_removed, folios);
	t_assert_eq(sh.cache->lru_len, folios);
	t_assert_eq(st.alloc_failures, 0);
	t_assert(st.reclaimed > 0 && st.flusher_runs > 0);
	t_check_peak_within_slack(sh.cache);
	inode_destroy(&sh.big.inode);
	for (unsigned int i = 0; i < WRITERS; i++)
		inode_destroy(&sh.wfile[i].inode);
	t_check_cache_empty(sh.cache);
	t_assert(sh.cache->lru_head == NULL && sh.cache->wb_head == NULL);
	pagecache_destroy(sh.cache);
	return T_EXIT_PASS;
}
