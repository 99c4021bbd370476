/* The ingest pipeline shared by the socket and the spool: store the event
 * (dedup on type and id), run it through the rules, all inside the caller's
 * group-commit transaction; and the poison-pill marker that lets a restart
 * quarantine an event whose rules killed or hung the process (SPEC §3). */
#ifndef TR_INGEST_H
#define TR_INGEST_H

#include <stdint.h>
#include "tr_engine.h"
#include "tr_event.h"
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

struct tr_ingest {
	struct tr_store *store;    /* borrowed */
	struct tr_engine *engine;  /* borrowed; swapped whole on reload */
	char *marker;              /* mmap'd page in the state folder, or NULL */
	int in_transaction;
	int failed;                /* a store error doomed the open transaction */
	char failed_why[256];      /* SQLite's message when it did (later ones are
	                            * about the rollback, not the cause) */
	/* called after every successful commit (timers and outputs look at
	 * what it added); may be NULL */
	void (*on_commit)(void *ud);
	void *on_commit_ud;
	uint64_t batch_accepted, batch_duplicates, batch_rule_errors, batch_quarantined;
	uint64_t commits;          /* successful commits so far (tr_daemon_durable) */
	/* totals of committed work */
	uint64_t accepted, duplicates, rejected, rule_errors, quarantined;
	struct tr_commit_health health;
};

/* Sets up the marker file <state_dir>/inflight. If it names an event (the
 * last run died inside its rules), quarantines that event first. Returns 0
 * or a negative errno. */
int tr_ingest_open(struct tr_ingest *ig, const char *state_dir, struct tr_store *store,
		   struct tr_engine *engine);
void tr_ingest_close(struct tr_ingest *ig);

/* Opens the group-commit transaction if none is open. */
int tr_ingest_begin(struct tr_ingest *ig);
/* Stores ev and dispatches it. Returns 0 (accepted, ev->seq set), TR_EDUP
 * (acknowledged as a duplicate, no rule ran), or a store error, after which
 * the whole open transaction is doomed: tr_ingest_commit will roll it back
 * and fail. Opens the transaction if needed. */
int tr_ingest_event(struct tr_ingest *ig, struct tr_event *ev, int64_t now);
/* SPEC §3 retry: re-runs the failed outcome o (its rule, on its stored
 * event) and marks it retried, in the open transaction, under the
 * poison-pill marker. *result is "ok", "error" (failed again: a new error
 * outcome), "skipped" (the rule no longer matches the event) or
 * "not_retried" (no loaded rule has that name, or the stored event cannot
 * be rebuilt: nothing changes); err gets the reason for the last two. Returns 0 or a store error (the
 * transaction is then doomed, as after tr_ingest_event). */
int tr_ingest_retry(struct tr_ingest *ig, const struct tr_failed_outcome *o, int64_t now, const char **result,
		    char *err, size_t errlen);
/* SPEC §3 acknowledged means durable: commit, after which answers may go.
 * Returns 0, or an error when the transaction failed (it is rolled back and
 * nothing of it remains). Either way ig->health records it. */
int tr_ingest_commit(struct tr_ingest *ig);
void tr_ingest_abort(struct tr_ingest *ig);

#endif
