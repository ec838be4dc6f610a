/* SPDX-License-Identifier: MIT */
/*
 * The fault device: error rules and power-cut simulation stacked on a
 * lower bdev (iomap/bdev-fault.h).
 *
 * Every bio the wrapper accepts is "admitted" and gets a fault_io, which
 * carries a clone of it to the lower device through bio_submit().  The
 * clone, not the caller's bio, goes down so that the caller's bi_private,
 * bi_end_io and bi_next stay untouched, as bio.h promises.  (internal.h
 * sketches a wrapper handing the caller's bio itself to lower->ops->submit;
 * that leaves no way to see the completion, which the undo log needs.)
 *
 *   fault_submit --> rules fail it --> bd_end_bio (never admitted)
 *        |
 *        +--> read, flush, write outside volatile mode:
 *        |        clone to lower --> fault_end_pass --> fault_complete
 *        |
 *        +--> write in volatile mode ("tracked"): fault_pipe_enqueue
 *                 --> fault_start: log entry, capture read of old data
 *                 --> fault_end_capture --> fault_write: the write itself
 *                 --> fault_end_write --> fault_pipe_done --> fault_complete
 *
 * Tracked writes go through a pipeline that runs one at a time, in
 * submission order.  A lock cannot be held across asynchronous I/O, and
 * ->submit must not wait, so the pipeline is a FIFO of fault_ios plus a
 * busy flag: whoever ends the running write starts the next one.
 *
 * Locking: fb->lock protects every field marked so.  It is a leaf lock:
 * never held while calling into the lower device, bio_submit(),
 * bd_end_bio() or a bi_end_io, nor while waiting for I/O.
 *
 * Invariants, under fb->lock:
 *  1. nr_inflight counts admitted bios and bdev_flush() calls until just
 *     before their bi_end_io (or return); nr_active counts them until their
 *     bi_end_io has returned.  nr_active >= nr_inflight.  fault_close()
 *     waits for nr_active == 0; power cuts and mode changes need
 *     nr_inflight == 0.
 *  2. The log holds entries in increasing seq, oldest at log_head.  Only
 *     the newest entry may be incomplete: it belongs to the running
 *     pipeline write.  completed_seq is the seq of the newest complete one
 *     (or of one already dropped).
 *  3. The lower device holds the durable image with the logged writes
 *     applied in seq order on top.  Each non-durable entry's data is the
 *     contents of its range just before its write, captured while no other
 *     tracked write was running.  Durable (BIO_FUA) entries hold no data
 *     and are never rolled back; they stay in the log so that older
 *     entries are not rolled back over them.
 *  4. Entries are dropped (become durable) from the head only: flushes
 *     drop up to a completed_seq, and so do preflushes.
 *  5. pipe_busy is true from when a tracked write is handed to fault_run()
 *     until fault_pipe_done() finds the queue empty; the queue is empty
 *     when pipe_busy is false.
 *  6. While cutting, nothing is admitted and nr_inflight == 0.
 *
 * Ownership: a fault_io owns its clone and, until fault_start() links it
 * into the log, its entry.  The log owns linked entries.  The clone is
 * freed in fault_complete(), inside the clone's own bi_end_io, which owns
 * it by then (bio.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "bdev/internal.h"
#include "iomap/bdev-fault.h"
#include "lib/compiler.h"

#define FAULT_KNOWN_OPS (BDEV_FAULT_OP_READ | BDEV_FAULT_OP_WRITE | BDEV_FAULT_OP_FLUSH)
#define FAULT_MAX_ERRNO 4095
/* Undo buffers are aligned so that a direct lower device need not bounce them. */
#define FAULT_DATA_ALIGN 4096

struct fault_rule_slot {
	struct bdev_fault_rule rule;
	uint64_t seen; /* matching bios so far */
};

/* One tracked write in the undo log. */
struct fault_entry {
	struct fault_entry *prev, *next; /* older, newer */
	uint64_t seq;
	uint64_t sector;
	uint32_t bytes;
	bool durable; /* BIO_FUA: never rolled back, no data */
	bool complete;
	void *data; /* old contents of the range; NULL when durable */
};

