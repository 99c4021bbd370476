/* The daemon's parts in one table, in start order: what each does when the
 * daemon starts, when a commit is made, when it is durable, when writes go
 * on after a checkpoint's held pass, when `stats` asks, when it drains on
 * SIGTERM and when it is freed. main.c and the lower files (checkpoint,
 * protocol) go through the table, never through a part by name; a new part
 * is one row. Not the parts themselves, nor reload (reload.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include "tr_wal_checkpoint.h"
#include "tr_daemon.h"
#include "tr_wal_flusher.h"
#include "tr_fs.h"
#include "tr_log.h"
#include "tr_outputs.h"
#include "tr_silences.h"
#include "tr_protocol.h"
#include "tr_rule_names.h"
#include "tr_server.h"
#include "tr_spool.h"
#include "tr_time.h"
#include "tr_timers.h"
#include "tr_recount.h"
#include "tr_watch.h"
#include "tr_views.h"

/* ---- the store, the rules and the ingest pipeline ---- */

static int store_start(struct tr_daemon *d, struct tr_errors *errs)
{
	int rc = tr_mkdirs(d->cfg.state_dir, 0750);
	if (rc) {
		tr_errors_add(errs, d->cfg.state_dir, 0, 0, "state_dir", "cannot create: %s", strerror(-rc));
		return rc;
	}
	char err[512];
	rc = tr_store_open(d->cfg.db_path, d->cfg.durability, &d->store, err, sizeof(err));
	if (rc == 0 && (rc = tr_store_wal_limit(d->store, tr_checkpoint_wal_file_bytes(&d->cfg))) != 0)
		snprintf(err, sizeof(err), "cannot set the WAL size limit: %s", tr_store_errmsg(d->store));
	if (rc)
		tr_errors_add(errs, d->cfg.db_path, 0, 0, NULL, "%s", err);
	return rc;
}

static void store_free(struct tr_daemon *d)
{
	tr_store_close(d->store);
	d->store = NULL;
}

static int rules_start(struct tr_daemon *d, struct tr_errors *errs)
{
	int rc = tr_engine_load(d->cfg.rules_dir, &d->cfg, &d->engine, errs);
	if (rc == 0) /* SPEC §3: what the rules fall back from is said at start too */
		tr_rule_names_log(tr_engine_warnings(d->engine), "start");
	return rc;
}

static void rules_free(struct tr_daemon *d)
{
	tr_engine_free(d->engine);
	d->engine = NULL;
}

static void after_commit(void *ud);

static int ingest_start(struct tr_daemon *d, struct tr_errors *errs)
{
	int rc = tr_ingest_open(&d->ingest, d->cfg.state_dir, d->store, d->engine);
	if (rc)
		tr_errors_add(errs, d->cfg.state_dir, 0, 0, NULL, "cannot set up the in-flight marker: %s",
			      tr_strerror(rc));
	return rc;
}

static void ingest_free(struct tr_daemon *d)
{
	tr_ingest_close(&d->ingest);
}

/* ---- the socket, the spool, timers and outputs ---- */

static int server_start(struct tr_daemon *d, struct tr_errors *errs)
{
	(void)errs; /* it logs its own failure with the path */
	return tr_server_start(d, &d->server);
}

static void server_resume(struct tr_daemon *d) { tr_server_resume(d->server); }
static void server_flushed(struct tr_daemon *d) { tr_server_flushed(d->server); }
static void server_close(struct tr_daemon *d) { tr_server_close(d->server); }
static void server_free(struct tr_daemon *d) { tr_server_free(d->server); }

static void server_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer)
{
	(void)answer;
	struct tr_server_stats ss = {0};
	tr_server_get_stats(d->server, &ss);
	cJSON_AddNumberToObject(stats, "clients", ss.clients);
	cJSON_AddNumberToObject(stats, "pending_events", (double)ss.pending_events);
	cJSON_AddNumberToObject(stats, "busy_answers", (double)ss.busy_answers);
	cJSON_AddNumberToObject(stats, "watchers", (double)ss.watchers);
	cJSON_AddNumberToObject(stats, "watchers_dropped", (double)ss.watchers_dropped);
	if (ss.ingest_answer.n) {
		/* the daemon's own time to answer the last ingests (tr_latency.h) */
		cJSON *a = cJSON_AddObjectToObject(stats, "ingest_answer_ms");
		cJSON_AddNumberToObject(a, "last", (double)ss.ingest_answer.n);
		cJSON_AddNumberToObject(a, "p50", ss.ingest_answer.p50_ms);
		cJSON_AddNumberToObject(a, "p99", ss.ingest_answer.p99_ms);
		cJSON_AddNumberToObject(a, "max", ss.ingest_answer.max_ms);
	}
}

static int spool_start(struct tr_daemon *d, struct tr_errors *errs)
{
	(void)errs;
	return tr_spool_start(d, &d->spool);
}

