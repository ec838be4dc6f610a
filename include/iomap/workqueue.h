/* SPDX-License-Identifier: MIT */
/*
 * A workqueue: threads that run queued work items in order of queueing
 * (in parallel when there are several threads).  I/O completion handlers
 * must not sleep on locks that a thread waiting for I/O may hold; they hand
 * such work (unwritten extent conversion, size updates) to a workqueue.
 *
 * Thread safety: workqueue_queue() and workqueue_flush() may be called from
 * any thread, including a work function.  workqueue_destroy() must not race
 * with queueing.
 */
#ifndef IOMAP_WORKQUEUE_H
#define IOMAP_WORKQUEUE_H

struct workqueue;
struct work_item;

typedef void (*work_fn_t)(struct work_item *work);

/* Embed in the structure the work is about; owned by the queue while queued. */
struct work_item {
	work_fn_t fn;
	struct work_item *next;
};

/* @nthreads 1..64.  Returns 0, -EINVAL, -ENOMEM or the pthread error. */
int workqueue_create(unsigned int nthreads, struct workqueue **out);

/* Run everything queued, stop the threads and free.  NULL is ignored. */
void workqueue_destroy(struct workqueue *wq);

/* Queue @work (its fn set by the caller); it must not already be queued. */
void workqueue_queue(struct workqueue *wq, struct work_item *work);

/*
 * Wait until every item queued before the call has run, including items
 * they queued in turn.  Must not be called from a work function.
 */
void workqueue_flush(struct workqueue *wq);

#endif /* IOMAP_WORKQUEUE_H */
