/* SPDX-License-Identifier: MIT */
/*
 * The radix tree behind a mapping's ordered index.  Invariants and the
 * layout of large folios are described in index.h.
 */
#include "pagecache/index.h"

#include <errno.h>
#include <stdlib.h>

#include <iomap/folio.h>

#define PC_NODE_BITS 6
#define PC_NODE_SLOTS (1U << PC_NODE_BITS)
#define PC_NODE_MASK (PC_NODE_SLOTS - 1)
#define PC_MAX_SHIFT 60 /* 11 levels cover 64-bit keys */

struct pc_node {
	struct pc_node *parent; /* NULL for the root */
	uint8_t shift; /* key bits below this node's slot number */
	uint8_t offset; /* slot in the parent */
	uint64_t present;
	uint64_t tags[PC_INDEX_TAGS];
	void *slots[PC_NODE_SLOTS];
};

static uint64_t bit(unsigned int n)
{
	return 1ULL << n;
}

static unsigned int slot_of(const struct pc_node *node, uint64_t key)
{
	return (key >> node->shift) & PC_NODE_MASK;
}

/* Key bits covered by one node at @shift: its keys are base | [0, mask]. */
static uint64_t span_mask(unsigned int shift)
{
	if (shift + PC_NODE_BITS >= 64)
		return UINT64_MAX;
	return (1ULL << (shift + PC_NODE_BITS)) - 1;
}

static uint64_t folio_last_key(const struct folio *folio)
{
	return folio->index + (1ULL << folio->order) - 1;
}

static struct pc_node *node_alloc(struct pc_index *ix, unsigned int shift, struct pc_node *parent,
				  unsigned int offset)
{
	struct pc_node *node = calloc(1, sizeof(*node));

	if (!node)
		return NULL;
	node->shift = (uint8_t)shift;
	node->parent = parent;
	node->offset = (uint8_t)offset;
	ix->nodes++;
	if (ix->meta_bytes)
		atomic_fetch_add_explicit(ix->meta_bytes, sizeof(*node), memory_order_relaxed);
	return node;
}

static void node_free(struct pc_index *ix, struct pc_node *node)
{
	ix->nodes--;
	if (ix->meta_bytes)
		atomic_fetch_sub_explicit(ix->meta_bytes, sizeof(*node), memory_order_relaxed);
	free(node);
}

void pc_index_init(struct pc_index *ix, _Atomic uint64_t *meta_bytes)
{
	ix->root = NULL;
	ix->meta_bytes = meta_bytes;
	ix->nodes = 0;
}

static void free_subtree(struct pc_index *ix, struct pc_node *node)
{
	if (node->shift) {
		uint64_t present = node->present;

		while (present) {
			unsigned int i = (unsigned int)__builtin_ctzll(present);

			present &= present - 1;
			free_subtree(ix, node->slots[i]);
		}
	}
	node_free(ix, node);
}

void pc_index_destroy(struct pc_index *ix)
{
	if (ix->root)
		free_subtree(ix, ix->root);
	ix->root = NULL;
}

static struct pc_node *leaf_of(const struct pc_index *ix, uint64_t key)
{
	struct pc_node *node = ix->root;

	if (!node || key > span_mask(node->shift))
		return NULL;
	while (node && node->shift)
		node = node->slots[slot_of(node, key)];
	return node;
}

struct folio *pc_index_lookup(const struct pc_index *ix, uint64_t key)
{
	struct pc_node *leaf = leaf_of(ix, key);

	return leaf ? leaf->slots[slot_of(leaf, key)] : NULL;
}

bool pc_index_get_tag(const struct pc_index *ix, uint64_t key, unsigned int tag)
{
	struct pc_node *leaf = leaf_of(ix, key);

	return leaf && (leaf->tags[tag] & bit(slot_of(leaf, key)));
}

/* Set @tag on slot @off of @node and on the path above, up to a node where it is already set. */
static void tag_set_up(struct pc_node *node, unsigned int off, unsigned int tag)
{
	while (node && !(node->tags[tag] & bit(off))) {
		node->tags[tag] |= bit(off);
		off = node->offset;
		node = node->parent;
	}
}

/* Clear @tag on slot @off of @node, and above while nodes lose their last tag bit. */
static void tag_clear_up(struct pc_node *node, unsigned int off, unsigned int tag)
{
	while (node) {
		node->tags[tag] &= ~bit(off);
		if (node->tags[tag])
			return;
		off = node->offset;
		node = node->parent;
	}
}