static void spool_resume(struct tr_daemon *d) { tr_spool_resume(d->spool); }
static void spool_flushed(struct tr_daemon *d) { tr_spool_flushed(d->spool); }
static void spool_close(struct tr_daemon *d) { tr_spool_close(d->spool); }
static void spool_free(struct tr_daemon *d) { tr_spool_free(d->spool); }

static void spool_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer)
{
	(void)stats;
	cJSON_AddItemToObject(answer, "spool", tr_spool_status(d->spool));
}

static int timers_start(struct tr_daemon *d, struct tr_errors *errs)
{
	(void)errs;
	return tr_timers_start(d, &d->timers);
}

static void timers_committed(struct tr_daemon *d) { tr_timers_poke(d->timers); }
static void timers_resume(struct tr_daemon *d) { tr_timers_resume(d->timers); }
static void timers_close(struct tr_daemon *d) { tr_timers_close(d->timers); }
static void timers_free(struct tr_daemon *d) { tr_timers_free(d->timers); }

static int outputs_start(struct tr_daemon *d, struct tr_errors *errs)
{
	(void)errs;
	/* SPEC §6 watch: a notification to the "watch" output reaches the
	 * watchers through the stream (watch.c), as every notification does;
	 * delivering it only marks it done. */
	return tr_outputs_start(d, &d->outputs);
}

static void outputs_flushed(struct tr_daemon *d) { tr_outputs_poke(d->outputs); }
static void outputs_resume(struct tr_daemon *d) { tr_outputs_resume(d->outputs); }
static void outputs_close(struct tr_daemon *d) { tr_outputs_close(d->outputs); }
static void outputs_free(struct tr_daemon *d) { tr_outputs_free(d->outputs); }
/* each output's deliveries, and the health they imply (views_outbox.c) */
static void outputs_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer)
{
	(void)answer;
	tr_view_outputs_stats(d->outputs, stats);
}

/* ---- the live stream (SPEC §6 watch): every notification and change ---- */

static int watch_start(struct tr_daemon *d, struct tr_errors *errs)
{
	int rc = tr_watch_start(d, &d->watch);
	if (rc) {
		tr_errors_add(errs, d->cfg.state_dir, 0, 0, NULL, "cannot start the watch stream: %s",
			      tr_strerror(rc));
		return rc;
	}
	struct tr_watch_sink socket = {.listeners = tr_server_watchers, .send = tr_server_broadcast,
				       .flush = tr_server_watch_flush, .ud = d->server};
	tr_watch_add_sink(d->watch, &socket);
	tr_server_on_watch(d->server, tr_watch_join, d->watch);
	return 0;
}

static void watch_flushed(struct tr_daemon *d) { tr_watch_poke(d->watch); }
static void watch_close(struct tr_daemon *d) { tr_watch_close(d->watch); }

static void watch_free(struct tr_daemon *d)
{
	tr_watch_free(d->watch);
	d->watch = NULL;
}

static void watch_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer)
{
	(void)answer;
	cJSON_AddNumberToObject(stats, "watch_lines", (double)tr_watch_lines(d->watch));
}

/* ---- durability: the WAL flusher ---- */

static void after_flush(void *ud);

/* SPEC §3 acknowledged means durable. Under durability full, flushes the
 * WAL off the loop thread and makes commits write it without waiting for
 * the disk (tr_wal_flusher.h). When the flusher cannot start, commits stay
 * synchronous and the log says why: the daemon still runs. */
static int flusher_start(struct tr_daemon *d, struct tr_errors *errs)
{
	(void)errs;
	d->ingest.txn.on_commit = after_commit;
	d->ingest.txn.on_commit_ud = d;
	if (d->cfg.durability != TR_DURABILITY_FULL)
		return 0;
	char wal[4200];
	snprintf(wal, sizeof(wal), "%s-wal", d->cfg.db_path);
	int rc = tr_flusher_start(d->loop, wal, after_flush, d, &d->flusher);
	if (rc == 0 && tr_store_set_synchronous(d->store, 0) != 0) {
		tr_flusher_close(d->flusher);
		d->flusher = NULL;
		rc = TR_ESTORE;
	}
	if (rc)
		log_warnx("cannot flush %s off the event loop (%s); every commit waits for the disk", wal,
			  tr_strerror(rc));
	else
		tr_flusher_request(d->flusher, d->ingest.txn.commits); /* commits so far were synchronous */
	return 0;
}

/* Flushes what is pending (the flushed hooks run for it), stops the
 * flusher, and makes later commits synchronous again. */
static void flusher_close(struct tr_daemon *d)
{
	if (!d->flusher)
		return;
	if (tr_store_set_synchronous(d->store, 1) != 0)
		log_errx("store: cannot make commits synchronous again: %s", tr_store_errmsg(d->store));
	tr_flusher_close(d->flusher); /* its last report still reads d->flusher */
	d->flusher = NULL;
}

