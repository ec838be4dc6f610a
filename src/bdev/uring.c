/* SPDX-License-Identifier: MIT */
/*
 * The io_uring engine: one ring per device, any number of submitting
 * threads, one completion thread (the reaper) that runs every stage after
 * the first and every bi_end_io.
 *
 * Locking.  ub->lock protects the submission side of the ring (getting,
 * filling and submitting SQEs), inflight and the deferred list.  The
 * completion side (waiting for and consuming CQEs) belongs to the reaper
 * alone and takes no lock; liburing allows one thread on each side.
 * bi_end_io and bd_req_end() run with no lock held.
 *
 * Invariants, under ub->lock:
 *  1. inflight counts the requests that own an SQE not yet reaped, and
 *     inflight <= max_inflight <= SQ entries < CQ entries.  So
 *     io_uring_get_sqe() always finds room and the CQ cannot overflow.
 *  2. A request in flight owns exactly one SQE at a time.  When a stage
 *     ends and another is due (short transfer, the write after a
 *     preflush, the flush after a FUA write), the reaper queues it in the
 *     same slot, without waiting.
 *  3. Deferred requests own no slot.  Only reaper threads defer (see
 *     uring_get_slot_locked); the device's reaper moves them into slots
 *     at the top of every loop, before it sleeps.  When the list is not
 *     empty after that, inflight == max_inflight, so a completion, and
 *     with it another pass, is coming.
 *
 * Lifetime: uring_close() waits until inflight is 0 and nothing is
 * deferred; only then does it queue the STOP no-op, so the reaper finishes
 * every bi_end_io (and whatever they submitted) before it exits.
 *
 * Sleeping: the reaper takes CQEs without blocking and sleeps in read()
 * on an eventfd registered with the ring, which the kernel signals as it
 * posts CQEs.  It does not sleep in io_uring_enter(): tools that run one
 * thread at a time and let others go only around known-blocking system
 * calls (valgrind up to 3.20) would freeze every other thread, and with
 * them the submissions the reaper is waiting for.
 */
#include <errno.h>
#include <liburing.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/memcheck.h>)
#include <valgrind/memcheck.h>
#endif
#endif
#ifndef VALGRIND_MAKE_MEM_DEFINED
#define VALGRIND_MAKE_MEM_DEFINED(addr, len) ((void)(addr), (void)(len))
#endif

#include "bdev/internal.h"
#include "lib/compiler.h"

/*
 * A request passes from the submitting thread to the reaper through the
 * kernel: io_uring_enter() and the CQ's acquire/release protocol order
 * them, but ThreadSanitizer sees neither.  These annotations give it the
 * same edge; they compile to nothing in other builds.
 */
#if defined(__SANITIZE_THREAD__)
#define URING_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define URING_TSAN 1
#endif
#endif
#ifdef URING_TSAN
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define uring_handoff_send(req) __tsan_release(req)
#define uring_handoff_receive(req) __tsan_acquire(req)
#else
#define uring_handoff_send(req) ((void)(req))
#define uring_handoff_receive(req) ((void)(req))
#endif

/* user_data of the no-op that stops the reaper; never a request address. */
#define URING_STOP UINT64_MAX

struct uring_bdev {
	struct bdev bdev;
	int fd;
	int efd; /* eventfd the kernel signals on each CQE batch */
	struct io_uring ring;
	pthread_t reaper;
	pthread_mutex_t lock;
	pthread_cond_t space; /* a slot may be free: waiters recheck */
	pthread_cond_t idle; /* inflight reached 0 with nothing deferred */
	unsigned int inflight; /* protected by lock */
	unsigned int max_inflight; /* constant */
	struct bd_req *deferred; /* FIFO head, protected by lock */
	struct bd_req **deferred_tail; /* protected by lock */
};

/*
 * Set in every reaper thread.  A reaper must never sleep waiting for a
 * slot: its own device frees slots only through it, and two devices'
 * reapers waiting on each other would deadlock.
 */
static __thread bool uring_in_reaper;

static struct uring_bdev *to_uring(struct bdev *bdev)
{
	return container_of(bdev, struct uring_bdev, bdev);
}

/*
 * Hand the queued SQEs to the kernel.  -EAGAIN and -EBUSY are transient
 * (kernel memory, completions backlog) and retried.  Any other failure
 * means a broken ring; the SQEs stay in the SQ, already published, and go
 * with the next successful submission.
 */
static void uring_submit_locked(struct uring_bdev *ub)
{
	int ret;

	for (;;) {
		ret = io_uring_submit(&ub->ring);
		if (ret >= 0 || (ret != -EINTR && ret != -EAGAIN && ret != -EBUSY))
			return;
		if (ret != -EINTR)
			sched_yield();
	}
}

