/* SPDX-License-Identifier: MIT */
/*
 * Truncation and invalidation: truncate_pagecache zeroes the EOF folio's
 * tail and removes the folios past it; truncate_pagecache_range (punch)
 * zeroes the partial folios at both ends, removes the ones inside and
 * discards their dirty data, waiting for writeback first; large folios
 * straddling the range are zeroed, not removed.  invalidate_mapping_pages
 * drops only clean, unlocked, unreferenced folios whose private state can
 * be released.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "pc-helpers.h"

#define NPAGES 16

/* Read the whole file of @n pages into the cache. */
static void populate(struct t_file *f, uint64_t n)
{
	char *buf = t_malloc(n * PAGE_SIZE);

	t_assert_eq(filemap_read(&f->inode, 0, buf, n * PAGE_SIZE), (ssize_t)(n * PAGE_SIZE));
	free(buf);
	t_assert_eq(mapping_nr_folios(f->inode.i_mapping), n);
}

static struct folio *get(struct t_file *f, uint64_t index)
{
	struct folio *folio;

	t_assert_eq(filemap_get_folio(f->inode.i_mapping, index, 0, &folio), 0);
	return folio;
}

static bool cached(struct t_file *f, uint64_t index)
{
	struct folio *folio;

	if (filemap_get_folio(f->inode.i_mapping, index, 0, &folio))
		return false;
	folio_put(folio);
	return true;
}

/* Bytes [from, to) of cached folio @index: zero or the file's pattern. */
static void check_folio(struct t_file *f, uint64_t index, size_t from, size_t to, bool zero)
{
	struct folio *folio = get(f, index);
	const char *p = folio_address(folio, from);

	if (zero)
		t_assert(t_is_zero(p, to - from));
	else
		t_check_file_data(f, p, to - from, folio_pos(folio) + from);
	folio_put(folio);
}

static void test_truncate(struct pagecache *cache)
{
	uint64_t newsize = 5 * PAGE_SIZE + 1000;
	struct t_file f;

	t_file_init(&f, cache, &t_sync_aops, NPAGES * PAGE_SIZE, 1);
	populate(&f, NPAGES);
	i_size_write(&f.inode, newsize);
	truncate_pagecache(&f.inode, newsize);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 6);
	t_assert(cached(&f, 5) && !cached(&f, 6) && !cached(&f, NPAGES - 1));
	check_folio(&f, 5, 0, 1000, false);
	check_folio(&f, 5, 1000, PAGE_SIZE, true);
	check_folio(&f, 4, 0, PAGE_SIZE, false);
	t_assert_eq(atomic_load(&f.last_partial_off), 1000);
	t_assert_eq(atomic_load(&f.last_partial_len), PAGE_SIZE - 1000);
	t_assert_eq(atomic_load(&f.invalidate_calls), NPAGES - 6 + 1);

	/* Page aligned: nothing zeroed, everything from the new EOF gone. */
	truncate_pagecache(&f.inode, 2 * PAGE_SIZE);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 2);
	check_folio(&f, 1, 0, PAGE_SIZE, false);
	truncate_pagecache(&f.inode, 0);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 0);
	inode_destroy(&f.inode);
}

static void test_punch(struct pagecache *cache)
{
	struct pagecache_stats st;
	struct folio *folio;
	struct t_file f;

	t_file_init(&f, cache, &t_sync_aops, NPAGES * PAGE_SIZE, 2);
	populate(&f, NPAGES);
	for (uint64_t i = 0; i < NPAGES; i++) {
		t_assert_eq(filemap_get_folio(f.inode.i_mapping, i, FGP_LOCK, &folio), 0);
		folio_mark_dirty(folio);
		folio_unlock(folio);
		folio_put(folio);
	}
	truncate_pagecache_range(&f.inode, 2 * PAGE_SIZE + 100, 6 * PAGE_SIZE + 199);
	t_assert(cached(&f, 2) && !cached(&f, 3) && !cached(&f, 5) && cached(&f, 6));
	check_folio(&f, 2, 0, 100, false);
	check_folio(&f, 2, 100, PAGE_SIZE, true);
	check_folio(&f, 6, 0, 200, true);
	check_folio(&f, 6, 200, PAGE_SIZE, false);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), NPAGES - 3);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, (NPAGES - 3) * PAGE_SIZE);
	t_assert(!mapping_range_tagged(f.inode.i_mapping, 3, 5, MAPPING_TAG_DIRTY));
	t_assert(mapping_range_tagged(f.inode.i_mapping, 6, 6, MAPPING_TAG_DIRTY));

	/* Inside one folio: only zeroing. */
	truncate_pagecache_range(&f.inode, 8 * PAGE_SIZE + 10, 8 * PAGE_SIZE + 19);
	check_folio(&f, 8, 0, 10, false);
	check_folio(&f, 8, 10, 20, true);
	check_folio(&f, 8, 20, PAGE_SIZE, false);
	inode_destroy(&f.inode);
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, 0);
}

struct punch_arg {
	struct t_file *f;
	_Atomic int done;
};

static void *punch_thread(void *arg)
{
	struct punch_arg *a = arg;

	truncate_pagecache_range(&a->f->inode, 0, 4 * PAGE_SIZE - 1);
	atomic_store(&a->done, 1);
	return NULL;
}

