/* SPDX-License-Identifier: MIT */
/*
 * Folios: references and the cache's counters, the folio lock (contended
 * by several threads, released by a thread other than the locker), waiting
 * for unlock and for writeback, folio_end_read, and the dirty / writeback
 * transitions with their mapping tags and byte counters.  Also the lookup
 * flags of filemap_get_folio and large folios in a mapping.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "pc-helpers.h"

static void test_refs(struct pagecache *cache)
{
	struct pagecache_stats st;
	struct folio *f = folio_alloc(cache, 2);

	t_assert(f);
	t_assert_eq(atomic_load(&f->refcount), 1);
	t_assert_eq(folio_size(f), 4 * PAGE_SIZE);
	t_assert(((uintptr_t)f->data & (PAGE_SIZE - 1)) == 0);
	t_assert(!folio_test_locked(f) && !folio_test_uptodate(f) && f->mapping == NULL);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.folios, 1);
	t_assert_eq(st.bytes, 4 * PAGE_SIZE);
	t_assert(st.peak_bytes >= 4 * PAGE_SIZE);
	t_assert(st.meta_bytes >= sizeof(struct folio));
	folio_get(f);
	folio_put(f);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.folios, 1);
	folio_put(f);
	t_check_cache_empty(cache);
	pagecache_get_stats(cache, &st);
	t_assert(st.peak_bytes >= 4 * PAGE_SIZE);
	t_assert(folio_alloc(cache, 17) == NULL);
}

#define LOCKERS 4
#define ROUNDS 20000

struct lock_ctx {
	struct folio *folio;
	uint64_t counter; /* protected by the folio lock */
};

static void *locker(void *arg)
{
	struct lock_ctx *ctx = arg;

	for (int i = 0; i < ROUNDS; i++) {
		if (i % 3 == 0) {
			while (!folio_trylock(ctx->folio))
				;
		} else {
			folio_lock(ctx->folio);
		}
		ctx->counter++;
		folio_unlock(ctx->folio);
	}
	return NULL;
}

/* Mutual exclusion: a plain counter stays exact (and TSan sees the lock's ordering). */
static void test_lock_contended(struct pagecache *cache)
{
	struct lock_ctx ctx = { .folio = folio_alloc(cache, 0) };
	pthread_t th[LOCKERS];

	for (int i = 0; i < LOCKERS; i++)
		pthread_create(&th[i], NULL, locker, &ctx);
	for (int i = 0; i < LOCKERS; i++)
		pthread_join(th[i], NULL);
	t_assert_eq(ctx.counter, (uint64_t)LOCKERS * ROUNDS);
	t_assert(!folio_test_locked(ctx.folio));
	t_assert(!folio_test(ctx.folio, FOLIO_WAITERS));
	folio_put(ctx.folio);
}

struct handoff {
	struct folio *folio;
	int value; /* written before the unlock / end, read after the wait */
	_Atomic int stage;
};

static void *unlock_other(void *arg)
{
	struct handoff *h = arg;

	while (atomic_load(&h->stage) == 0)
		;
	usleep(20000); /* let the main thread sleep in folio_lock */
	h->value = 42;
	folio_unlock(h->folio);
	return NULL;
}

/* The lock is released by a thread that did not take it; the waiter sees its writes. */
static void test_unlock_by_other(struct pagecache *cache)
{
	struct handoff h = { .folio = folio_alloc(cache, 0) };
	pthread_t th;

	folio_lock(h.folio);
	t_assert(!folio_trylock(h.folio));
	pthread_create(&th, NULL, unlock_other, &h);
	atomic_store(&h.stage, 1);
	folio_lock(h.folio);
	t_assert_eq(h.value, 42);
	folio_unlock(h.folio);
	pthread_join(th, NULL);
	folio_put(h.folio);
}

static void *end_read_later(void *arg)
{
	struct handoff *h = arg;

	usleep(20000);
	memset(h->folio->data, 0xab, PAGE_SIZE);
	folio_end_read(h->folio, h->value == 1);
	return NULL;
}

/* folio_wait_locked returns once the read ends, with the data and UPTODATE visible. */
static void test_end_read(struct pagecache *cache)
{
	for (int ok = 0; ok < 2; ok++) {
		struct handoff h = { .folio = folio_alloc(cache, 0), .value = ok };
		pthread_t th;

		folio_lock(h.folio);
		pthread_create(&th, NULL, end_read_later, &h);
		folio_wait_locked(h.folio);
		t_assert(!folio_test_locked(h.folio));
		t_assert_eq(folio_test_uptodate(h.folio), ok);
		t_assert_eq(folio_test(h.folio, FOLIO_ERROR), !ok);
		if (ok)
			t_assert_eq(((unsigned char *)h.folio->data)[PAGE_SIZE - 1], 0xab);
		pthread_join(th, NULL);
		folio_put(h.folio);
	}
}

