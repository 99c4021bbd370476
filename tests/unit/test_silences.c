/* Unit tests for silences below the daemon (tr_silences.h), on a real
 * database in a mkdtemp folder: what a matcher matches (exact, a trailing
 * '*', nothing for an absent value); a silence lists while it runs and not
 * once it ended or was expired, and is expired once only; a held
 * notification is due again at the silence's end, counted as held while
 * the silence runs, and released (due now) by expire; and ended silences do
 * not pile up: the prune forgets those ended long ago and keeps at most a
 * thousand, a few at a time. */
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
#include "tr_silences.h"
#include "tr_store.h"

#define NOW 1795500000 /* 2026-11-24T06:00:00Z */
#define H 3600
#define DAY 86400

#define STORE_FIXTURE_NAME "test_silences"
#include "store_fixture.h"

static int64_t add(struct tr_store *s, const char *account, int64_t starts_at, int64_t until)
{
	struct tr_silence x = {.account = (char *)account, .starts_at = starts_at, .until = until,
			       .reason = "holiday", .created_by = "alice", .created_at = starts_at};
	int64_t id = 0;
	assert_int_equal(tr_store_silence_add(s, &x, &id), 0);
	assert_true(id > 0);
	return id;
}

struct seen {
	int n;
	int64_t ids[8], held[8];
};

static int see(void *ud, const struct tr_silence *x, int64_t held)
{
	struct seen *v = ud;
	if (v->n < 8) {
		v->ids[v->n] = x->id;
		v->held[v->n] = held;
	}
	v->n++;
	return 0;
}

static struct seen list(struct tr_store *s, int all, int64_t now)
{
	struct seen v = {0};
	assert_int_equal(tr_store_silences_each(s, 0, all, now, 1000, see, &v), 0);
	return v;
}

static void test_matchers(void **state)
{
	(void)state;
	assert_true(tr_silence_matches(NULL, "anything"));
	assert_true(tr_silence_matches(NULL, NULL));
	assert_true(tr_silence_matches("shop-eu", "shop-eu"));
	assert_false(tr_silence_matches("shop-eu", "shop-eu-2"));
	assert_false(tr_silence_matches("shop-eu", "Shop-eu"));
	assert_true(tr_silence_matches("shop-*", "shop-eu"));
	assert_true(tr_silence_matches("shop-*", "shop-"));
	assert_false(tr_silence_matches("shop-*", "shop"));
	assert_true(tr_silence_matches("*", "x"));
	assert_false(tr_silence_matches("*", NULL)); /* a notification with no ticket has no account */
	assert_false(tr_silence_matches("shop-eu", NULL));

	struct tr_silence x = {.starts_at = NOW, .until = NOW + H};
	assert_false(tr_silence_active(&x, NOW - 1));
	assert_true(tr_silence_active(&x, NOW));
	assert_false(tr_silence_active(&x, NOW + H)); /* up to, not at, its end */
	x.expired_at = NOW + 1;
	assert_false(tr_silence_active(&x, NOW + 2));
}

static void test_list_and_expire(void **state)
{
	struct fixture *f = *state;
	int64_t a = add(f->s, "A", NOW, NOW + H);
	int64_t b = add(f->s, "B", NOW + H, NOW + 2 * H); /* waiting */
	struct seen v = list(f->s, 0, NOW);
	assert_int_equal(v.n, 2);
	assert_int_equal(v.ids[0], b); /* newest first */
	assert_int_equal(v.ids[1], a);
	/* a's time passes: it is no longer listed, nor can it be expired */
	v = list(f->s, 0, NOW + H);
	assert_int_equal(v.n, 1);
	assert_int_equal(v.ids[0], b);
	int64_t released = -1;
	assert_int_equal(tr_store_silence_expire(f->s, a, NOW + H, "bob", &released), -ENOENT);
	assert_int_equal(tr_store_silence_expire(f->s, b, NOW + 10, "bob", &released), 0);
	assert_int_equal(released, 0);
	assert_int_equal(tr_store_silence_expire(f->s, b, NOW + 11, "bob", &released), -ENOENT);
	assert_int_equal(tr_store_silence_expire(f->s, 99, NOW, "bob", &released), -ENOENT);
	v = list(f->s, 0, NOW + 20);
	assert_int_equal(v.n, 1); /* a runs until NOW + H */
	assert_int_equal(v.ids[0], a);
	assert_int_equal(list(f->s, 0, NOW + H).n, 0);
	assert_int_equal(list(f->s, 1, NOW + H).n, 2); /* --all */
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM silences WHERE expired_by = 'bob'"), 1);
}

