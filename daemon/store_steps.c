/* A ticket's steps (SPEC §3 Time): its nudges, escalations and due time,
 * kept under the ticket in one clustered range, and the one wake row per
 * ticket, at its earliest pending step, that the timer loop fires from.
 * A step that fired or was skipped stays, with a step_log row (appended in
 * due order) that makes it a line of the ticket's history. Not what a step
 * does (timers.c), nor the policy over steps (ticket_plan.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "store_internal.h"

/* The at of ticket_id's earliest pending step, 0 when none; <0 on error. */
static int64_t first_pending(struct tr_store *s, int64_t ticket_id)
{
	sqlite3_stmt *st = stmt(s, S_STEP_FIRST);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket_id);
	int step = sqlite3_step(st);
	int64_t at = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (step != SQLITE_ROW && step != SQLITE_DONE) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		return TR_ESTORE;
	}
	return at;
}

/* Where ticket_id's wake row is now: the cache, else its earliest step
 * (the invariant the functions below keep). */
static int64_t wake_of(struct tr_store *s, int64_t ticket_id)
{
	if (s->wake_ticket == ticket_id)
		return s->wake_at;
	return first_pending(s, ticket_id);
}

static int wake_row(struct tr_store *s, enum stmt which, int64_t at, int64_t ticket_id)
{
	sqlite3_stmt *st = stmt(s, which);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, at);
	sqlite3_bind_int64(st, 2, ticket_id);
	return run(s, st);
}

/* Moves ticket_id's wake row from old to at (either 0: none). */
static int wake_move(struct tr_store *s, int64_t ticket_id, int64_t old, int64_t at)
{
	int rc = 0;
	if (old != at && old)
		rc = wake_row(s, S_WAKE_DELETE, old, ticket_id);
	if (rc == 0 && old != at && at) {
		rc = wake_row(s, S_WAKE_ADD, at, ticket_id);
		if (rc == 0 && (s->timer_hint == 0 || at < s->timer_hint))
			s->timer_hint = at;
	}
	if (rc == 0) {
		s->wake_ticket = ticket_id;
		s->wake_at = at;
	}
	return rc;
}

int tr_store_ticket_rewake(struct tr_store *s, int64_t ticket_id, int64_t next)
{
	/* After tr_store_wake_take the row is gone: only the new one is
	 * written. When rules changed steps meanwhile (on the fired steps'
	 * events), what they believed of this ticket's row may be wrong:
	 * its next step is read again, and a row they added is kept. */
	int64_t at = next >= 0 && s->step_changes == s->take_mark ? next : first_pending(s, ticket_id);
	if (at < 0)
		return (int)at;
	int rc = at ? wake_row(s, S_WAKE_ADD, at, ticket_id) : 0;
	if (rc == 0) {
		if (at && (s->timer_hint == 0 || at < s->timer_hint))
			s->timer_hint = at;
		s->wake_ticket = ticket_id;
		s->wake_at = at;
	}
	return rc;
}

/* Adds step id to ticket_id (checked: look that the ticket is open first;
 * *added 0 when it is not) and moves the wake row when it comes first. */
static int step_add(struct tr_store *s, int64_t ticket_id, int64_t at, int64_t id, const char *kind,
		    const char *payload, int64_t event_seq, int checked, int *added)
{
	int64_t old = wake_of(s, ticket_id);
	if (old < 0)
		return (int)old;
	sqlite3_stmt *st = stmt(s, checked ? S_STEP_ADD_CHECKED : S_STEP_ADD);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket_id);
	sqlite3_bind_int64(st, 2, at);
	sqlite3_bind_int64(st, 3, id);
	bind_text(st, 4, kind);
	bind_text(st, 5, payload);
	bind_time(st, 6, event_seq);
	int rc = run(s, st);
	*added = rc == 0 && sqlite3_changes(s->db) == 1;
	if (rc || !*added)
		return rc;
	s->step_changes++;
	return wake_move(s, ticket_id, old, old && old <= at ? old : at);
}