static void flusher_free(struct tr_daemon *d)
{
	d->ingest.txn.on_commit = NULL;
}

static void flusher_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer)
{
	(void)answer;
	if (!d->flusher)
		return;
	/* durability full: how the disk keeps up (tr_wal_flusher.h) */
	struct tr_flusher_stats fs;
	tr_flusher_get_stats(d->flusher, &fs);
	cJSON_AddNumberToObject(stats, "wal_flushes", (double)fs.flushes);
	cJSON_AddNumberToObject(stats, "wal_flush_mean_ms", fs.flushes ? fs.total_us / 1e3 / (double)fs.flushes : 0);
	cJSON_AddNumberToObject(stats, "wal_flush_max_ms", fs.max_us / 1e3);
}

/* The table. Start runs top to bottom and stops at the first failure; close
 * (SIGTERM: stop taking work and drain) runs top to bottom, so the socket
 * stops first and the flusher writes out the last commits after the
 * others; free runs bottom to top. */
static const struct tr_part parts[] = {
	{.name = "store", .start = store_start, .free = store_free},
	{.name = "rules", .start = rules_start, .free = rules_free},
	{.name = "ingest", .start = ingest_start, .free = ingest_free},
	{.name = "server", .start = server_start, .resume = server_resume, .flushed = server_flushed,
	 .stats = server_stats, .close = server_close, .free = server_free},
	{.name = "spool", .start = spool_start, .resume = spool_resume, .flushed = spool_flushed,
	 .stats = spool_stats, .close = spool_close, .free = spool_free},
	{.name = "timers", .start = timers_start, .committed = timers_committed, .resume = timers_resume,
	 .close = timers_close, .free = timers_free},
	/* after the timers, which a recount's slice pokes */
	{.name = "recount", .start = tr_recount_start, .close = tr_recount_close, .free = tr_recount_free},
	/* before outputs: their first pass asks it what to hold */
	{.name = "silences", .start = tr_silences_start, .stats = tr_silences_stats, .free = tr_silences_free},
	{.name = "outputs", .start = outputs_start, .resume = outputs_resume, .flushed = outputs_flushed,
	 .stats = outputs_stats, .close = outputs_close, .free = outputs_free},
	/* after the server (its sink) and the writers; flushed: what a
	 * durable commit added streams to the watchers */
	{.name = "watch", .start = watch_start, .flushed = watch_flushed, .stats = watch_stats,
	 .close = watch_close, .free = watch_free},
	{.name = "flusher", .start = flusher_start, .stats = flusher_stats, .close = flusher_close,
	 .free = flusher_free},
	{.name = NULL},
};

/* SPEC §3 acknowledged means durable: once a commit is on disk, what
 * waited for it goes: answers, a file's move, new notifications (under
 * durability full, those of a commit made while the flush ran may go with
 * them). */
static void after_flush(void *ud)
{
	struct tr_daemon *d = ud;
	for (const struct tr_part *p = d->parts; p && p->name; p++)
		if (p->flushed)
			p->flushed(d);
}

/* After every commit: new timers are looked at, the flush that covers it is
 * asked for (or, with no flusher, it is durable now), and a checkpoint may
 * start. */
static void after_commit(void *ud)
{
	struct tr_daemon *d = ud;
	if (d->flusher)
		tr_flusher_request(d->flusher, d->ingest.txn.commits);
	for (const struct tr_part *p = d->parts; p->name; p++)
		if (p->committed)
			p->committed(d);
	if (!d->flusher)
		after_flush(d);
	tr_checkpoint_maybe(d);
}

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

int tr_daemon_start(struct tr_daemon *d, uv_loop_t *loop, struct tr_errors *errs)
{
	d->loop = loop;
	d->started_at = tr_time_now();
	d->parts = parts;
	int rc = 0;
	for (d->started = 0; parts[d->started].name; d->started++)
		if ((rc = parts[d->started].start(d, errs)) != 0)
			break;
	if (rc == 0)
		return 0;
	/* Undo what started: close (joins threads, removes the socket), let
	 * every handle's close callback run, then free. */
	tr_daemon_drain(d);
	uv_walk(loop, close_handle, NULL);
	uv_run(loop, UV_RUN_DEFAULT);
	tr_daemon_free(d);
	return rc;
}

void tr_daemon_drain(struct tr_daemon *d)
{
	for (size_t i = 0; i < d->started; i++)
		if (parts[i].close)
			parts[i].close(d);
}

void tr_daemon_free(struct tr_daemon *d)
{
	while (d->started > 0) {
		const struct tr_part *p = &parts[--d->started];
		if (p->free)
			p->free(d);
	}
	d->parts = NULL;
}
