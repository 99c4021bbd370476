/* WAL checkpoints on the libuv thread pool, one at a time. The worker uses
 * its own SQLite connection; a passive checkpoint never blocks the loop's
 * writer, which keeps committing meanwhile. But the WAL only starts over
 * (instead of growing) after a pass that copied every frame, which never
 * happens while the loop writes; so once it is large, a last pass runs with
 * the loop's writes held (d->writes_paused) while it reads and answers.
 *
 * That last pass fsyncs the WAL and then the database, and every write
 * waits for it. SQLite fsyncs the database only in a pass that reaches the
 * WAL's end, so the held pass used to write out everything the passes
 * before it had copied: holds of 5-45 ms at 10,000 events/s on a
 * million-event database. So every pass that holds nothing writes the
 * database out after it (tr_store_checkpoint's sync): the held pass finds
 * only its own few pages to flush, 2.5-4 ms at that rate. */
#include <stdlib.h>
#include <string.h>
#include "tr_wal_checkpoint.h"
#include "tr_log.h"
#include "tr_store.h"
#include "tr_time.h"

struct job {
	uv_work_t work;
	struct tr_daemon *d;
	char *path;
	int last; /* the pass that runs with the writes held */
	int rc;
	char err[256];
};

static int running;

/* WAL frames (pages of 4 KiB) at which the last pass runs */
static int64_t reset_pages(const struct tr_daemon *d)
{
	return d->cfg.limits.wal_mb << 8;
}

int64_t tr_checkpoint_wal_file_bytes(const struct tr_config *cfg)
{
	return (4 * cfg->limits.wal_mb) << 20;
}

static uint64_t paused_at; /* tr_mono_us() when the writes were held */

static void run(uv_work_t *w)
{
	struct job *j = w->data;
	j->rc = tr_store_checkpoint(j->path, !j->last, j->err, sizeof(j->err));
}

static int start(struct tr_daemon *d, int last);

static void done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	struct tr_daemon *d = j->d;
	if (status == 0 && j->rc)
		log_warnx("checkpoint: %s", j->err);
	int last = j->last, ok = status == 0 && j->rc == 0;
	free(j->path);
	free(j);
	running = 0;
	if (last) {
		log_debug("checkpoint: writes held %llu us for the last pass; WAL %lld pages",
			  (unsigned long long)(tr_mono_us() - paused_at), (long long)tr_store_wal_pages(d->store));
		tr_parts_resume(d); /* through the table: the parts are above this file */
	} else if (ok && tr_store_wal_pages(d->store) >= reset_pages(d) && !d->stopping && start(d, 1) == 0) {
		d->writes_paused = 1; /* the loop is between transactions here */
		paused_at = tr_mono_us();
	}
}

static int start(struct tr_daemon *d, int last)
{
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(d->cfg.db_path))) {
		free(j);
		return -1;
	}
	j->work.data = j;
	j->d = d;
	j->last = last;
	if (uv_queue_work(d->loop, &j->work, run, done) != 0) {
		free(j->path);
		free(j);
		return -1;
	}
	running = 1;
	return 0;
}

void tr_checkpoint_maybe(struct tr_daemon *d)
{
	if (running)
		return;
	int64_t pages = tr_store_wal_pages(d->store);
	if (pages >= 4 * reset_pages(d)) {
		log_info("checkpoint: the WAL holds %lld pages; checkpointing now", (long long)pages);
		tr_store_checkpoint_now(d->store);
		return;
	}
	if (pages >= TR_CHECKPOINT_PAGES || pages >= reset_pages(d))
		start(d, 0);
}
