/* Durable timers (SPEC §3 Time): timers added in the transaction of the
 * event that made them, with ids handed out here and saved by the commit
 * (store.c), and fired in due order (a ticket's steps, and
 * tr_store_timer_add, which adds either: store_steps.c). Not the outbox
 * (store_outbox.c), when a timer fires (timers.c), nor their JSON
 * (views.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "store_internal.h"

int tr_store_timer_ids_load(struct tr_store *s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT next FROM timer_ids", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			s->next_timer_id = s->saved_timer_id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	return s->next_timer_id < 1 ? -1 : 0;
}

int64_t tr_store_timer_hint(struct tr_store *s)
{
	int64_t h = s->timer_hint;
	s->timer_hint = 0;
	return h;
}

int tr_store_timer_next(struct tr_store *s, int64_t *due_at)
{
	sqlite3_stmt *st = stmt(s, S_TIMER_NEXT);
	if (!st)
		return TR_ESTORE;
	int rc = sqlite3_step(st);
	*due_at = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0; /* NULL reads as 0: none */
	sqlite3_reset(st);
	return rc == SQLITE_ROW ? 0 : TR_ESTORE;
}

void tr_store_timer_from_row(sqlite3_stmt *st, struct tr_timer *t)
{
	t->id = sqlite3_column_int64(st, 0);
	t->due_at = sqlite3_column_int64(st, 1);
	const char *kind = (const char *)sqlite3_column_text(st, 2);
	size_t len = kind ? strnlen(kind, sizeof(t->kind) - 1) : 0;
	memcpy(t->kind, kind ? kind : "", len);
	t->kind[len] = '\0';
	t->ticket_id = sqlite3_column_int64(st, 3);
	const char *p = (const char *)sqlite3_column_text(st, 4);
	t->payload = strdup(p ? p : "{}");
}

int tr_store_timers_due(struct tr_store *s, int64_t now, int limit, struct tr_timer *out, int *n)
{
	sqlite3_stmt *st = stmt(s, S_TIMERS_DUE);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int(st, 2, limit);
	int step = SQLITE_DONE, rc = 0;
	*n = 0;
	while (rc == 0 && *n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		tr_store_timer_from_row(st, &out[(*n)++]);
		if (!out[*n - 1].payload)
			rc = -ENOMEM;
	}
	return tr_store_rows_end(s, st, step, rc, out, n);
}

int tr_store_rows_end(struct tr_store *s, sqlite3_stmt *st, int step, int rc, struct tr_timer *out, int *n)
{
	if (rc == 0 && step != SQLITE_ROW && step != SQLITE_DONE) {
		/* a read error is not "nothing due" */
		log_errx("store: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_reset(st);
	if (rc) {
		tr_timer_rows_free(out, *n);
		*n = 0;
	}
	return rc;
}

void tr_timer_rows_free(struct tr_timer *t, int n)
{
	for (int i = 0; i < n; i++) {
		free(t[i].payload);
		t[i].payload = NULL;
	}
}

int tr_store_timer_delete(struct tr_store *s, int64_t due_at, int64_t id)
{
	sqlite3_stmt *st = stmt(s, S_TIMER_DELETE);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, due_at);
	sqlite3_bind_int64(st, 2, id);
	int rc = run(s, st);
	return rc ? rc : sqlite3_changes(s->db) == 1 ? 0 : -ENOENT;
}

/* Reads a row of (id, due_at, kind, ticket_id, payload), borrowed. */
static void timer_row(sqlite3_stmt *st, struct tr_timer_row *tm)
{
	tm->id = sqlite3_column_int64(st, 0);
	tm->due_at = sqlite3_column_int64(st, 1);
	tm->kind = (const char *)sqlite3_column_text(st, 2);
	tm->has_ticket = sqlite3_column_type(st, 3) != SQLITE_NULL; /* before a read converts it */
	tm->ticket_id = sqlite3_column_int64(st, 3);
	tm->payload = (const char *)sqlite3_column_text(st, 4);
}

/* Calls each for every row of st, bound and ready, then resets it. */
static int timers_walk(sqlite3_stmt *st, int (*each)(void *ud, const struct tr_timer_row *tm), void *ud)
{
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct tr_timer_row tm;
		timer_row(st, &tm);
		rc = each(ud, &tm);
	}
	sqlite3_reset(st);
	return rc;
}

int tr_store_ticket_timers_each(struct tr_store *s, int64_t ticket_id,
				int (*each)(void *ud, const struct tr_timer_row *tm), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_TIMERS_FOR_TICKET);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket_id);
	return timers_walk(st, each, ud);
}

int tr_store_timers_count(struct tr_store *s, int64_t *total)
{
	sqlite3_stmt *st = stmt(s, S_TIMERS_COUNT);
	if (!st)
		return TR_ESTORE;
	*total = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	return 0;
}
