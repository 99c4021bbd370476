/* The loop's one write transaction: every write the daemon makes (a group
 * of ingests, a ticket update, a step of a dropped file, a slice of timers,
 * the outbox's deliveries) goes through it, so that there is one commit
 * count, one record of commit health and one place that says "this
 * committed" to whoever waits for it. Not what is written (the ingest, the
 * spool, the timers... do that inside it), nor when commits are durable
 * (tr_daemon_durable, the flusher). Loop thread only. */
#ifndef TR_TXN_H
#define TR_TXN_H

#include <stdint.h>
#include "tr_histogram.h"
#include "tr_store.h"

/* SPEC §6 stats: whether commits are failing now (a full disk, I/O errors),
 * so that `status` says so while it lasts, not only the log. */
struct tr_commit_health {
	uint64_t failing;          /* failed commits in a row; 0 once one succeeds */
	uint64_t failures;         /* failed commits since start */
	int64_t failing_since;     /* when the current run of failures began; 0 when none */
	int64_t last_failed_at;    /* the last failure; 0 when there was none */
	char last_error[256];      /* SQLite's message for it ("database or disk is full") */
};

struct tr_txn {
	struct tr_store *store;    /* borrowed */
	int open;                  /* a transaction is open */
	int doomed;                /* a failure doomed it (tr_txn_fail): commit rolls back */
	char doomed_why[256];      /* SQLite's message when it did (later ones are
	                            * about the rollback, not the cause) */
	uint64_t commits;          /* successful commits so far (tr_daemon_durable) */
	struct tr_commit_health health;
	/* how long SQLite's COMMITs took (succeeded or not), for `metrics`:
	 * under durability full without the flusher's thread, the disk's
	 * flush is in it; with the flusher, that is tr_flusher_stats */
	struct tr_histogram commit_seconds;
	/* At the end of every transaction, committed (1) or rolled back (0),
	 * before on_commit: the ingest folds its batch counters into its
	 * totals, or drops them. May be NULL. */
	void (*on_end)(void *ud, int committed);
	void *on_end_ud;
	/* After every successful commit (timers and outputs look at what it
	 * added, the flusher is asked for it). May be NULL. */
	void (*on_commit)(void *ud);
	void *on_commit_ud;
};

/* Sets txn up on store (borrowed; it must outlive txn), none open, no
 * hooks, counts at zero. */
void tr_txn_init(struct tr_txn *txn, struct tr_store *store);
/* Opens the transaction if none is open (an open one is joined: group
 * commit). Returns 0 or TR_ESTORE; nothing is open after a failure. */
int tr_txn_begin(struct tr_txn *txn);
/* Dooms the open transaction after a failure rc of some write in it: its
 * cause is kept now, while SQLite still has it (TR_ESTORE), or
 * tr_strerror(rc). The first cause is kept; tr_txn_commit then rolls
 * back and fails with TR_ESTORE. */
void tr_txn_fail(struct tr_txn *txn, int rc);
/* SPEC §3 acknowledged means durable: commits the open transaction (0 at
 * once when none is open). On success counts it, runs on_end(1), then
 * on_commit. On failure (doomed, or SQLite's commit failed) rolls back,
 * so nothing of it remains, logs why, runs on_end(0), and returns the
 * error. Either way txn->health records it. */
int tr_txn_commit(struct tr_txn *txn);
/* Rolls the open transaction back (also one SQLite ended itself) and
 * clears the doom; runs on_end(0). Safe when none is open. */
void tr_txn_abort(struct tr_txn *txn);
/* Runs fn(ud) inside the transaction: begins (joining an open one), then
 * commits if fn returned 0, else aborts. Returns the begin's error (fn not
 * called), fn's error, or the commit's; 0 when all of it committed. ud
 * stays the caller's on both outcomes; what fn wrote is kept only on 0. */
int tr_txn_run(struct tr_txn *txn, int (*fn)(void *ud), void *ud);

#endif