static void test_hold_and_release(void **state)
{
	struct fixture *f = *state;
	int64_t a = add(f->s, "A", NOW, NOW + H);
	for (int i = 0; i < 3; i++)
		assert_int_equal(tr_store_outbox_add(f->s, "lead", "{\"ticket\":{\"id\":1}}", NOW), 0);
	assert_int_equal(tr_store_silence_hold(f->s, 1, a, NOW + H), 0);
	assert_int_equal(tr_store_silence_hold(f->s, 2, a, NOW + H), 0);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM outbox WHERE next_at = 1795503600"), 2);
	int64_t held = 0;
	assert_int_equal(tr_store_silences_held(f->s, NOW + 1, &held), 0);
	assert_int_equal(held, 2);
	struct seen v = list(f->s, 0, NOW + 1);
	assert_int_equal(v.held[0], 2);
	/* once the silence's time has passed, nothing counts as held */
	assert_int_equal(tr_store_silences_held(f->s, NOW + H, &held), 0);
	assert_int_equal(held, 0);
	/* expire: both are due now, and no longer held */
	int64_t released = 0;
	assert_int_equal(tr_store_silence_expire(f->s, a, NOW + 5, "bob", &released), 0);
	assert_int_equal(released, 2);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM outbox WHERE next_at = 1795500005"), 2);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM outbox_held"), 0);
	assert_int_equal(tr_store_silences_held(f->s, NOW + 6, &held), 0);
	assert_int_equal(held, 0);
}

/* Nothing grows without bound: hold records of ended silences go, and
 * ended silences go after keep, or past the newest thousand. */
static void test_prune(void **state)
{
	struct fixture *f = *state;
	int64_t old = add(f->s, "old", NOW - 40 * DAY, NOW - 31 * DAY);
	int64_t recent = add(f->s, "recent", NOW - 2 * DAY, NOW - DAY);
	int64_t running = add(f->s, "running", NOW, NOW + H);
	assert_int_equal(tr_store_outbox_add(f->s, "lead", "{}", NOW), 0);
	assert_int_equal(tr_store_silence_hold(f->s, 1, recent, NOW - DAY), 0);
	assert_int_equal(tr_store_silences_prune(f->s, NOW, 30 * DAY), 0);
	struct seen v = list(f->s, 1, NOW);
	assert_int_equal(v.n, 2);
	assert_int_equal(v.ids[0], running);
	assert_int_equal(v.ids[1], recent);
	assert_int_not_equal(v.ids[1], old);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM outbox_held"), 0);

	/* 1100 more ended yesterday: each prune takes a few, down to 1000 kept */
	assert_int_equal(tr_store_begin(f->s), 0);
	for (int i = 0; i < 1100; i++)
		add(f->s, "many", NOW - 2 * DAY, NOW - DAY);
	assert_int_equal(tr_store_commit(f->s), 0);
	assert_int_equal(tr_store_silences_prune(f->s, NOW, 30 * DAY), 0);
	int64_t after_one = side_count(f->path, "SELECT count(*) FROM silences");
	assert_true(after_one < 1102 && after_one >= 1102 - 16);
	for (int i = 0; i < 20; i++)
		assert_int_equal(tr_store_silences_prune(f->s, NOW, 30 * DAY), 0);
	/* the newest thousand, and the running one, older: never pruned */
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM silences"), 1001);
	assert_int_equal(side_count(f->path, "SELECT count(*) FROM silences WHERE account = 'running'"), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matchers),
		cmocka_unit_test_setup_teardown(test_list_and_expire, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_and_release, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
