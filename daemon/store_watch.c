/* The reads behind the live stream (SPEC §6 watch, §9 /api/events): what
 * commits added since a cursor, table by table, in bounded batches: ticket
 * history lines and notifications by their row id, fired or skipped steps
 * by step_log's key. Read-only, outside any transaction. Not the lines
 * made of the rows, nor who gets them (watch.c). The statements are
 * prepared per read rather than kept in the store's table: they run only
 * while someone watches, so they cost nothing to the daemon that nobody
 * watches. */
#include <sqlite3.h>
#include "store_internal.h"

/* Where each table ends now. */
static const char *const sql_now[] = {
	"SELECT coalesce(max(id), 0) FROM ticket_history",
	"SELECT coalesce(max(id), 0) FROM outbox",
	"SELECT at, ticket_id, id FROM step_log ORDER BY at DESC, ticket_id DESC, id DESC LIMIT 1",
};

/* After the cursor, oldest first, at most ?last rows. A step whose effect
 * writes its own history line (an escalation: action NULL) is left to that
 * line. */
static const char *const sql_history =
	"SELECT id, ticket_id, at, actor, action, detail FROM ticket_history WHERE id > ?1 ORDER BY id LIMIT ?2";
static const char *const sql_steps =
	"SELECT at, ticket_id, id, fired_at, action, detail FROM step_log"
	" WHERE (at, ticket_id, id) > (?1, ?2, ?3) ORDER BY at, ticket_id, id LIMIT ?4";
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
			else if (i == 1)
				at.outbox = sqlite3_column_int64(st, 0);
			else
				at.step_at = sqlite3_column_int64(st, 0), at.step_ticket = sqlite3_column_int64(st, 1),
				at.step_id = sqlite3_column_int64(st, 2);
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

static int read_steps(struct tr_store *s, struct tr_watch_cursor *c, int limit,
		      int (*each)(void *, const struct tr_watch_row *), void *ud, int *more)
{
	sqlite3_stmt *st = prepare(s, sql_steps);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, c->step_at);
	sqlite3_bind_int64(st, 2, c->step_ticket);
	sqlite3_bind_int64(st, 3, c->step_id);
	sqlite3_bind_int(st, 4, limit);
	int step, rc = 0, n = 0;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		c->step_at = sqlite3_column_int64(st, 0);
		c->step_ticket = sqlite3_column_int64(st, 1);
		c->step_id = sqlite3_column_int64(st, 2);
		n++;
		if (sqlite3_column_type(st, 4) == SQLITE_NULL)
			continue; /* its effect wrote a history line of its own */
		struct tr_watch_row r = {.kind = TR_WATCH_STEP, .ticket_id = c->step_ticket, .id = c->step_id};
		r.at = sqlite3_column_int64(st, 3);
		r.due_at = c->step_at;
		r.actor = "timer", r.action = text(st, 4), r.detail = text(st, 5);
		rc = each(ud, &r);
	}
	*more |= n == limit;
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
			int (*each)(void *ud, const struct tr_watch_row *r), void *ud, int *more)
{
	*more = 0;
	int rc = read_history(s, c, limit, each, ud, more);
	if (rc == 0)
		rc = read_steps(s, c, limit, each, ud, more);
	if (rc == 0)
		rc = read_outbox(s, c, limit, each, ud, more);
	return rc;
}
