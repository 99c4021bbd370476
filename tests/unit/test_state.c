/* Unit tests for rule state as one keyspace (SPEC §5: `get` reads what
 * `incr` counted), on a real database in a mkdtemp folder: a counter reads
 * back as its count in the window it was counted with, and is gone once
 * the window has passed; a value replaces a counter of the same name (and
 * its buckets); a whole number counts on, any other value refuses to be
 * counted and is left as it was; deleting takes either kind; a new window
 * keeps each count at its time; keys counted once and never again are swept
 * (they do not pile up); the walk of the `state` op lists a prefix's keys
 * in byte order, page by page; and a database from before (values and
 * counters in two places under one name) migrates without losing a count. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "tr_error.h"
#include "tr_store.h"
#include "tr_views.h"

#define NOW 1795500000 /* 2026-11-24T06:00:00Z */
#define H 3600
#define DAY 86400

#define STORE_FIXTURE_NAME "test_state"
#include "store_fixture.h"

static void side_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

static int64_t incr(struct tr_store *s, const char *key, int64_t n, int64_t t, int64_t window)
{
	int64_t total = -1;
	assert_int_equal(tr_store_counter_add(s, key, n, t, window, &total), 0);
	return total;
}

/* A key as tr_store_state_read hands it out, copied. */
struct seen {
	int found;
	char value[256];  /* "" for a counter */
	int64_t count, window_s;
};

static void copy(void *ud, const struct tr_state_row *row)
{
	struct seen *x = ud;
	x->found++;
	snprintf(x->value, sizeof(x->value), "%s", row->value ? row->value : "");
	x->count = row->count;
	x->window_s = row->window_s;
}

static struct seen read_key(struct tr_store *s, const char *key, int64_t t)
{
	struct seen x = {0};
	int rc = tr_store_state_read(s, key, t, copy, &x);
	assert_true(rc == 0 || rc == 1);
	assert_int_equal(rc, x.found);
	return x;
}

static int64_t buckets_of(const char *path, const char *key)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM counters WHERE key = '%s'", key);
	return side_count(path, sql);
}

/* The issue: state.incr("k") then state.get("k") returned nil. */
static void test_get_reads_what_incr_counted(void **state)
{
	struct fixture *f = *state;
	const int64_t t0 = NOW + 17 * 60;
	assert_int_equal(incr(f->s, "cases:acme", 1, t0, DAY), 1);
	assert_int_equal(incr(f->s, "cases:acme", 2, t0 + H, DAY), 3);
	struct seen x = read_key(f->s, "cases:acme", t0 + H);
	assert_int_equal(x.found, 1);
	assert_string_equal(x.value, "");
	assert_int_equal(x.count, 3);
	assert_int_equal(x.window_s, DAY);
	/* in its own window: 24.5 h after the first add only the second counts */
	x = read_key(f->s, "cases:acme", t0 + 24 * H + 30 * 60);
	assert_int_equal(x.count, 2);
	/* once the window has passed the key is gone, as if never counted */
	x = read_key(f->s, "cases:acme", t0 + 26 * H);
	assert_int_equal(x.found, 0);
	/* a value is not a counter, and tr_store_state_get reads values only */
	char *v = (char *)0x1;
	assert_int_equal(tr_store_state_get(f->s, "cases:acme", &v), 0);
	assert_null(v);
	/* forever */
	assert_int_equal(incr(f->s, "runs", 5, t0, 0), 5);
	x = read_key(f->s, "runs", t0 + 900 * DAY);
	assert_int_equal(x.count, 5);
	assert_int_equal(x.window_s, 0);
}