static void *end_writeback_later(void *arg)
{
	struct handoff *h = arg;

	usleep(20000);
	h->value = 7;
	folio_end_writeback(h->folio);
	return NULL;
}

static void check_tags(struct address_space *mapping, uint64_t index, bool dirty, bool wb,
		       bool towrite)
{
	t_assert_eq(mapping_range_tagged(mapping, index, index, MAPPING_TAG_DIRTY), dirty);
	t_assert_eq(mapping_range_tagged(mapping, index, index, MAPPING_TAG_WRITEBACK), wb);
	t_assert_eq(mapping_range_tagged(mapping, index, index, MAPPING_TAG_TOWRITE), towrite);
}

/* Dirty -> towrite -> writeback -> clean, with tags and counters at each step. */
static void test_dirty_writeback(struct pagecache *cache)
{
	struct t_file f;
	struct address_space *mapping;
	struct pagecache_stats st;
	struct folio *folio, *batch[4];
	struct handoff h;
	uint64_t start = 0;
	pthread_t th;

	t_file_init(&f, cache, &t_sync_aops, 1 << 20, 1);
	mapping = f.inode.i_mapping;
	t_assert_eq(filemap_get_folio(mapping, 3, FGP_LOCK | FGP_CREAT, &folio), 0);
	t_assert_eq(mapping_nr_folios(mapping), 1);
	t_assert(mapping_host(mapping) == &f.inode && mapping_cache(mapping) == cache);
	check_tags(mapping, 3, false, false, false);
	t_assert(folio_mark_dirty(folio));
	t_assert(!folio_mark_dirty(folio));
	check_tags(mapping, 3, true, false, false);
	t_assert(!mapping_range_tagged(mapping, 0, 2, MAPPING_TAG_DIRTY));
	t_assert(mapping_range_tagged(mapping, 0, UINT64_MAX, MAPPING_TAG_DIRTY));
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, PAGE_SIZE);
	t_assert_eq(filemap_get_folios_tag(mapping, &start, 100, MAPPING_TAG_DIRTY, batch, 4), 1);
	t_assert(batch[0] == folio);
	folio_put(batch[0]);
	mapping_tag_for_writeback(mapping, 0, 100);
	check_tags(mapping, 3, true, false, true);
	t_assert(folio_clear_dirty_for_io(folio));
	t_assert(!folio_clear_dirty_for_io(folio));
	folio_start_writeback(folio);
	check_tags(mapping, 3, false, true, false);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, 0);
	t_assert_eq(st.writeback_bytes, PAGE_SIZE);
	folio_unlock(folio);

	/* FGP_STABLE waits for the writeback; FGP_NOWAIT refuses to. */
	t_assert_eq(filemap_get_folio(mapping, 3, FGP_WRITEBEGIN | FGP_NOWAIT, &batch[0]), -EAGAIN);
	h = (struct handoff){ .folio = folio };
	pthread_create(&th, NULL, end_writeback_later, &h);
	t_assert_eq(filemap_get_folio(mapping, 3, FGP_WRITEBEGIN, &batch[0]), 0);
	t_assert(batch[0] == folio && folio_test_locked(folio) && !folio_test_writeback(folio));
	t_assert_eq(h.value, 7);
	pthread_join(th, NULL);
	check_tags(mapping, 3, false, false, false);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.writeback_bytes, 0);

	/* Writeback again, waited for with folio_wait_writeback. */
	folio_mark_dirty(folio);
	folio_cancel_dirty(folio);
	check_tags(mapping, 3, false, false, false);
	folio_start_writeback(folio);
	folio_unlock(folio);
	h = (struct handoff){ .folio = folio };
	pthread_create(&th, NULL, end_writeback_later, &h);
	folio_wait_writeback(folio);
	t_assert_eq(h.value, 7);
	pthread_join(th, NULL);
	folio_put(batch[0]);
	folio_put(folio);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
}

/* Lookup flags: absent, create, NOWAIT on a locked folio, retry after truncation. */
static void test_get_folio(struct pagecache *cache)
{
	struct t_file f;
	struct address_space *mapping;
	struct folio *a, *b;
	struct pagecache_stats st;

	t_file_init(&f, cache, &t_sync_aops, 1 << 20, 1);
	mapping = f.inode.i_mapping;
	t_assert_eq(filemap_get_folio(mapping, 9, 0, &a), -ENOENT);
	t_assert_eq(filemap_get_folio(mapping, 9, FGP_CREAT, &a), 0);
	t_assert(!folio_test_locked(a) && !folio_test_uptodate(a));
	t_assert_eq(a->index, 9);
	t_assert(a->mapping == mapping);
	t_assert_eq(atomic_load(&a->refcount), 2);
	t_assert_eq(filemap_get_folio(mapping, 9, FGP_LOCK, &b), 0);
	t_assert(a == b && folio_test_locked(a));
	t_assert_eq(filemap_get_folio(mapping, 9, FGP_LOCK | FGP_NOWAIT, &b), -EAGAIN);
	t_assert_eq(filemap_get_folio(mapping, 9, FGP_NOWAIT, &b), 0);
	folio_put(b);
	filemap_remove_folio(a);
	t_assert(a->mapping == NULL);
	folio_unlock(a);
	folio_put(a);
	t_assert_eq(mapping_nr_folios(mapping), 0);
	t_assert_eq(filemap_get_folio(mapping, 9, FGP_LOCK | FGP_CREAT, &b), 0);
	t_assert(b != a && b->mapping == mapping);
	folio_unlock(b);
	folio_put(b);
	folio_put(a);
	pagecache_get_stats(cache, &st);
	t_assert(st.lookups >= 7 && st.lookup_hits >= 3);
	t_assert(st.folios_added >= 2 && st.folios_removed >= 1);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
}

