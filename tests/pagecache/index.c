/* SPDX-License-Identifier: MIT */
/*
 * The ordered index (src/pagecache/index.c) against a model: random
 * inserts, deletes, lookups, tag changes, searches and gathers over dense
 * keys near 0 and sparse keys near 2^40, 2^52 and the top of the key
 * space, with folios of several orders (large ones spanning leaves).  Also
 * checks the tree's height changes through its node count, that every
 * node is freed again, and that an insert failing on any node allocation
 * leaves the index as it was (calloc is wrapped, see meson.build).
 */
#include <errno.h>
#include <string.h>

#include "helpers.h"
#include "pagecache/index.h"

#include <iomap/folio.h>

#define MAX_ENTRIES 600
#define OPS 40000

struct model {
	struct folio *f[MAX_ENTRIES];
	unsigned int tags[MAX_ENTRIES];
	unsigned int n;
};

static uint64_t last_key(const struct folio *f)
{
	return f->index + (1ULL << f->order) - 1;
}

static int model_at(const struct model *m, uint64_t key)
{
	for (unsigned int i = 0; i < m->n; i++)
		if (m->f[i]->index <= key && key <= last_key(m->f[i]))
			return (int)i;
	return -1;
}

static bool model_overlaps(const struct model *m, uint64_t first, uint64_t last)
{
	for (unsigned int i = 0; i < m->n; i++)
		if (m->f[i]->index <= last && first <= last_key(m->f[i]))
			return true;
	return false;
}

/* The model entry with the lowest first slot in [key, last] carrying @tag. */
static int model_find(const struct model *m, uint64_t key, uint64_t last, int tag)
{
	int best = -1;

	for (unsigned int i = 0; i < m->n; i++) {
		const struct folio *f = m->f[i];

		if (last_key(f) < key || f->index > last)
			continue;
		if (tag != PC_INDEX_ANY && !(m->tags[i] & (1U << tag)))
			continue;
		if (best < 0 || f->index < m->f[best]->index)
			best = (int)i;
	}
	return best;
}

static uint64_t random_key(struct t_rng *rng, unsigned int order)
{
	static const uint64_t bases[] = { 0, 1ULL << 40, (1ULL << 52) - 4096, UINT64_MAX - 8191 };
	uint64_t base = bases[t_rng_below(rng, sizeof(bases) / sizeof(bases[0]))];
	uint64_t key = base + t_rng_below(rng, 8192);

	return key & ~((1ULL << order) - 1);
}

static unsigned int random_order(struct t_rng *rng)
{
	static const unsigned int orders[] = { 0, 0, 0, 0, 1, 2, 3, 6, 7 };

	return orders[t_rng_below(rng, sizeof(orders) / sizeof(orders[0]))];
}

static void op_insert(struct pc_index *ix, struct model *m, struct t_rng *rng)
{
	unsigned int order = random_order(rng);
	struct folio *f;
	int err;

	if (m->n == MAX_ENTRIES)
		return;
	f = t_calloc(1, sizeof(*f));
	f->order = (uint8_t)order;
	f->index = random_key(rng, order);
	err = pc_index_insert(ix, f);
	if (model_overlaps(m, f->index, last_key(f))) {
		t_assert_eq(err, -EEXIST);
		free(f);
		return;
	}
	t_assert_eq(err, 0);
	m->tags[m->n] = 0;
	m->f[m->n++] = f;
}

static void op_delete(struct pc_index *ix, struct model *m, struct t_rng *rng)
{
	unsigned int i;

	if (!m->n)
		return;
	i = (unsigned int)t_rng_below(rng, m->n);
	pc_index_delete(ix, m->f[i]);
	free(m->f[i]);
	m->f[i] = m->f[--m->n];
	m->tags[i] = m->tags[m->n];
}

/* A key near an entry (inside, just before or just after it) or anywhere. */
static uint64_t probe_key(const struct model *m, struct t_rng *rng)
{
	const struct folio *f;

	if (!m->n || t_rng_below(rng, 4) == 0)
		return random_key(rng, 0);
	f = m->f[t_rng_below(rng, m->n)];
	switch (t_rng_below(rng, 3)) {
	case 0:
		return f->index - 1;
	case 1:
		return last_key(f) + 1;
	default:
		return f->index + t_rng_below(rng, 1ULL << f->order);
	}
}

static void op_lookup(struct pc_index *ix, struct model *m, struct t_rng *rng)
{
	uint64_t key = probe_key(m, rng);
	int i = model_at(m, key);

	t_assert(pc_index_lookup(ix, key) == (i < 0 ? NULL : m->f[i]));
	for (unsigned int t = 0; t < PC_INDEX_TAGS; t++)
		t_assert_eq(pc_index_get_tag(ix, key, t), i >= 0 && (m->tags[i] & (1U << t)));
}

