/* Tickets and their history: insert, read, update, find the open ticket
 * with a key, a ticket's history lines, the escalation ladder attached to
 * it, the filtered list the views show, and the counts `stats` reports
 * (kept by triggers on tickets; with them the count of events). Owns the
 * use of the map of open keys (tr_open_keys.h): loaded here at open, kept
 * in step by every write here; store.c only follows the transaction's end.
 * Not a ticket's decisions (ticket.c), its timers (store_timers.c), nor its
 * JSON (views.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "store_internal.h"
#include "tr_open_keys.h"

void tr_ticket_free(struct tr_ticket *t)
{
	free(t->key); free(t->title); free(t->queue); free(t->priority); free(t->state);
	free(t->account); free(t->assignee); free(t->close_reason); free(t->tags); free(t->fields);
	free(t->ladder);
	memset(t, 0, sizeof(*t));
}

static int64_t find_open(struct tr_store *s, const char *key, uint64_t hash);

/* Before ticket self (0: a new one) becomes open with key (hashed to
 * hash): no other is (the map is the only guard: the database has no
 * unique index on keys), and the map has room to follow the write. 0,
 * -EEXIST, -ENOMEM or TR_ESTORE. */
static int open_key_free(struct tr_store *s, const char *key, uint64_t hash, int64_t self)
{
	int64_t open = find_open(s, key, hash);
	if (open < 0)
		return (int)open;
	if (open > 0 && open != self)
		return -EEXIST;
	return tr_open_keys_reserve(s->open_keys);
}

int tr_store_ticket_insert(struct tr_store *s, struct tr_ticket *t, int64_t now)
{
	int open = strcmp(t->state, "open") == 0;
	uint64_t hash = open ? tr_open_keys_hash(t->key) : 0;
	int rc = open ? open_key_free(s, t->key, hash, 0) : 0;
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, S_TICKET_INSERT);
	if (!st)
		return TR_ESTORE;
	t->created_at = t->updated_at = now;
	bind_text(st, 1, t->key);
	bind_text(st, 2, t->title);
	bind_text(st, 3, t->queue);
	bind_text(st, 4, t->priority);
	bind_text(st, 5, t->state);
	bind_text(st, 6, t->account);
	bind_text(st, 7, t->assignee);
	sqlite3_bind_int64(st, 8, t->level);
	bind_time(st, 9, t->due_at);
	sqlite3_bind_int64(st, 10, now);
	sqlite3_bind_int64(st, 11, now);
	bind_text(st, 12, t->tags ? t->tags : "[]");
	bind_text(st, 13, t->fields ? t->fields : "{}");
	rc = run(s, st);
	if (rc == 0)
		t->id = sqlite3_last_insert_rowid(s->db);
	if (rc == 0 && open) {
		s->fresh_ticket = t->id;
		s->wake_ticket = t->id; /* new: no step, no wake row yet */
		s->wake_at = 0;
		rc = tr_open_keys_add(s->open_keys, hash, t->id, tr_store_in_transaction(s));
	}
	return rc;
}

/* Reads a row of TICKET_COLUMNS into t. 0, or -ENOMEM (t freed). */
static int ticket_from_row(sqlite3_stmt *st, struct tr_ticket *t)
{
	memset(t, 0, sizeof(*t));
	t->id = sqlite3_column_int64(st, 0);
	char **strs[] = {&t->key, &t->title, &t->queue, &t->priority, &t->state,
			 &t->account, &t->assignee, &t->close_reason, &t->tags, &t->fields};
	for (int i = 0; i < 10; i++)
		*strs[i] = column_strdup(st, i + 1);
	int64_t *ints[] = {&t->level, &t->due_at, &t->created_at, &t->updated_at,
			   &t->closed_at, &t->acked_at};
	for (int i = 0; i < 6; i++)
		*ints[i] = sqlite3_column_int64(st, i + 11);
	t->ladder = column_strdup(st, 17);
	if (!t->key || !t->title || !t->tags || !t->fields) {
		tr_ticket_free(t);
		return -ENOMEM;
	}
	return 0;
}

