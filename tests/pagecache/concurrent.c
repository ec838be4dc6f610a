/* SPDX-License-Identifier: MIT */
/*
 * Many threads on one mapping and on separate mappings of one cache:
 * readers (filemap_read, every byte checked), writers that create, fill,
 * dirty and write back folios, lookups, gathers, tag and seek queries, and
 * a truncator that shrinks, grows, punches and invalidates.  Truncation is
 * page aligned (no zeroing), so every cached byte is always the file's
 * pattern and every read can be checked exactly.  At the end the counters,
 * the LRU and the index must agree, and everything must be freed.  First,
 * threads race to create the same folios.
 */
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "pc-helpers.h"
#include "pagecache/internal.h"

#define MAXP 192U /* file pages */
#define OPS 3000U
#define MAX_SECONDS 20

struct shared {
	struct t_file file;
	_Atomic bool stop;
	time_t deadline;
};

struct worker {
	struct shared *sh;
	struct t_rng rng;
	void (*op)(struct worker *w);
	unsigned int ops;
};

static bool should_stop(struct worker *w)
{
	return atomic_load(&w->sh->stop) || time(NULL) > w->sh->deadline;
}

static void *run(void *arg)
{
	struct worker *w = arg;

	for (w->ops = 0; w->ops < OPS && !should_stop(w); w->ops++)
		w->op(w);
	return NULL;
}

static void op_read(struct worker *w)
{
	struct t_file *f = &w->sh->file;
	uint64_t pos = t_rng_below(&w->rng, MAXP * PAGE_SIZE);
	size_t len = 1 + t_rng_below(&w->rng, 16 * PAGE_SIZE);
	char *buf = t_malloc(len);
	ssize_t ret;

	pthread_rwlock_rdlock(&f->inode.i_rwsem);
	ret = filemap_read(&f->inode, pos, buf, len);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	if (ret < 0 || (size_t)ret > len)
		t_fail("filemap_read(%llu, %zu) = %zd", (unsigned long long)pos, len, ret);
	t_check_file_data(f, buf, (size_t)ret, pos);
	free(buf);
}

/* Like a buffered write of the same data: fill, dirty, sometimes write back. */
static void op_write(struct worker *w)
{
	struct t_file *f = &w->sh->file;
	uint64_t index = t_rng_below(&w->rng, MAXP);
	struct folio *folio;

	pthread_rwlock_rdlock(&f->inode.invalidate_lock);
	t_assert_eq(filemap_get_folio(f->inode.i_mapping, index, FGP_WRITEBEGIN, &folio), 0);
	t_assert(folio->mapping == f->inode.i_mapping && !folio_test_writeback(folio));
	if (!folio_test_uptodate(folio)) {
		t_file_fill(f, folio);
		folio_mark_uptodate(folio);
	}
	folio_mark_dirty(folio);
	if (t_rng_below(&w->rng, 2)) {
		t_assert(folio_clear_dirty_for_io(folio));
		folio_start_writeback(folio);
		folio_unlock(folio);
		if (t_rng_below(&w->rng, 4) == 0)
			usleep(50);
		folio_end_writeback(folio);
	} else {
		folio_unlock(folio);
	}
	folio_put(folio);
	pthread_rwlock_unlock(&f->inode.invalidate_lock);
}

