/* WAL checkpoints on the libuv thread pool, one at a time. The worker uses
 * its own SQLite connection; a passive checkpoint never blocks the loop's
 * writer, which keeps committing meanwhile. */
#include <stdlib.h>
#include <string.h>
#include "tr_checkpoint.h"
#include "tr_log.h"
#include "tr_store.h"

struct job {
	uv_work_t work;
	char *path;
	int rc;
	char err[256];
};

static int running;

static void run(uv_work_t *w)
{
	struct job *j = w->data;
	j->rc = tr_store_checkpoint(j->path, j->err, sizeof(j->err));
}

static void done(uv_work_t *w, int status)
{
	struct job *j = w->data;
	if (status == 0 && j->rc)
		log_warnx("checkpoint: %s", j->err);
	free(j->path);
	free(j);
	running = 0;
}

void tr_checkpoint_maybe(struct tr_daemon *d)
{
	int64_t pages = tr_store_wal_pages(d->store);
	if (pages >= TR_CHECKPOINT_FORCE && !running) {
		log_info("checkpoint: the WAL holds %lld pages; checkpointing now", (long long)pages);
		tr_store_checkpoint_now(d->store);
		return;
	}
	if (running || pages < TR_CHECKPOINT_PAGES)
		return;
	struct job *j = calloc(1, sizeof(*j));
	if (!j || !(j->path = strdup(d->cfg.db_path))) {
		free(j);
		return;
	}
	j->work.data = j;
	if (uv_queue_work(d->loop, &j->work, run, done) == 0)
		running = 1;
	else {
		free(j->path);
		free(j);
	}
}