/* Drop the root while it only holds slot 0 (invariant 4 stays true). */
static void shrink(struct pc_index *ix)
{
	struct pc_node *root = ix->root;

	while (root && root->shift && root->present == 1) {
		struct pc_node *child = root->slots[0];

		child->parent = NULL;
		child->offset = 0;
		node_free(ix, root);
		root = child;
	}
	ix->root = root;
}

/* Free @node and its ancestors while they are empty (invariant 1). */
static void prune(struct pc_index *ix, struct pc_node *node)
{
	while (node && !node->present) {
		struct pc_node *parent = node->parent;
		unsigned int off = node->offset;

		node_free(ix, node);
		if (!parent) {
			ix->root = NULL;
			return;
		}
		parent->slots[off] = NULL;
		parent->present &= ~bit(off);
		for (unsigned int t = 0; t < PC_INDEX_TAGS; t++)
			if (parent->tags[t] & bit(off))
				tag_clear_up(parent, off, t);
		node = parent;
	}
}

/* Add roots until @last fits.  New roots hold the old one in slot 0. */
static int grow(struct pc_index *ix, uint64_t last)
{
	if (!ix->root) {
		unsigned int shift = 0;

		while (last > span_mask(shift))
			shift += PC_NODE_BITS;
		ix->root = node_alloc(ix, shift, NULL, 0);
		return ix->root ? 0 : -ENOMEM;
	}
	while (last > span_mask(ix->root->shift)) {
		struct pc_node *old = ix->root;
		struct pc_node *root = node_alloc(ix, old->shift + PC_NODE_BITS, NULL, 0);

		if (!root)
			return -ENOMEM;
		root->slots[0] = old;
		root->present = 1;
		for (unsigned int t = 0; t < PC_INDEX_TAGS; t++)
			root->tags[t] = old->tags[t] ? 1 : 0;
		old->parent = root;
		ix->root = root;
	}
	return 0;
}

/* The leaf for @key, creating the missing nodes on the way down. */
static struct pc_node *leaf_create(struct pc_index *ix, uint64_t key)
{
	struct pc_node *node = ix->root;

	while (node->shift) {
		unsigned int off = slot_of(node, key);
		struct pc_node *child = node->slots[off];

		if (!child) {
			child = node_alloc(ix, node->shift - PC_NODE_BITS, node, off);
			if (!child) {
				prune(ix, node);
				return NULL;
			}
			node->slots[off] = child;
			node->present |= bit(off);
		}
		node = child;
	}
	return node;
}

/* Empty slots [first, last] (which may be partly empty already). */
static void clear_slots(struct pc_index *ix, uint64_t first, uint64_t last)
{
	uint64_t key = first;

	for (;;) {
		struct pc_node *leaf = leaf_of(ix, key);

		if (leaf) {
			unsigned int off = slot_of(leaf, key);

			leaf->slots[off] = NULL;
			leaf->present &= ~bit(off);
			for (unsigned int t = 0; t < PC_INDEX_TAGS; t++)
				if (leaf->tags[t] & bit(off))
					tag_clear_up(leaf, off, t);
			if (!leaf->present)
				prune(ix, leaf);
		}
		if (key == last)
			break;
		key++;
	}
	shrink(ix);
}

int pc_index_insert(struct pc_index *ix, struct folio *folio)
{
	uint64_t first = folio->index, last, key;
	int err;

	if (folio->order >= 64 || first & ((1ULL << folio->order) - 1))
		return -EINVAL;
	last = folio_last_key(folio);
	if (last < first)
		return -EINVAL;
	key = first;
	if (pc_index_find(ix, &key, last, PC_INDEX_ANY))
		return -EEXIST;
	err = grow(ix, last);
	if (err) {
		shrink(ix);
		return err;
	}
	/* On failure, undo the slots set so far; prune() and shrink() free emptied nodes. */
	for (key = first;; key++) {
		struct pc_node *leaf = leaf_create(ix, key);
		unsigned int off;

		if (!leaf) {
			if (key != first)
				clear_slots(ix, first, key - 1);
			if (ix->root && !ix->root->present)
				prune(ix, ix->root);
			shrink(ix);
			return -ENOMEM;
		}
		off = slot_of(leaf, key);
		leaf->slots[off] = folio;
		leaf->present |= bit(off);
		if (key == last)
			return 0;
	}
}

void pc_index_delete(struct pc_index *ix, struct folio *folio)
{
	clear_slots(ix, folio->index, folio_last_key(folio));
}