static void test_mixed_kinds(void **state)
{
	struct fixture *f = *state;
	/* a value replaces a counter, and its buckets go with it */
	assert_int_equal(incr(f->s, "k", 4, NOW, DAY), 4);
	assert_int_equal(buckets_of(f->path, "k"), 1);
	assert_int_equal(tr_store_state_set(f->s, "k", "[\"now a value\"]"), 0);
	struct seen x = read_key(f->s, "k", NOW);
	assert_string_equal(x.value, "[\"now a value\"]");
	assert_int_equal(buckets_of(f->path, "k"), 0);

	/* any value but a whole number is not counted, and stays */
	int64_t total = -1;
	assert_int_equal(tr_store_counter_add(f->s, "k", 1, NOW, DAY, &total), -EINVAL);
	assert_int_equal(tr_store_state_set(f->s, "half", "[1.5]"), 0);
	assert_int_equal(tr_store_counter_add(f->s, "half", 1, NOW, 0, &total), -EINVAL);
	assert_int_equal(tr_store_state_set(f->s, "raw", "not json"), 0);
	assert_int_equal(tr_store_counter_add(f->s, "raw", 1, NOW, 0, &total), -EINVAL);
	assert_string_equal(read_key(f->s, "k", NOW).value, "[\"now a value\"]");
	assert_int_equal(buckets_of(f->path, "k"), 0);

	/* a whole number counts on from there */
	assert_int_equal(tr_store_state_set(f->s, "budget", "[10]"), 0);
	assert_int_equal(incr(f->s, "budget", -1, NOW, 0), 9);
	x = read_key(f->s, "budget", NOW + 30 * DAY);
	assert_string_equal(x.value, "");
	assert_int_equal(x.count, 9);

	/* nil deletes either kind, buckets included */
	assert_int_equal(tr_store_state_set(f->s, "budget", NULL), 0);
	assert_int_equal(read_key(f->s, "budget", NOW).found, 0);
	assert_int_equal(buckets_of(f->path, "budget"), 0);
	assert_int_equal(tr_store_state_set(f->s, "k", NULL), 0);
	assert_int_equal(read_key(f->s, "k", NOW).found, 0);
	/* and a deleted counter starts again from nothing */
	assert_int_equal(incr(f->s, "budget", 1, NOW, 0), 1);
}

/* A rule edited to count over another window keeps what it counted. */
static void test_window_change(void **state)
{
	struct fixture *f = *state;
	const int64_t t0 = NOW + 17 * 60;
	assert_int_equal(incr(f->s, "w", 2, t0, DAY), 2);
	assert_int_equal(incr(f->s, "w", 1, t0 + 20 * H, 7 * DAY), 3);
	struct seen x = read_key(f->s, "w", t0 + 6 * DAY);
	assert_int_equal(x.count, 3); /* a day's window would have lost both */
	assert_int_equal(x.window_s, 7 * DAY);
	/* narrower: the count 20 h old falls out of a 1 h window */
	assert_int_equal(incr(f->s, "w", 1, t0 + 20 * H + 10 * 60, H), 2);
	/* a forever count counts as at the change, then leaves the window */
	assert_int_equal(incr(f->s, "e", 5, t0, 0), 5);
	assert_int_equal(incr(f->s, "e", 1, t0 + 400 * DAY, DAY), 6);
	assert_int_equal(read_key(f->s, "e", t0 + 400 * DAY + 25 * H).found, 0);
	/* and back to forever: every count still there */
	assert_int_equal(incr(f->s, "f", 2, t0, DAY), 2);
	assert_int_equal(incr(f->s, "f", 1, t0 + H, 0), 3);
	assert_int_equal(read_key(f->s, "f", t0 + 900 * DAY).count, 3);
}

/* Keys counted once (per order, per day...) must not stay for ever. */
static void test_expired_keys_are_swept(void **state)
{
	struct fixture *f = *state;
	char key[32];
	for (int i = 0; i < 10; i++) {
		snprintf(key, sizeof(key), "once:%d", i);
		assert_int_equal(incr(f->s, key, 1, NOW, H), 1);
	}
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM state WHERE key LIKE 'once:%'"), 10);
	/* still inside their hour: nothing is swept */
	assert_int_equal(incr(f->s, "busy", 1, NOW + 30 * 60, H), 1);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM state WHERE key LIKE 'once:%'"), 10);
	/* past it: each add takes two */
	for (int i = 0; i < 5; i++)
		incr(f->s, "busy", 1, NOW + 2 * H, H);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM state WHERE key LIKE 'once:%'"), 0);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM counters WHERE key LIKE 'once:%'"), 0);
	/* and a busy key keeps at most 25 buckets however long it counts */
	for (int i = 0; i < 200; i++)
		incr(f->s, "busy", 1, NOW + 3 * H + i * 10 * 60, H);
	assert_true(buckets_of(f->path, "busy") <= 25);
	/* values and forever counters are never swept */
	assert_int_equal(tr_store_state_set(f->s, "kept", "[1]"), 0);
	assert_int_equal(incr(f->s, "ever", 1, NOW, 0), 1);
	for (int i = 0; i < 3; i++)
		incr(f->s, "busy", 1, NOW + 900 * DAY, H);
	assert_int_equal(read_key(f->s, "kept", NOW + 900 * DAY).found, 1);
	assert_int_equal(read_key(f->s, "ever", NOW + 900 * DAY).count, 1);
}

