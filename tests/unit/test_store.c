/* Unit tests for the SQLite store (include/tr_store.h) on a real database
 * file in a mkdtemp folder: opening creates the schema (version 1 and any
 * later migration, PRAGMA user_version) in WAL mode
 * and reopening keeps every row; an event is stored once and its duplicate
 * answers TR_EDUP (SPEC §2); outcomes and events come back through explain
 * by (type, id) and by seq; tickets are inserted, read, found by key only
 * while open, updated and given history; at most one open ticket holds a key
 * (a second one is refused with -EEXIST) while a closed ticket does not block a new
 * one; rule state is set, read and deleted; a 24 h windowed counter sums what
 * was added inside the window and forgets what fell out of it; a rolled-back
 * savepoint undoes only the work done inside it (SPEC §3 isolation), and
 * the open keys kept in memory follow rolled-back rules and transactions
 * and are rebuilt at reopening; the
 * `tickets` query honours each filter of SPEC §6 (state, queue, account,
 * priority, breached at now, text in title or key, limit); and a database
 * written by a newer triaged (user_version 99) is refused with a message. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "tr_error.h"
#include "tr_event.h"
#include "tr_store.h"
#include "tr_plan.h"
#include "tr_ticket.h"
#include "tr_views.h"

#define NOW 1795500000 /* 2026-11-24T06:00:00Z */

#define STORE_FIXTURE_NAME "test_store"
#include "store_fixture.h"

/* One integer or text from a side connection, as a user's sqlite3 would see it. */
static char *side_query(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	char *out = NULL;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
		out = strdup((const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static void side_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* Builds an event from json; fails the test when it does not validate. */
static void make_event(struct tr_event *ev, const char *json)
{
	char err[256];
	cJSON *obj = cJSON_Parse(json);
	assert_non_null(obj);
	if (tr_event_init(ev, obj, NULL, "test", NOW, err, sizeof(err)) != 0)
		fail_msg("event rejected: %s", err);
}

/* An open ticket with the given key/queue/priority/account/due. */
static int64_t add_ticket(struct tr_store *s, const char *key, const char *title, const char *queue,
			  const char *priority, const char *account, int64_t due_at)
{
	struct tr_ticket t = {
		.key = (char *)key, .title = (char *)title, .queue = (char *)queue,
		.priority = (char *)priority, .state = "open", .account = (char *)account,
		.due_at = due_at,
	};
	int rc = tr_store_ticket_insert(s, &t, NOW);
	if (rc != 0)
		fail_msg("ticket insert %s: %d", key, rc);
	assert_true(t.id > 0);
	assert_int_equal(t.created_at, NOW);
	return t.id;
}

static void close_ticket(struct tr_store *s, int64_t id, int64_t now)
{
	struct tr_ticket t;
	assert_int_equal(tr_store_ticket_get(s, id, &t), 0);
	free(t.state);
	t.state = strdup("closed");
	t.closed_at = now;
	assert_int_equal(tr_store_ticket_update(s, &t, NULL, now), 0);
	tr_ticket_free(&t);
}

static void test_open_schema_wal_reopen(void **state)
{
	struct fixture *f = *state;
	/* A fresh file gets the whole schema: version 1 and any migration
	 * appended since (the version only ever grows). */
	char *v = side_query(f->path, "PRAGMA user_version");
	int version = atoi(v);
	free(v);
#ifdef TR_SCHEMA_VERSION
	assert_int_equal(version, TR_SCHEMA_VERSION);
#endif
	assert_true(version >= 1);
	v = side_query(f->path, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name IN"
			       " ('events', 'outcomes', 'tickets', 'ticket_history', 'state', 'counters',"
			       " 'timers', 'quarantine')");
	assert_string_equal(v, "8");
	free(v);
	/* dropped by migration 12: open keys live in memory (tr_open_keys.h) */
	v = side_query(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'tickets_open_key'");
	assert_string_equal(v, "0");
	free(v);
	v = side_query(f->path, "PRAGMA journal_mode");
	assert_string_equal(v, "wal");
	free(v);

	/* data written and committed survives closing and reopening */
	struct tr_event ev;
	make_event(&ev, "{\"type\":\"message.new\",\"id\":\"msg-1\",\"account\":\"acme-us\"}");
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_true(tr_store_in_transaction(f->s));
	assert_int_equal(tr_store_event_insert(f->s, &ev), 0);
	int64_t tid = add_ticket(f->s, "message:msg-1", "Reply to Chris", "care", "normal", "acme-us", NOW + 86400);
	assert_int_equal(tr_store_state_set(f->s, "k", "[1]"), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_false(tr_store_in_transaction(f->s));
	tr_store_close(f->s);
	f->s = NULL;

	char err[256] = "";
	assert_int_equal(tr_store_open(f->path, TR_DURABILITY_FULL, &f->s, err, sizeof(err)), 0);
	v = side_query(f->path, "PRAGMA user_version");
	assert_int_equal(atoi(v), version); /* nothing migrated twice */
	free(v);
	int found = 0;
	cJSON *x = tr_view_explain(f->s, "message.new", "msg-1", 0, &found);
	assert_true(found);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(x, "event"), "account")->valuestring, "acme-us");
	cJSON_Delete(x);
	struct tr_ticket t;
	assert_int_equal(tr_store_ticket_get(f->s, tid, &t), 0);
	assert_string_equal(t.title, "Reply to Chris");
	assert_int_equal(t.due_at, NOW + 86400);
	tr_ticket_free(&t);
	char *value;
	assert_int_equal(tr_store_state_get(f->s, "k", &value), 1);
	assert_string_equal(value, "[1]");
	free(value);
	/* a duplicate is still a duplicate after a restart */
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_event_insert(f->s, &ev), TR_EDUP);
	assert_int_equal(tr_store_commit(f->s), 0);
	tr_event_free(&ev);

	/* uncommitted work does not survive a close */
	assert_int_equal(tr_store_begin(f->s), 0);
	add_ticket(f->s, "lost", "lost", "q", "low", NULL, 0);
	tr_store_close(f->s);
	f->s = NULL;
	assert_int_equal(tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)), 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "lost"), 0);
	int64_t events = 0, open = 0, total = 0;
	assert_int_equal(tr_store_counts(f->s, &events, &open, &total), 0);
	assert_int_equal(events, 1);
	assert_int_equal(open, 1);
	assert_int_equal(total, 1);
}

static void test_future_schema_refused(void **state)
{
	(void)state;
	char dir[64] = "/tmp/test_store_future.XXXXXX";
	assert_non_null(mkdtemp(dir));
	char path[128];
	snprintf(path, sizeof(path), "%s/triaged.db", dir);
	/* a database a newer triaged wrote */
	side_exec(path, "CREATE TABLE newer(x); PRAGMA user_version = 99;");
	struct tr_store *s = (struct tr_store *)0x1;
	char err[256] = "";
	int rc = tr_store_open(path, TR_DURABILITY_FULL, &s, err, sizeof(err));
	assert_int_not_equal(rc, 0);
	assert_true(err[0] != 0);
	if (!strstr(err, "99"))
		fail_msg("the message does not say which version: %s", err);
	/* and it was not touched */
	char *v = side_query(path, "PRAGMA user_version");
	assert_string_equal(v, "99");
	free(v);
	v = side_query(path, "SELECT count(*) FROM sqlite_master WHERE name = 'tickets'");
	assert_string_equal(v, "0");
	free(v);

	/* a path that cannot be a database says why */
	rc = tr_store_open("/nonexistent-dir/x/triaged.db", TR_DURABILITY_FULL, &s, err, sizeof(err));
	assert_int_not_equal(rc, 0);
	assert_true(err[0] != 0);

	unlink(path);
	rmdir(dir);
}

