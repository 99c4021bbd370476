/* The outbox (SPEC §5 notify): notifications committed with their event
 * and delivered after (outputs.c), retried, parked when they failed too
 * often or too long, put back (with who asked), then pruned once
 * delivered; and what `status` and `outbox` read of it: each output's
 * pending and parked counts, a page of undelivered rows, and a grouped
 * output's due rows. Not when a row is sent, parked or grouped
 * (outputs.c) nor its JSON (views_outbox.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "store_internal.h"

int tr_store_outbox_park(struct tr_store *s, int64_t id, int64_t now, const char *error)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_PARK);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, error);
	sqlite3_bind_int64(st, 2, now);
	sqlite3_bind_int64(st, 3, id);
	return run(s, st);
}

int tr_store_outbox_defer(struct tr_store *s, int64_t id, int64_t next_at)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_DEFER);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, next_at);
	sqlite3_bind_int64(st, 2, id);
	return run(s, st);
}

int tr_store_outbox_unpark(struct tr_store *s, int64_t id, int64_t now, const char *who, int64_t *n)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_UNPARK);
	*n = 0;
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	bind_text(st, 2, who);
	sqlite3_bind_int64(st, 3, id);
	int rc = run(s, st);
	if (rc == 0) {
		*n = sqlite3_changes(s->db);
		if (*n > 0)
			s->outbox_hint = 1; /* due now: the next commit pokes the outputs */
	}
	return rc;
}

/* Ends a read: a step that is neither a row nor the end is a store error
 * (logged). Resets st. */
static int read_end(struct tr_store *s, sqlite3_stmt *st, int step, int rc)
{
	if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Reads up to limit rows (id, output, payload, attempts, created_at,
 * since) of st, bound by the caller, into out. 0, or an error with
 * nothing kept (*n = 0). */
static int read_rows(struct tr_store *s, sqlite3_stmt *st, int limit, struct tr_notification *out, int *n)
{
	int step = SQLITE_DONE, rc = 0;
	*n = 0;
	while (*n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct tr_notification *x = &out[(*n)++];
		x->id = sqlite3_column_int64(st, 0);
		snprintf(x->output, sizeof(x->output), "%s", (const char *)sqlite3_column_text(st, 1));
		x->payload = column_strdup(st, 2);
		x->attempts = sqlite3_column_int(st, 3);
		x->created_at = sqlite3_column_int64(st, 4);
		x->since = sqlite3_column_int64(st, 5);
		if (!x->payload)
			rc = -ENOMEM;
	}
	rc = read_end(s, st, step, rc);
	if (rc) {
		tr_notifications_free(out, *n);
		*n = 0;
	}
	return rc;
}

int tr_store_outbox_add(struct tr_store *s, const char *output, const char *payload, int64_t now)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_ADD);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	bind_text(st, 2, output);
	bind_text(st, 3, payload);
	sqlite3_bind_int64(st, 4, now);
	int rc = run(s, st);
	if (rc == 0)
		s->outbox_hint = 1;
	return rc;
}

int tr_store_outbox_hint(struct tr_store *s)
{
	int h = s->outbox_hint;
	s->outbox_hint = 0;
	return h;
}

int tr_store_outbox_pending(struct tr_store *s, int64_t now, int limit, struct tr_notification *out, int *n)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_PENDING);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit);
	return read_rows(s, st, limit, out, n);
}

void tr_notifications_free(struct tr_notification *x, int n)
{
	for (int i = 0; i < n; i++) {
		free(x[i].payload);
		x[i].payload = NULL;
	}
}

int tr_store_outbox_done(struct tr_store *s, int64_t id, int64_t now, int64_t prune_before)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_DONE);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, id);
	int rc = run(s, st);
	if (rc == 0 && (st = stmt(s, S_OUTBOX_PRUNE))) {
		sqlite3_bind_int64(st, 1, prune_before);
		rc = run(s, st);
	} else if (rc == 0) {
		rc = TR_ESTORE;
	}
	return rc;
}

int tr_store_outbox_retry(struct tr_store *s, int64_t id, int64_t next_at, const char *error)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_RETRY);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, next_at);
	bind_text(st, 2, error);
	sqlite3_bind_int64(st, 3, id);
	return run(s, st);
}

int tr_store_outbox_next(struct tr_store *s, int64_t *next_at)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_NEXT);
	if (!st)
		return TR_ESTORE;
	int rc = sqlite3_step(st);
	*next_at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : TR_ESTORE;
}

int tr_store_outbox_counts(struct tr_store *s,
			   int (*each)(void *ud, const char *output, int64_t pending, int64_t parked,
				       int64_t oldest_pending_at),
			   void *ud)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_COUNTS);
	if (!st)
		return TR_ESTORE;
	int step, rc = 0;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = each(ud, (const char *)sqlite3_column_text(st, 0), sqlite3_column_int64(st, 1),
			  sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3));
	return read_end(s, st, rc ? SQLITE_DONE : step, rc);
}

static const char *text_or_null(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int tr_store_outbox_list(struct tr_store *s, int parked_only, int64_t after_id, int limit,
			 int (*each)(void *ud, const struct tr_outbox_row *r), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_LIST);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int(st, 1, parked_only != 0);
	sqlite3_bind_int64(st, 2, after_id);
	sqlite3_bind_int(st, 3, limit);
	int step, rc = 0;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct tr_outbox_row r = {
			.id = sqlite3_column_int64(st, 0),
			.output = text_or_null(st, 1),
			.created_at = sqlite3_column_int64(st, 2),
			.attempts = sqlite3_column_int(st, 3),
			.last_error = text_or_null(st, 4),
			.next_at = sqlite3_column_int64(st, 5),
			.failed_at = sqlite3_column_int64(st, 6),
			.payload = text_or_null(st, 7),
			.retried_at = sqlite3_column_int64(st, 8),
			.retried_by = text_or_null(st, 9),
		};
		rc = each(ud, &r);
	}
	return read_end(s, st, rc ? SQLITE_DONE : step, rc);
}

int tr_store_outbox_group(struct tr_store *s, const char *output, int64_t horizon, int limit,
			  struct tr_notification *out, int *n)
{
	sqlite3_stmt *st = stmt(s, S_OUTBOX_GROUP);
	*n = 0;
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, output);
	sqlite3_bind_int64(st, 2, horizon);
	sqlite3_bind_int(st, 3, limit);
	return read_rows(s, st, limit, out, n);
}