/* Removal waits for writeback to end. */
static void test_waits_for_writeback(struct pagecache *cache)
{
	struct punch_arg a;
	struct folio *folio;
	struct t_file f;
	pthread_t th;

	t_file_init(&f, cache, &t_sync_aops, 4 * PAGE_SIZE, 3);
	populate(&f, 4);
	t_assert_eq(filemap_get_folio(f.inode.i_mapping, 2, FGP_LOCK, &folio), 0);
	folio_mark_dirty(folio);
	folio_clear_dirty_for_io(folio);
	folio_start_writeback(folio);
	folio_unlock(folio);
	a = (struct punch_arg){ .f = &f };
	pthread_create(&th, NULL, punch_thread, &a);
	usleep(30000);
	t_assert_eq(atomic_load(&a.done), 0);
	t_assert(folio->mapping != NULL || folio_test_writeback(folio));
	folio_end_writeback(folio);
	pthread_join(th, NULL);
	t_assert(folio->mapping == NULL);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 0);
	folio_put(folio);
	inode_destroy(&f.inode);
}

/* A large folio straddling either end of a punch is zeroed in place. */
static void test_large_folio(struct pagecache *cache)
{
	struct folio *big = folio_alloc(cache, 2);
	struct t_file f;

	t_file_init(&f, cache, &t_sync_aops, NPAGES * PAGE_SIZE, 4);
	folio_lock(big);
	t_assert_eq(filemap_add_folio(f.inode.i_mapping, big, 4), 0);
	t_file_fill(&f, big);
	folio_mark_uptodate(big);
	folio_unlock(big);
	truncate_pagecache_range(&f.inode, 5 * PAGE_SIZE, 6 * PAGE_SIZE - 1);
	t_assert(big->mapping == f.inode.i_mapping);
	t_assert(t_is_zero(folio_address(big, PAGE_SIZE), PAGE_SIZE));
	t_check_file_data(&f, big->data, PAGE_SIZE, 4 * PAGE_SIZE);
	t_check_file_data(&f, folio_address(big, 2 * PAGE_SIZE), 2 * PAGE_SIZE, 6 * PAGE_SIZE);
	t_assert_eq(atomic_load(&f.last_partial_off), PAGE_SIZE);
	t_assert_eq(atomic_load(&f.last_partial_len), PAGE_SIZE);
	truncate_pagecache(&f.inode, 4 * PAGE_SIZE);
	t_assert(big->mapping == NULL);
	folio_put(big);
	inode_destroy(&f.inode);
}

static bool refuse_release(struct folio *folio)
{
	return false;
}

static const struct address_space_ops refusing_aops = {
	.read_folio = t_sync_read_folio,
	.release_folio = refuse_release,
};

static void test_invalidate(struct pagecache *cache)
{
	struct folio *dirty, *locked, *held, *wb;
	struct t_file f;

	t_file_init(&f, cache, &t_sync_aops, 8 * PAGE_SIZE, 5);
	populate(&f, 8);
	t_assert_eq(filemap_get_folio(f.inode.i_mapping, 1, FGP_LOCK, &dirty), 0);
	folio_mark_dirty(dirty);
	folio_unlock(dirty);
	folio_put(dirty);
	t_assert_eq(filemap_get_folio(f.inode.i_mapping, 2, FGP_LOCK, &locked), 0);
	held = get(&f, 3);
	t_assert_eq(filemap_get_folio(f.inode.i_mapping, 4, FGP_LOCK, &wb), 0);
	folio_start_writeback(wb);
	folio_unlock(wb);

	t_assert_eq(invalidate_mapping_pages(f.inode.i_mapping, 1, 6), 2); /* 5 and 6 */
	t_assert(cached(&f, 1) && cached(&f, 2) && cached(&f, 3) && cached(&f, 4));
	t_assert(!cached(&f, 5) && !cached(&f, 6) && cached(&f, 0) && cached(&f, 7));
	t_assert_eq(atomic_load(&f.release_calls), 2);

	folio_end_writeback(wb);
	folio_put(wb);
	folio_unlock(locked);
	folio_put(locked);
	folio_put(held);
	t_assert_eq(invalidate_mapping_pages(f.inode.i_mapping, 0, UINT64_MAX), 5);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 1); /* the dirty one */
	inode_destroy(&f.inode);

	/* ->release_folio can refuse. */
	t_file_init(&f, cache, &refusing_aops, 4 * PAGE_SIZE, 6);
	populate(&f, 4);
	t_assert_eq(invalidate_mapping_pages(f.inode.i_mapping, 0, UINT64_MAX), 0);
	t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 4);
	inode_destroy(&f.inode);
}

/* A large folio straddling the range of invalidate_mapping_pages stays. */
static void test_invalidate_straddling(struct pagecache *cache)
{
	struct folio *big = folio_alloc(cache, 2);
	struct t_file f;

	t_file_init(&f, cache, &t_sync_aops, NPAGES * PAGE_SIZE, 7);
	folio_lock(big);
	t_assert_eq(filemap_add_folio(f.inode.i_mapping, big, 8), 0);
	folio_mark_uptodate(big);
	folio_unlock(big);
	folio_put(big);
	t_assert_eq(invalidate_mapping_pages(f.inode.i_mapping, 9, 100), 0);
	t_assert_eq(invalidate_mapping_pages(f.inode.i_mapping, 0, 10), 0);
	t_assert_eq(invalidate_mapping_pages(f.inode.i_mapping, 8, 11), 1);
	inode_destroy(&f.inode);
}

int main(void)
{
	struct pagecache *cache = t_cache_create();

	test_truncate(cache);
	test_punch(cache);
	test_waits_for_writeback(cache);
	test_large_folio(cache);
	test_invalidate(cache);
	test_invalidate_straddling(cache);
	t_check_cache_empty(cache);
	pagecache_destroy(cache);
	return T_EXIT_PASS;
}
