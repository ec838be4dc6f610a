/* SPDX-License-Identifier: MIT */
/*
 * The ordered index of a mapping: a radix tree keyed by folio index, with
 * 64 slots per node (6 bits of the key per level).  The tree grows in
 * height when a key does not fit under the root and shrinks when the root
 * holds nothing but slot 0.  Internal to the page cache.
 *
 * A folio of order n occupies the 1 << n consecutive leaf slots
 * [folio->index, folio_next_index(folio)), every one of them pointing to the
 * folio and carrying the folio's tags.  So a lookup of any page of a large
 * folio finds it, and a search started inside a large folio returns it.
 * Searches skip from one folio to folio_next_index() of the last one, so a
 * large folio is returned once.  The index reads ->index and ->order only;
 * they must not change while the folio is in the index.
 *
 * Invariants
 *  1. A leaf (shift 0) holds folios, an interior node holds children.  A
 *     node is freed when its last slot empties, so every child is non-empty
 *     and root == NULL exactly when the index is empty.
 *  2. node->present has bit i set iff slots[i] != NULL.
 *  3. node->tags[t] has bit i set iff slot i is present and (leaf) carries
 *     tag t or (interior) the child has any tag t bit set.  The root thus
 *     summarises the whole tree and tagged searches skip untagged subtrees.
 *  4. The root covers keys [0, 64 << root->shift); nodes below it cover
 *     the 64 << shift keys their position in the tree selects.
 *
 * Not thread safe: the owner (struct address_space) serialises all calls
 * with its lock.  Node memory is counted in *meta_bytes.
 */
#ifndef IOMAP_PAGECACHE_INDEX_H
#define IOMAP_PAGECACHE_INDEX_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct folio;
struct pc_node;

#define PC_INDEX_TAGS 3
#define PC_INDEX_ANY (-1) /* search for any folio, not a tag */

struct pc_index {
	struct pc_node *root;
	_Atomic uint64_t *meta_bytes; /* node bytes are added and taken here */
	uint64_t nodes; /* nodes allocated */
};

/* @meta_bytes may be NULL. */
void pc_index_init(struct pc_index *ix, _Atomic uint64_t *meta_bytes);

/* Frees the nodes; the folios in the index are the caller's business. */
void pc_index_destroy(struct pc_index *ix);

/* The folio occupying slot @key, or NULL. */
struct folio *pc_index_lookup(const struct pc_index *ix, uint64_t key);

/*
 * Make @folio occupy its slots.  Returns 0, -EEXIST if any of them is
 * occupied, -EINVAL if ->index is not a multiple of the folio's page count
 * or the folio overflows the key space, or -ENOMEM (the index is unchanged).
 */
int pc_index_insert(struct pc_index *ix, struct folio *folio);

/* Empty the slots of @folio (which must occupy them), tags included. */
void pc_index_delete(struct pc_index *ix, struct folio *folio);

/*
 * Set or clear @tag on every slot of @folio, which is in the index.
 * Returns whether the folio's first slot carried the tag before.
 */
bool pc_index_set_tag(struct pc_index *ix, struct folio *folio, unsigned int tag);
bool pc_index_clear_tag(struct pc_index *ix, struct folio *folio, unsigned int tag);

/* Does slot @key carry @tag? */
bool pc_index_get_tag(const struct pc_index *ix, uint64_t key, unsigned int tag);

/*
 * The folio in the first occupied slot in [*key, last] (with @tag set unless
 * @tag is PC_INDEX_ANY), with *key set to that slot; NULL if none.  The
 * folio may start before the slot when *key was inside it.
 */
struct folio *pc_index_find(const struct pc_index *ix, uint64_t *key, uint64_t last, int tag);

/*
 * Up to @nr folios occupying slots in [*start, last], each once, in order
 * (with @tag unless PC_INDEX_ANY).  *start is left at folio_next_index() of
 * the last one when @nr were found and more of the range remains, else just
 * past @last (UINT64_MAX when @last is UINT64_MAX).
 * Takes no references.  Returns the number found.
 */
unsigned int pc_index_gather(const struct pc_index *ix, uint64_t *start, uint64_t last, int tag,
			     struct folio **out, unsigned int nr);

/*
 * Walk the whole tree checking invariants 1-3 (and that the root could not
 * shrink).  Returns 0 or -EIO.  For tests: it costs a full traversal.
 */
int pc_index_check(const struct pc_index *ix);

#endif /* IOMAP_PAGECACHE_INDEX_H */