/* An admitted bio on its way through the wrapper. */
struct fault_io {
	struct fault_bdev *fb;
	struct bio *orig; /* the caller's; untouched until it ends */
	struct bio *clone; /* ours, submitted to the lower device */
	struct fault_entry *entry; /* tracked writes only */
	uint64_t flush_upto; /* flush bios: entries that become durable */
	struct fault_io *next; /* pipeline queue or pump list */
};

struct fault_bdev {
	struct bdev bdev;
	struct bdev *lower; /* not owned */
	pthread_mutex_t lock;
	pthread_cond_t idle; /* nr_active reached 0 */
	struct fault_rule_slot *rules; /* protected by lock */
	size_t nr_rules, cap_rules; /* protected by lock */
	bool volatile_mode; /* protected by lock */
	bool cutting; /* protected by lock */
	bool pipe_busy; /* protected by lock */
	struct fault_io *pipe_head, **pipe_tail; /* protected by lock */
	struct fault_entry *log_head, *log_tail; /* protected by lock */
	uint64_t next_seq, completed_seq; /* protected by lock */
	unsigned long nr_inflight, nr_active; /* protected by lock */
	struct bdev_fault_stats stats; /* protected by lock */
};

static const struct bdev_ops fault_ops;

static struct fault_bdev *to_fault(struct bdev *bdev)
{
	return container_of(bdev, struct fault_bdev, bdev);
}

/* The fault device behind @dev, or NULL when @dev is something else. */
static struct fault_bdev *fault_get(struct bdev *dev)
{
	return dev && dev->ops == &fault_ops ? to_fault(dev) : NULL;
}

/* ---- Rules ---- */

static bool fault_rule_valid(const struct bdev_fault_rule *r)
{
	if (!r->ops || (r->ops & ~FAULT_KNOWN_OPS))
		return false;
	if (r->error >= 0 || r->error < -FAULT_MAX_ERRNO)
		return false;
	return r->nr_sectors || !(r->ops & (BDEV_FAULT_OP_READ | BDEV_FAULT_OP_WRITE));
}

static bool fault_rule_overlaps(const struct bdev_fault_rule *r, const struct bio *bio)
{
	uint64_t end = r->first_sector + r->nr_sectors;

	if (end < r->first_sector)
		end = UINT64_MAX;
	return bio->bi_sector < end && bio_end_sector(bio) > r->first_sector;
}

/* Does @r select @bio?  A NULL @bio stands for bdev_flush(). */
static bool fault_rule_hits(const struct bdev_fault_rule *r, const struct bio *bio)
{
	bool flush = !bio || bio->bi_op == BIO_OP_FLUSH || (bio->bi_flags & BIO_PREFLUSH);

	if (flush && (r->ops & BDEV_FAULT_OP_FLUSH))
		return true;
	if (!bio || bio->bi_op == BIO_OP_FLUSH || !(r->ops & (1U << bio->bi_op)))
		return false;
	return fault_rule_overlaps(r, bio);
}

/* Count @bio against the rules: 0 to let it through, or its error. */
static int fault_rules_check_locked(struct fault_bdev *fb, const struct bio *bio)
{
	for (size_t i = 0; i < fb->nr_rules; i++) {
		struct fault_rule_slot *s = &fb->rules[i];

		if (!fault_rule_hits(&s->rule, bio))
			continue;
		s->seen++;
		if (s->seen <= s->rule.skip)
			continue;
		if (s->rule.count && s->seen - s->rule.skip > s->rule.count)
			continue;
		fb->stats.injected++;
		return s->rule.error;
	}
	return 0;
}

/* ---- The undo log ---- */

static void fault_entry_free(struct fault_entry *e)
{
	if (e) {
		free(e->data);
		free(e);
	}
}

static void fault_log_append_locked(struct fault_bdev *fb, struct fault_entry *e)
{
	e->seq = ++fb->next_seq;
	e->prev = fb->log_tail;
	e->next = NULL;
	if (fb->log_tail)
		fb->log_tail->next = e;
	else
		fb->log_head = e;
	fb->log_tail = e;
	if (!e->durable) {
		fb->stats.pending_writes++;
		fb->stats.pending_bytes += e->bytes;
	}
}

