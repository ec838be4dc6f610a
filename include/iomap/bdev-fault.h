/* SPDX-License-Identifier: MIT */
/*
 * A fault-injection and power-cut device for tests: the kernel's dm-error,
 * dm-flakey and dm-log-writes (with its replay) in one wrapper.
 *
 * bdev_fault_create() stacks a "fault" device on a lower bdev.  It has the
 * lower device's size, logical block size and flags, and every bdev_* and
 * bio_* function works on it.  Bios submitted to it are passed on to the
 * lower device as copies through bio_submit(), so:
 *  - the wrapper's counters (bdev_get_stats) count what its user submitted;
 *  - the lower device's counters count what the wrapper sent down, which
 *    includes the reads that capture undo data and the writes of a
 *    power cut's rollback, and never includes a bio failed by a rule.
 *
 * Ownership: the wrapper does not own the lower device.  Close the wrapper
 * first (bdev_close() waits for the wrapper's I/O and leaves the lower
 * device open), then the lower device.  Nobody else should write to the
 * lower device while the wrapper is in volatile mode: the undo log would
 * not know about those writes.
 *
 * Thread safety: as for every bdev (iomap/bdev.h).  In addition,
 * bdev_fault_power_cut() must not be called from a bi_end_io, since it
 * waits for its own I/O on the lower device.  The other functions here
 * never wait for I/O.
 */
#ifndef IOMAP_BDEV_FAULT_H
#define IOMAP_BDEV_FAULT_H

#include <stdbool.h>
#include <stdint.h>

#include "iomap/bio.h"

struct bdev;

/*
 * Stack a fault device on @lower.  It starts with no rules and volatile
 * mode off, so it passes everything through unchanged.  Returns 0 and the
 * device in @out, -EINVAL when @lower or @out is NULL, or -ENOMEM.  The
 * caller owns the new device and releases it with bdev_close(), before
 * closing @lower.
 */
int bdev_fault_create(struct bdev *lower, struct bdev **out);

/*
 * Error rules.  A rule selects bios by direction and sector range, lets
 * @skip of them through, then fails the next @count of them (0: all of
 * them from then on).
 *
 * Bits of @ops, one per enum bio_op:
 *   (1U << BIO_OP_READ), (1U << BIO_OP_WRITE): a read or write bio whose
 *     sectors overlap [first_sector, first_sector + nr_sectors);
 *   (1U << BIO_OP_FLUSH): a BIO_OP_FLUSH bio, a write carrying
 *     BIO_PREFLUSH, and bdev_flush(); the range does not apply to these.
 *
 * Rules are consulted in the order they were added.  Each rule that
 * matches a bio counts it; the first rule whose window (past @skip, within
 * @count) holds the bio fails it, and the rules after that one never see
 * it.  A failed bio reaches neither the lower device nor the undo log: it
 * moves no data (a read buffer is left untouched), and ends with bi_status
 * = @error.  A failed bdev_flush() returns @error.
 */
#define BDEV_FAULT_OP_READ (1U << BIO_OP_READ)
#define BDEV_FAULT_OP_WRITE (1U << BIO_OP_WRITE)
#define BDEV_FAULT_OP_FLUSH (1U << BIO_OP_FLUSH)

struct bdev_fault_rule {
	unsigned int ops; /* BDEV_FAULT_OP_* bit mask, not 0 */
	uint64_t first_sector; /* in 512-byte units */
	uint64_t nr_sectors; /* UINT64_MAX: to the end; 0 only for a flush-only rule */
	uint64_t skip; /* matching bios let through first */
	uint64_t count; /* matching bios failed after that; 0 = forever */
	int error; /* negative errno, -4095..-1 */
};

/*
 * Append a copy of @rule.  Returns 0, -EINVAL when @dev is not a fault
 * device or the rule is malformed (unknown or no op bits, an error out of
 * range, an empty range on a read or write rule), or -ENOMEM.  Applies to
 * bios submitted after it returns.
 */
