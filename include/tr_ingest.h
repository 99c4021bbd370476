/* The ingest pipeline shared by the socket and the spool: store the event
 * (dedup on type and id), run it through the rules, all inside the loop's
 * write transaction (tr_txn.h: group commit); and the poison-pill marker
 * that lets a restart quarantine an event whose rules killed or hung the
 * process (SPEC §3). Not the transaction itself: its begin, commit and
 * abort are tr_txn_*. */
#ifndef TR_INGEST_H
#define TR_INGEST_H

#include <stdint.h>
#include "tr_engine.h"
#include "tr_event.h"
#include "tr_event_counts.h"
#include "tr_store.h"
#include "tr_txn.h"

struct tr_ingest {
	struct tr_store *store;    /* borrowed */
	struct tr_engine *engine;  /* borrowed; swapped whole on reload */
	char *marker;              /* mmap'd page in the state folder, or NULL */
	/* The loop's write transaction, set up by tr_ingest_open on store; the
	 * daemon's other writers (outputs, spool, timers, the protocol) use it
	 * too. Its on_end hook is the ingest's: leave it; on_commit is free. */
	struct tr_txn txn;
	/* work of the open transaction, counted into the totals once it commits */
	uint64_t batch_accepted, batch_duplicates, batch_rule_errors, batch_quarantined;
	/* totals of committed work */
	uint64_t accepted, duplicates, rejected, rule_errors, quarantined;
	/* accepted events by type and source, for `metrics` (committed only) */
	struct tr_event_counts by_type;
};

/* Sets up ig->txn on store, and the marker file <state_dir>/inflight. If it
 * names an event (the last run died inside its rules), quarantines that
 * event first. Returns 0 or a negative errno. */
int tr_ingest_open(struct tr_ingest *ig, const char *state_dir, struct tr_store *store,
		   struct tr_engine *engine);
/* Rolls back a transaction still open, unmaps the marker. */
void tr_ingest_close(struct tr_ingest *ig);

/* Stores ev and dispatches it. Returns 0 (accepted, ev->seq set), TR_EDUP
 * (acknowledged as a duplicate, no rule ran), or a store error, after which
 * the whole open transaction is doomed (tr_txn_fail): tr_txn_commit will
 * roll it back and fail. Opens the transaction if needed. */
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

#endif