static void fault_log_unlink_locked(struct fault_bdev *fb, struct fault_entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		fb->log_head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		fb->log_tail = e->prev;
	if (!e->durable) {
		fb->stats.pending_writes--;
		fb->stats.pending_bytes -= e->bytes;
	}
}

/* Entries up to seq @upto become durable (invariant 4: from the head). */
static void fault_log_drop_locked(struct fault_bdev *fb, uint64_t upto)
{
	while (fb->log_head && fb->log_head->seq <= upto) {
		struct fault_entry *e = fb->log_head;

		fault_log_unlink_locked(fb, e);
		fault_entry_free(e);
	}
}

/* Take the whole log, oldest first; the caller frees it. */
static struct fault_entry *fault_log_detach_locked(struct fault_bdev *fb)
{
	struct fault_entry *head = fb->log_head;

	fb->log_head = fb->log_tail = NULL;
	fb->stats.pending_writes = 0;
	fb->stats.pending_bytes = 0;
	return head;
}

static void fault_log_free(struct fault_entry *head)
{
	while (head) {
		struct fault_entry *next = head->next;

		fault_entry_free(head);
		head = next;
	}
}

/* ---- Per-bio state ---- */

/* An io and an empty clone of @bio on the lower device, or NULL. */
static struct fault_io *fault_io_alloc(struct fault_bdev *fb, struct bio *bio)
{
	struct fault_io *io = calloc(1, sizeof(*io));

	if (!io)
		return NULL;
	io->clone = bio_alloc(fb->lower, bio->bi_vcnt, bio->bi_op, bio->bi_flags);
	if (!io->clone) {
		free(io);
		return NULL;
	}
	io->fb = fb;
	io->orig = bio;
	io->clone->bi_private = io;
	return io;
}

static void fault_io_free(struct fault_io *io)
{
	fault_entry_free(io->entry);
	bio_put(io->clone);
	free(io);
}

/* The undo entry for a tracked write; old data is captured later. */
static int fault_entry_alloc(struct fault_io *io)
{
	const struct bio *bio = io->orig;
	struct fault_entry *e = calloc(1, sizeof(*e));

	if (!e)
		return -ENOMEM;
	e->sector = bio->bi_sector;
	e->bytes = bio->bi_size;
	e->durable = bio->bi_flags & BIO_FUA;
	if (!e->durable && posix_memalign(&e->data, FAULT_DATA_ALIGN, e->bytes)) {
		free(e);
		return -ENOMEM;
	}
	io->entry = e;
	return 0;
}

/* Point the clone at the caller's data: the request as submitted. */
static void fault_clone_data(struct fault_io *io)
{
	struct bio *c = io->clone, *o = io->orig;

	c->bi_op = o->bi_op;
	c->bi_flags = o->bi_flags;
	c->bi_sector = o->bi_sector;
	c->bi_size = o->bi_size;
	c->bi_vcnt = o->bi_vcnt;
	c->bi_status = 0;
	if (o->bi_vcnt == 0)
		return; /* a flush: no segment arrays to copy */
	memcpy(c->bi_iov, o->bi_iov, o->bi_vcnt * sizeof(*o->bi_iov));
	memcpy(c->bi_owner, o->bi_owner, o->bi_vcnt * sizeof(*o->bi_owner));
}

/* Point the clone at the undo buffer: a read of the old contents. */
static void fault_clone_capture(struct fault_io *io)
{
	struct bio *c = io->clone;

	c->bi_op = BIO_OP_READ;
	c->bi_flags = 0;
	c->bi_sector = io->entry->sector;
	c->bi_size = io->entry->bytes;
	c->bi_vcnt = 1;
	c->bi_status = 0;
	c->bi_iov[0] = (struct iovec){ .iov_base = io->entry->data, .iov_len = io->entry->bytes };
	c->bi_owner[0] = NULL;
}

/* ---- Admission and completion ---- */