static void op_tag(struct pc_index *ix, struct model *m, struct t_rng *rng)
{
	unsigned int i, t;

	if (!m->n)
		return;
	i = (unsigned int)t_rng_below(rng, m->n);
	t = (unsigned int)t_rng_below(rng, PC_INDEX_TAGS);
	if (t_rng_below(rng, 3)) {
		pc_index_set_tag(ix, m->f[i], t);
		m->tags[i] |= 1U << t;
	} else {
		pc_index_clear_tag(ix, m->f[i], t);
		m->tags[i] &= ~(1U << t);
	}
}

static void op_find(struct pc_index *ix, struct model *m, struct t_rng *rng)
{
	uint64_t key = probe_key(m, rng), start = key;
	uint64_t last = t_rng_below(rng, 2) ? UINT64_MAX : key + t_rng_below(rng, 1ULL << 41);
	int tag = (int)t_rng_below(rng, PC_INDEX_TAGS + 1) - 1;
	int i;
	struct folio *f;

	if (last < key)
		last = UINT64_MAX;
	i = model_find(m, key, last, tag);
	f = pc_index_find(ix, &key, last, tag);
	if (i < 0) {
		t_assert(f == NULL);
		return;
	}
	t_assert(f == m->f[i]);
	t_assert_eq(key, f->index > start ? f->index : start);
}

static void op_gather(struct pc_index *ix, struct model *m, struct t_rng *rng)
{
	struct folio *out[8];
	uint64_t start = probe_key(m, rng), key = start;
	uint64_t last = t_rng_below(rng, 2) ? UINT64_MAX : start + t_rng_below(rng, 1ULL << 20);
	int tag = (int)t_rng_below(rng, PC_INDEX_TAGS + 1) - 1;
	unsigned int nr = 1 + (unsigned int)t_rng_below(rng, 8), n;

	if (last < start)
		last = UINT64_MAX;
	n = pc_index_gather(ix, &start, last, tag, out, nr);
	for (unsigned int j = 0; j < n; j++) {
		int i = model_find(m, key, last, tag);

		if (i < 0 || out[j] != m->f[i])
			t_fail("gather %u/%u from %llx..%llx tag %d: got %llx/%u, model %llx", j, n,
			       (unsigned long long)key, (unsigned long long)last, tag,
			       (unsigned long long)out[j]->index, out[j]->order,
			       i < 0 ? 0ULL : (unsigned long long)m->f[i]->index);
		key = folio_next_index(out[j]);
		if (!key)
			break;
	}
	if (n < nr)
		t_assert(key == 0 || key > last || model_find(m, key, last, tag) < 0);
	if (n < nr || key == 0 || key > last)
		t_assert_eq(start, last == UINT64_MAX ? UINT64_MAX : last + 1);
	else
		t_assert_eq(start, key);
}

static void check_all(struct pc_index *ix, struct model *m)
{
	for (unsigned int i = 0; i < m->n; i++) {
		struct folio *f = m->f[i];

		t_assert(pc_index_lookup(ix, f->index) == f);
		t_assert(pc_index_lookup(ix, last_key(f)) == f);
	}
}

static void random_ops(uint64_t seed)
{
	_Atomic uint64_t meta = 0;
	struct pc_index ix;
	struct model m = { .n = 0 };
	struct t_rng rng;

	t_rng_seed(&rng, seed);
	pc_index_init(&ix, &meta);
	for (unsigned int op = 0; op < OPS; op++) {
		switch (t_rng_below(&rng, 10)) {
		case 0:
		case 1:
		case 2:
			op_insert(&ix, &m, &rng);
			break;
		case 3:
		case 4:
			op_delete(&ix, &m, &rng);
			break;
		case 5:
		case 6:
			op_lookup(&ix, &m, &rng);
			break;
		case 7:
			op_tag(&ix, &m, &rng);
			break;
		case 8:
			op_find(&ix, &m, &rng);
			break;
		default:
			op_gather(&ix, &m, &rng);
			break;
		}
		if (op % 512 == 0) {
			check_all(&ix, &m);
			t_assert_eq(pc_index_check(&ix), 0);
		}
	}
	check_all(&ix, &m);
	t_assert(ix.nodes > 0 && atomic_load(&meta) > 0);
	while (m.n)
		op_delete(&ix, &m, &rng);
	t_assert(ix.root == NULL);
	t_assert_eq(ix.nodes, 0);
	t_assert_eq(atomic_load(&meta), 0);
	pc_index_destroy(&ix);
}