/* Returns whether the first slot carried @tag before. */
static bool tag_slots(struct pc_index *ix, struct folio *folio, unsigned int tag, bool set)
{
	uint64_t last = folio_last_key(folio);
	bool was = false;

	for (uint64_t key = folio->index;; key++) {
		struct pc_node *leaf = leaf_of(ix, key);
		unsigned int off = leaf ? slot_of(leaf, key) : 0;

		if (leaf && (leaf->present & bit(off))) {
			bool tagged = leaf->tags[tag] & bit(off);

			if (key == folio->index)
				was = tagged;
			if (set)
				tag_set_up(leaf, off, tag);
			else if (tagged)
				tag_clear_up(leaf, off, tag);
		}
		if (key == last)
			return was;
	}
}

bool pc_index_set_tag(struct pc_index *ix, struct folio *folio, unsigned int tag)
{
	return tag_slots(ix, folio, tag, true);
}

bool pc_index_clear_tag(struct pc_index *ix, struct folio *folio, unsigned int tag)
{
	return tag_slots(ix, folio, tag, false);
}

/*
 * Descend towards *key.  Where the current node has nothing at or after
 * the key's slot, move the key to the first one after the node's range and
 * climb to the ancestor whose range holds it: the parent, unless the node
 * sat in the parent's last slot (then further up).  Interior bits
 * (invariants 2 and 3) guarantee that a set bit leads to a matching leaf
 * slot.
 */
struct folio *pc_index_find(const struct pc_index *ix, uint64_t *keyp, uint64_t last, int tag)
{
	const struct pc_node *node = ix->root;
	uint64_t key = *keyp;

	if (!node || key > last || key > span_mask(node->shift))
		return NULL;
	for (;;) {
		unsigned int off = slot_of(node, key), next;
		uint64_t bits = tag == PC_INDEX_ANY ? node->present : node->tags[tag];

		bits >>= off;
		if (!bits) {
			uint64_t mask = span_mask(node->shift);
			unsigned int from;

			if ((key | mask) >= last)
				return NULL;
			key = (key | mask) + 1;
			do {
				if (!node->parent)
					return NULL;
				from = node->offset;
				node = node->parent;
			} while (from == PC_NODE_MASK);
			continue;
		}
		next = off + (unsigned int)__builtin_ctzll(bits);
		if (next != off)
			key = (key & ~span_mask(node->shift)) | ((uint64_t)next << node->shift);
		if (key > last)
			return NULL;
		if (!node->shift) {
			*keyp = key;
			return node->slots[next];
		}
		node = node->slots[next];
	}
}

unsigned int pc_index_gather(const struct pc_index *ix, uint64_t *start, uint64_t last, int tag,
			     struct folio **out, unsigned int nr)
{
	uint64_t key = *start, next;
	unsigned int n = 0;

	while (n < nr) {
		struct folio *folio = pc_index_find(ix, &key, last, tag);

		if (!folio)
			goto done;
		out[n++] = folio;
		next = folio_next_index(folio);
		if (next == 0 || next > last)
			goto done; /* the range (or the key space) ends inside this folio */
		key = next;
	}
	*start = key;
	return n;
done:
	*start = last == UINT64_MAX ? UINT64_MAX : last + 1;
	return n;
}

/* Check invariants 1-3 below @node; returns the number of nodes or -1. */
static int64_t check_node(const struct pc_node *node)
{
	uint64_t tags[PC_INDEX_TAGS] = { 0 }, present = 0;
	int64_t nodes = 1;

	for (unsigned int i = 0; i < PC_NODE_SLOTS; i++) {
		const struct pc_node *child = node->slots[i];
		int64_t below;

		if (!child)
			continue;
		present |= bit(i);
		if (!node->shift)
			continue;
		if (child->parent != node || child->offset != i ||
		    child->shift + PC_NODE_BITS != node->shift || !child->present)
			return -1;
		for (unsigned int t = 0; t < PC_INDEX_TAGS; t++)
			if (child->tags[t])
				tags[t] |= bit(i);
		below = check_node(child);
		if (below < 0)
			return -1;
		nodes += below;
	}
	if (present != node->present)
		return -1;
	for (unsigned int t = 0; t < PC_INDEX_TAGS; t++) {
		if (node->tags[t] & ~present)
			return -1;
		if (node->shift && tags[t] != node->tags[t])
			return -1;
	}
	return nodes;
}

int pc_index_check(const struct pc_index *ix)
{
	const struct pc_node *root = ix->root;

	if (!root)
		return ix->nodes ? -EIO : 0;
	if (root->parent || !root->present || (root->shift && root->present == 1))
		return -EIO;
	return check_node(root) == (int64_t)ix->nodes ? 0 : -EIO;
}