/*
 * Decide whether @io's bio may pass: 0, or the error to end it with.  On
 * success the bio is admitted (invariant 1) and, for a flush, the writes
 * it will make durable are fixed now, at submission.
 */
static int fault_admit(struct fault_bdev *fb, struct fault_io *io, bool *tracked)
{
	struct bio *bio = io->orig;
	int err;

	pthread_mutex_lock(&fb->lock);
	err = fb->cutting ? -EIO : fault_rules_check_locked(fb, bio);
	if (!err) {
		fb->nr_inflight++;
		fb->nr_active++;
		io->flush_upto = fb->completed_seq;
		*tracked = fb->volatile_mode && bio->bi_op == BIO_OP_WRITE;
	}
	pthread_mutex_unlock(&fb->lock);
	return err;
}

/*
 * End an admitted bio.  Invariant 1: it stops counting as in flight
 * before its bi_end_io, so that a caller woken by it can cut power at
 * once; it stops being active only after, so that fault_close() cannot
 * free the device under a bi_end_io that submits more.
 */
static void fault_finish(struct fault_bdev *fb, struct bio *bio, int status)
{
	pthread_mutex_lock(&fb->lock);
	fb->nr_inflight--;
	pthread_mutex_unlock(&fb->lock);
	bd_end_bio(bio, status);
	pthread_mutex_lock(&fb->lock);
	if (--fb->nr_active == 0)
		pthread_cond_broadcast(&fb->idle);
	pthread_mutex_unlock(&fb->lock);
}

static void fault_complete(struct fault_io *io, int status)
{
	struct fault_bdev *fb = io->fb;
	struct bio *orig = io->orig;

	fault_io_free(io);
	fault_finish(fb, orig, status);
}

/* Reads, flushes and untracked writes: straight through. */
static void fault_end_pass(struct bio *clone)
{
	struct fault_io *io = clone->bi_private;
	struct fault_bdev *fb = io->fb;

	if (clone->bi_status == 0 && clone->bi_op == BIO_OP_FLUSH) {
		pthread_mutex_lock(&fb->lock);
		fault_log_drop_locked(fb, io->flush_upto);
		pthread_mutex_unlock(&fb->lock);
	}
	fault_complete(io, clone->bi_status);
}

/* ---- The pipeline of tracked writes ---- */

/*
 * Tracked writes start through fault_run().  On a synchronous lower
 * device the end of one write starts the next inside the same call chain,
 * so direct calls would recurse once per queued write.  Instead, a thread
 * already running fault_run() parks the write on its pump list, and the
 * outermost fault_run() of the thread starts it once the chain unwinds.
 * fault_start() works on any device, so one list serves all of them.
 * Hazard: on a synchronous lower device the thread that ends a write may
 * go on to run the queued writes of other threads before it returns.
 */
static __thread bool fault_pumping;
static __thread struct fault_io *fault_pump_list;

static void fault_start(struct fault_io *io);

static void fault_run(struct fault_io *io)
{
	if (fault_pumping) {
		io->next = fault_pump_list;
		fault_pump_list = io;
		return;
	}
	fault_pumping = true;
	fault_start(io);
	while (fault_pump_list) {
		io = fault_pump_list;
		fault_pump_list = io->next;
		fault_start(io);
	}
	fault_pumping = false;
}

static void fault_pipe_enqueue(struct fault_io *io)
{
	struct fault_bdev *fb = io->fb;

	io->next = NULL;
	pthread_mutex_lock(&fb->lock);
	if (fb->pipe_busy) {
		*fb->pipe_tail = io;
		fb->pipe_tail = &io->next;
		pthread_mutex_unlock(&fb->lock);
		return;
	}
	fb->pipe_busy = true;
	pthread_mutex_unlock(&fb->lock);
	fault_run(io);
}

/* The next queued write, which now owns the pipeline; or NULL, idle. */
static struct fault_io *fault_pipe_next(struct fault_bdev *fb)
{
	struct fault_io *io;

	pthread_mutex_lock(&fb->lock);
	io = fb->pipe_head;
	if (io) {
		fb->pipe_head = io->next;
		if (!fb->pipe_head)
			fb->pipe_tail = &fb->pipe_head;
	} else {
		fb->pipe_busy = false;
	}
	pthread_mutex_unlock(&fb->lock);
	return io;
}