static void test_events_and_outcomes(void **state)
{
	struct fixture *f = *state;
	struct tr_event a, b, dup;
	make_event(&a, "{\"type\":\"feedback.new\",\"id\":\"fb-1\",\"account\":\"acme-de\",\"marketplace\":\"DE\","
		       "\"rating\":\"1\",\"occurred_at\":\"2026-11-24T06:00:00+01:00\"}");
	make_event(&b, "{\"type\":\"message.new\",\"id\":\"fb-1\"}"); /* same id, other type */
	make_event(&dup, "{\"type\":\"feedback.new\",\"id\":\"fb-1\",\"rating\":5}");
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_event_insert(f->s, &a), 0);
	assert_true(a.seq > 0);
	assert_int_equal(tr_store_event_insert(f->s, &b), 0);
	assert_true(b.seq > a.seq);
	assert_int_equal(tr_store_event_insert(f->s, &dup), TR_EDUP);
	assert_int_equal(dup.seq, 0);
	/* the transaction is still good after a duplicate */
	assert_int_equal(tr_store_outcome_insert(f->s, a.seq, "negative-feedback", "ok",
						 "[{\"op\":\"ticket.open\",\"ticket\":1}]", NULL, NULL, 1200, NOW), 0);
	assert_int_equal(tr_store_outcome_insert(f->s, a.seq, "broken", "error", NULL,
						 "attempt to index a nil value", "broken.lua:7", 50, NOW), 0);
	assert_int_equal(tr_store_commit(f->s), 0);

	int found = 0;
	cJSON *by_id = tr_view_explain(f->s, "feedback.new", "fb-1", 0, &found);
	assert_true(found);
	cJSON *by_seq = tr_view_explain(f->s, NULL, NULL, a.seq, &found);
	assert_true(found);
	char *t1 = cJSON_PrintUnformatted(by_id), *t2 = cJSON_PrintUnformatted(by_seq);
	assert_string_equal(t1, t2);
	free(t1);
	free(t2);
	cJSON_Delete(by_seq);

	cJSON *ev = cJSON_GetObjectItem(by_id, "event");
	assert_int_equal((int64_t)cJSON_GetObjectItem(ev, "seq")->valuedouble, a.seq);
	assert_string_equal(cJSON_GetObjectItem(ev, "type")->valuestring, "feedback.new");
	assert_string_equal(cJSON_GetObjectItem(ev, "id")->valuestring, "fb-1");
	assert_string_equal(cJSON_GetObjectItem(ev, "source")->valuestring, "test");
	assert_string_equal(cJSON_GetObjectItem(ev, "account")->valuestring, "acme-de");
	assert_string_equal(cJSON_GetObjectItem(ev, "marketplace")->valuestring, "DE");
	assert_string_equal(cJSON_GetObjectItem(ev, "occurred_at")->valuestring, "2026-11-24T05:00:00Z");
	assert_string_equal(cJSON_GetObjectItem(ev, "received_at")->valuestring, "2026-11-24T06:00:00Z");
	/* the payload is the first event's (the duplicate changed nothing) */
	cJSON *payload = cJSON_GetObjectItem(ev, "payload");
	assert_true(cJSON_GetObjectItem(payload, "rating")->valuedouble == 1);

	cJSON *outcomes = cJSON_GetObjectItem(by_id, "outcomes");
	assert_int_equal(cJSON_GetArraySize(outcomes), 2);
	cJSON *o0 = cJSON_GetArrayItem(outcomes, 0), *o1 = cJSON_GetArrayItem(outcomes, 1);
	assert_string_equal(cJSON_GetObjectItem(o0, "rule")->valuestring, "negative-feedback");
	assert_string_equal(cJSON_GetObjectItem(o0, "status")->valuestring, "ok");
	cJSON *eff = cJSON_GetArrayItem(cJSON_GetObjectItem(o0, "effects"), 0);
	assert_string_equal(cJSON_GetObjectItem(eff, "op")->valuestring, "ticket.open");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o0, "error")));
	assert_int_equal((int)cJSON_GetObjectItem(o0, "duration_us")->valuedouble, 1200);
	assert_string_equal(cJSON_GetObjectItem(o1, "rule")->valuestring, "broken");
	assert_string_equal(cJSON_GetObjectItem(o1, "status")->valuestring, "error");
	assert_string_equal(cJSON_GetObjectItem(o1, "error")->valuestring, "attempt to index a nil value");
	assert_string_equal(cJSON_GetObjectItem(o1, "location")->valuestring, "broken.lua:7");
	cJSON_Delete(by_id);

	/* the other type with the same id is its own event, with no outcomes */
	cJSON *other = tr_view_explain(f->s, "message.new", "fb-1", 0, &found);
	assert_true(found);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(other, "outcomes")), 0);
	cJSON_Delete(other);

	/* unknown events */
	assert_null(tr_view_explain(f->s, "feedback.new", "nope", 0, &found));
	assert_false(found);
	assert_null(tr_view_explain(f->s, NULL, NULL, 9999, &found));
	assert_false(found);

	/* a rolled-back event is not a duplicate later */
	struct tr_event c;
	make_event(&c, "{\"type\":\"case.opened\",\"id\":\"c-1\"}");
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_event_insert(f->s, &c), 0);
	assert_int_equal(tr_store_rollback(f->s), 0);
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_event_insert(f->s, &c), 0);
	assert_int_equal(tr_store_commit(f->s), 0);

	tr_event_free(&a);
	tr_event_free(&b);
	tr_event_free(&dup);
	tr_event_free(&c);
}

static void test_quarantine(void **state)
{
	struct fixture *f = *state;
	char reason[128];
	assert_int_equal(tr_store_quarantined(f->s, "a.b", "1", reason, sizeof(reason)), 0);
	assert_int_equal(tr_store_quarantine_add(f->s, "a.b", "1", "the process died running rule x", NOW), 0);
	assert_int_equal(tr_store_quarantined(f->s, "a.b", "1", reason, sizeof(reason)), 1);
	assert_string_equal(reason, "the process died running rule x");
	assert_int_equal(tr_store_quarantined(f->s, "a.b", "2", reason, sizeof(reason)), 0);
	assert_int_equal(tr_store_quarantined(f->s, "a.c", "1", reason, sizeof(reason)), 0);
}