static void op_lookup(struct worker *w)
{
	struct address_space *mapping = w->sh->file.inode.i_mapping;
	uint64_t index = t_rng_below(&w->rng, MAXP), start = index, prev = 0;
	struct folio *folio, *batch[8];
	unsigned int n;
	int err;

	switch (t_rng_below(&w->rng, 5)) {
	case 0:
		err = filemap_get_folio(mapping, index, FGP_LOCK | FGP_NOWAIT, &folio);
		t_assert(err == 0 || err == -ENOENT || err == -EAGAIN);
		if (!err) {
			t_assert(folio->mapping == mapping && folio->index == index);
			folio_unlock(folio);
			folio_put(folio);
		}
		break;
	case 1:
		n = filemap_get_folios(mapping, &start, index + 40, batch, 8);
		for (unsigned int i = 0; i < n; i++) {
			t_assert(batch[i]->index >= index && batch[i]->index <= index + 40);
			t_assert(i == 0 || batch[i]->index > prev);
			prev = batch[i]->index;
			folio_put(batch[i]);
		}
		break;
	case 2:
		n = filemap_get_folios_tag(mapping, &start, MAXP, MAPPING_TAG_DIRTY, batch, 8);
		for (unsigned int i = 0; i < n; i++)
			folio_put(batch[i]);
		mapping_range_tagged(mapping, 0, MAXP, MAPPING_TAG_WRITEBACK);
		break;
	case 3: {
		int64_t pos =
			mapping_seek_hole_data(mapping, index * PAGE_SIZE, MAXP * PAGE_SIZE,
					       t_rng_below(&w->rng, 2) ? SEEK_DATA : SEEK_HOLE);

		t_assert(pos == -ENXIO || (pos >= (int64_t)(index * PAGE_SIZE) &&
					   pos <= (int64_t)(MAXP * PAGE_SIZE)));
		break;
	}
	default:
		err = filemap_get_folio(mapping, index, 0, &folio);
		if (!err)
			folio_put(folio);
		break;
	}
}

static void op_truncate(struct worker *w)
{
	struct t_file *f = &w->sh->file;
	uint64_t a = t_rng_below(&w->rng, MAXP), b = t_rng_below(&w->rng, MAXP);

	pthread_rwlock_wrlock(&f->inode.i_rwsem);
	pthread_rwlock_wrlock(&f->inode.invalidate_lock);
	switch (t_rng_below(&w->rng, 4)) {
	case 0:
		i_size_write(&f->inode, a * PAGE_SIZE);
		truncate_pagecache(&f->inode, a * PAGE_SIZE);
		break;
	case 1:
		i_size_write(&f->inode, MAXP * PAGE_SIZE);
		break;
	case 2:
		truncate_pagecache_range(&f->inode, min(a, b) * PAGE_SIZE,
					 (max(a, b) + 1) * PAGE_SIZE - 1);
		break;
	default:
		break;
	}
	pthread_rwlock_unlock(&f->inode.invalidate_lock);
	pthread_rwlock_unlock(&f->inode.i_rwsem);
	if (t_rng_below(&w->rng, 2))
		invalidate_mapping_pages(f->inode.i_mapping, min(a, b), max(a, b));
	usleep(100);
}

/* Nothing is locked, under writeback, or tagged wrongly once the threads are done. */
static uint64_t check_quiescent(struct t_file *f)
{
	struct address_space *mapping = f->inode.i_mapping;
	struct folio *batch[16];
	uint64_t start = 0, found = 0, dirty = 0;
	unsigned int n;

	while ((n = filemap_get_folios(mapping, &start, UINT64_MAX, batch, 16))) {
		for (unsigned int i = 0; i < n; i++) {
			struct folio *folio = batch[i];
			uint64_t idx = folio->index;

			t_assert(!folio_test_locked(folio) && !folio_test_writeback(folio));
			t_assert(folio_test(folio, FOLIO_LRU));
			t_assert_eq(atomic_load(&folio->refcount), 2);
			t_assert_eq(mapping_range_tagged(mapping, idx, idx, MAPPING_TAG_DIRTY),
				    folio_test_dirty(folio));
			t_assert(!mapping_range_tagged(mapping, idx, idx, MAPPING_TAG_WRITEBACK));
			dirty += folio_test_dirty(folio) ? folio_size(folio) : 0;
			found++;
			folio_put(folio);
		}
	}
	t_assert_eq(found, mapping_nr_folios(mapping));
	return dirty;
}

#define RACERS 4
#define RACE_PAGES 128U

struct race {
	struct t_file *f;
	pthread_barrier_t *barrier;
	struct folio *got[RACE_PAGES];
};

static void *racer(void *arg)
{
	struct race *r = arg;

	pthread_barrier_wait(r->barrier);
	for (uint64_t i = 0; i < RACE_PAGES; i++)
		t_assert_eq(filemap_get_folio(r->f->inode.i_mapping, i, FGP_CREAT, &r->got[i]), 0);
	return NULL;
}