static char *keys_of(cJSON *list)
{
	static char out[512];
	out[0] = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, list) {
		snprintf(out + strlen(out), sizeof(out) - strlen(out), "%s%s", out[0] ? "," : "",
			 cJSON_GetObjectItem(it, "key")->valuestring);
	}
	return out;
}

/* What the `state` op answers with. */
static void test_view_by_prefix(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_store_state_set(f->s, "acct:b", "[{\"n\":1}]"), 0);
	assert_int_equal(incr(f->s, "acct:a", 3, NOW, DAY), 3);
	assert_int_equal(tr_store_state_set(f->s, "acct;", "[1]"), 0); /* ';' sorts right after ':' */
	assert_int_equal(tr_store_state_set(f->s, "acc", "[1]"), 0);
	assert_int_equal(incr(f->s, "acct:c", 1, NOW - 2 * DAY, DAY), 1); /* its window has passed */
	assert_int_equal(incr(f->s, "acct:d", 1, NOW, 0), 1);
	assert_int_equal(tr_store_state_set(f->s, "\xff\xff", "[1]"), 0);
	int more = -1;
	cJSON *list = tr_view_state(f->s, "acct:", NULL, 100, NOW, &more);
	assert_non_null(list);
	assert_string_equal(keys_of(list), "acct:a,acct:b,acct:d");
	assert_int_equal(more, 0);
	cJSON *a = cJSON_GetArrayItem(list, 0), *b = cJSON_GetArrayItem(list, 1), *d = cJSON_GetArrayItem(list, 2);
	assert_int_equal((int)cJSON_GetObjectItem(a, "count")->valuedouble, 3);
	assert_string_equal(cJSON_GetObjectItem(a, "window")->valuestring, "24h");
	assert_int_equal((int)cJSON_GetObjectItem(a, "window_s")->valuedouble, DAY);
	assert_null(cJSON_GetObjectItem(a, "value"));
	assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(b, "value"), "n")->valuedouble, 1);
	assert_null(cJSON_GetObjectItem(b, "count"));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(d, "window")));
	assert_int_equal((int)cJSON_GetObjectItem(d, "window_s")->valuedouble, 0);
	cJSON_Delete(list);

	/* pages: limit, then on after the last key */
	list = tr_view_state(f->s, "acct:", NULL, 2, NOW, &more);
	assert_string_equal(keys_of(list), "acct:a,acct:b");
	assert_int_equal(more, 1);
	cJSON_Delete(list);
	list = tr_view_state(f->s, "acct:", "acct:b", 2, NOW, &more);
	assert_string_equal(keys_of(list), "acct:d");
	assert_int_equal(more, 0);
	cJSON_Delete(list);
	/* no prefix: every key; a prefix of 0xff bytes has no end to its range */
	list = tr_view_state(f->s, NULL, NULL, 100, NOW, &more);
	assert_string_equal(keys_of(list), "acc,acct:a,acct:b,acct:d,acct;,\xff\xff");
	cJSON_Delete(list);
	list = tr_view_state(f->s, "\xff", NULL, 100, NOW, &more);
	assert_string_equal(keys_of(list), "\xff\xff");
	cJSON_Delete(list);
	/* windows as a rule writes them */
	static const struct { int64_t s; const char *text; } windows[] = {
		{90, "1m30s"}, {H, "1h"}, {90 * 60, "1h30m"}, {DAY, "24h"}, {36 * H, "36h"}, {7 * DAY, "7d"},
	};
	for (size_t i = 0; i < sizeof(windows) / sizeof(windows[0]); i++) {
		char key[16];
		snprintf(key, sizeof(key), "w:%zu", i);
		incr(f->s, key, 1, NOW, windows[i].s);
		list = tr_view_state(f->s, key, NULL, 1, NOW, &more);
		assert_string_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 0), "window")->valuestring,
				    windows[i].text);
		cJSON_Delete(list);
	}
}