static void test_tickets(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	struct tr_ticket t = {
		.key = "feedback:302-1", .title = "1-star feedback on 302-1", .queue = "customer-care",
		.priority = "high", .state = "open", .account = "acme-de", .due_at = NOW + 7200,
		.tags = "[\"feedback\"]", .fields = "{\"order_id\":\"302-1\"}",
	};
	assert_int_equal(tr_store_ticket_insert(f->s, &t, NOW), 0);
	int64_t id = t.id;
	assert_true(id > 0);
	assert_int_equal(tr_store_history_add(f->s, id, NOW, 0, "rule:negative-feedback", "opened",
					      "1-star feedback on 302-1"), 0);

	struct tr_ticket g;
	assert_int_equal(tr_store_ticket_get(f->s, id, &g), 0);
	assert_int_equal(g.id, id);
	assert_string_equal(g.key, "feedback:302-1");
	assert_string_equal(g.title, "1-star feedback on 302-1");
	assert_string_equal(g.queue, "customer-care");
	assert_string_equal(g.priority, "high");
	assert_string_equal(g.state, "open");
	assert_string_equal(g.account, "acme-de");
	assert_null(g.assignee);
	assert_null(g.close_reason);
	assert_string_equal(g.tags, "[\"feedback\"]");
	assert_string_equal(g.fields, "{\"order_id\":\"302-1\"}");
	assert_int_equal(g.level, 0);
	assert_int_equal(g.due_at, NOW + 7200);
	assert_int_equal(g.created_at, NOW);
	assert_int_equal(g.updated_at, NOW);
	assert_int_equal(g.closed_at, 0);
	assert_int_equal(g.acked_at, 0);

	assert_int_equal(tr_store_ticket_find_open(f->s, "feedback:302-1"), id);
	assert_int_equal(tr_store_ticket_find_open(f->s, "feedback:302-2"), 0);

	/* defaults: no tags, no fields */
	int64_t other = add_ticket(f->s, "case:1", "Case 1", "cases", "normal", NULL, 0);
	struct tr_ticket d;
	assert_int_equal(tr_store_ticket_get(f->s, other, &d), 0);
	assert_string_equal(d.tags, "[]");
	assert_string_equal(d.fields, "{}");
	assert_null(d.account);
	assert_int_equal(d.due_at, 0);
	tr_ticket_free(&d);

	/* update writes back every mutable column */
	free(g.priority);
	g.priority = strdup("urgent");
	free(g.title);
	g.title = strdup("Escalated: 1-star feedback");
	g.assignee = strdup("mei");
	g.level = 2;
	g.due_at = NOW + 3600;
	g.acked_at = NOW + 60;
	free(g.tags);
	g.tags = strdup("[\"feedback\",\"vip\"]");
	assert_int_equal(tr_store_ticket_update(f->s, &g, NULL, NOW + 120), 0);
	assert_int_equal(tr_store_history_add(f->s, id, NOW + 120, 0, "uid:1000", "assign", "mei"), 0);
	tr_ticket_free(&g);
	assert_int_equal(tr_store_ticket_get(f->s, id, &g), 0);
	assert_string_equal(g.priority, "urgent");
	assert_string_equal(g.title, "Escalated: 1-star feedback");
	assert_string_equal(g.assignee, "mei");
	assert_int_equal(g.level, 2);
	assert_int_equal(g.due_at, NOW + 3600);
	assert_int_equal(g.acked_at, NOW + 60);
	assert_int_equal(g.updated_at, NOW + 120);
	assert_int_equal(g.created_at, NOW);
	assert_string_equal(g.tags, "[\"feedback\",\"vip\"]");
	/* clearing the due time */
	g.due_at = 0;
	assert_int_equal(tr_store_ticket_update(f->s, &g, NULL, NOW + 130), 0);
	tr_ticket_free(&g);
	assert_int_equal(tr_store_ticket_get(f->s, id, &g), 0);
	assert_int_equal(g.due_at, 0);
	/* state and due_at unchanged: the other columns are written all the same */
	struct tr_ticket before;
	assert_int_equal(tr_store_ticket_get(f->s, id, &before), 0);
	free(g.assignee);
	g.assignee = strdup("li");
	assert_int_equal(tr_store_ticket_update(f->s, &g, &before, NOW + 140), 0);
	tr_ticket_free(&g);
	assert_int_equal(tr_store_ticket_get(f->s, id, &g), 0);
	assert_string_equal(g.assignee, "li");
	assert_string_equal(g.state, "open");
	assert_int_equal(g.updated_at, NOW + 140);
	assert_int_equal(tr_store_ticket_find_open(f->s, "feedback:302-1"), id);

	/* closed: no longer found by key, still readable by id (the state
	 * differs from the row read before: it is written) */
	free(g.state);
	g.state = strdup("closed");
	g.closed_at = NOW + 300;
	g.close_reason = strdup("buyer contacted");
	assert_int_equal(tr_store_ticket_update(f->s, &g, &before, NOW + 300), 0);
	tr_ticket_free(&before);
	assert_int_equal(tr_store_history_add(f->s, id, NOW + 300, 0, "rule:x", "close", "buyer contacted"), 0);
	tr_ticket_free(&g);
	assert_int_equal(tr_store_ticket_find_open(f->s, "feedback:302-1"), 0);
	assert_int_equal(tr_store_ticket_get(f->s, id, &g), 0);
	assert_string_equal(g.state, "closed");
	assert_string_equal(g.close_reason, "buyer contacted");
	assert_int_equal(g.closed_at, NOW + 300);
	tr_ticket_free(&g);

	assert_int_equal(tr_store_ticket_get(f->s, 424242, &g), -ENOENT);
	assert_int_equal(tr_store_commit(f->s), 0);

	/* the ticket as `ticket` shows it: fields, times, history in order */
	int found = 0;
	cJSON *j = tr_view_ticket_by_id(f->s, id, 1, &found);
	assert_true(found);
	assert_string_equal(cJSON_GetObjectItem(j, "key")->valuestring, "feedback:302-1");
	assert_string_equal(cJSON_GetObjectItem(j, "state")->valuestring, "closed");
	assert_string_equal(cJSON_GetObjectItem(j, "priority")->valuestring, "urgent");
	assert_string_equal(cJSON_GetObjectItem(j, "created_at")->valuestring, "2026-11-24T06:00:00Z");
	assert_string_equal(cJSON_GetObjectItem(j, "closed_at")->valuestring, "2026-11-24T06:05:00Z");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "due_at")));
	cJSON *tags = cJSON_GetObjectItem(j, "tags");
	assert_true(cJSON_IsArray(tags));
	assert_string_equal(cJSON_GetArrayItem(tags, 1)->valuestring, "vip");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "fields"), "order_id")->valuestring, "302-1");
	cJSON *h = cJSON_GetObjectItem(j, "history");
	assert_int_equal(cJSON_GetArraySize(h), 3);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "action")->valuestring, "opened");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "actor")->valuestring,
			    "rule:negative-feedback");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 1), "action")->valuestring, "assign");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 1), "actor")->valuestring, "uid:1000");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 2), "detail")->valuestring, "buyer contacted");
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(h, 2), "at")->valuestring, "2026-11-24T06:05:00Z");
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "timers")));
	cJSON_Delete(j);
	j = tr_view_ticket_by_id(f->s, id, 0, &found);
	assert_true(found);
	assert_null(cJSON_GetObjectItem(j, "history"));
	cJSON_Delete(j);
	assert_null(tr_view_ticket_by_id(f->s, 424242, 1, &found));
	assert_false(found);
}

static void test_one_open_ticket_per_key(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	int64_t first = add_ticket(f->s, "case:77", "Case 77", "cases", "normal", NULL, 0);

	/* a second open ticket with the key: the store refuses it */
	assert_int_equal(tr_store_savepoint(f->s), 0);
	struct tr_ticket t = {.key = "case:77", .title = "Case 77 again", .queue = "cases",
			      .priority = "normal", .state = "open"};
	assert_int_equal(tr_store_ticket_insert(f->s, &t, NOW), -EEXIST);
	assert_int_equal(tr_store_rollback_to(f->s), 0);
	assert_int_equal(tr_store_release(f->s), 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "case:77"), first);

	/* closed + open with the same key is fine */
	close_ticket(f->s, first, NOW + 10);
	int64_t second = add_ticket(f->s, "case:77", "Case 77 reopened", "cases", "normal", NULL, 0);
	assert_true(second != first);
	assert_int_equal(tr_store_ticket_find_open(f->s, "case:77"), second);
	/* and two closed ones too */
	close_ticket(f->s, second, NOW + 20);
	int64_t third = add_ticket(f->s, "case:77", "Case 77, third time", "cases", "normal", NULL, 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "case:77"), third);

	/* reopening a closed one while another holds the key: refused */
	struct tr_ticket g;
	assert_int_equal(tr_store_ticket_get(f->s, first, &g), 0);
	free(g.state);
	g.state = strdup("open");
	assert_int_equal(tr_store_savepoint(f->s), 0);
	assert_int_equal(tr_store_ticket_update(f->s, &g, NULL, NOW + 30), -EEXIST);
	assert_int_equal(tr_store_rollback_to(f->s), 0);
	assert_int_equal(tr_store_release(f->s), 0);
	tr_ticket_free(&g);
	assert_int_equal(tr_store_commit(f->s), 0);

	cJSON *all = tr_view_tickets(f->s, &(struct tr_ticket_filter){.state = "all"});
	assert_int_equal(cJSON_GetArraySize(all), 3);
	cJSON_Delete(all);
	cJSON *open = tr_view_tickets(f->s, &(struct tr_ticket_filter){.state = "open"});
	assert_int_equal(cJSON_GetArraySize(open), 1);
	assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(open, 0), "title")->valuestring,
			    "Case 77, third time");
	cJSON_Delete(open);
}