int bdev_fault_add_rule(struct bdev *dev, const struct bdev_fault_rule *rule);

/* Remove every rule.  Returns 0, or -EINVAL when @dev is not a fault device. */
int bdev_fault_clear_rules(struct bdev *dev);

/*
 * Power-cut simulation.  In volatile mode the wrapper acts as a disk with
 * a write-back cache.  Writes reach the lower device at once, so reads
 * see them, but they are not durable yet.  The wrapper keeps the old
 * contents of the sectors each one overwrote, in memory, in an undo log.
 *
 * A write becomes durable:
 *  - when a BIO_OP_FLUSH bio or bdev_flush() succeeds, if the write
 *    completed before the flush was submitted;
 *  - when a later write carrying BIO_PREFLUSH succeeds;
 *  - at its own completion when it carries BIO_FUA.
 *
 * Writes are serialised in volatile mode: the wrapper runs one at a time,
 * in submission order, so their order in the undo log is the order in
 * which they reach the media.  Reads and flushes are not serialised.
 *
 * bdev_fault_set_volatile(): turn the mode on or off.  Turning it off
 * makes every write so far durable.  Returns 0, -EINVAL when @dev is not a
 * fault device, or -EBUSY while a bio or bdev_flush() is in flight on the
 * wrapper or a power cut runs.  A bio counts as in flight until just before
 * its bi_end_io runs.
 */
int bdev_fault_set_volatile(struct bdev *dev, bool on);

/*
 * Power-cut modes: exactly one of DROP_ALL and RANDOM, and TORN only with
 * RANDOM.
 *
 * DROP_ALL: every write that is not durable is lost.
 * RANDOM: each write that is not durable is either kept or lost, chosen
 *   at random from @seed.
 * TORN: a write may also be torn: each of its logical blocks (the
 *   device's atomic unit, 512 bytes or more) is kept or lost on its own.
 *   Each non-durable write is kept, lost or torn, each with chance 1/3.
 *
 * Afterwards the device reads as if only the writes that survived had been
 * applied, in submission order: the durable ones whole, the others as
 * chosen.  A block whose last write was lost therefore shows the newest
 * surviving data written to it before, or what it held when volatile mode
 * was turned on.
 */
#define BDEV_FAULT_CUT_DROP_ALL (1U << 0)
#define BDEV_FAULT_CUT_RANDOM (1U << 1)
#define BDEV_FAULT_CUT_TORN (1U << 2)

/*
 * Lose power now.  Rolls the lost writes back on the lower device from
 * the undo log, newest first, flushes the lower device, and empties the
 * log.  The device keeps working afterwards, as after a reboot, in the
 * same mode.  Bios submitted while the cut runs fail with -EIO, and
 * bdev_flush() returns -EIO.
 *
 * Returns 0; -EINVAL for a bad @mode or when @dev is not a fault device;
 * -EBUSY, doing nothing, while a bio or bdev_flush() is in flight on the
 * wrapper or another cut runs; the lower device's -errno or -ENOMEM when
 * the rollback failed, which leaves the contents undefined (the log is
 * emptied all the same).  Must not be called from a bi_end_io.
 */
int bdev_fault_power_cut(struct bdev *dev, unsigned int mode, uint64_t seed);

/* Counters of a fault device, all since bdev_fault_create(). */
struct bdev_fault_stats {
	uint64_t injected; /* bios and bdev_flush() calls failed by a rule */
	uint64_t pending_writes; /* writes not durable yet: the undo log */
	uint64_t pending_bytes; /* undo data held for them */
	uint64_t power_cuts; /* successful or not */
	uint64_t writes_kept; /* by power cuts, durable writes excluded */
	uint64_t writes_lost;
	uint64_t writes_torn;
};

/*
 * A consistent snapshot of the counters.  Returns 0, or -EINVAL when @dev
 * is not a fault device.
 */
int bdev_fault_get_stats(struct bdev *dev, struct bdev_fault_stats *stats);

#endif /* IOMAP_BDEV_FAULT_H */