/* Migrations appended after the one keyspace's, undone so that it alone
 * runs again: a migration this database shows no trace of is skipped (a
 * tree without it). Append the next one here. */
static const struct { const char *probe, *undo; } after_one_keyspace[] = {
	{"SELECT count(*) FROM sqlite_master WHERE name = 'steps'", /* a ticket's steps */
	 "DROP TABLE steps; DROP TABLE wakes; DROP TABLE step_log;"
	 "CREATE TABLE ticket_timers(ticket_id INTEGER NOT NULL, due_at INTEGER NOT NULL,"
	 "  id INTEGER NOT NULL, PRIMARY KEY(ticket_id, due_at, id)) WITHOUT ROWID;"
	 "CREATE TABLE timer_log(seq INTEGER PRIMARY KEY, due_at INTEGER NOT NULL, id INTEGER NOT NULL,"
	 "  ticket_id INTEGER, at INTEGER NOT NULL, action TEXT NOT NULL, detail TEXT, after_line INTEGER NOT NULL);"},
	{"SELECT count(*) FROM sqlite_master WHERE name = 'outbox_undelivered'", /* parked deliveries */
	 "DROP INDEX outbox_undelivered; DROP INDEX outbox_pending;"
	 "ALTER TABLE outbox DROP COLUMN failed_at; ALTER TABLE outbox DROP COLUMN retried_at;"
	 "ALTER TABLE outbox DROP COLUMN retried_by;"
	 "CREATE INDEX outbox_pending ON outbox(next_at) WHERE delivered_at IS NULL;"},
	/* (a later migration of an earlier one's table goes before that one) */
	{"SELECT count(*) FROM pragma_table_info('silences') WHERE name = 'marketplace'", /* 18 */
	 "ALTER TABLE silences DROP COLUMN marketplace;"},
	{"SELECT count(*) FROM sqlite_master WHERE name = 'silences'", /* silences */
	 "DROP TABLE silences; DROP TABLE outbox_held;"},
};

/* Before, a value and a counter could share a name and counters kept no
 * window: the migration keeps every count, and the value where both were. */
static void test_migration(void **state)
{
	struct fixture *f = *state;
	int64_t version = side_count(f->path, "PRAGMA user_version"), before = version - 1;
	tr_store_close(f->s);
	f->s = NULL;
	for (size_t i = 0; i < sizeof(after_one_keyspace) / sizeof(after_one_keyspace[0]); i++) {
		if (side_count(f->path, after_one_keyspace[i].probe) > 0) {
			side_exec(f->path, after_one_keyspace[i].undo);
			before--;
		}
	}
	char sql[1024];
	snprintf(sql, sizeof(sql),
		 "DROP TABLE state; CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
		 "INSERT INTO state VALUES('v', '[\"x\"]'), ('both', '[7]');"
		 "INSERT INTO counters VALUES('both', 0, 3), ('ever', 0, 4),"
		 " ('day', %lld, 1), ('day', %lld, 2);"
		 "PRAGMA user_version = %lld;",
		 (long long)((NOW - 2 * H) / 3600), (long long)(NOW / 3600), (long long)before);
	side_exec(f->path, sql);
	char err[256] = "";
	assert_int_equal(tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)), 0);
	assert_int_equal(side_count(f->path, "PRAGMA user_version"), version);
	assert_string_equal(read_key(f->s, "v", NOW).value, "[\"x\"]");
	assert_string_equal(read_key(f->s, "both", NOW).value, "[7]");
	assert_int_equal(buckets_of(f->path, "both"), 0);
	struct seen x = read_key(f->s, "ever", NOW);
	assert_int_equal(x.count, 4);
	assert_int_equal(x.window_s, 0);
	/* a window not known yet: every bucket counts, until the next add */
	x = read_key(f->s, "day", NOW);
	assert_int_equal(x.count, 3);
	assert_int_equal(x.window_s, -1);
	assert_int_equal(incr(f->s, "day", 1, NOW, DAY), 4);
	assert_int_equal(read_key(f->s, "day", NOW).window_s, DAY);
	/* and the whole number where both were counts on */
	assert_int_equal(incr(f->s, "both", 1, NOW, 0), 8);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_get_reads_what_incr_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mixed_kinds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_window_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expired_keys_are_swept, setup, teardown),
		cmocka_unit_test_setup_teardown(test_view_by_prefix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