static void test_state(void **state)
{
	struct fixture *f = *state;
	char *v = (char *)0x1;
	assert_int_equal(tr_store_state_get(f->s, "cases:acme-us", &v), 0);
	assert_null(v);
	assert_int_equal(tr_store_state_set(f->s, "cases:acme-us", "[3]"), 0);
	assert_int_equal(tr_store_state_get(f->s, "cases:acme-us", &v), 1);
	assert_string_equal(v, "[3]");
	free(v);
	/* overwrite */
	assert_int_equal(tr_store_state_set(f->s, "cases:acme-us", "[{\"n\":4}]"), 0);
	assert_int_equal(tr_store_state_get(f->s, "cases:acme-us", &v), 1);
	assert_string_equal(v, "[{\"n\":4}]");
	free(v);
	/* keys are independent and exact */
	assert_int_equal(tr_store_state_set(f->s, "cases:acme-de", "[\"x\"]"), 0);
	assert_int_equal(tr_store_state_get(f->s, "cases:acme", &v), 0);
	assert_int_equal(tr_store_state_get(f->s, "Cases:acme-us", &v), 0);
	/* NULL deletes; deleting what is absent is fine */
	assert_int_equal(tr_store_state_set(f->s, "cases:acme-us", NULL), 0);
	assert_int_equal(tr_store_state_get(f->s, "cases:acme-us", &v), 0);
	assert_null(v);
	assert_int_equal(tr_store_state_set(f->s, "cases:acme-us", NULL), 0);
	assert_int_equal(tr_store_state_get(f->s, "cases:acme-de", &v), 1);
	assert_string_equal(v, "[\"x\"]");
	free(v);
}

static int64_t counter(struct tr_store *s, const char *key, int64_t n, int64_t t, int64_t window)
{
	int64_t total = -1;
	assert_int_equal(tr_store_counter_add(s, key, n, t, window, &total), 0);
	return total;
}

static void test_windowed_counter(void **state)
{
	struct fixture *f = *state;
	const int64_t day = 86400, h = 3600;
	const int64_t t0 = NOW + 17 * 60; /* not on a bucket edge */
	assert_int_equal(counter(f->s, "opened:acme-us", 1, t0, day), 1);
	assert_int_equal(counter(f->s, "opened:acme-us", 2, t0 + h, day), 3);
	assert_int_equal(counter(f->s, "opened:acme-us", 1, t0 + 10 * h, day), 4);
	/* 23 h after the first: everything is still inside the day */
	assert_int_equal(counter(f->s, "opened:acme-us", 1, t0 + 23 * h, day), 5);
	/* another key counts on its own */
	assert_int_equal(counter(f->s, "opened:acme-de", 1, t0 + 23 * h, day), 1);
	/* 26 h after the first: the first two adds (26 h and 25 h old) fell out */
	assert_int_equal(counter(f->s, "opened:acme-us", 1, t0 + 26 * h, day), 3);
	/* adding 0 reads the count */
	assert_int_equal(counter(f->s, "opened:acme-us", 0, t0 + 26 * h, day), 3);
	/* two days later only the new add counts */
	assert_int_equal(counter(f->s, "opened:acme-us", 1, t0 + 50 * h, day), 1);
	/* a short window: 1 h */
	assert_int_equal(counter(f->s, "burst", 5, t0, h), 5);
	assert_int_equal(counter(f->s, "burst", 1, t0 + 30 * 60, h), 6);
	assert_int_equal(counter(f->s, "burst", 1, t0 + 3 * h, h), 1);
	/* window 0: forever */
	assert_int_equal(counter(f->s, "ever", 1, t0, 0), 1);
	assert_int_equal(counter(f->s, "ever", 1, t0 + 400 * day, 0), 2);
	assert_int_equal(counter(f->s, "ever", 3, t0 + 800 * day, 0), 5);
}

/* Open keys live in memory (migration 12): they follow a rolled-back
 * rule, a rolled-back transaction and a restart like the rows do. */
static void test_open_keys_follow_the_rows(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	int64_t kept = add_ticket(f->s, "k:kept", "Kept", "q", "normal", NULL, 0);
	int64_t closing = add_ticket(f->s, "k:closing", "Closing", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_savepoint(f->s), 0);
	add_ticket(f->s, "k:rule-failed", "R", "q", "normal", NULL, 0);
	close_ticket(f->s, kept, NOW);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:kept"), 0);
	assert_int_equal(tr_store_rollback_to(f->s), 0);
	assert_int_equal(tr_store_release(f->s), 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:rule-failed"), 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:kept"), kept);
	assert_int_equal(tr_store_commit(f->s), 0);

	/* a transaction that fails as a whole */
	assert_int_equal(tr_store_begin(f->s), 0);
	close_ticket(f->s, closing, NOW);
	add_ticket(f->s, "k:batch-failed", "B", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_rollback(f->s), 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:closing"), closing);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:batch-failed"), 0);

	/* closed for good, then reopened under a new ticket */
	assert_int_equal(tr_store_begin(f->s), 0);
	close_ticket(f->s, closing, NOW);
	int64_t again = add_ticket(f->s, "k:closing", "Again", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_commit(f->s), 0);

	/* a restart rebuilds the map from the open rows alone */
	tr_store_close(f->s);
	char err[256] = "";
	assert_int_equal(tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)), 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:kept"), kept);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:closing"), again);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:rule-failed"), 0);
	assert_int_equal(tr_store_ticket_find_open(f->s, "k:batch-failed"), 0);
}

static void test_savepoint_rollback(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	/* outer work: the event's own row and a first rule's ticket */
	struct tr_event ev;
	make_event(&ev, "{\"type\":\"case.opened\",\"id\":\"c-9\"}");
	assert_int_equal(tr_store_event_insert(f->s, &ev), 0);
	int64_t kept = add_ticket(f->s, "kept", "kept", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_state_set(f->s, "s", "[1]"), 0);

	/* a rule's work in a savepoint, rolled back */
	assert_int_equal(tr_store_savepoint(f->s), 0);
	add_ticket(f->s, "undone", "undone", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_state_set(f->s, "s", "[2]"), 0);
	assert_int_equal(tr_store_state_set(f->s, "t", "[3]"), 0);
	int64_t total;
	assert_int_equal(tr_store_counter_add(f->s, "c", 5, NOW, 86400, &total), 0);
	close_ticket(f->s, kept, NOW);
	assert_int_equal(tr_store_rollback_to(f->s), 0);
	assert_int_equal(tr_store_release(f->s), 0);
	assert_true(tr_store_in_transaction(f->s));

	/* the next rule's work in a savepoint, released */
	assert_int_equal(tr_store_savepoint(f->s), 0);
	add_ticket(f->s, "next", "next", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_release(f->s), 0);
	assert_int_equal(tr_store_outcome_insert(f->s, ev.seq, "r", "error", NULL, "boom", "r.lua:1", 1, NOW), 0);
	assert_int_equal(tr_store_commit(f->s), 0);

	assert_int_equal(tr_store_ticket_find_open(f->s, "kept"), kept); /* still open */
	assert_int_equal(tr_store_ticket_find_open(f->s, "undone"), 0);
	assert_true(tr_store_ticket_find_open(f->s, "next") > 0);
	char *v;
	assert_int_equal(tr_store_state_get(f->s, "s", &v), 1);
	assert_string_equal(v, "[1]");
	free(v);
	assert_int_equal(tr_store_state_get(f->s, "t", &v), 0);
	assert_int_equal(counter(f->s, "c", 0, NOW, 86400), 0);
	int found;
	cJSON *x = tr_view_explain(f->s, "case.opened", "c-9", 0, &found);
	assert_true(found);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(x, "outcomes")), 1);
	cJSON_Delete(x);
	tr_event_free(&ev);
}

/* The keys of a query's tickets, in order, joined with ','. */
static char *keys_of(struct tr_store *s, const struct tr_ticket_filter *flt)
{
	cJSON *list = tr_view_tickets(s, flt);
	assert_non_null(list);
	assert_true(cJSON_IsArray(list));
	char buf[1024] = "";
	for (cJSON *t = list->child; t; t = t->next) {
		if (buf[0])
			strcat(buf, ",");
		strcat(buf, cJSON_GetObjectItem(t, "key")->valuestring);
	}
	cJSON_Delete(list);
	return strdup(buf);
}