/* Queue the request's current stage in the slot it owns. */
static int uring_queue_locked(struct uring_bdev *ub, struct bd_req *req)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&ub->ring);
	const struct iovec *iov = req->iov + req->idx;
	unsigned int cnt = req->nr - req->idx;

	if (unlikely(!sqe))
		return -EIO; /* invariant 1 says never */
	if (!bd_req_is_data(req))
		io_uring_prep_fsync(sqe, ub->fd, IORING_FSYNC_DATASYNC);
	else if (req->bio->bi_op == BIO_OP_READ)
		io_uring_prep_readv(sqe, ub->fd, iov, cnt, req->pos);
	else
		io_uring_prep_writev(sqe, ub->fd, iov, cnt, req->pos);
	io_uring_sqe_set_data(sqe, req);
	uring_handoff_send(req);
	uring_submit_locked(ub);
	return 0;
}

/*
 * Take a slot, sleeping while none is free.  Deferred requests go first so
 * that busy submitters cannot starve them.  Returns false, without a slot,
 * when the caller is a reaper and would have to sleep.
 */
static bool uring_get_slot_locked(struct uring_bdev *ub)
{
	while (ub->inflight >= ub->max_inflight || ub->deferred) {
		if (uring_in_reaper)
			return false;
		pthread_cond_wait(&ub->space, &ub->lock);
	}
	ub->inflight++;
	return true;
}

static void uring_put_slot(struct uring_bdev *ub)
{
	pthread_mutex_lock(&ub->lock);
	ub->inflight--;
	pthread_cond_signal(&ub->space);
	if (ub->inflight == 0 && !ub->deferred)
		pthread_cond_broadcast(&ub->idle);
	pthread_mutex_unlock(&ub->lock);
}

static void uring_defer_locked(struct uring_bdev *ub, struct bd_req *req)
{
	req->next = NULL;
	*ub->deferred_tail = req;
	ub->deferred_tail = &req->next;
}

static struct bd_req *uring_undefer_locked(struct uring_bdev *ub)
{
	struct bd_req *req = ub->deferred;

	ub->deferred = req->next;
	if (!ub->deferred)
		ub->deferred_tail = &ub->deferred;
	req->next = NULL;
	return req;
}

/*
 * End a request, then give its slot back.  In that order, so that
 * uring_close() cannot pass while its bi_end_io still runs or before what
 * that bi_end_io submitted is counted.
 */
static void uring_finish(struct uring_bdev *ub, struct bd_req *req, int err)
{
	bd_req_end(req, err);
	uring_put_slot(ub);
}

static void uring_submit(struct bdev *bdev, struct bio *bio)
{
	struct uring_bdev *ub = to_uring(bdev);
	struct bd_req *req = bd_req_new(bdev, bio);
	int err;

	if (!req) {
		bd_end_bio(bio, -ENOMEM);
		return;
	}
	pthread_mutex_lock(&ub->lock);
	if (!uring_get_slot_locked(ub)) {
		uring_defer_locked(ub, req);
		pthread_mutex_unlock(&ub->lock);
		return;
	}
	err = uring_queue_locked(ub, req);
	pthread_mutex_unlock(&ub->lock);
	if (err)
		uring_finish(ub, req, err);
}

/*
 * Move deferred requests into free slots (invariant 3).  Reaper only.
 * Requests that cannot be queued are ended after the lock is dropped,
 * since bi_end_io may submit.
 */
static void uring_drain_deferred(struct uring_bdev *ub)
{
	struct bd_req *failed = NULL;

	pthread_mutex_lock(&ub->lock);
	while (ub->deferred && ub->inflight < ub->max_inflight) {
		struct bd_req *req = uring_undefer_locked(ub);

		ub->inflight++;
		if (uring_queue_locked(ub, req)) {
			req->next = failed;
			failed = req;
		}
	}
	/* Submitters sleeping behind the deferred list may go now. */
	if (!ub->deferred && ub->inflight < ub->max_inflight)
		pthread_cond_broadcast(&ub->space);
	pthread_mutex_unlock(&ub->lock);
	while (failed) {
		struct bd_req *req = failed;

		failed = req->next;
		uring_finish(ub, req, -EIO);
	}
}

/*
 * Memcheck cannot see the kernel write into read buffers; tell it which
 * bytes are now defined.  A no-op outside valgrind.
 */
static void uring_mark_read(const struct bd_req *req, size_t n)
{
	for (unsigned int i = req->idx; i < req->nr && n; i++) {
		size_t take = min(n, req->iov[i].iov_len);

		VALGRIND_MAKE_MEM_DEFINED(req->iov[i].iov_base, take);
		n -= take;
	}
}

/* One CQE of a request: run its next stage in the same slot, or end it. */
static void uring_complete(struct uring_bdev *ub, struct bd_req *req, int res)
{
	int ret;

	if (res > 0 && bd_req_is_data(req) && req->bio->bi_op == BIO_OP_READ)
		uring_mark_read(req, (size_t)res);
	ret = bd_req_step(req, res);
	if (ret > 0) {
		pthread_mutex_lock(&ub->lock);
		ret = uring_queue_locked(ub, req);
		pthread_mutex_unlock(&ub->lock);
		if (ret == 0)
			return;
	}
	uring_finish(ub, req, ret);
}

