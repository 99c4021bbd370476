/* The WAL flusher thread (tr_wal_flusher.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tr_error.h"
#include "tr_wal_flusher.h"
#include "tr_log.h"
#include "tr_time.h"

struct tr_flusher {
	uv_async_t async;    /* first: the handle is the object; async.data = this */
	uv_thread_t thread;
	uv_mutex_t mu;
	uv_cond_t wake;
	char *wal_path;
	int fd;
	int stopping;        /* under mu */
	uint64_t requested;  /* under mu */
	uint64_t done;       /* under mu: flushed by the thread */
	struct tr_flusher_stats stats; /* under mu */
	uint64_t flushed;    /* loop thread: what on_flushed was told */
	void (*on_flushed)(void *ud);
	void *ud;
};

/* fdatasync on our own descriptor of the WAL: fsync is per file, not per
 * descriptor, so it covers what SQLite wrote through its own. SQLite
 * deletes a WAL only when its last connection closes, and the store's
 * connection, which holds its shared lock, outlives the flusher: the file
 * opened at start is the file for good. */
static void flush_wal(struct tr_flusher *f)
{
	if (fdatasync(f->fd) != 0) {
		log_errx("cannot flush %s to disk: %s; stopping, so that nothing is acknowledged that is not durable",
			 f->wal_path, strerror(errno));
		abort();
	}
}

static void flusher_main(void *arg)
{
	struct tr_flusher *f = arg;
	uv_mutex_lock(&f->mu);
	for (;;) {
		while (f->requested == f->done && !f->stopping)
			uv_cond_wait(&f->wake, &f->mu);
		if (f->requested == f->done)
			break;
		uint64_t target = f->requested; /* every commit counted so far is written */
		uv_mutex_unlock(&f->mu);
		uint64_t start = tr_mono_us();
		flush_wal(f);
		uint64_t took = tr_mono_us() - start;
		uv_mutex_lock(&f->mu);
		f->done = target;
		f->stats.flushes++;
		f->stats.total_us += took;
		if (took > f->stats.max_us)
			f->stats.max_us = took;
		tr_histogram_add(&f->stats.seconds, took);
		uv_async_send(&f->async);
	}
	uv_mutex_unlock(&f->mu);
}

static void report(struct tr_flusher *f)
{
	uv_mutex_lock(&f->mu);
	uint64_t done = f->done;
	uv_mutex_unlock(&f->mu);
	if (done == f->flushed)
		return;
	f->flushed = done;
	f->on_flushed(f->ud);
}

static void on_async(uv_async_t *h)
{
	report(h->data);
}

void tr_flusher_get_stats(struct tr_flusher *f, struct tr_flusher_stats *st)
{
	uv_mutex_lock(&f->mu);
	*st = f->stats;
	uv_mutex_unlock(&f->mu);
}

static void on_closed(uv_handle_t *h);

int tr_flusher_start(uv_loop_t *loop, const char *wal_path, void (*on_flushed)(void *ud), void *ud,
		     struct tr_flusher **out)
{
	struct tr_flusher *f = calloc(1, sizeof(*f));
	if (!f || !(f->wal_path = strdup(wal_path))) {
		free(f);
		return -ENOMEM;
	}
	f->on_flushed = on_flushed;
	f->ud = ud;
	f->fd = open(wal_path, O_RDONLY | O_CLOEXEC);
	int rc = f->fd < 0 ? -errno : uv_mutex_init(&f->mu);
	if (rc)
		goto no_mutex;
	if ((rc = uv_cond_init(&f->wake)) != 0)
		goto no_cond;
	if ((rc = uv_async_init(loop, &f->async, on_async)) != 0)
		goto no_async;
	f->async.data = f;
	if ((rc = uv_thread_create(&f->thread, flusher_main, f)) != 0) {
		close(f->fd);
		uv_close((uv_handle_t *)&f->async, on_closed); /* frees f */
		return rc;
	}
	*out = f;
	return 0;
no_async:
	uv_cond_destroy(&f->wake);
no_cond:
	uv_mutex_destroy(&f->mu);
no_mutex:
	if (f->fd >= 0)
		close(f->fd);
	free(f->wal_path);
	free(f);
	return rc;
}

void tr_flusher_request(struct tr_flusher *f, uint64_t commit)
{
	uv_mutex_lock(&f->mu);
	if (commit > f->requested) {
		f->requested = commit;
		uv_cond_signal(&f->wake);
	}
	uv_mutex_unlock(&f->mu);
}

uint64_t tr_flusher_flushed(const struct tr_flusher *f)
{
	return f->flushed;
}

static void on_closed(uv_handle_t *h)
{
	struct tr_flusher *f = h->data;
	uv_mutex_destroy(&f->mu);
	uv_cond_destroy(&f->wake);
	free(f->wal_path);
	free(f);
}

void tr_flusher_close(struct tr_flusher *f)
{
	if (!f)
		return;
	uv_mutex_lock(&f->mu);
	f->stopping = 1;
	uv_cond_signal(&f->wake);
	uv_mutex_unlock(&f->mu);
	uv_thread_join(&f->thread); /* it flushes what was asked before it ends */
	close(f->fd);
	f->fd = -1;
	report(f);
	uv_close((uv_handle_t *)&f->async, on_closed);
}

int tr_flusher_durable(const struct tr_flusher *f, uint64_t commit)
{
	return !f || commit <= tr_flusher_flushed(f);
}