/* The one door for timers: a ticket's step here, a schedule in timers. */
int tr_store_timer_add(struct tr_store *s, int64_t due_at, const char *kind, int64_t ticket_id,
		       const char *payload, int64_t event_seq, int64_t *id)
{
	/* Taken even if the transaction rolls back: an id is never reused
	 * while running, and an unsaved one was never seen. */
	int64_t timer = s->next_timer_id++;
	int rc, added = 1;
	if (ticket_id > 0) {
		/* A ticket this transaction just opened is open: no need to look. */
		rc = step_add(s, ticket_id, due_at, timer, kind, payload ? payload : "{}", event_seq,
				       ticket_id != s->fresh_ticket, &added);
	} else {
		sqlite3_stmt *st = stmt(s, S_TIMER_ADD);
		if (!st)
			return TR_ESTORE;
		sqlite3_bind_int64(st, 1, due_at);
		bind_text(st, 2, kind);
		sqlite3_bind_null(st, 3);
		bind_text(st, 4, payload ? payload : "{}");
		bind_time(st, 5, event_seq);
		sqlite3_bind_int64(st, 6, timer);
		rc = run(s, st);
		if (rc == 0 && (s->timer_hint == 0 || due_at < s->timer_hint))
			s->timer_hint = due_at;
	}
	if (rc == 0 && id)
		*id = added ? timer : 0; /* 0: the ticket is closed, nothing added */
	return rc;
}

int tr_store_timers_cancel(struct tr_store *s, int64_t ticket_id, const char *kind)
{
	int64_t old = wake_of(s, ticket_id);
	if (old < 0)
		return (int)old;
	sqlite3_stmt *st = stmt(s, S_STEPS_CANCEL);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket_id);
	bind_text(st, 2, kind);
	int rc = run(s, st);
	s->step_changes++;
	int64_t at = rc ? 0 : first_pending(s, ticket_id);
	if (at < 0)
		return (int)at;
	return rc ? rc : wake_move(s, ticket_id, old, at);
}

int tr_store_wake_take(struct tr_store *s, int64_t at, int64_t ticket_id)
{
	int rc = wake_row(s, S_WAKE_DELETE, at, ticket_id);
	if (rc)
		return rc;
	if (sqlite3_changes(s->db) != 1)
		return -ENOENT;
	s->wake_ticket = ticket_id;
	s->wake_at = 0;
	s->take_mark = s->step_changes;
	s->taken_ticket = ticket_id;
	return 0;
}

int tr_store_ticket_steps_due(struct tr_store *s, int64_t ticket_id, int64_t now, int limit, struct tr_timer *out,
			      int *n, int64_t *next)
{
	/* One row more than due ones fit: the first not due yet is the next
	 * wake, and saves a query for it. */
	sqlite3_stmt *st = stmt(s, S_STEPS_DUE);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket_id);
	sqlite3_bind_int(st, 2, limit + 1);
	int step = SQLITE_DONE, rc = 0;
	*n = 0;
	*next = 0;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (sqlite3_column_int64(st, 1) > now) {
			*next = sqlite3_column_int64(st, 1);
			break;
		}
		if (*n == limit) {
			*next = -1; /* more due than fit: ask again after */
			break;
		}
		tr_store_timer_from_row(st, &out[(*n)++]);
		if (!out[*n - 1].payload)
			rc = -ENOMEM;
	}
	return tr_store_rows_end(s, st, step, rc, out, n);
}

/* Binds step tm's key as ?1 ticket_id, ?2 at, ?3 id. */
static void bind_step(sqlite3_stmt *st, const struct tr_timer *tm)
{
	sqlite3_bind_int64(st, 1, tm->ticket_id);
	sqlite3_bind_int64(st, 2, tm->due_at);
	sqlite3_bind_int64(st, 3, tm->id);
}

/* SPEC §6 watch: notes the key of a step_log row just written. A row a
 * rollback undoes stays noted: the stream finds no row for it and goes on. */
