/* One background thread that runs jobs in the order they were pushed, so
 * that CPU work which needs neither Lua nor SQLite (parsing and normalising
 * a request's events) overlaps with the loop thread running rules. The loop
 * is woken (uv_async) when a job finishes and asks each job whether it is
 * done; jobs are owned by whoever pushed them and must outlive their run,
 * except detached ones, which their run frees (memory handed back to the
 * thread that allocated it, where freeing is cheapest). */
#ifndef TR_WORKER_H
#define TR_WORKER_H

#include <stdatomic.h>
#include <uv.h>

struct tr_job {
	struct tr_job *next;           /* the worker's queue; not for the owner */
	void (*run)(struct tr_job *);  /* runs on the worker thread */
	int detached;                  /* run frees the job: no done flag, no wake-up */
	atomic_int done;
};

struct tr_worker {
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t wake, idle;
	struct tr_job *head, *tail;  /* pushed, not yet taken */
	int running;                 /* a job is being run */
	int stopping;
	uv_async_t async;            /* wakes the loop after each job */
	void (*woken)(void *data);   /* called on the loop after the wake-up; may be NULL */
	void *woken_data;
};

/* Starts the thread. Returns 0 or a negative libuv error. */
int tr_worker_start(struct tr_worker *w, uv_loop_t *loop);
/* Calls fn(data) on the loop thread after jobs finished (once for one or
 * more). Set it after tr_worker_start. */
void tr_worker_on_wake(struct tr_worker *w, void (*fn)(void *data), void *data);
/* Queues job (loop thread). */
void tr_worker_push(struct tr_worker *w, struct tr_job *job);
/* True once job has run; what it wrote is then visible to the caller. */
int tr_job_done(struct tr_job *job);
/* Blocks until every pushed job has run. */
void tr_worker_drain(struct tr_worker *w);
/* Drains, joins the thread and closes the wake-up handle. */
void tr_worker_stop(struct tr_worker *w);

#endif
