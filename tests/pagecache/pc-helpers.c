/* SPDX-License-Identifier: MIT */
#include "pc-helpers.h"

#include "helpers.h"
#include "lib/compiler.h"

struct t_file *t_file_of(struct folio *folio)
{
	return container_of(mapping_host(folio->mapping), struct t_file, inode);
}

void t_file_fill(struct t_file *f, struct folio *folio)
{
	t_fill_pattern(folio->data, folio_size(folio), folio_pos(folio), f->seed);
}

void t_file_complete_read(struct t_file *f, struct folio *folio)
{
	bool ok = folio->index != f->fail_index;

	if (ok)
		t_file_fill(f, folio);
	folio_end_read(folio, ok);
}

int t_sync_read_folio(struct folio *folio)
{
	struct t_file *f = t_file_of(folio);

	atomic_fetch_add(&f->read_folio_calls, 1);
	if (!folio_test_locked(folio) || folio_test_uptodate(folio))
		t_fail("read_folio on an unlocked or uptodate folio");
	t_file_complete_read(f, folio);
	return 0;
}

void t_sync_readahead(struct readahead_control *rac)
{
	struct t_file *f = container_of(mapping_host(rac->mapping), struct t_file, inode);
	struct folio *folio;

	atomic_fetch_add(&f->readahead_calls, 1);
	while ((folio = readahead_folio(rac))) {
		atomic_fetch_add(&f->readahead_folios, 1);
		if (!folio_test_locked(folio) || folio_test_uptodate(folio))
			t_fail("readahead got an unlocked or uptodate folio");
		t_file_complete_read(f, folio);
	}
}

void t_record_invalidate(struct folio *folio, size_t offset, size_t len)
{
	struct t_file *f = t_file_of(folio);

	if (!folio_test_locked(folio))
		t_fail("invalidate_folio on an unlocked folio");
	atomic_fetch_add(&f->invalidate_calls, 1);
	if (offset == 0 && len == folio_size(folio)) {
		folio->private = NULL;
		return;
	}
	atomic_store(&f->last_partial_off, offset);
	atomic_store(&f->last_partial_len, len);
}

bool t_release(struct folio *folio)
{
	struct t_file *f = t_file_of(folio);

	atomic_fetch_add(&f->release_calls, 1);
	folio->private = NULL;
	return true;
}

const struct address_space_ops t_sync_aops = {
	.read_folio = t_sync_read_folio,
	.readahead = t_sync_readahead,
	.invalidate_folio = t_record_invalidate,
	.release_folio = t_release,
};

struct pagecache *t_cache_create(void)
{
	struct pagecache_opts opts = { .budget_bytes = 0 };
	struct pagecache *cache;
	int err = pagecache_create(&opts, &cache);

	if (err)
		t_fail("pagecache_create: %d", err);
	return cache;
}

void t_file_init(struct t_file *f, struct pagecache *cache, const struct address_space_ops *aops,
		 uint64_t size, uint64_t seed)
{
	int err;

	*f = (struct t_file){ .seed = seed, .fail_index = T_NO_INDEX };
	err = inode_init(&f->inode, cache, 12, aops);
	if (err)
		t_fail("inode_init: %d", err);
	i_size_write(&f->inode, size);
}

void t_check_file_data(struct t_file *f, const void *buf, size_t len, uint64_t pos)
{
	long bad = t_check_pattern(buf, len, pos, f->seed);

	if (bad >= 0)
		t_fail("data mismatch at file offset %llu",
		       (unsigned long long)(pos + (uint64_t)bad));
}

void t_check_cache_empty(struct pagecache *cache)
{
	struct pagecache_stats st;

	pagecache_get_stats(cache, &st);
	t_assert_eq(st.folios, 0);
	t_assert_eq(st.bytes, 0);
	t_assert_eq(st.meta_bytes, 0);
	t_assert_eq(st.dirty_bytes, 0);
	t_assert_eq(st.writeback_bytes, 0);
}