struct getter {
	struct address_space *mapping;
	unsigned int fgp;
	struct folio *folio;
	int err;
	_Atomic int started;
};

static void *get_thread(void *arg)
{
	struct getter *g = arg;

	atomic_store(&g->started, 1);
	g->err = filemap_get_folio(g->mapping, 4, g->fgp, &g->folio);
	return NULL;
}

/*
 * FGP_LOCK sleeps on a folio that is removed before the lock comes free:
 * the lookup must notice and retry (finding nothing, or creating a new one).
 */
static void test_get_folio_truncated(struct pagecache *cache)
{
	for (int creat = 0; creat < 2; creat++) {
		struct t_file f;
		struct folio *old;
		struct getter g;
		pthread_t th;

		t_file_init(&f, cache, &t_sync_aops, 1 << 20, 1);
		t_assert_eq(filemap_get_folio(f.inode.i_mapping, 4, FGP_LOCK | FGP_CREAT, &old), 0);
		g = (struct getter){ .mapping = f.inode.i_mapping,
				     .fgp = FGP_LOCK | (creat ? FGP_CREAT : 0) };
		pthread_create(&th, NULL, get_thread, &g);
		while (!atomic_load(&g.started))
			;
		usleep(20000);
		filemap_remove_folio(old);
		folio_unlock(old);
		pthread_join(th, NULL);
		if (creat) {
			t_assert_eq(g.err, 0);
			t_assert(g.folio != old && g.folio->mapping == f.inode.i_mapping);
			t_assert(folio_test_locked(g.folio));
			folio_unlock(g.folio);
			folio_put(g.folio);
		} else {
			t_assert_eq(g.err, -ENOENT);
		}
		folio_put(old);
		inode_destroy(&f.inode);
	}
}

/* A large folio sits in every slot it covers and is gathered once. */
static void test_large_in_mapping(struct pagecache *cache)
{
	struct t_file f;
	struct address_space *mapping;
	struct folio *big = folio_alloc(cache, 3), *got, *batch[8];
	uint64_t start = 0;

	t_file_init(&f, cache, &t_sync_aops, 1 << 20, 1);
	mapping = f.inode.i_mapping;
	folio_lock(big);
	t_assert_eq(filemap_add_folio(mapping, big, 4), -EINVAL);
	t_assert_eq(filemap_add_folio(mapping, big, 8), 0);
	got = folio_alloc(cache, 0);
	folio_lock(got);
	t_assert_eq(filemap_add_folio(mapping, got, 9), -EEXIST);
	t_assert(got->mapping == NULL && atomic_load(&got->refcount) == 1);
	folio_unlock(got);
	folio_put(got);
	t_assert(folio_mark_dirty(big));
	folio_unlock(big);
	for (uint64_t i = 8; i < 16; i++) {
		t_assert_eq(filemap_get_folio(mapping, i, FGP_LOCK, &got), 0);
		t_assert(got == big);
		folio_unlock(got);
		folio_put(got);
		t_assert(mapping_range_tagged(mapping, i, i, MAPPING_TAG_DIRTY));
	}
	t_assert_eq(filemap_get_folio(mapping, 16, 0, &got), -ENOENT);
	t_assert_eq(filemap_get_folios(mapping, &start, 100, batch, 8), 1);
	t_assert(batch[0] == big);
	folio_put(batch[0]);
	start = 12;
	t_assert_eq(filemap_get_folios_tag(mapping, &start, 100, MAPPING_TAG_DIRTY, batch, 8), 1);
	folio_put(batch[0]);
	t_assert_eq(mapping_nr_folios(mapping), 1);
	folio_put(big);
	inode_destroy(&f.inode); /* discards the dirty folio */
	t_check_cache_empty(cache);
}

int main(void)
{
	struct pagecache *cache = t_cache_create();

	test_refs(cache);
	test_lock_contended(cache);
	test_unlock_by_other(cache);
	test_end_read(cache);
	test_dirty_writeback(cache);
	test_get_folio(cache);
	test_get_folio_truncated(cache);
	test_large_in_mapping(cache);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
	return T_EXIT_PASS;
}
