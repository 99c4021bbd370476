/* The reads behind the live stream (SPEC §6 watch, §9 /api/events): what
 * commits added since a cursor, table by table, in bounded batches: ticket
 * history lines and notifications by their row id, fired or skipped steps
 * by the keys the store noted as it wrote them (a key says nothing of when
 * its row was written: a late event's overdue step sorts before the steps
 * already streamed). Read-only, outside any transaction. Not the lines
 * made of the rows, nor who gets them (watch.c). The statements are
 * prepared per read rather than kept in the store's table: they run only
 * while someone watches, so they cost nothing to the daemon that nobody
 * watches. */
#include <stdlib.h>
#include <sqlite3.h>
#include "store_internal.h"

#define WATCH_STEPS_MAX 1000 /* keys taken per pass: on the stack */

/* Where each table ends now. */
static const char *const sql_now[] = {
	"SELECT coalesce(max(id), 0) FROM ticket_history",
	"SELECT coalesce(max(id), 0) FROM outbox",
};

/* After the cursor, oldest first, at most ?last rows. A step whose effect
 * writes its own history line (an escalation: action NULL) is left to that
 * line. */
static const char *const sql_history =
	"SELECT id, ticket_id, at, actor, action, detail FROM ticket_history WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char *const sql_step =
	"SELECT fired_at, action, detail FROM step_log WHERE at = ?1 AND ticket_id = ?2 AND id = ?3";
static const char *const sql_outbox =
	"SELECT id, created_at, output, payload FROM outbox WHERE id > ?1 ORDER BY id LIMIT ?2";

static sqlite3_stmt *prepare(struct tr_store *s, const char *sql)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_errx("store: watch: %s", sqlite3_errmsg(s->db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

/* Ends a read: finalizes st; rc, or TR_ESTORE (logged) when the last step
 * was neither a row nor the end. */
static int done(struct tr_store *s, sqlite3_stmt *st, int step, int rc)
{
	if (rc == 0 && step != SQLITE_DONE && step != SQLITE_ROW) {
		log_errx("store: watch: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_finalize(st);
	return rc;
}

int tr_store_watch_now(struct tr_store *s, struct tr_watch_cursor *c)
{
	struct tr_watch_cursor at = {0};
	for (size_t i = 0; i < sizeof(sql_now) / sizeof(sql_now[0]); i++) {
		sqlite3_stmt *st = prepare(s, sql_now[i]);
		if (!st)
			return TR_ESTORE;
		int step = sqlite3_step(st);
		if (step == SQLITE_ROW) {
			if (i == 0)
				at.history = sqlite3_column_int64(st, 0);
			else
				at.outbox = sqlite3_column_int64(st, 0);
		}
		int rc = done(s, st, step, 0);
		if (rc)
			return rc;
	}
	*c = at;
	return 0;
}

static const char *text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int read_history(struct tr_store *s, struct tr_watch_cursor *c, int limit,
			int (*each)(void *, const struct tr_watch_row *), void *ud, int *more)
{
	sqlite3_stmt *st = prepare(s, sql_history);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, c->history);
	sqlite3_bind_int(st, 2, limit);
	int step, rc = 0, n = 0;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct tr_watch_row r = {.kind = TR_WATCH_HISTORY};
		r.id = sqlite3_column_int64(st, 0);
		r.ticket_id = sqlite3_column_int64(st, 1);
		r.at = sqlite3_column_int64(st, 2);
		r.actor = text(st, 3), r.action = text(st, 4), r.detail = text(st, 5);
		c->history = r.id;
		n++;
		rc = each(ud, &r);
	}
	*more |= n == limit;
	return done(s, st, step, rc);
}

static int by_key(const void *a, const void *b)
{
	const struct tr_step_key *x = a, *y = b;
	if (x->at != y->at)
		return x->at < y->at ? -1 : 1;
	if (x->ticket_id != y->ticket_id)
		return x->ticket_id < y->ticket_id ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

static int read_steps(struct tr_store *s, int limit, int (*each)(void *, const struct tr_watch_row *), void *ud,
		      int *more, uint64_t *lost)
{
	struct tr_step_key keys[WATCH_STEPS_MAX];
	int n = tr_store_step_journal_take(s, keys, limit < WATCH_STEPS_MAX ? limit : WATCH_STEPS_MAX, lost);
	if (n == 0)
		return 0;
	*more |= s->journal_n > 0;
	/* in due order, each once (a row rolled back and written again is noted twice) */
	qsort(keys, (size_t)n, sizeof(keys[0]), by_key);
	sqlite3_stmt *st = prepare(s, sql_step);
	if (!st)
		return TR_ESTORE;
	int step = SQLITE_DONE, rc = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		if (i && by_key(&keys[i], &keys[i - 1]) == 0)
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, keys[i].at);
		sqlite3_bind_int64(st, 2, keys[i].ticket_id);
		sqlite3_bind_int64(st, 3, keys[i].id);
		step = sqlite3_step(st);
		if (step == SQLITE_DONE)
			continue; /* rolled back */
		if (step != SQLITE_ROW)
			break;
		if (sqlite3_column_type(st, 1) == SQLITE_NULL)
			continue; /* its effect wrote a history line of its own */
		struct tr_watch_row r = {.kind = TR_WATCH_STEP, .ticket_id = keys[i].ticket_id, .id = keys[i].id};
		r.at = sqlite3_column_int64(st, 0);
		r.due_at = keys[i].at;
		r.actor = "timer", r.action = text(st, 1), r.detail = text(st, 2);
		rc = each(ud, &r);
	}
	return done(s, st, step, rc);
}

static int read_outbox(struct tr_store *s, struct tr_watch_cursor *c, int limit,
		       int (*each)(void *, const struct tr_watch_row *), void *ud, int *more)
{
	sqlite3_stmt *st = prepare(s, sql_outbox);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, c->outbox);
	sqlite3_bind_int(st, 2, limit);
	int step, rc = 0, n = 0;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct tr_watch_row r = {.kind = TR_WATCH_NOTIFICATION};
		r.id = sqlite3_column_int64(st, 0);
		r.at = sqlite3_column_int64(st, 1);
		r.output = text(st, 2), r.payload = text(st, 3);
		c->outbox = r.id;
		n++;
		rc = each(ud, &r);
	}
	*more |= n == limit;
	return done(s, st, step, rc);
}

int tr_store_watch_rows(struct tr_store *s, struct tr_watch_cursor *c, int limit,
			int (*each)(void *ud, const struct tr_watch_row *r), void *ud, int *more, uint64_t *lost)
{
	*more = 0;
	int rc = read_history(s, c, limit, each, ud, more);
	if (rc == 0)
		rc = read_steps(s, limit, each, ud, more, lost);
	if (rc == 0)
		rc = read_outbox(s, c, limit, each, ud, more);
	return rc;
}
