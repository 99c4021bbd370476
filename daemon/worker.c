/* The background job thread (tr_worker.h). */
#include "tr_worker.h"

static void worker_main(void *arg)
{
	struct tr_worker *w = arg;
	uv_mutex_lock(&w->mu);
	for (;;) {
		while (!w->head && !w->stopping)
			uv_cond_wait(&w->wake, &w->mu);
		if (!w->head)
			break;
		struct tr_job *job = w->head;
		w->head = job->next;
		if (!w->head)
			w->tail = NULL;
		w->running = 1;
		uv_mutex_unlock(&w->mu);
		if (job->detached) {
			job->run(job); /* job is gone */
		} else {
			job->run(job);
			atomic_store_explicit(&job->done, 1, memory_order_release);
			uv_async_send(&w->async);
		}
		uv_mutex_lock(&w->mu);
		w->running = 0;
		if (!w->head)
			uv_cond_broadcast(&w->idle);
	}
	uv_mutex_unlock(&w->mu);
}

static void on_async(uv_async_t *h)
{
	/* The wake-up is the point: the loop's check phase looks at the jobs. */
	struct tr_worker *w = h->data;
	if (w->woken)
		w->woken(w->woken_data);
}

void tr_worker_on_wake(struct tr_worker *w, void (*fn)(void *data), void *data)
{
	w->woken = fn;
	w->woken_data = data;
}

int tr_worker_start(struct tr_worker *w, uv_loop_t *loop)
{
	*w = (struct tr_worker){0};
	int rc = uv_mutex_init(&w->mu);
	if (rc)
		return rc;
	if ((rc = uv_cond_init(&w->wake)) || (rc = uv_cond_init(&w->idle)) ||
	    (rc = uv_async_init(loop, &w->async, on_async)))
		return rc;
	w->async.data = w;
	rc = uv_thread_create(&w->thread, worker_main, w);
	if (rc)
		uv_close((uv_handle_t *)&w->async, NULL);
	return rc;
}

void tr_worker_push(struct tr_worker *w, struct tr_job *job)
{
	job->next = NULL;
	atomic_store_explicit(&job->done, 0, memory_order_relaxed);
	uv_mutex_lock(&w->mu);
	if (w->tail)
		w->tail->next = job;
	else
		w->head = job;
	w->tail = job;
	uv_cond_signal(&w->wake);
	uv_mutex_unlock(&w->mu);
}

int tr_job_done(struct tr_job *job)
{
	return atomic_load_explicit(&job->done, memory_order_acquire);
}

void tr_worker_drain(struct tr_worker *w)
{
	uv_mutex_lock(&w->mu);
	while (w->head || w->running)
		uv_cond_wait(&w->idle, &w->mu);
	uv_mutex_unlock(&w->mu);
}

void tr_worker_stop(struct tr_worker *w)
{
	uv_mutex_lock(&w->mu);
	w->stopping = 1;
	uv_cond_signal(&w->wake);
	uv_mutex_unlock(&w->mu);
	uv_thread_join(&w->thread);
	uv_close((uv_handle_t *)&w->async, NULL);
	uv_cond_destroy(&w->wake);
	uv_cond_destroy(&w->idle);
	uv_mutex_destroy(&w->mu);
}