static void journal_add(struct tr_store *s, const struct tr_timer *tm)
{
	if (s->journal_n == TR_STEP_JOURNAL_MAX) {
		s->journal_lost++;
		return;
	}
	s->journal[s->journal_n++] = (struct tr_step_key){.at = tm->due_at, .ticket_id = tm->ticket_id, .id = tm->id};
}

int tr_store_step_journal(struct tr_store *s, int on)
{
	free(s->journal);
	s->journal = NULL;
	s->journal_n = s->journal_on = 0;
	s->journal_lost = 0;
	if (!on)
		return 0;
	s->journal = malloc(TR_STEP_JOURNAL_MAX * sizeof(*s->journal));
	if (!s->journal)
		return -ENOMEM;
	s->journal_on = 1;
	return 0;
}

int tr_store_step_journal_take(struct tr_store *s, struct tr_step_key *out, int max, uint64_t *lost)
{
	int n = s->journal_n < max ? s->journal_n : max;
	*lost = s->journal_lost;
	s->journal_lost = 0;
	if (n == 0)
		return 0; /* also when off: no journal to copy from */
	memcpy(out, s->journal, (size_t)n * sizeof(*out));
	memmove(s->journal, s->journal + n, (size_t)(s->journal_n - n) * sizeof(*out));
	s->journal_n -= n;
	return n;
}

int tr_store_step_done(struct tr_store *s, const struct tr_timer *tm, const char *state, int64_t at,
		       const char *action, const char *detail)
{
	/* A step of the ticket being fired, read since its take with no step
	 * changed after, is there: no need to look. */
	int sure = s->taken_ticket == tm->ticket_id && s->take_mark == s->step_changes;
	sqlite3_stmt *st = stmt(s, sure ? S_STEP_LOG : S_STEP_DONE);
	if (!st)
		return TR_ESTORE;
	bind_step(st, tm);
	bind_text(st, 4, state);
	sqlite3_bind_int64(st, 5, at);
	bind_text(st, 6, action);
	bind_text(st, 7, detail);
	int rc = run(s, st);
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		return -ENOENT;
	if (rc == 0 && s->journal_on)
		journal_add(s, tm);
	return rc;
}

int tr_store_step_move(struct tr_store *s, const struct tr_timer *tm, int64_t at, const char *payload)
{
	int64_t old = wake_of(s, tm->ticket_id);
	if (old < 0)
		return (int)old;
	sqlite3_stmt *st = stmt(s, S_STEP_MOVE);
	if (!st)
		return TR_ESTORE;
	bind_step(st, tm);
	sqlite3_bind_int64(st, 4, at);
	bind_text(st, 5, payload);
	int rc = run(s, st);
	if (rc == 0 && sqlite3_changes(s->db) != 1)
		return -ENOENT;
	s->step_changes++;
	int64_t first = rc ? 0 : first_pending(s, tm->ticket_id);
	if (first < 0)
		return (int)first;
	return rc ? rc : wake_move(s, tm->ticket_id, old, first);
}

/* Appends ticket's pending calendar-counted steps to *v (cap *cap, count *n). */
static int ticket_calendared(struct tr_store *s, int64_t ticket, struct tr_timer **v, int *cap, int *n)
{
	sqlite3_stmt *st = stmt(s, S_STEPS_CALENDARED);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket);
	int rc = 0, step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (*n == *cap) {
			int grown = *cap ? *cap * 2 : 16;
			struct tr_timer *p = realloc(*v, (size_t)grown * sizeof(**v));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			*v = p;
			*cap = grown;
		}
		tr_store_timer_from_row(st, &(*v)[(*n)++]);
		if (!(*v)[*n - 1].payload)
			rc = -ENOMEM;
	}
	if (rc == 0 && step != SQLITE_DONE) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_reset(st);
	return rc;
}

