/* Setting up and tearing down the daemon's parts, and swapping in a new rule
 * set whole (reload). Shared by main.c and the protocol's `reload`. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include "tr_checkpoint.h"
#include "tr_daemon.h"
#include "tr_flusher.h"
#include "tr_fs.h"
#include "tr_log.h"
#include "tr_time.h"

int tr_daemon_open(struct tr_daemon *d, uv_loop_t *loop, struct tr_errors *errs)
{
	d->loop = loop;
	d->started_at = tr_time_now();
	int rc = tr_mkdirs(d->cfg.state_dir, 0750);
	if (rc) {
		tr_errors_add(errs, d->cfg.state_dir, 0, 0, "state_dir", "cannot create: %s", strerror(-rc));
		return rc;
	}
	char err[512];
	rc = tr_store_open(d->cfg.db_path, d->cfg.durability, &d->store, err, sizeof(err));
	if (rc == 0 && (rc = tr_store_wal_limit(d->store, tr_checkpoint_wal_file_bytes(&d->cfg))) != 0)
		snprintf(err, sizeof(err), "cannot set the WAL size limit: %s", tr_store_errmsg(d->store));
	if (rc) {
		tr_errors_add(errs, d->cfg.db_path, 0, 0, NULL, "%s", err);
		return rc;
	}
	rc = tr_engine_load(d->cfg.rules_dir, &d->cfg, &d->engine, errs);
	if (rc)
		return rc;
	rc = tr_ingest_open(&d->ingest, d->cfg.state_dir, d->store, d->engine);
	if (rc)
		tr_errors_add(errs, d->cfg.state_dir, 0, 0, NULL, "cannot set up the in-flight marker: %s",
			      tr_strerror(rc));
	return rc;
}

void tr_daemon_close(struct tr_daemon *d)
{
	tr_ingest_close(&d->ingest);
	tr_engine_free(d->engine);
	d->engine = NULL;
	tr_store_close(d->store);
	d->store = NULL;
}

void tr_daemon_start_flusher(struct tr_daemon *d, void (*on_flushed)(void *d))
{
	if (d->cfg.durability != TR_DURABILITY_FULL)
		return;
	char wal[4200];
	snprintf(wal, sizeof(wal), "%s-wal", d->cfg.db_path);
	int rc = tr_flusher_start(d->loop, wal, on_flushed, d, &d->flusher);
	if (rc == 0 && tr_store_set_synchronous(d->store, 0) != 0) {
		tr_flusher_close(d->flusher);
		d->flusher = NULL;
		rc = TR_ESTORE;
	}
	if (rc)
		log_warnx("cannot flush %s off the event loop (%s); every commit waits for the disk", wal,
			  tr_strerror(rc));
	else
		tr_daemon_committed(d); /* commits so far were synchronous: one flush says so */
}

void tr_daemon_committed(struct tr_daemon *d)
{
	if (d->flusher)
		tr_flusher_request(d->flusher, d->ingest.txn.commits);
}

int tr_daemon_durable(const struct tr_daemon *d, uint64_t commit)
{
	return !d->flusher || commit <= tr_flusher_flushed(d->flusher);
}

void tr_daemon_stop_flusher(struct tr_daemon *d)
{
	if (!d->flusher)
		return;
	/* a commit made after this (none is expected once the parts are
	 * closed) waits for the disk itself */
	if (tr_store_set_synchronous(d->store, 1) != 0)
		log_errx("store: cannot make commits synchronous again: %s", tr_store_errmsg(d->store));
	tr_flusher_close(d->flusher); /* its last report still reads d->flusher */
	d->flusher = NULL;
}