/* Threads creating the same folios at once all end up with the one that was inserted. */
static void test_create_race(struct pagecache *cache, uint64_t seed)
{
	struct race r[RACERS];
	pthread_t th[RACERS];
	pthread_barrier_t barrier;
	struct t_file f;

	t_file_init(&f, cache, &t_sync_aops, MAXP * PAGE_SIZE, seed);
	pthread_barrier_init(&barrier, NULL, RACERS);
	for (int round = 0; round < 10; round++) {
		for (int i = 0; i < RACERS; i++) {
			r[i] = (struct race){ .f = &f, .barrier = &barrier };
			pthread_create(&th[i], NULL, racer, &r[i]);
		}
		for (int i = 0; i < RACERS; i++)
			pthread_join(th[i], NULL);
		t_assert_eq(mapping_nr_folios(f.inode.i_mapping), RACE_PAGES);
		for (uint64_t p = 0; p < RACE_PAGES; p++) {
			struct folio *folio = r[0].got[p];

			t_assert_eq(atomic_load(&folio->refcount), 1 + RACERS);
			for (int i = 0; i < RACERS; i++) {
				t_assert(r[i].got[p] == folio);
				folio_put(folio);
			}
		}
		truncate_pagecache(&f.inode, 0);
		t_assert_eq(mapping_nr_folios(f.inode.i_mapping), 0);
	}
	pthread_barrier_destroy(&barrier);
	inode_destroy(&f.inode);
	t_check_cache_empty(cache);
}

#define SHARED_THREADS 6
#define OWN_THREADS 3

int main(int argc, char **argv)
{
	static void (*const shared_ops[SHARED_THREADS])(struct worker *) = {
		op_read, op_read, op_write, op_write, op_lookup, op_truncate,
	};
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0xc0ffee;
	struct pagecache *cache = t_cache_create();
	struct shared sh[1 + OWN_THREADS];
	struct worker w[SHARED_THREADS + 2 * OWN_THREADS];
	pthread_t th[SHARED_THREADS + 2 * OWN_THREADS];
	struct pagecache_stats st;
	unsigned int nw = 0;
	uint64_t dirty = 0, folios = 0;

	test_create_race(cache, seed);
	for (unsigned int i = 0; i < 1 + OWN_THREADS; i++) {
		t_file_init(&sh[i].file, cache, &t_sync_aops, MAXP * PAGE_SIZE, seed + i);
		sh[i].stop = false;
		sh[i].deadline = time(NULL) + MAX_SECONDS;
	}
	/* Six threads on one mapping ... */
	for (unsigned int i = 0; i < SHARED_THREADS; i++)
		w[nw++] = (struct worker){ .sh = &sh[0], .op = shared_ops[i] };
	/* ... and a reader plus a truncator on each of three more. */
	for (unsigned int i = 0; i < OWN_THREADS; i++) {
		w[nw++] = (struct worker){ .sh = &sh[1 + i], .op = op_read };
		w[nw++] = (struct worker){ .sh = &sh[1 + i], .op = op_truncate };
	}
	for (unsigned int i = 0; i < nw; i++) {
		t_rng_seed(&w[i].rng, seed * 131 + i);
		pthread_create(&th[i], NULL, run, &w[i]);
	}
	for (unsigned int i = 0; i < nw; i++) {
		pthread_join(th[i], NULL);
		t_assert(w[i].ops > 0);
	}

	for (unsigned int i = 0; i < 1 + OWN_THREADS; i++) {
		dirty += check_quiescent(&sh[i].file);
		folios += mapping_nr_folios(sh[i].file.inode.i_mapping);
	}
	pagecache_get_stats(cache, &st);
	t_assert_eq(st.dirty_bytes, dirty);
	t_assert_eq(st.writeback_bytes, 0);
	t_assert_eq(st.folios, folios);
	t_assert_eq(st.folios_added - st.folios_removed, folios);
	t_assert_eq(cache->lru_len, folios);
	t_assert(st.peak_bytes >= st.bytes);
	for (unsigned int i = 0; i < 1 + OWN_THREADS; i++)
		inode_destroy(&sh[i].file.inode);
	t_check_cache_empty(cache);
	t_assert(cache->lru_head == NULL && cache->lru_len == 0);
	pagecache_destroy(cache);
	return T_EXIT_PASS;
}
