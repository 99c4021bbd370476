/* The loop's one write transaction (tr_txn.h): begin, commit or roll back,
 * the commit count and health, and the hooks that learn how it ended. It
 * holds no rows and knows nothing of events, files or timers: those are
 * written inside it by their own modules. */
#include <stdio.h>
#include <string.h>
#include "tr_error.h"
#include "tr_log.h"
#include "tr_time.h"
#include "tr_txn.h"

void tr_txn_init(struct tr_txn *txn, struct tr_store *store)
{
	memset(txn, 0, sizeof(*txn));
	txn->store = store;
}

int tr_txn_begin(struct tr_txn *txn)
{
	if (txn->open)
		return 0;
	int rc = tr_store_begin(txn->store);
	if (rc == 0)
		txn->open = 1;
	return rc;
}

void tr_txn_fail(struct tr_txn *txn, int rc)
{
	if (!txn->doomed)
		snprintf(txn->doomed_why, sizeof(txn->doomed_why), "%s",
			 rc == TR_ESTORE ? tr_store_errmsg(txn->store) : tr_strerror(rc));
	txn->doomed = 1;
}

static void end(struct tr_txn *txn, int committed)
{
	txn->doomed = 0;
	txn->doomed_why[0] = 0;
	txn->open = 0;
	if (txn->on_end)
		txn->on_end(txn->on_end_ud, committed);
}

int tr_txn_commit(struct tr_txn *txn)
{
	/* Doomed with none open: its BEGIN failed. That is a failed commit,
	 * said as one, never a quiet 0 that lets work be answered ok. */
	if (!txn->open && !txn->doomed)
		return 0;
	uint64_t start = tr_mono_us();
	int rc = txn->doomed ? TR_ESTORE : tr_store_commit(txn->store);
	struct tr_commit_health *h = &txn->health;
	if (!txn->doomed)
		tr_histogram_add(&txn->commit_seconds, tr_mono_us() - start);
	if (rc) {
		snprintf(h->last_error, sizeof(h->last_error), "%s",
			 txn->doomed ? txn->doomed_why : tr_store_errmsg(txn->store));
		h->last_failed_at = tr_time_now();
		if (h->failing++ == 0)
			h->failing_since = h->last_failed_at;
		h->failures++;
		log_errx("transaction rolled back: %s (%llu failed commits in a row)", h->last_error,
			 (unsigned long long)h->failing);
		tr_txn_abort(txn);
		return rc;
	}
	if (h->failing) {
		log_info("commits succeed again after %llu failures: %s", (unsigned long long)h->failing,
			 h->last_error);
		h->failing = 0;
		h->failing_since = 0;
	}
	txn->commits++;
	end(txn, 1);
	if (txn->on_commit)
		txn->on_commit(txn->on_commit_ud);
	return 0;
}

void tr_txn_abort(struct tr_txn *txn)
{
	if (txn->open)
		tr_store_rollback(txn->store); /* also when SQLite ended it itself */
	end(txn, 0);
}

int tr_txn_run(struct tr_txn *txn, int (*fn)(void *ud), void *ud)
{
	int rc = tr_txn_begin(txn);
	if (rc == 0)
		rc = fn(ud);
	if (rc == 0)
		return tr_txn_commit(txn);
	tr_txn_abort(txn);
	return rc;
}
