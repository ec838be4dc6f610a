/* SPDX-License-Identifier: MIT */
/*
 * Workqueue: a FIFO of work items under one mutex, served by a fixed set of
 * threads.  Invariants, under wq->lock:
 *  - queued counts items in the list, running items being run now;
 *  - flush waits until queued == 0 and running == 0, which also covers
 *    items queued by running items (they are queued before running drops);
 *  - stop is set only by destroy, after which threads drain and exit.
 */
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "iomap/workqueue.h"

struct workqueue {
	pthread_mutex_t lock;
	pthread_cond_t more; /* work queued or stop */
	pthread_cond_t idle; /* queued == 0 && running == 0 */
	struct work_item *head, *tail;
	unsigned int queued, running;
	bool stop;
	unsigned int nthreads;
	pthread_t threads[];
};

static struct work_item *take(struct workqueue *wq)
{
	struct work_item *w = wq->head;

	wq->head = w->next;
	if (!wq->head)
		wq->tail = NULL;
	wq->queued--;
	wq->running++;
	return w;
}

static void *worker(void *arg)
{
	struct workqueue *wq = arg;

	pthread_mutex_lock(&wq->lock);
	for (;;) {
		struct work_item *w;

		while (!wq->head && !wq->stop)
			pthread_cond_wait(&wq->more, &wq->lock);
		if (!wq->head)
			break;
		w = take(wq);
		pthread_mutex_unlock(&wq->lock);
		w->fn(w);
		pthread_mutex_lock(&wq->lock);
		if (--wq->running == 0 && !wq->queued)
			pthread_cond_broadcast(&wq->idle);
	}
	pthread_mutex_unlock(&wq->lock);
	return NULL;
}

static void stop_threads(struct workqueue *wq, unsigned int n)
{
	pthread_mutex_lock(&wq->lock);
	wq->stop = true;
	pthread_cond_broadcast(&wq->more);
	pthread_mutex_unlock(&wq->lock);
	for (unsigned int i = 0; i < n; i++)
		pthread_join(wq->threads[i], NULL);
}

int workqueue_create(unsigned int nthreads, struct workqueue **out)
{
	struct workqueue *wq;
	int ret;

	if (!out || nthreads < 1 || nthreads > 64)
		return -EINVAL;
	wq = calloc(1, sizeof(*wq) + nthreads * sizeof(pthread_t));
	if (!wq)
		return -ENOMEM;
	pthread_mutex_init(&wq->lock, NULL);
	pthread_cond_init(&wq->more, NULL);
	pthread_cond_init(&wq->idle, NULL);
	for (wq->nthreads = 0; wq->nthreads < nthreads; wq->nthreads++) {
		ret = pthread_create(&wq->threads[wq->nthreads], NULL, worker, wq);
		if (ret) {
			stop_threads(wq, wq->nthreads);
			free(wq);
			return -ret;
		}
	}
	*out = wq;
	return 0;
}

void workqueue_destroy(struct workqueue *wq)
{
	if (!wq)
		return;
	stop_threads(wq, wq->nthreads);
	pthread_cond_destroy(&wq->idle);
	pthread_cond_destroy(&wq->more);
	pthread_mutex_destroy(&wq->lock);
	free(wq);
}

void workqueue_queue(struct workqueue *wq, struct work_item *work)
{
	work->next = NULL;
	pthread_mutex_lock(&wq->lock);
	if (wq->tail)
		wq->tail->next = work;
	else
		wq->head = work;
	wq->tail = work;
	wq->queued++;
	pthread_cond_signal(&wq->more);
	pthread_mutex_unlock(&wq->lock);
}

void workqueue_flush(struct workqueue *wq)
{
	pthread_mutex_lock(&wq->lock);
	while (wq->queued || wq->running)
		pthread_cond_wait(&wq->idle, &wq->lock);
	pthread_mutex_unlock(&wq->lock);
}