static void assert_keys(struct tr_store *s, struct tr_ticket_filter flt, const char *want)
{
	char *got = keys_of(s, &flt);
	if (strcmp(got, want) != 0) {
		char msg[1200];
		snprintf(msg, sizeof(msg), "got [%s], want [%s]", got, want);
		free(got);
		fail_msg("%s", msg);
	}
	free(got);
}

static void test_tickets_query(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	add_ticket(f->s, "feedback:302-1", "1-star feedback on 302-1", "customer-care", "high", "acme-de", NOW - 100);
	add_ticket(f->s, "case:77", "Case 77 answered, not resolved", "cases", "normal", "acme-us", NOW + 3600);
	add_ticket(f->s, "account:acme-us", "Suspension: plan of action", "account", "urgent", "acme-us", 0);
	int64_t closed = add_ticket(f->s, "feedback:302-2", "2-star feedback on 302-2", "customer-care", "high",
				    "acme-de", NOW - 100);
	close_ticket(f->s, closed, NOW);
	add_ticket(f->s, "message:msg-1", "Reply to 佐藤 (返品したい)", "customer-care", "normal", "acme-jp", NOW - 1);
	assert_int_equal(tr_store_commit(f->s), 0);

	/* default: open ones, newest first */
	assert_keys(f->s, (struct tr_ticket_filter){0},
		    "message:msg-1,account:acme-us,case:77,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.state = "open"},
		    "message:msg-1,account:acme-us,case:77,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.state = "closed"}, "feedback:302-2");
	assert_keys(f->s, (struct tr_ticket_filter){.state = "all"},
		    "message:msg-1,feedback:302-2,account:acme-us,case:77,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.queue = "customer-care"}, "message:msg-1,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.state = "all", .queue = "customer-care"},
		    "message:msg-1,feedback:302-2,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.account = "acme-us"}, "account:acme-us,case:77");
	assert_keys(f->s, (struct tr_ticket_filter){.priority = "high"}, "feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.priority = "urgent", .account = "acme-de"}, "");
	/* breached: open and past due at now (the closed one is not breached) */
	assert_keys(f->s, (struct tr_ticket_filter){.breached = 1, .now = NOW}, "message:msg-1,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.breached = 1, .now = NOW - 50}, "feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.breached = 1, .now = NOW + 7200},
		    "message:msg-1,case:77,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.state = "all", .breached = 1, .now = NOW},
		    "message:msg-1,feedback:302-1");
	/* text: in the title or in the key */
	assert_keys(f->s, (struct tr_ticket_filter){.text = "feedback"}, "feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.text = "answered"}, "case:77");
	assert_keys(f->s, (struct tr_ticket_filter){.text = "case:77"}, "case:77");
	assert_keys(f->s, (struct tr_ticket_filter){.text = "acme-us"}, "account:acme-us");
	assert_keys(f->s, (struct tr_ticket_filter){.text = "返品"}, "message:msg-1");
	assert_keys(f->s, (struct tr_ticket_filter){.text = "302", .state = "all"}, "feedback:302-2,feedback:302-1");
	assert_keys(f->s, (struct tr_ticket_filter){.text = "no such words"}, "");
	/* text is text, not a pattern */
	assert_keys(f->s, (struct tr_ticket_filter){.text = "%"}, "");
	assert_keys(f->s, (struct tr_ticket_filter){.text = "'; DROP TABLE tickets; --"}, "");
	/* limit */
	assert_keys(f->s, (struct tr_ticket_filter){.limit = 2}, "message:msg-1,account:acme-us");
	assert_keys(f->s, (struct tr_ticket_filter){.limit = 1, .state = "all"}, "message:msg-1");

	/* the ticket objects carry what SPEC §6 lists */
	cJSON *list = tr_view_tickets(f->s, &(struct tr_ticket_filter){.text = "302-1"});
	assert_int_equal(cJSON_GetArraySize(list), 1);
	cJSON *t = cJSON_GetArrayItem(list, 0);
	assert_true(cJSON_GetObjectItem(t, "id")->valuedouble > 0);
	assert_string_equal(cJSON_GetObjectItem(t, "title")->valuestring, "1-star feedback on 302-1");
	assert_string_equal(cJSON_GetObjectItem(t, "queue")->valuestring, "customer-care");
	assert_string_equal(cJSON_GetObjectItem(t, "priority")->valuestring, "high");
	assert_string_equal(cJSON_GetObjectItem(t, "state")->valuestring, "open");
	assert_string_equal(cJSON_GetObjectItem(t, "account")->valuestring, "acme-de");
	assert_int_equal((int)cJSON_GetObjectItem(t, "level")->valuedouble, 0);
	assert_string_equal(cJSON_GetObjectItem(t, "due_at")->valuestring, "2026-11-24T05:58:20Z");
	assert_string_equal(cJSON_GetObjectItem(t, "created_at")->valuestring, "2026-11-24T06:00:00Z");
	assert_string_equal(cJSON_GetObjectItem(t, "updated_at")->valuestring, "2026-11-24T06:00:00Z");
	assert_true(cJSON_IsArray(cJSON_GetObjectItem(t, "tags")));
	cJSON_Delete(list);

	/* more than the default limit of 100 */
	assert_int_equal(tr_store_begin(f->s), 0);
	for (int i = 0; i < 120; i++) {
		char key[32];
		snprintf(key, sizeof(key), "bulk:%d", i);
		add_ticket(f->s, key, "bulk", "bulk", "low", NULL, 0);
	}
	assert_int_equal(tr_store_commit(f->s), 0);
	list = tr_view_tickets(f->s, &(struct tr_ticket_filter){.queue = "bulk"});
	assert_int_equal(cJSON_GetArraySize(list), 100);
	cJSON_Delete(list);
	list = tr_view_tickets(f->s, &(struct tr_ticket_filter){.queue = "bulk", .limit = 500});
	assert_int_equal(cJSON_GetArraySize(list), 120);
	cJSON_Delete(list);
}

/* Timers come back in due order, and a timer id is never handed out twice:
 * not after the timer fired (was deleted), not after a rolled-back
 * transaction, not after a reopen (a fired timer's event is "timer:<id>",
 * and a reused id would make a later one a duplicate). */
static void test_timer_ids(void **state)
{
	struct fixture *f = *state;
	int64_t a, b, c, d;
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 20, "schedule", 0, NULL, 0, &a), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 10, "schedule", 0, NULL, 0, &b), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_true(b > a);

	struct tr_timer due[4];
	int n = 0;
	assert_int_equal(tr_store_timers_due(f->s, NOW + 100, 4, due, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(due[0].id, b); /* due order, not id order */
	assert_int_equal(due[1].id, a);
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_timer_delete(f->s, due[0].due_at, due[0].id), 0);
	assert_int_equal(tr_store_timer_delete(f->s, due[0].due_at, due[0].id), -ENOENT);
	assert_int_equal(tr_store_timer_delete(f->s, due[1].due_at, due[1].id), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	tr_timer_rows_free(due, n);

	/* rolled back: the id is not given again while running */
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 5, "schedule", 0, NULL, 0, &c), 0);
	assert_int_equal(tr_store_rollback(f->s), 0);
	assert_true(c > b);

	/* reopened with no timer left: the saved counter still goes on */
	tr_store_close(f->s);
	char err[256] = "";
	assert_int_equal(tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)), 0);
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 5, "schedule", 0, NULL, 0, &d), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_true(d > b);
	char *next = side_query(f->path, "SELECT next FROM timer_ids");
	assert_non_null(next);
	assert_int_equal(atoll(next), d + 1);
	free(next);
}

/* The timers of the ticket at id, as tr_view_ticket_by_id lists them. */
static int ticket_timer_count(struct tr_store *s, int64_t id)
{
	int found = 0;
	cJSON *o = tr_view_ticket_by_id(s, id, 1, &found);
	assert_true(found);
	int n = cJSON_GetArraySize(cJSON_GetObjectItem(o, "timers"));
	cJSON_Delete(o);
	return n;
}