/*
 * Sleep until the kernel has posted CQEs since the last call.  A CQE
 * posted before the caller looked at the CQ may wake it for nothing; the
 * caller just looks again.
 */
static void uring_wait_event(struct uring_bdev *ub)
{
	eventfd_t count;

	while (eventfd_read(ub->efd, &count) < 0 && errno == EINTR)
		;
}

static void *uring_reaper(void *arg)
{
	struct uring_bdev *ub = arg;
	struct io_uring_cqe *cqe;
	uint64_t tag;
	int res;

	uring_in_reaper = true;
	for (;;) {
		uring_drain_deferred(ub);
		if (io_uring_peek_cqe(&ub->ring, &cqe)) {
			uring_wait_event(ub);
			continue;
		}
		tag = cqe->user_data;
		res = cqe->res;
		io_uring_cqe_seen(&ub->ring, cqe);
		if (tag == URING_STOP)
			return NULL;
		uring_handoff_receive((void *)(uintptr_t)tag);
		uring_complete(ub, (struct bd_req *)(uintptr_t)tag, res);
	}
}

static int uring_flush(struct bdev *bdev)
{
	return fdatasync(to_uring(bdev)->fd) ? -errno : 0;
}

/* Stop the reaper; inflight is 0, so the SQ has room (invariant 1). */
static void uring_stop_reaper(struct uring_bdev *ub)
{
	struct io_uring_sqe *sqe;

	pthread_mutex_lock(&ub->lock);
	while (ub->inflight || ub->deferred)
		pthread_cond_wait(&ub->idle, &ub->lock);
	sqe = io_uring_get_sqe(&ub->ring);
	io_uring_prep_nop(sqe);
	sqe->user_data = URING_STOP;
	uring_submit_locked(ub);
	pthread_mutex_unlock(&ub->lock);
	pthread_join(ub->reaper, NULL);
}

static void uring_release(struct uring_bdev *ub)
{
	io_uring_queue_exit(&ub->ring);
	close(ub->efd);
	pthread_cond_destroy(&ub->idle);
	pthread_cond_destroy(&ub->space);
	pthread_mutex_destroy(&ub->lock);
	free(ub);
}

static void uring_close(struct bdev *bdev)
{
	struct uring_bdev *ub = to_uring(bdev);

	uring_stop_reaper(ub);
	close(ub->fd);
	uring_release(ub);
}

static const struct bdev_ops uring_ops = {
	.submit = uring_submit,
	.flush = uring_flush,
	.close = uring_close,
};

/*
 * A no-op round trip before any thread exists: a sandbox may let the ring
 * be created and still refuse io_uring_enter.  Returns 0 or -errno.
 */
static int uring_probe(struct io_uring *ring)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	struct io_uring_cqe *cqe;
	int ret;

	if (!sqe)
		return -EBUSY;
	io_uring_prep_nop(sqe);
	ret = io_uring_submit_and_wait(ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_peek_cqe(ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return ret;
}

/* The reaper takes no signals: they belong to the embedding program. */
static int uring_start_reaper(struct uring_bdev *ub)
{
	sigset_t all, old;
	int err;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&ub->reaper, NULL, uring_reaper, ub);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return -err;
}

static void uring_init_state(struct uring_bdev *ub, const struct bd_file *file, int efd)
{
	bd_init_file(&ub->bdev, &uring_ops, "io_uring", file);
	ub->fd = file->fd;
	ub->efd = efd;
	ub->max_inflight = file->queue_depth;
	ub->deferred = NULL;
	ub->deferred_tail = &ub->deferred;
	ub->inflight = 0;
	pthread_mutex_init(&ub->lock, NULL);
	pthread_cond_init(&ub->space, NULL);
	pthread_cond_init(&ub->idle, NULL);
}

/* A ring that signals @efd and answers a no-op.  Returns 0 or -errno. */
static int uring_setup_ring(struct io_uring *ring, unsigned int entries, int efd)
{
	int err = io_uring_queue_init(entries, ring, 0);

	if (err)
		return err;
	err = io_uring_register_eventfd(ring, efd);
	if (!err)
		err = uring_probe(ring);
	if (err)
		io_uring_queue_exit(ring);
	return err;
}

/*
 * Returns -errno when the kernel refuses io_uring; the caller then falls
 * back to the sync engine.  @file->fd stays the caller's until success.
 */
int bd_uring_open(const struct bd_file *file, struct bdev **out)
{
	struct uring_bdev *ub = malloc(sizeof(*ub));
	int efd, err;

	if (!ub)
		return -ENOMEM;
	efd = eventfd(0, EFD_CLOEXEC);
	err = efd < 0 ? -errno : uring_setup_ring(&ub->ring, file->queue_depth, efd);
	if (err) {
		if (efd >= 0)
			close(efd);
		free(ub);
		return err;
	}
	uring_init_state(ub, file, efd);
	err = uring_start_reaper(ub);
	if (err) {
		uring_release(ub);
		return err;
	}
	*out = &ub->bdev;
	return 0;
}