int tr_store_steps_calendared(struct tr_store *s, struct tr_wake_cursor *after, int tickets, struct tr_timer **out,
			      int *n, int *last)
{
	sqlite3_stmt *st = stmt(s, S_WAKES_AFTER);
	*out = NULL;
	*n = 0;
	*last = 1;
	if (!st)
		return TR_ESTORE;
	int64_t *ids = malloc((size_t)tickets * sizeof(*ids));
	if (!ids)
		return -ENOMEM;
	sqlite3_bind_int64(st, 1, after->at);
	sqlite3_bind_int64(st, 2, after->ticket_id);
	sqlite3_bind_int(st, 3, tickets);
	int rc = 0, step, nids = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		after->at = sqlite3_column_int64(st, 0);
		after->ticket_id = ids[nids++] = sqlite3_column_int64(st, 1);
	}
	if (step != SQLITE_DONE) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_reset(st);
	*last = nids < tickets;
	struct tr_timer *v = NULL;
	int cap = 0;
	for (int i = 0; rc == 0 && i < nids; i++)
		rc = ticket_calendared(s, ids[i], &v, &cap, n);
	free(ids);
	if (rc) {
		tr_timer_rows_free(v, *n);
		free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return rc;
}

/* The pending timers tr_store_timers_each gathers, owned, kept sorted. */
struct gathered {
	struct tr_timer *v;
	int n, cap;
};

static int by_due(const void *a, const void *b)
{
	const struct tr_timer *x = a, *y = b;
	if (x->due_at != y->due_at)
		return x->due_at < y->due_at ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Appends the rows of st (id, due_at, kind, ticket_id, payload), bound. */
static int gather(struct tr_store *s, sqlite3_stmt *st, struct gathered *g)
{
	int rc = 0, step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW) {
		if (g->n == g->cap) {
			struct tr_timer *p = realloc(g->v, (size_t)(g->cap = g->cap ? g->cap * 2 : 32) * sizeof(*p));
			if (!p) {
				rc = -ENOMEM;
				break;
			}
			g->v = p;
		}
		tr_store_timer_from_row(st, &g->v[g->n++]);
		if (!g->v[g->n - 1].payload)
			rc = -ENOMEM;
	}
	if (rc == 0 && step != SQLITE_DONE) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_reset(st);
	if (g->n > 1)
		qsort(g->v, (size_t)g->n, sizeof(*g->v), by_due);
	return rc;
}

int tr_store_timers_each(struct tr_store *s, int limit,
			 int (*each)(void *ud, const struct tr_timer_row *tm), void *ud)
{
	/* The first `limit` schedules, then tickets in wake order: a ticket
	 * waking later than the limit-th step gathered has none earlier. */
	struct gathered g = {0};
	sqlite3_stmt *st = stmt(s, S_TIMERS_LIST), *wakes = stmt(s, S_WAKES_LIST);
	sqlite3_stmt *steps = stmt(s, S_TIMERS_FOR_TICKET);
	if (!st || !wakes || !steps)
		return TR_ESTORE;
	sqlite3_bind_int(st, 1, limit);
	int rc = gather(s, st, &g);
	while (rc == 0 && sqlite3_step(wakes) == SQLITE_ROW) {
		int64_t at = sqlite3_column_int64(wakes, 0);
		if (g.n >= limit && at >= g.v[limit - 1].due_at)
			break; /* ties may go either way: a thousand tickets can share a second */
		sqlite3_bind_int64(steps, 1, sqlite3_column_int64(wakes, 1));
		rc = gather(s, steps, &g);
	}
	sqlite3_reset(wakes);
	for (int i = 0; rc == 0 && i < g.n && i < limit; i++) {
		struct tr_timer_row row = {
			.id = g.v[i].id, .due_at = g.v[i].due_at, .kind = g.v[i].kind, .ticket_id = g.v[i].ticket_id,
			.has_ticket = g.v[i].ticket_id != 0, .payload = g.v[i].payload,
		};
		rc = each(ud, &row);
	}
	tr_timer_rows_free(g.v, g.n);
	free(g.v);
	return rc;
}