/* Whether ticket's wake row is at `at` (0: has none), seen from another
 * connection. */
static int wake_at(const char *path, int64_t ticket, int64_t at)
{
	char sql[160];
	snprintf(sql, sizeof(sql), "SELECT coalesce(group_concat(at), 0) FROM wakes WHERE ticket_id = %lld",
		 (long long)ticket);
	char *v = side_query(path, sql);
	int ok = v && strtoll(v, NULL, 10) == at;
	if (!ok)
		fprintf(stderr, "ticket %lld wakes at %s, not %lld\n", (long long)ticket, v ? v : "?", (long long)at);
	free(v);
	return ok;
}

/* A ticket's steps wait in one wake row at the earliest: adding an earlier
 * step, firing, cancelling one kind or all keep it there, and another
 * ticket's row is left alone. */
static void test_ticket_steps(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	int64_t a = add_ticket(f->s, "t:a", "A", "q", "normal", NULL, 0);
	int64_t b = add_ticket(f->s, "t:b", "B", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 30, "due", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 20, "escalate", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 10, "nudge", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 10, "nudge", b, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(ticket_timer_count(f->s, a), 3);
	assert_true(wake_at(f->path, a, NOW + 10));
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM wakes"), 2);

	struct tr_timer due[4];
	int n = 0;
	assert_int_equal(tr_store_timers_due(f->s, NOW + 10, 1, due, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(due[0].kind, "wake");
	assert_int_equal(due[0].ticket_id, a);
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_wake_take(f->s, due[0].due_at, a), 0);
	assert_int_equal(tr_store_wake_take(f->s, due[0].due_at, a), -ENOENT); /* once */
	tr_timer_rows_free(due, n);
	int64_t next;
	assert_int_equal(tr_store_ticket_steps_due(f->s, a, NOW + 10, 4, due, &n, &next), 0);
	assert_int_equal(n, 1);
	assert_int_equal(next, NOW + 20);
	assert_string_equal(due[0].kind, "nudge");
	assert_int_equal(tr_store_step_done(f->s, &due[0], "fired", NOW + 11, "nudge", "n"), 0);
	assert_int_equal(tr_store_step_done(f->s, &due[0], "fired", NOW + 11, "nudge", "n"), -ENOENT);
	assert_int_equal(tr_store_ticket_rewake(f->s, a, next), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	tr_timer_rows_free(due, n);
	assert_int_equal(ticket_timer_count(f->s, a), 2);
	assert_true(wake_at(f->path, a, NOW + 20));

	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_timers_cancel(f->s, a, "escalate"), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(ticket_timer_count(f->s, a), 1);
	assert_true(wake_at(f->path, a, NOW + 30));

	/* A rolled-back savepoint forgets what it knew of the wake row. */
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_savepoint(f->s), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 5, "nudge", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_rollback_to(f->s), 0);
	assert_int_equal(tr_store_release(f->s), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 25, "nudge", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_true(wake_at(f->path, a, NOW + 25));

	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_timers_cancel(f->s, a, NULL), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(ticket_timer_count(f->s, a), 0);
	assert_true(wake_at(f->path, a, 0));
	assert_int_equal(ticket_timer_count(f->s, b), 1);
	assert_true(wake_at(f->path, b, NOW + 10));
	int64_t first = 0;
	assert_int_equal(tr_store_timer_next(f->s, &first), 0);
	assert_int_equal(first, NOW + 10);
}

/* Moving a step (an ack's pause, a calendar's change) moves the wake. */
static void test_step_move(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	int64_t a = add_ticket(f->s, "t:a", "A", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 10, "escalate", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 30, "due", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	struct tr_timer due[2];
	int n = 0;
	assert_int_equal(tr_store_begin(f->s), 0);
	int64_t next;
	assert_int_equal(tr_store_ticket_steps_due(f->s, a, NOW + 10, 2, due, &n, &next), 0);
	assert_int_equal(next, NOW + 30);
	assert_int_equal(n, 1);
	assert_int_equal(tr_store_step_move(f->s, &due[0], NOW + 20, "{\"paused_at\":1}"), 0);
	assert_int_equal(tr_store_step_move(f->s, &due[0], NOW + 20, "{}"), -ENOENT); /* it has moved */
	assert_int_equal(tr_store_commit(f->s), 0);
	tr_timer_rows_free(due, n);
	assert_true(wake_at(f->path, a, NOW + 20));
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM steps WHERE payload LIKE '%paused_at%'"), 1);
}

/* The id of a nudge added to ticket at due, 0 when none was added. */
static int64_t nudge_id(struct tr_store *s, int64_t due, int64_t ticket)
{
	int64_t id = -1;
	assert_int_equal(tr_store_timer_add(s, due, "nudge", ticket, NULL, 0, &id), 0);
	return id;
}

/* A fired step is a line of its ticket's history, in time order with the
 * ticket_history lines, and stays when the ticket's steps are cancelled. */
static void test_step_history(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	int64_t a = add_ticket(f->s, "t:a", "A", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_history_add(f->s, a, NOW + 5, 0, "uid:0", "comment", "first"), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 10, "nudge", a, "{\"note\":\"n\"}", 0, NULL), 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 20, "nudge", a, NULL, 0, NULL), 0);
	assert_int_equal(tr_store_commit(f->s), 0);

	struct tr_timer due[1];
	int n = 0;
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_wake_take(f->s, NOW + 10, a), 0);
	int64_t next;
	assert_int_equal(tr_store_ticket_steps_due(f->s, a, NOW + 20, 1, due, &n, &next), 0);
	assert_int_equal(n, 1);
	assert_int_equal(next, -1); /* the second is due too, and did not fit */
	assert_int_equal(tr_store_step_done(f->s, &due[0], "fired", NOW + 11, "nudge", "n"), 0);
	assert_int_equal(tr_store_ticket_rewake(f->s, a, next), 0);
	assert_int_equal(tr_store_history_add(f->s, a, NOW + 12, 0, "uid:0", "comment", "last"), 0);
	assert_int_equal(tr_store_timers_cancel(f->s, a, NULL), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	tr_timer_rows_free(due, n);

	int found;
	cJSON *o = tr_view_ticket_by_id(f->s, a, 1, &found);
	assert_non_null(o);
	char *text = cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "history"));
	assert_non_null(strstr(text, "\"detail\":\"first\""));
	const char *first = strstr(text, "first"), *fire = strstr(text, "\"actor\":\"timer\",\"action\":\"nudge\""),
		   *last = strstr(text, "last");
	assert_true(first && fire && last && first < fire && fire < last);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "timers")), 0);
	free(text);
	cJSON_Delete(o);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM steps"), 1); /* the fired one */
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM step_log WHERE state = 'fired'"), 1);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM wakes"), 0);

	/* A closed ticket's steps have ended: none is added. */
	side_exec(f->path, "UPDATE tickets SET state = 'closed'");
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(nudge_id(f->s, NOW + 50, a), 0); /* nothing added */
	assert_int_equal(nudge_id(f->s, NOW + 50, 999), 0); /* nothing added */
	assert_int_equal(tr_store_timer_add(f->s, NOW + 50, "schedule", 0, NULL, 0, NULL), 0);
	/* also one opened and closed in the same transaction, or opened in a
	 * savepoint that was rolled back */
	int64_t b = add_ticket(f->s, "t:b", "B", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_timer_add(f->s, NOW + 50, "nudge", b, NULL, 0, NULL), 0);
	close_ticket(f->s, b, NOW);
	assert_int_equal(nudge_id(f->s, NOW + 60, b), 0); /* nothing added */
	assert_int_equal(tr_store_savepoint(f->s), 0);
	int64_t c = add_ticket(f->s, "t:c", "C", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_rollback_to(f->s), 0);
	assert_int_equal(tr_store_release(f->s), 0);
	assert_int_equal(nudge_id(f->s, NOW + 60, c), 0); /* nothing added */
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM timers"), 1); /* the schedule */
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM steps WHERE ticket_id = 1"), 1); /* a's fired one */
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM steps"), 2); /* and b's first */
}

