/* The running daemon: its configuration, loop and parts (store, rule set,
 * ingest pipeline, socket, spool, timers, outputs, WAL flusher), shared by
 * every part, and the table of parts' hooks (daemon.c). Owned by main.c. */
#ifndef TR_DAEMON_H
#define TR_DAEMON_H

#include <stdint.h>
#include <uv.h>
#include "tr_config.h"
#include "tr_engine.h"
#include "tr_ingest.h"
#include "tr_store.h"

struct tr_server;
struct tr_spool;
struct tr_timers;
struct tr_outputs;
struct tr_watch;
struct tr_silences;
struct tr_flusher;
struct tr_part;

struct tr_daemon {
	struct tr_config cfg;
	struct tr_store *store;
	struct tr_engine *engine;
	struct tr_ingest ingest;
	uv_loop_t *loop;
	struct tr_server *server;
	struct tr_spool *spool;
	struct tr_timers *timers;
	struct tr_outputs *outputs;
	struct tr_watch *watch;       /* SPEC §6 watch: the live stream (tr_watch.h) */
	struct tr_recount *recount;   /* SPEC §3: a calendar's change recounted (tr_recount.h) */
	struct tr_silences *silences; /* SPEC §6 silence: what holds notifications (tr_silences.h) */
	/* durability full: flushes the WAL off the loop thread; NULL under
	 * normal, and when commits are synchronous (see tr_daemon_durable) */
	struct tr_flusher *flusher;
	int64_t started_at;
	uint64_t requests, rejected_events;
	int stopping;
	/* A checkpoint's last pass is running: the loop starts no write
	 * transaction until it ends, so that it copies the whole WAL and the
	 * WAL starts over (see tr_wal_checkpoint.h). Reads and pings go on. */
	int writes_paused;
	const struct tr_part *parts; /* daemon.c's table, once started */
	size_t started;              /* parts started so far */
};

/* One part of the running daemon (daemon.c holds the table): what it does
 * at each moment of the daemon's life. Every hook but start may be NULL. */
struct tr_part {
	const char *name;
	/* In table order at start-up; problems go to errs. 0 or an error. */
	int (*start)(struct tr_daemon *d, struct tr_errors *errs);
	/* After every commit (new timers to look at). */
	void (*committed)(struct tr_daemon *d);
	/* A commit is durable: what waited for it goes (answers, file moves). */
	void (*flushed)(struct tr_daemon *d);
	/* A checkpoint's held pass ended: writes may go on (see writes_paused). */
	void (*resume)(struct tr_daemon *d);
	/* `stats`: adds to the stats object, or a member of the answer. */
	void (*stats)(struct tr_daemon *d, cJSON *stats, cJSON *answer);
	/* SIGTERM: stop taking work, drain what is in hand. */
	void (*close)(struct tr_daemon *d);
	/* After the loop ended, in reverse table order. */
	void (*free)(struct tr_daemon *d);
};

/* Starts every part in table order (state folder, store, rules, ingest with
 * its poison-pill check, socket, spool, timers, outputs, WAL flusher),
 * after d->cfg is loaded. Every problem is appended to errs. Returns 0, or
 * an error after undoing what started (the loop is run until the handles
 * closed; d->cfg stays the caller's). */
int tr_daemon_start(struct tr_daemon *d, uv_loop_t *loop, struct tr_errors *errs);
/* SPEC §8 SIGTERM: each part stops taking work and drains; the loop ends
 * once the last answers are written. */
void tr_daemon_drain(struct tr_daemon *d);
/* Frees the parts after the loop ended (not d->cfg). */
void tr_daemon_free(struct tr_daemon *d);

/* For the files below the table, which must not call into it by name: a
 * checkpoint's held pass ended, and the parts' lines of `stats`. */
static inline void tr_parts_resume(struct tr_daemon *d)
{
	d->writes_paused = 0;
	for (const struct tr_part *p = d->parts; p && p->name; p++)
		if (p->resume)
			p->resume(d);
}

static inline void tr_parts_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer)
{
	for (const struct tr_part *p = d->parts; p && p->name; p++)
		if (p->stats)
			p->stats(d, stats, answer);
}

#endif