int tr_store_ticket_get(struct tr_store *s, int64_t id, struct tr_ticket *t)
{
	sqlite3_stmt *st = stmt(s, S_TICKET_GET);
	if (!st)
		return TR_ESTORE;
	memset(t, 0, sizeof(*t));
	sqlite3_bind_int64(st, 1, id);
	int rc = sqlite3_step(st);
	int err = rc == SQLITE_ROW ? ticket_from_row(st, t) : rc == SQLITE_DONE ? -ENOENT : TR_ESTORE;
	sqlite3_reset(st);
	return err;
}

/* Each ticket the map names under key's hash is a candidate; its row
 * confirms it (two keys may share a hash). */
static int64_t find_open(struct tr_store *s, const char *key, uint64_t hash)
{
	size_t cursor = 0;
	int64_t id;
	while ((id = tr_open_keys_next(s->open_keys, hash, &cursor)) != 0) {
		sqlite3_stmt *st = stmt(s, S_TICKET_OPEN_KEY);
		if (!st)
			return TR_ESTORE;
		sqlite3_bind_int64(st, 1, id);
		int rc = sqlite3_step(st);
		int same = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), key) == 0;
		sqlite3_reset(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return TR_ESTORE;
		if (same)
			return id;
	}
	return 0;
}

int64_t tr_store_ticket_find_open(struct tr_store *s, const char *key)
{
	return find_open(s, key, tr_open_keys_hash(key));
}

/* Fills the map of open tickets' keys from the database. 0 or -1. */
int tr_store_open_keys_load(struct tr_store *s)
{
	if (!(s->open_keys = tr_open_keys_new()))
		return -1;
	int64_t events, open, total;
	if (tr_store_counts(s, &events, &open, &total) || tr_open_keys_expect(s->open_keys, (size_t)open))
		return -1;
	/* Most tickets open: one pass over the table in its order reads each
	 * page once (1M open tickets: 404 ms through the state index, whose
	 * due order visits the rows at random). Few open: the index. */
	const char *sql = open > total / 4 ? "SELECT id, key FROM tickets NOT INDEXED WHERE state = 'open'"
					   : "SELECT id, key FROM tickets WHERE state = 'open'";
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 1);
		if (!key || tr_open_keys_add(s->open_keys, tr_open_keys_hash(key), sqlite3_column_int64(st, 0), 0))
			break;
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

int tr_store_ticket_update(struct tr_store *s, struct tr_ticket *t, const struct tr_ticket *stored,
			   int64_t now)
{
	int state_changed = !stored || !t->state || !stored->state || strcmp(t->state, stored->state) != 0;
	int keys_changed = state_changed || t->due_at != stored->due_at;
	int open = t->state && strcmp(t->state, "open") == 0;
	uint64_t hash = state_changed ? tr_open_keys_hash(t->key) : 0;
	int rc = !state_changed ? 0 : open ? open_key_free(s, t->key, hash, t->id) : tr_open_keys_reserve(s->open_keys);
	if (rc)
		return rc;
	sqlite3_stmt *st = stmt(s, keys_changed ? S_TICKET_UPDATE : S_TICKET_UPDATE_BODY);
	if (!st)
		return TR_ESTORE;
	t->updated_at = now;
	bind_text(st, 1, t->title);
	bind_text(st, 2, t->queue);
	bind_text(st, 3, t->priority);
	bind_text(st, 4, t->state);
	bind_text(st, 5, t->account);
	bind_text(st, 6, t->assignee);
	bind_text(st, 7, t->close_reason);
	bind_text(st, 8, t->tags);
	bind_text(st, 9, t->fields);
	sqlite3_bind_int64(st, 10, t->level);
	bind_time(st, 11, t->due_at);
	bind_time(st, 12, t->closed_at);
	bind_time(st, 13, t->acked_at);
	sqlite3_bind_int64(st, 14, now);
	sqlite3_bind_int64(st, 15, t->id);
	if (keys_changed && t->id == s->fresh_ticket)
		s->fresh_ticket = 0;
	rc = run(s, st);
	if (rc == 0 && state_changed) {
		/* Closed or reopened: the map follows (add and remove do nothing
		 * when it already agrees). */
		if (open)
			rc = tr_open_keys_add(s->open_keys, hash, t->id, tr_store_in_transaction(s));
		else
			rc = tr_open_keys_remove(s->open_keys, hash, t->id, tr_store_in_transaction(s));
	}
	return rc;
}