static void fault_pipe_done(struct fault_io *io, int status)
{
	struct fault_io *next = fault_pipe_next(io->fb);

	if (next)
		fault_run(next);
	fault_complete(io, status);
}

static void fault_end_write(struct bio *clone)
{
	struct fault_io *io = clone->bi_private;
	struct fault_bdev *fb = io->fb;
	struct fault_entry *e = io->entry;

	pthread_mutex_lock(&fb->lock);
	e->complete = true;
	fb->completed_seq = e->seq;
	/* The preflush made every older write durable: all have completed. */
	if (clone->bi_status == 0 && (clone->bi_flags & BIO_PREFLUSH))
		fault_log_drop_locked(fb, e->seq - 1);
	pthread_mutex_unlock(&fb->lock);
	io->entry = NULL; /* the log's from now on */
	fault_pipe_done(io, clone->bi_status);
}

/* The write itself; the old contents are safe in the entry by now. */
static void fault_write(struct fault_io *io)
{
	fault_clone_data(io);
	io->clone->bi_end_io = fault_end_write;
	bio_submit(io->clone);
}

static void fault_end_capture(struct bio *clone)
{
	struct fault_io *io = clone->bi_private;
	struct fault_bdev *fb = io->fb;

	if (clone->bi_status == 0) {
		fault_write(io);
		return;
	}
	/*
	 * The write never started: forget it.  It is still the newest entry,
	 * and io owns it again, so fault_complete() frees it.
	 */
	pthread_mutex_lock(&fb->lock);
	fault_log_unlink_locked(fb, io->entry);
	pthread_mutex_unlock(&fb->lock);
	fault_pipe_done(io, clone->bi_status);
}

/*
 * Run one tracked write; the caller owns the pipeline (invariant 5), so
 * every older tracked write has completed and no other one runs.
 */
static void fault_start(struct fault_io *io)
{
	struct fault_bdev *fb = io->fb;

	pthread_mutex_lock(&fb->lock);
	fault_log_append_locked(fb, io->entry);
	pthread_mutex_unlock(&fb->lock);
	if (io->entry->durable) {
		fault_write(io);
		return;
	}
	fault_clone_capture(io);
	io->clone->bi_end_io = fault_end_capture;
	bio_submit(io->clone);
}

/* ---- Engine ops ---- */

static void fault_submit(struct bdev *bdev, struct bio *bio)
{
	struct fault_bdev *fb = to_fault(bdev);
	struct fault_io *io = fault_io_alloc(fb, bio);
	bool tracked = false;
	int err;

	if (!io) {
		bd_end_bio(bio, -ENOMEM);
		return;
	}
	err = fault_admit(fb, io, &tracked);
	if (err) {
		fault_io_free(io);
		bd_end_bio(bio, err);
		return;
	}
	if (!tracked) {
		fault_clone_data(io);
		io->clone->bi_end_io = fault_end_pass;
		bio_submit(io->clone);
	} else if (fault_entry_alloc(io) == 0) {
		fault_pipe_enqueue(io);
	} else {
		fault_complete(io, -ENOMEM);
	}
}

static int fault_flush(struct bdev *bdev)
{
	struct fault_bdev *fb = to_fault(bdev);
	uint64_t upto;
	int err;

	pthread_mutex_lock(&fb->lock);
	err = fb->cutting ? -EIO : fault_rules_check_locked(fb, NULL);
	if (!err) {
		fb->nr_inflight++;
		fb->nr_active++;
		upto = fb->completed_seq;
	}
	pthread_mutex_unlock(&fb->lock);
	if (err)
		return err;
	err = bdev_flush(fb->lower);
	pthread_mutex_lock(&fb->lock);
	if (!err)
		fault_log_drop_locked(fb, upto);
	fb->nr_inflight--;
	if (--fb->nr_active == 0)
		pthread_cond_broadcast(&fb->idle);
	pthread_mutex_unlock(&fb->lock);
	return err;
}