/* What migrations 18 (in 17's table), 17, 16, 15, 13, 10, 9 and 8 changed, undone, to make a
 * database of an older version (11 and 12 only deleted rows and an index). */
#define UNDO_17 "DROP TABLE silences; DROP TABLE outbox_held;"
#define UNDO_16 UNDO_17 "DROP INDEX outbox_undelivered; DROP INDEX outbox_pending;" \
	"ALTER TABLE outbox DROP COLUMN failed_at; ALTER TABLE outbox DROP COLUMN retried_at;" \
	"ALTER TABLE outbox DROP COLUMN retried_by;" \
	"CREATE INDEX outbox_pending ON outbox(next_at) WHERE delivered_at IS NULL;"
#define UNDO_13 UNDO_16 "ALTER TABLE events DROP COLUMN declined;" /* 15 */ \
	"DROP TABLE steps; DROP TABLE wakes; DROP TABLE step_log;" \
	"CREATE TABLE ticket_timers(ticket_id INTEGER NOT NULL, due_at INTEGER NOT NULL," \
	"  id INTEGER NOT NULL, PRIMARY KEY(ticket_id, due_at, id)) WITHOUT ROWID;" \
	"CREATE TABLE timer_log(seq INTEGER PRIMARY KEY, due_at INTEGER NOT NULL, id INTEGER NOT NULL," \
	"  ticket_id INTEGER, at INTEGER NOT NULL, action TEXT NOT NULL, detail TEXT, after_line INTEGER NOT NULL);"
#define UNDO_10 UNDO_13 "DROP TABLE timer_log;"
#define UNDO_9 UNDO_10 "DROP INDEX outbox_delivered;"
#define UNDO_8 UNDO_9 "DROP TRIGGER ticket_counts_insert; DROP TRIGGER ticket_counts_state;" \
	"DROP TRIGGER ticket_counts_delete; DROP TABLE ticket_counts;"

/* `stats` counts tickets from ticket_counts, kept by triggers: inserts,
 * closes and reopens count, a rolled-back savepoint takes its change back,
 * and migration 8 starts from the tickets already there. */
static void test_ticket_counts(void **state)
{
	struct fixture *f = *state;
	int64_t events, open, total;
	assert_int_equal(tr_store_begin(f->s), 0);
	int64_t a = add_ticket(f->s, "c:a", "A", "q", "normal", NULL, 0);
	add_ticket(f->s, "c:b", "B", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(tr_store_counts(f->s, &events, &open, &total), 0);
	assert_int_equal(total, 2);
	assert_int_equal(open, 2);

	assert_int_equal(tr_store_begin(f->s), 0);
	close_ticket(f->s, a, NOW);
	assert_int_equal(tr_store_savepoint(f->s), 0);
	add_ticket(f->s, "c:rolled-back", "R", "q", "normal", NULL, 0);
	assert_int_equal(tr_store_rollback_to(f->s), 0);
	assert_int_equal(tr_store_release(f->s), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(tr_store_counts(f->s, &events, &open, &total), 0);
	assert_int_equal(total, 2);
	assert_int_equal(open, 1);

	tr_store_close(f->s);
	f->s = NULL;
	side_exec(f->path, UNDO_8 "PRAGMA user_version = 7;");
	char err[256] = "";
	assert_int_equal(tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)), 0);
	assert_int_equal(tr_store_counts(f->s, &events, &open, &total), 0);
	assert_int_equal(total, 2);
	assert_int_equal(open, 1);
}

/* Migrations 7 to 13 on a database of version 6: its pending timers about
 * a ticket become the ticket's steps, waiting in one wake row; a schedule
 * stays a timer. */
static void test_migration_steps(void **state)
{
	struct fixture *f = *state;
	tr_store_close(f->s);
	f->s = NULL;
	side_exec(f->path, UNDO_8 "DROP TABLE ticket_timers; CREATE INDEX timers_ticket ON timers(ticket_id);"
			   "INSERT INTO tickets(id, key, title, queue, priority, state, created_at, updated_at)"
			   " VALUES(7, 'k', 'T', 'q', 'normal', 'open', 1, 1);"
			   "INSERT INTO timers(due_at, id, kind, ticket_id, payload) VALUES(100, 1, 'nudge', 7, '{}'),"
			   " (80, 3, 'due', 7, '{}'), (50, 2, 'schedule', NULL, '{}');"
			   "PRAGMA user_version = 6;");
	char err[256] = "";
	assert_int_equal(tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)), 0);
	assert_true(side_count(f->path, "PRAGMA user_version") >= 13);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM steps WHERE ticket_id = 7"), 2);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM step_log"), 0);
	assert_true(wake_at(f->path, 7, 80));
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM timers"), 1);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM sqlite_master WHERE name = 'ticket_timers'"), 0);
	assert_int_equal(ticket_timer_count(f->s, 7), 2);
}

/* Pending notifications come in due order (then id), delivered ones never:
 * the order of the outbox_pending index, so a batch is read, not sorted. */