int tr_store_history_add(struct tr_store *s, int64_t ticket_id, int64_t at, int64_t event_seq,
			 const char *actor, const char *action, const char *detail)
{
	sqlite3_stmt *st = stmt(s, S_HISTORY_ADD);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket_id);
	sqlite3_bind_int64(st, 2, at);
	bind_time(st, 3, event_seq);
	bind_text(st, 4, actor);
	bind_text(st, 5, action);
	bind_text(st, 6, detail);
	return run(s, st);
}

/* Appends "AND <col> = ?" for a set filter value. */
static void filter_eq(char *sql, size_t len, const char *col, const char *v)
{
	if (v) {
		size_t n = strlen(sql);
		snprintf(sql + n, len - n, " AND %s = ?", col);
	}
}

int tr_store_tickets_each(struct tr_store *s, const struct tr_ticket_filter *f,
			  int (*each)(void *ud, const struct tr_ticket *t), void *ud)
{
	char sql[768] = "SELECT " TICKET_COLUMNS " FROM tickets WHERE 1";
	const char *state = f->state ? f->state : "open";
	/* "+state": read newest first and stop at the limit, like the other
	 * filters. Through tickets_state (state, due_at) SQLite sorted every
	 * ticket of the state by id: 0.8 s on the loop thread at a million
	 * open tickets, for the default `triagectl tickets`. */
	if (strcmp(state, "all") != 0)
		filter_eq(sql, sizeof(sql), "+state", state);
	filter_eq(sql, sizeof(sql), "queue", f->queue);
	filter_eq(sql, sizeof(sql), "account", f->account);
	filter_eq(sql, sizeof(sql), "priority", f->priority);
	if (f->breached)
		strcat(sql, " AND state = 'open' AND due_at IS NOT NULL AND due_at < ?");
	if (f->text)
		strcat(sql, " AND (instr(title, ?) > 0 OR instr(key, ?) > 0)");
	strcat(sql, " ORDER BY id DESC LIMIT ?");

	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		return TR_ESTORE;
	}
	int i = 1;
	if (strcmp(state, "all") != 0)
		bind_text(st, i++, state);
	const char *eqs[] = {f->queue, f->account, f->priority};
	for (int k = 0; k < 3; k++)
		if (eqs[k])
			bind_text(st, i++, eqs[k]);
	if (f->breached)
		sqlite3_bind_int64(st, i++, f->now);
	if (f->text) {
		bind_text(st, i++, f->text);
		bind_text(st, i++, f->text);
	}
	sqlite3_bind_int(st, i, f->limit > 0 ? f->limit : 100);

	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct tr_ticket t;
		if (ticket_from_row(st, &t) == 0) {
			rc = each(ud, &t);
			tr_ticket_free(&t);
		}
	}
	sqlite3_finalize(st);
	return rc;
}

int tr_store_history_each(struct tr_store *s, int64_t ticket_id,
			  int (*each)(void *ud, const struct tr_history_row *h), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_HISTORY_LIST);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, ticket_id);
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct tr_history_row h;
		/* the type before the value: a read may convert it */
		h.has_event_seq = sqlite3_column_type(st, 4) != SQLITE_NULL;
		h.event_seq = sqlite3_column_int64(st, 4);
		h.at = sqlite3_column_int64(st, 0);
		h.due_at = sqlite3_column_int64(st, 5);
		h.actor = (const char *)sqlite3_column_text(st, 1);
		h.action = (const char *)sqlite3_column_text(st, 2);
		h.detail = (const char *)sqlite3_column_text(st, 3);
		rc = each(ud, &h);
	}
	sqlite3_reset(st);
	return rc;
}


int tr_store_counts(struct tr_store *s, int64_t *events, int64_t *tickets_open, int64_t *tickets_total)
{
	sqlite3_stmt *st = stmt(s, S_COUNT_EVENTS);
	if (!st)
		return TR_ESTORE;
	*events = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	if (!(st = stmt(s, S_COUNT_TICKETS)))
		return TR_ESTORE;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*tickets_total = sqlite3_column_int64(st, 0);
		*tickets_open = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return 0;
}

int tr_store_ticket_set_ladder(struct tr_store *s, int64_t ticket_id, const char *ladder)
{
	sqlite3_stmt *st = stmt(s, S_TICKET_LADDER);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, ladder);
	sqlite3_bind_int64(st, 2, ticket_id);
	return run(s, st);
}