/* Waits for every bio, including those bi_end_io handlers submit; lower stays open. */
static void fault_close(struct bdev *bdev)
{
	struct fault_bdev *fb = to_fault(bdev);
	struct fault_entry *log;

	pthread_mutex_lock(&fb->lock);
	while (fb->nr_active)
		pthread_cond_wait(&fb->idle, &fb->lock);
	log = fault_log_detach_locked(fb);
	pthread_mutex_unlock(&fb->lock);
	fault_log_free(log);
	free(fb->rules);
	pthread_cond_destroy(&fb->idle);
	pthread_mutex_destroy(&fb->lock);
	free(fb);
}

static const struct bdev_ops fault_ops = {
	.submit = fault_submit,
	.flush = fault_flush,
	.close = fault_close,
};

/* ---- Power cut ---- */

/* Sorted, disjoint, non-adjacent block ranges [r[i][0], r[i][1]). */
struct fault_ranges {
	uint64_t (*r)[2];
	size_t nr, cap;
};

/* Index of the first range ending after @b. */
static size_t fault_ranges_after(const struct fault_ranges *rs, uint64_t b)
{
	size_t lo = 0, hi = rs->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (rs->r[mid][1] > b)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

/*
 * Is block @b in the set?  *@run_end receives the end (at most @limit) of
 * the run from @b on over which the answer stays the same.
 */
static bool fault_ranges_lookup(const struct fault_ranges *rs, uint64_t b, uint64_t limit,
				uint64_t *run_end)
{
	size_t i = fault_ranges_after(rs, b);

	if (i < rs->nr && rs->r[i][0] <= b) {
		*run_end = min(rs->r[i][1], limit);
		return true;
	}
	*run_end = i < rs->nr ? min(rs->r[i][0], limit) : limit;
	return false;
}

/* Add [s, e), merging what it touches.  Returns 0 or -ENOMEM. */
static int fault_ranges_add(struct fault_ranges *rs, uint64_t s, uint64_t e)
{
	size_t i = s ? fault_ranges_after(rs, s - 1) : 0, j = i;

	while (j < rs->nr && rs->r[j][0] <= e) {
		s = min(s, rs->r[j][0]);
		e = max(e, rs->r[j][1]);
		j++;
	}
	if (j == i && rs->nr == rs->cap) {
		size_t cap = rs->cap ? 2 * rs->cap : 16;
		void *r = realloc(rs->r, cap * sizeof(*rs->r));

		if (!r)
			return -ENOMEM;
		rs->r = r;
		rs->cap = cap;
	}
	/* Ranges i..j-1 collapse into slot i; j == i opens a new slot. */
	memmove(rs->r + i + 1, rs->r + j, (rs->nr - j) * sizeof(*rs->r));
	rs->nr = rs->nr + 1 - (j - i);
	rs->r[i][0] = s;
	rs->r[i][1] = e;
	return 0;
}

enum fault_fate {
	FAULT_KEEP,
	FAULT_LOSE,
	FAULT_TEAR,
};

/*
 * A rollback, newest entry first.  decided holds the blocks whose final
 * contents are settled: a newer kept write covers them.  Invariant: every
 * block not decided holds, on the lower device, the contents it had just
 * after the entry being visited was written; losing that entry restores
 * its undo data and so moves the block back one write.
 */
struct fault_replay {
	struct fault_bdev *fb;
	unsigned int mode;
	uint64_t rng;
	unsigned int bshift; /* log2 of 512-byte sectors per block */
	struct fault_ranges decided;
	struct bdev_fault_stats tally;
};

/* splitmix64: every seed, 0 included, gives a good sequence. */
static uint64_t fault_random(struct fault_replay *rp)
{
	uint64_t z = (rp->rng += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static bool fault_coin(struct fault_replay *rp)
{
	return fault_random(rp) >> 63;
}

static enum fault_fate fault_choose(struct fault_replay *rp, const struct fault_entry *e)
{
	enum fault_fate fate;

	if (e->durable)
		return FAULT_KEEP;
	if (rp->mode & BDEV_FAULT_CUT_DROP_ALL)
		fate = FAULT_LOSE;
	else if (rp->mode & BDEV_FAULT_CUT_TORN)
		fate = (enum fault_fate)(fault_random(rp) % 3);
	else
		fate = fault_coin(rp) ? FAULT_KEEP : FAULT_LOSE;
	if (fate == FAULT_KEEP)
		rp->tally.writes_kept++;
	else if (fate == FAULT_LOSE)
		rp->tally.writes_lost++;
	else
		rp->tally.writes_torn++;
	return fate;
}

/* Write @e's old contents of blocks [b, end) back to the lower device. */
static int fault_restore(struct fault_replay *rp, const struct fault_entry *e, uint64_t b,
			 uint64_t end)
{
	uint64_t sector = b << rp->bshift;
	size_t off = (size_t)(sector - e->sector) << SECTOR_SHIFT;
	uint32_t len = (uint32_t)((end - b) << rp->bshift << SECTOR_SHIFT);
	struct bio *bio = bio_alloc(rp->fb->lower, 1, BIO_OP_WRITE, 0);
	int err;

	if (!bio)
		return -ENOMEM;
	bio_add(bio, (char *)e->data + off, len, NULL);
	bio->bi_sector = sector;
	err = bio_submit_wait(bio);
	bio_put(bio);
	return err;
}

/* Settle blocks [b, end) of @e: kept ones become decided, lost ones roll back. */
static int fault_settle(struct fault_replay *rp, const struct fault_entry *e, bool keep,
			uint64_t b, uint64_t end)
{
	return keep ? fault_ranges_add(&rp->decided, b, end) : fault_restore(rp, e, b, end);
}

/* A torn write: a coin per block, runs of equal outcomes settled together. */
static int fault_tear(struct fault_replay *rp, const struct fault_entry *e, uint64_t b,
		      uint64_t end)
{
	bool keep = fault_coin(rp), next = keep;
	int err = 0;

	while (b < end && !err) {
		uint64_t stop = b + 1;

		while (stop < end && (next = fault_coin(rp)) == keep)
			stop++;
		err = fault_settle(rp, e, keep, b, stop);
		b = stop;
		keep = next;
	}
	return err;
}

/* Visit one entry: settle each of its blocks that no newer kept write settled. */
static int fault_replay_entry(struct fault_replay *rp, const struct fault_entry *e)
{
	enum fault_fate fate = fault_choose(rp, e);
	uint64_t b = e->sector >> rp->bshift;
	uint64_t end = (e->sector + (e->bytes >> SECTOR_SHIFT)) >> rp->bshift;
	uint64_t run_end;
	int err = 0;

	for (; b < end && !err; b = run_end) {
		if (fault_ranges_lookup(&rp->decided, b, end, &run_end))
			continue;
		if (fate == FAULT_TEAR)
			err = fault_tear(rp, e, b, run_end);
		else
			err = fault_settle(rp, e, fate == FAULT_KEEP, b, run_end);
	}
	return err;
}

static int fault_replay(struct fault_replay *rp, struct fault_entry *head)
{
	struct fault_entry *e = head;
	int err = 0;

	while (e && e->next)
		e = e->next;
	for (; e && !err; e = e->prev)
		err = fault_replay_entry(rp, e);
	free(rp->decided.r);
	return err;
}

static bool fault_mode_valid(unsigned int mode)
{
	return mode == BDEV_FAULT_CUT_DROP_ALL || mode == BDEV_FAULT_CUT_RANDOM ||
	       mode == (BDEV_FAULT_CUT_RANDOM | BDEV_FAULT_CUT_TORN);
}

/* Start a cut: take the log.  -EBUSY while anything is in flight (invariant 6). */
static int fault_cut_begin(struct fault_bdev *fb, struct fault_entry **log)
{
	int err = 0;

	pthread_mutex_lock(&fb->lock);
	if (fb->nr_inflight || fb->cutting) {
		err = -EBUSY;
	} else {
		fb->cutting = true;
		fb->stats.power_cuts++;
		*log = fault_log_detach_locked(fb);
	}
	pthread_mutex_unlock(&fb->lock);
	return err;
}

static void fault_cut_end(struct fault_bdev *fb, const struct bdev_fault_stats *tally)
{
	pthread_mutex_lock(&fb->lock);
	fb->cutting = false;
	fb->stats.writes_kept += tally->writes_kept;
	fb->stats.writes_lost += tally->writes_lost;
	fb->stats.writes_torn += tally->writes_torn;
	pthread_mutex_unlock(&fb->lock);
}

/* ---- Public API ---- */

int bdev_fault_create(struct bdev *lower, struct bdev **out)
{
	struct fault_bdev *fb;

	if (!lower || !out)
		return -EINVAL;
	fb = calloc(1, sizeof(*fb));
	if (!fb)
		return -ENOMEM;
	bd_init(&fb->bdev, &fault_ops, "fault", lower->nr_bytes, lower->lbs);
	/* bio_submit()'s checks then refuse what the lower device would. */
	fb->bdev.flags = lower->flags;
	fb->bdev.dio_align = lower->dio_align;
	fb->lower = lower;
	fb->pipe_tail = &fb->pipe_head;
	pthread_mutex_init(&fb->lock, NULL);
	pthread_cond_init(&fb->idle, NULL);
	*out = &fb->bdev;
	return 0;
}

int bdev_fault_add_rule(struct bdev *dev, const struct bdev_fault_rule *rule)
{
	struct fault_bdev *fb = fault_get(dev);
	int err = 0;

	if (!fb || !rule || !fault_rule_valid(rule))
		return -EINVAL;
	pthread_mutex_lock(&fb->lock);
	if (fb->nr_rules == fb->cap_rules) {
		size_t cap = fb->cap_rules ? 2 * fb->cap_rules : 8;
		void *p = realloc(fb->rules, cap * sizeof(*fb->rules));

		if (p) {
			fb->rules = p;
			fb->cap_rules = cap;
		} else {
			err = -ENOMEM;
		}
	}
	if (!err)
		fb->rules[fb->nr_rules++] = (struct fault_rule_slot){ .rule = *rule };
	pthread_mutex_unlock(&fb->lock);
	return err;
}

int bdev_fault_clear_rules(struct bdev *dev)
{
	struct fault_bdev *fb = fault_get(dev);

	if (!fb)
		return -EINVAL;
	pthread_mutex_lock(&fb->lock);
	fb->nr_rules = 0;
	pthread_mutex_unlock(&fb->lock);
	return 0;
}

int bdev_fault_set_volatile(struct bdev *dev, bool on)
{
	struct fault_bdev *fb = fault_get(dev);
	int err = 0;

	if (!fb)
		return -EINVAL;
	pthread_mutex_lock(&fb->lock);
	if (fb->nr_inflight || fb->cutting)
		err = -EBUSY;
	else if (!on)
		fault_log_drop_locked(fb, UINT64_MAX);
	if (!err)
		fb->volatile_mode = on;
	pthread_mutex_unlock(&fb->lock);
	return err;
}

int bdev_fault_power_cut(struct bdev *dev, unsigned int mode, uint64_t seed)
{
	struct fault_bdev *fb = fault_get(dev);
	struct fault_replay rp = { .fb = fb, .mode = mode, .rng = seed };
	struct fault_entry *log;
	int err;

	if (!fb || !fault_mode_valid(mode))
		return -EINVAL;
	err = fault_cut_begin(fb, &log);
	if (err)
		return err;
	rp.bshift = (unsigned int)ilog2_u64(fb->bdev.lbs) - SECTOR_SHIFT;
	err = fault_replay(&rp, log);
	/* What survived is all there is now: make the rollback itself durable. */
	if (!err)
		err = bdev_flush(fb->lower);
	fault_log_free(log);
	fault_cut_end(fb, &rp.tally);
	return err;
}

int bdev_fault_get_stats(struct bdev *dev, struct bdev_fault_stats *stats)
{
	struct fault_bdev *fb = fault_get(dev);

	if (!fb || !stats)
		return -EINVAL;
	pthread_mutex_lock(&fb->lock);
	*stats = fb->stats;
	pthread_mutex_unlock(&fb->lock);
	return 0;
}