static void test_outbox_pending_order(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tr_store_outbox_add(f->s, "journal", "{}", NOW), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	struct tr_notification x[4];
	int n = 0;
	assert_int_equal(tr_store_outbox_pending(f->s, NOW, 4, x, &n), 0);
	assert_int_equal(n, 3);
	int64_t first = x[0].id, second = x[1].id, third = x[2].id;
	assert_true(first < second && second < third);
	tr_notifications_free(x, n);

	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_outbox_retry(f->s, first, NOW + 10, "down"), 0);
	assert_int_equal(tr_store_outbox_done(f->s, second, NOW, NOW - 86400), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(tr_store_outbox_pending(f->s, NOW, 4, x, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(x[0].id, third);
	tr_notifications_free(x, n);
	assert_int_equal(tr_store_outbox_pending(f->s, NOW + 10, 4, x, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(x[0].id, third); /* due at NOW, before the retry due at NOW + 10 */
	assert_int_equal(x[1].id, first);
	tr_notifications_free(x, n);
	assert_int_equal(tr_store_outbox_pending(f->s, NOW + 10, 1, x, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(x[0].id, third);
	tr_notifications_free(x, n);
}

static int count_row(void *ud, const char *output, int64_t pending, int64_t parked, int64_t oldest)
{
	int64_t *c = ud;
	if (strcmp(output, "lead") == 0) {
		c[0] = pending;
		c[1] = parked;
		c[2] = oldest;
	}
	return 0;
}

static int list_row(void *ud, const struct tr_outbox_row *r)
{
	int64_t *ids = ud;
	ids[++ids[0]] = r->id;
	return ids[0] == 3;
}

/* A parked notification (issue 20) is never read as due again, is counted
 * as parked, and comes back due now, its attempts restarted, when put
 * back; only a parked one can be. */
static void test_outbox_parked(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_begin(f->s), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tr_store_outbox_add(f->s, "lead", "{}", NOW + i), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	struct tr_notification x[4];
	int n = 0;
	assert_int_equal(tr_store_outbox_pending(f->s, NOW + 5, 4, x, &n), 0);
	assert_int_equal(n, 3);
	int64_t first = x[0].id;
	assert_int_equal(x[0].created_at, NOW);
	assert_int_equal(x[0].since, NOW);
	tr_notifications_free(x, n);

	int64_t moved = 0;
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_outbox_park(f->s, first, NOW + 5, "exit status 7"), 0);
	assert_int_equal(tr_store_outbox_unpark(f->s, first + 1, NOW + 5, "ops", &moved), 0);
	assert_int_equal(moved, 0); /* not parked: nothing to put back */
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(tr_store_outbox_pending(f->s, NOW + 999999, 4, x, &n), 0);
	assert_int_equal(n, 2);
	assert_true(x[0].id != first && x[1].id != first);
	tr_notifications_free(x, n);
	int64_t c[3] = {-1, -1, -1}, ids[5] = {0};
	assert_int_equal(tr_store_outbox_counts(f->s, count_row, c), 0);
	assert_int_equal(c[0], 2);
	assert_int_equal(c[1], 1);
	assert_int_equal(c[2], NOW + 1); /* the oldest still pending */
	assert_int_equal(tr_store_outbox_list(f->s, 1, 0, 10, list_row, ids), 0);
	assert_int_equal(ids[0], 1);
	assert_int_equal(ids[1], first);

	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_outbox_unpark(f->s, 0, NOW + 100, "ops", &moved), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(moved, 1);
	assert_int_equal(tr_store_outbox_pending(f->s, NOW + 100, 4, x, &n), 0);
	assert_int_equal(n, 3);
	for (int i = 0; i < n; i++)
		if (x[i].id == first) {
			assert_int_equal(x[i].attempts, 0);
			assert_int_equal(x[i].since, NOW + 100); /* its age starts again */
		}
	tr_notifications_free(x, n);
	ids[0] = 0;
	assert_int_equal(tr_store_outbox_list(f->s, 0, 0, 10, list_row, ids), 1); /* stopped at 3 */
	assert_int_equal(ids[0], 3);
}

/* Delivered notifications are kept a week, then pruned as later ones are
 * delivered (two per delivery); undelivered ones are never touched. */
static void test_outbox_prune(void **state)
{
	struct fixture *f = *state;
	const int64_t week = 7 * 86400, old = NOW - 8 * 86400;
	int64_t id[6];
	assert_int_equal(tr_store_begin(f->s), 0);
	for (int i = 0; i < 6; i++) {
		assert_int_equal(tr_store_outbox_add(f->s, "journal", "{}", old), 0);
		id[i] = i + 1;
	}
	for (int i = 0; i < 3; i++) /* delivered long ago, nothing older to prune */
		assert_int_equal(tr_store_outbox_done(f->s, id[i], old + i, old - week), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	char *v = side_query(f->path, "SELECT count(*) FROM outbox");
	assert_string_equal(v, "6");
	free(v);

	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_outbox_done(f->s, id[3], NOW, NOW - week), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	v = side_query(f->path, "SELECT group_concat(id) FROM (SELECT id FROM outbox ORDER BY id)");
	assert_string_equal(v, "3,4,5,6"); /* the two oldest deliveries went */
	free(v);

	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_outbox_done(f->s, id[4], NOW, NOW - week), 0);
	assert_int_equal(tr_store_commit(f->s), 0);
	v = side_query(f->path, "SELECT group_concat(id) FROM (SELECT id FROM outbox ORDER BY id)");
	assert_string_equal(v, "4,5,6"); /* recent deliveries and the pending one stay */
	free(v);
}

/* A step's payload as timers.c reads it back: members present only when
 * set, strings escaped, the calendar's base and offset only with it. */
static void test_timer_payload(void **state)
{
	(void)state;
	struct tr_buf b = {0};
	tr_plan_payload(&b, &(struct tr_step_note){0});
	assert_false(b.oom);
	assert_string_equal(b.p, "{}");
	tr_buf_free(&b);
	tr_plan_payload(&b, &(struct tr_step_note){.note = "say \"hi\"", .notify = "lead", .level = 2,
						   .ladder = "suspension", .repeat = 3});
	assert_string_equal(b.p, "{\"note\":\"say \\\"hi\\\"\",\"notify\":\"lead\",\"ladder\":\"suspension\","
				 "\"level\":2,\"repeat\":3}");
	tr_buf_free(&b);
	tr_plan_payload(&b, &(struct tr_step_note){.notify = "journal", .level = 1, .base = 5, .before_due = 60});
	assert_string_equal(b.p, "{\"notify\":\"journal\",\"level\":1,\"before_due\":60}");
	tr_buf_free(&b);
	tr_plan_payload(&b, &(struct tr_step_note){.cal = "cn", .base = 5, .off = 7});
	assert_string_equal(b.p, "{\"cal\":\"cn\",\"base\":5,\"off\":7}");
	cJSON *j = cJSON_Parse(b.p);
	struct tr_step_note p;
	tr_plan_payload_read(j, &p);
	assert_string_equal(p.cal, "cn");
	assert_int_equal(p.base, 5);
	assert_int_equal(p.off, 7);
	cJSON_Delete(j);
	tr_buf_free(&b);
}

/* SPEC §3: of a ticket's steps due together, the ones before a passed due
 * time and late ones with a later step due are skipped; steps due at the
 * same moment, and on time, all fire. */
static void test_plan_late(void **state)
{
	(void)state;
	struct tr_timer v[4] = {
		{.due_at = 100, .kind = "nudge"}, {.due_at = 200, .kind = "nudge"},
		{.due_at = 300, .kind = "escalate"}, {.due_at = 400, .kind = "due"},
	};
	int skip[4];
	tr_plan_late(v, 4, 5000, skip); /* a backfill: all past, the deadline too */
	assert_int_equal(skip[0], 4);
	assert_int_equal(skip[1], 4);
	assert_int_equal(skip[2], 4);
	assert_int_equal(skip[3], 0);
	tr_plan_late(v, 3, 5000, skip); /* the deadline still ahead: only the latest */
	assert_int_equal(skip[0], 3);
	assert_int_equal(skip[1], 3);
	assert_int_equal(skip[2], 0);
	tr_plan_late(v, 2, 200 + TR_PLAN_LATE_S, skip); /* on time, give or take a minute */
	assert_int_equal(skip[0], 2);
	assert_int_equal(skip[1], 0);
	tr_plan_late(v, 2, 100 + TR_PLAN_LATE_S, skip);
	assert_int_equal(skip[0], 0);
	assert_int_equal(skip[1], 0);
}

/* The background checkpoint (checkpoint.c) copies the WAL into the
 * database from a connection of its own, with sync also writing the
 * database out. A pass with nothing written meanwhile copies every frame,
 * so the next commit starts the WAL over. */
static void test_checkpoint_lets_the_wal_start_over(void **state)
{
	struct fixture *f = *state;
	char err[256] = "";
	for (int round = 0; round < 2; round++) {
		assert_int_equal(tr_store_begin(f->s), 0);
		for (int i = 0; i < 200; i++) {
			char key[32];
			snprintf(key, sizeof(key), "k%d.%d", round, i);
			add_ticket(f->s, key, "a ticket with a title", "q", "normal", "acct", NOW + i);
		}
		assert_int_equal(tr_store_commit(f->s), 0);
		int64_t before = tr_store_wal_pages(f->s);
		assert_true(before > 10);
		assert_int_equal(tr_store_checkpoint(f->path, round, err, sizeof(err)), 0);
		assert_int_equal(tr_store_begin(f->s), 0);
		add_ticket(f->s, round ? "last" : "next", "one more", "q", "normal", "acct", NOW);
		assert_int_equal(tr_store_commit(f->s), 0);
		assert_true(tr_store_wal_pages(f->s) < before); /* frames from the WAL's start again */
	}
	char missing[200];
	snprintf(missing, sizeof(missing), "%s/none/triaged.db", f->dir);
	assert_int_not_equal(tr_store_checkpoint(missing, 1, err, sizeof(err)), 0);
	assert_true(err[0] != '\0');
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_schema_wal_reopen, setup, teardown),
		cmocka_unit_test(test_future_schema_refused),
		cmocka_unit_test_setup_teardown(test_events_and_outcomes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_quarantine, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_history, setup, teardown),
		cmocka_unit_test_setup_teardown(test_step_move, setup, teardown),
		cmocka_unit_test(test_plan_late),
		cmocka_unit_test_setup_teardown(test_tickets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_one_open_ticket_per_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state, setup, teardown),
		cmocka_unit_test_setup_teardown(test_windowed_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_savepoint_rollback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_keys_follow_the_rows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tickets_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timer_ids, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ticket_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_steps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_pending_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_outbox_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ticket_counts, setup, teardown),
		cmocka_unit_test(test_timer_payload),
		cmocka_unit_test_setup_teardown(test_checkpoint_lets_the_wal_start_over, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
