/* The running daemon's parts, shared by main.c, the socket server and the
 * protocol: configuration, store, rule set, ingest pipeline, loop. Owned by
 * main.c, which frees them in reverse order at exit. */
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
struct tr_flusher;

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
	/* durability full: flushes the WAL off the loop thread; NULL under
	 * normal, and when commits are synchronous (see tr_daemon_durable) */
	struct tr_flusher *flusher;
	int64_t started_at;
	uint64_t requests, rejected_events;
	int stopping;
	/* A checkpoint's last pass is running: the loop starts no write
	 * transaction until it ends, so that it copies the whole WAL and the
	 * WAL starts over (see tr_checkpoint.h). Reads and pings go on. */
	int writes_paused;
};

/* Opens the parts in order (state folder, store, rules, ingest with its
 * poison-pill check), after d->cfg is loaded. Every problem is appended to
 * errs. Returns 0, or an error with d closable. */
int tr_daemon_open(struct tr_daemon *d, uv_loop_t *loop, struct tr_errors *errs);
/* Frees what tr_daemon_open made (not d->cfg). */
void tr_daemon_close(struct tr_daemon *d);
/* SPEC §3 acknowledged means durable. Under durability full, starts the
 * WAL flusher and makes commits write the WAL without waiting for the disk
 * (tr_flusher.h); on_flushed(d) runs on the loop thread after each flush.
 * When the flusher cannot start, commits stay synchronous and this says
 * why in the log. */
void tr_daemon_start_flusher(struct tr_daemon *d, void (*on_flushed)(void *d));
/* After a commit: asks for the flush that covers it. */
void tr_daemon_committed(struct tr_daemon *d);
/* True once commit number commit (d->ingest.txn.commits after it) is on disk,
 * as durability promises: at once under normal or synchronous commits. */
int tr_daemon_durable(const struct tr_daemon *d, uint64_t commit);
/* Flushes what is pending (on_flushed runs for it), stops the flusher,
 * and makes later commits synchronous again. */
void tr_daemon_stop_flusher(struct tr_daemon *d);

#endif
