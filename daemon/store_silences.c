/* Silences in the store (tr_silences.h): table silences, one row per
 * silence, kept a while after it ends for `silence list --all`; and table
 * outbox_held, which silence holds which notification of the outbox (the
 * notification's next_at is moved to the silence's end, so the delivery
 * pass does not see it before). A table of its own rather than a column of
 * outbox: its rows are few and go when their silence ends. Not what
 * matches or when to hold (silences.c), nor the JSON (protocol_silence.c). */
#include <errno.h>
#include <stdio.h>
#include <sqlite3.h>
#include "store_internal.h"
#include "tr_silences.h"

#define PRUNE_BATCH 16 /* ended silences deleted per call: prunes keep pace with adds */
#define KEEP_ENDED 1000 /* and at most this many ended silences are kept, whatever their age */

void tr_silence_free(struct tr_silence *x)
{
	free(x->account); free(x->queue); free(x->output); free(x->priority); free(x->marketplace);
	free(x->reason); free(x->created_by); free(x->expired_by);
	memset(x, 0, sizeof(*x));
}

int tr_store_silence_add(struct tr_store *s, const struct tr_silence *x, int64_t *id)
{
	sqlite3_stmt *st = stmt(s, S_SILENCE_ADD);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, x->account);
	bind_text(st, 2, x->queue);
	bind_text(st, 3, x->output);
	bind_text(st, 4, x->priority);
	sqlite3_bind_int64(st, 5, x->starts_at);
	sqlite3_bind_int64(st, 6, x->until);
	bind_text(st, 7, x->reason);
	bind_text(st, 8, x->created_by);
	sqlite3_bind_int64(st, 9, x->created_at);
	bind_text(st, 10, x->marketplace);
	int rc = run(s, st);
	if (rc == 0)
		*id = sqlite3_last_insert_rowid(s->db);
	return rc;
}

int tr_store_silence_expire(struct tr_store *s, int64_t id, int64_t now, const char *actor, int64_t *released)
{
	*released = 0;
	sqlite3_stmt *st = stmt(s, S_SILENCE_EXPIRE);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	bind_text(st, 3, actor);
	int rc = run(s, st);
	if (rc)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return -ENOENT;
	/* what it held is due now, in the delivery pass's order */
	if (!(st = stmt(s, S_SILENCE_RELEASE)))
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, now);
	if ((rc = run(s, st)) != 0)
		return rc;
	*released = sqlite3_changes(s->db);
	if (!(st = stmt(s, S_SILENCE_UNHOLD)))
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	return run(s, st);
}

int tr_store_silence_held_each(struct tr_store *s, int64_t silence_id,
			       int (*each)(void *ud, const struct tr_notification *x), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_SILENCE_HELD_ROWS);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, silence_id);
	int rc = 0, step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct tr_notification x = {.id = sqlite3_column_int64(st, 0),
					    .payload = (char *)sqlite3_column_text(st, 2)};
		const char *output = (const char *)sqlite3_column_text(st, 1);
		snprintf(x.output, sizeof(x.output), "%s", output ? output : "");
		rc = each(ud, &x);
	}
	if (rc == 0 && step != SQLITE_DONE) {
		log_errx("store: held notifications: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int tr_store_silence_hold(struct tr_store *s, int64_t outbox_id, int64_t silence_id, int64_t until)
{
	sqlite3_stmt *st = stmt(s, S_SILENCE_HOLD_NEXT);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, outbox_id);
	sqlite3_bind_int64(st, 2, until);
	int rc = run(s, st);
	if (rc)
		return rc;
	if (!(st = stmt(s, S_SILENCE_HOLD)))
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, outbox_id);
	sqlite3_bind_int64(st, 2, silence_id);
	return run(s, st);
}

static int64_t column_time(sqlite3_stmt *st, int i)
{
	return sqlite3_column_type(st, i) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, i);
}

/* The strings are cast from the statement's: the walk's contract says they
 * are borrowed, and nobody frees a walked silence. */
static char *column_text(sqlite3_stmt *st, int i)
{
	return (char *)sqlite3_column_text(st, i);
}

int tr_store_silences_each(struct tr_store *s, int64_t id, int all, int64_t now, int limit,
			   int (*each)(void *ud, const struct tr_silence *x, int64_t held), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_SILENCES_LIST);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int(st, 2, all != 0);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int(st, 4, limit);
	int rc = 0, step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct tr_silence x = {
			.id = sqlite3_column_int64(st, 0),
			.account = column_text(st, 1), .queue = column_text(st, 2),
			.output = column_text(st, 3), .priority = column_text(st, 4),
			.starts_at = sqlite3_column_int64(st, 5), .until = sqlite3_column_int64(st, 6),
			.reason = column_text(st, 7), .created_by = column_text(st, 8),
			.created_at = sqlite3_column_int64(st, 9), .expired_at = column_time(st, 10),
			.expired_by = column_text(st, 11), .marketplace = column_text(st, 13),
		};
		rc = each(ud, &x, sqlite3_column_int64(st, 12));
	}
	if (rc == 0 && step != SQLITE_DONE) {
		log_errx("store: silences: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int tr_store_silences_held(struct tr_store *s, int64_t now, int64_t *held)
{
	*held = 0;
	sqlite3_stmt *st = stmt(s, S_SILENCES_HELD);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*held = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return step == SQLITE_ROW ? 0 : TR_ESTORE;
}

int tr_store_silences_prune(struct tr_store *s, int64_t now, int64_t keep)
{
	sqlite3_stmt *st = stmt(s, S_SILENCES_PRUNE_HELD);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	int rc = run(s, st);
	if (rc)
		return rc;
	if (!(st = stmt(s, S_SILENCES_PRUNE)))
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, now - keep);
	sqlite3_bind_int(st, 3, KEEP_ENDED - 1); /* an OFFSET: the KEEP_ENDED-th newest stays */
	sqlite3_bind_int(st, 4, PRUNE_BATCH);
	return run(s, st);
}
