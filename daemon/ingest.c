/* The ingest pipeline: dedup, store, dispatch, in the loop's write
 * transaction, shared by many events (group commit; tr_txn.h owns it); the
 * counts of what committed; and the poison-pill marker: before an event's
 * rules run, its (type, id) is written to a page mapped from a file, which
 * survives the death of the process without a syscall per event. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "tr_error.h"
#include "tr_ingest.h"
#include "tr_log.h"
#include "tr_time.h"

#define MARKER_SIZE 4096

static void marker_set(struct tr_ingest *ig, const struct tr_event *ev)
{
	if (ig->marker)
		snprintf(ig->marker, MARKER_SIZE, "%s\t%s", ev->type, ev->id);
}

static void marker_clear(struct tr_ingest *ig)
{
	if (ig->marker)
		ig->marker[0] = 0;
}

/* SPEC §3 poison pill: an event named by the marker at start-up was being
 * run by the rules when the process died or was killed for hanging. Once
 * may be chance (an operator's SIGKILL, a power cut); the second time it is
 * the event, and it is quarantined, so a crash never repeats in a loop. */
#define SUSPECT_LIMIT 2

static int quarantine_marked(struct tr_ingest *ig)
{
	char *tab = memchr(ig->marker, '\t', MARKER_SIZE);
	if (!ig->marker[0] || !tab || !memchr(ig->marker, 0, MARKER_SIZE))
		return 0;
	*tab = 0;
	const char *type = ig->marker, *id = tab + 1;
	int64_t count = 0, now = tr_time_now();
	int rc = tr_store_begin(ig->store);
	if (rc == 0)
		rc = tr_store_suspect_add(ig->store, type, id, now, &count);
	if (rc == 0 && count >= SUSPECT_LIMIT)
		rc = tr_store_quarantine_add(ig->store, type, id,
					     "the daemon died or hung while running this event's rules", now);
	if (rc == 0)
		rc = tr_store_commit(ig->store);
	else
		tr_store_rollback(ig->store);
	if (count >= SUSPECT_LIMIT)
		log_warnx("event %s %s was being processed when triaged stopped unexpectedly, %lld times; "
			  "it is quarantined and its rules will not run again", type, id, (long long)count);
	else
		log_warnx("event %s %s was being processed when triaged stopped unexpectedly; "
			  "if that happens again with it, it will be quarantined", type, id);
	marker_clear(ig);
	return rc;
}

/* The transaction's end hook: what an open transaction counted joins the
 * totals once it commits, and is dropped when it rolls back. */
static void batch_end(void *ud, int committed)
{
	struct tr_ingest *ig = ud;
	if (committed) {
		ig->accepted += ig->batch_accepted;
		ig->duplicates += ig->batch_duplicates;
		ig->rule_errors += ig->batch_rule_errors;
		ig->quarantined += ig->batch_quarantined;
	}
	ig->batch_accepted = ig->batch_duplicates = ig->batch_rule_errors = ig->batch_quarantined = 0;
	tr_event_counts_end(&ig->by_type, committed);
}

int tr_ingest_open(struct tr_ingest *ig, const char *state_dir, struct tr_store *store,
		   struct tr_engine *engine)
{
	memset(ig, 0, sizeof(*ig));
	ig->store = store;
	ig->engine = engine;
	tr_txn_init(&ig->txn, store);
	ig->txn.on_end = batch_end;
	ig->txn.on_end_ud = ig;
	char path[4096];
	snprintf(path, sizeof(path), "%s/inflight", state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || ftruncate(fd, MARKER_SIZE) < 0) {
		int err = -errno;
		log_warn("cannot set up %s", path);
		if (fd >= 0)
			close(fd);
		return err;
	}
	void *p = mmap(NULL, MARKER_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED) {
		log_warn("cannot map %s", path);
		return -errno;
	}
	ig->marker = p;
	return quarantine_marked(ig);
}

void tr_ingest_close(struct tr_ingest *ig)
{
	if (ig->txn.open)
		tr_txn_abort(&ig->txn);
	if (ig->marker)
		munmap(ig->marker, MARKER_SIZE);
	ig->marker = NULL;
	tr_event_counts_free(&ig->by_type);
}

int tr_ingest_event(struct tr_ingest *ig, struct tr_event *ev, int64_t now)
{
	if (ig->txn.doomed)
		return TR_ESTORE;
	int rc = tr_txn_begin(&ig->txn);
	if (rc == 0)
		rc = tr_store_event_insert(ig->store, ev);
	if (rc == TR_EDUP) {
		ig->batch_duplicates++;
		return rc;
	}
	struct tr_dispatch d = {0};
	if (rc == 0) {
		marker_set(ig, ev);
		rc = tr_engine_dispatch(ig->engine, ig->store, ev, now, &d);
		marker_clear(ig);
	}
	if (rc) {
		log_errx("event %s %s: %s", ev->type, ev->id, tr_store_errmsg(ig->store));
		tr_txn_fail(&ig->txn, rc);
		return rc;
	}
	ig->batch_accepted++;
	(void)tr_event_counts_add(&ig->by_type, ev->type, ev->source); /* -ENOMEM: one count short, never a failed event */
	ig->batch_rule_errors += (uint64_t)d.errors;
	ig->batch_quarantined += (uint64_t)d.quarantined;
	return 0;
}

int tr_ingest_retry(struct tr_ingest *ig, const struct tr_failed_outcome *o, int64_t now, const char **result,
		    char *err, size_t errlen)
{
	*result = "not_retried";
	err[0] = 0;
	if (ig->txn.doomed)
		return TR_ESTORE;
	int rc = tr_txn_begin(&ig->txn);
	if (rc)
		return rc;
	struct tr_event ev;
	rc = tr_store_event_get(ig->store, o->event_seq, &ev, err, errlen);
	if (rc) {
		if (rc == TR_ESTORE)
			tr_txn_fail(&ig->txn, rc);
		return rc == TR_ESTORE ? rc : 0; /* an event that cannot be rebuilt stays as it is */
	}
	struct tr_dispatch d = {0};
	marker_set(ig, &ev);
	rc = tr_engine_retry(ig->engine, ig->store, &ev, o->rule, now, &d);
	marker_clear(ig);
	if (rc == -ENOENT) {
		snprintf(err, errlen, "no rule named %s is loaded", o->rule);
		rc = 0;
	} else if (rc == 0) {
		*result = d.errors ? "error" : d.matched ? "ok" : "skipped";
		if (!d.matched && !d.errors)
			snprintf(err, errlen, "rule %s no longer matches this event", o->rule);
		rc = tr_store_outcome_retried(ig->store, o->id);
		ig->batch_rule_errors += (uint64_t)d.errors;
	}
	tr_event_free(&ev);
	if (rc) {
		log_errx("retry of outcome %lld: %s", (long long)o->id, tr_store_errmsg(ig->store));
		tr_txn_fail(&ig->txn, rc);
	}
	return rc;
}