/* Height grows to fit a sparse key and shrinks back when the high keys go. */
static void test_height(void)
{
	_Atomic uint64_t meta = 0;
	struct folio lo = { .index = 5 }, hi = { .index = 1ULL << 40 },
		     top = { .index = UINT64_MAX };
	struct pc_index ix;
	uint64_t key;

	pc_index_init(&ix, &meta);
	t_assert_eq(pc_index_insert(&ix, &hi), 0);
	t_assert_eq(ix.nodes, 7); /* 6 bits per level: 41 key bits need 7 levels */
	t_assert_eq(pc_index_insert(&ix, &lo), 0);
	t_assert_eq(ix.nodes, 13);
	t_assert_eq(pc_index_insert(&ix, &top), 0);
	t_assert_eq(pc_index_insert(&ix, &top), -EEXIST);
	t_assert(pc_index_lookup(&ix, UINT64_MAX) == &top);
	t_assert(pc_index_lookup(&ix, UINT64_MAX - 1) == NULL);
	pc_index_set_tag(&ix, &hi, 1);
	key = 6;
	t_assert(pc_index_find(&ix, &key, UINT64_MAX, 1) == &hi);
	t_assert_eq(key, 1ULL << 40);
	key = 6;
	t_assert(pc_index_find(&ix, &key, (1ULL << 40) - 1, 1) == NULL);
	t_assert_eq(pc_index_check(&ix), 0);
	pc_index_delete(&ix, &top);
	pc_index_delete(&ix, &hi);
	t_assert_eq(pc_index_check(&ix), 0);
	t_assert_eq(ix.nodes, 1); /* back to a single leaf */
	t_assert(!pc_index_get_tag(&ix, 1ULL << 40, 1));
	key = 0;
	t_assert(pc_index_find(&ix, &key, UINT64_MAX, 1) == NULL);
	pc_index_delete(&ix, &lo);
	t_assert_eq(ix.nodes, 0);
	t_assert_eq(atomic_load(&meta), 0);
}

/* A large folio: every page finds it, a gather returns it once, misaligned inserts fail. */
static void test_large(void)
{
	struct folio big = { .index = 128, .order = 7 }, bad = { .index = 4, .order = 3 };
	struct folio small = { .index = 300 }, *out[4];
	struct pc_index ix;
	uint64_t start = 130;

	pc_index_init(&ix, NULL);
	t_assert_eq(pc_index_insert(&ix, &bad), -EINVAL);
	t_assert_eq(pc_index_insert(&ix, &big), 0);
	t_assert_eq(pc_index_insert(&ix, &small), 0);
	for (uint64_t k = 128; k < 256; k++)
		t_assert(pc_index_lookup(&ix, k) == &big);
	t_assert(pc_index_lookup(&ix, 256) == NULL);
	t_assert_eq(pc_index_gather(&ix, &start, 1000, PC_INDEX_ANY, out, 4), 2);
	t_assert(out[0] == &big && out[1] == &small);
	t_assert_eq(start, 1001);
	pc_index_set_tag(&ix, &big, 0);
	start = 200;
	t_assert_eq(pc_index_gather(&ix, &start, 1000, 0, out, 4), 1);
	t_assert(out[0] == &big);
	pc_index_destroy(&ix);
}

/* Node allocations to let through before failing one; negative: never fail. */
static int calloc_budget = -1;

void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);

void *__wrap_calloc(size_t n, size_t size)
{
	if (calloc_budget == 0)
		return NULL;
	if (calloc_budget > 0)
		calloc_budget--;
	return __real_calloc(n, size);
}

/* Every way an insert can run out of memory leaves the index unchanged. */
static void test_enomem(void)
{
	static const uint64_t keys[] = { 1ULL << 40, 128 * 5, 1ULL << 52, 0 };
	_Atomic uint64_t meta = 0;
	struct folio base[3] = { { .index = 300 }, { .index = 4096 }, { .index = 1ULL << 30 } };
	struct folio big = { .order = 7 };
	struct pc_index ix;

	pc_index_init(&ix, &meta);
	for (int i = 0; i < 3; i++)
		t_assert_eq(pc_index_insert(&ix, &base[i]), 0);
	for (unsigned int k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		big.index = keys[k];
		for (int budget = 0;; budget++) {
			uint64_t nodes = ix.nodes, bytes = atomic_load(&meta), key = big.index;
			int err;

			calloc_budget = budget;
			err = pc_index_insert(&ix, &big);
			calloc_budget = -1;
			if (!err)
				break;
			t_assert_eq(err, -ENOMEM);
			t_assert_eq(ix.nodes, nodes);
			t_assert_eq(atomic_load(&meta), bytes);
			t_assert_eq(pc_index_check(&ix), 0);
			t_assert(pc_index_find(&ix, &key, big.index + 127, PC_INDEX_ANY) == NULL);
			for (int i = 0; i < 3; i++)
				t_assert(pc_index_lookup(&ix, base[i].index) == &base[i]);
		}
		for (uint64_t j = 0; j < 128; j++)
			t_assert(pc_index_lookup(&ix, big.index + j) == &big);
		pc_index_delete(&ix, &big);
	}
	for (int i = 0; i < 3; i++)
		pc_index_delete(&ix, &base[i]);
	t_assert_eq(ix.nodes, 0);
	t_assert_eq(atomic_load(&meta), 0);
}

int main(int argc, char **argv)
{
	uint64_t seed = argc > 1 ? strtoull(argv[1], NULL, 0) : 0x1d3a;

	test_height();
	test_large();
	test_enomem();
	for (uint64_t i = 0; i < 4; i++)
		random_ops(seed + i);
	return T_EXIT_PASS;
}
