/* Unit tests for the loop's write transaction (include/tr_txn.h) on a real
 * database in a mkdtemp folder: a commit keeps what was written, counts
 * itself and calls the end hook (committed) and then the after-commit hook;
 * an abort keeps nothing and calls only the end hook; a begin joins an open
 * transaction; a doomed transaction rolls back at commit, fails, and says
 * why in the commit health, which clears at the next good commit; and
 * tr_txn_run returns 0, fn's error, the commit's error or the begin's
 * (fn then not called), keeping fn's writes only on 0. */
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
#include "tr_error.h"
#include "tr_store.h"
#include "tr_txn.h"

struct fixture {
	char dir[64];
	char path[128];
	struct tr_store *s;
	struct tr_txn txn;
	/* what the hooks saw, in order: 'C' end committed, 'A' end rolled
	 * back, 'K' after-commit */
	char seen[32];
	size_t nseen;
	uint64_t commits_seen; /* txn.commits when the after-commit hook ran */
};

static void on_end(void *ud, int committed)
{
	struct fixture *f = ud;
	if (f->nseen + 1 < sizeof(f->seen))
		f->seen[f->nseen++] = committed ? 'C' : 'A';
}

static void on_commit(void *ud)
{
	struct fixture *f = ud;
	if (f->nseen + 1 < sizeof(f->seen))
		f->seen[f->nseen++] = 'K';
	f->commits_seen = f->txn.commits;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_txn.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/triaged.db", f->dir);
	char err[256] = "";
	if (tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "tr_store_open: %s\n", err);
		rmdir(f->dir);
		free(f);
		return -1;
	}
	tr_txn_init(&f->txn, f->s);
	f->txn.on_end = on_end;
	f->txn.on_end_ud = f;
	f->txn.on_commit = on_commit;
	f->txn.on_commit_ud = f;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tr_store_close(f->s);
	char p[200];
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* 1 when key holds value, 0 when key is absent. */
static int has(struct fixture *f, const char *key, const char *value)
{
	char *v = NULL;
	int rc = tr_store_state_get(f->s, key, &v);
	assert_true(rc >= 0);
	if (rc == 1)
		assert_string_equal(v, value);
	free(v);
	return rc;
}

static void test_commit_keeps_counts_and_calls_hooks(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_txn_commit(&f->txn), 0); /* none open: nothing happens */
	assert_int_equal(f->txn.commits, 0);
	assert_int_equal(f->nseen, 0);

	assert_int_equal(tr_txn_begin(&f->txn), 0);
	assert_true(f->txn.open);
	assert_int_equal(tr_store_state_set(f->s, "a", "1"), 0);
	assert_int_equal(tr_txn_begin(&f->txn), 0); /* joins the open one */
	assert_int_equal(tr_store_state_set(f->s, "b", "2"), 0);
	assert_int_equal(tr_txn_commit(&f->txn), 0);
	assert_false(f->txn.open);
	assert_int_equal(f->txn.commits, 1);
	assert_int_equal(f->commits_seen, 1); /* counted before the hook runs */
	assert_string_equal(f->seen, "CK");
	assert_int_equal(has(f, "a", "1"), 1);
	assert_int_equal(has(f, "b", "2"), 1);
	assert_int_equal(f->txn.health.failing, 0);
	assert_int_equal(f->txn.health.failures, 0);
}

static void test_abort_keeps_nothing(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_txn_begin(&f->txn), 0);
	assert_int_equal(tr_store_state_set(f->s, "a", "1"), 0);
	tr_txn_abort(&f->txn);
	assert_false(f->txn.open);
	assert_int_equal(f->txn.commits, 0);
	assert_string_equal(f->seen, "A"); /* no after-commit hook */
	assert_int_equal(has(f, "a", NULL), 0);
	tr_txn_abort(&f->txn); /* none open: safe */
	assert_int_equal(f->txn.commits, 0);
}

static void test_doomed_rolls_back_and_reports(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(tr_txn_begin(&f->txn), 0);
	assert_int_equal(tr_store_state_set(f->s, "a", "1"), 0);
	tr_txn_fail(&f->txn, -ENOMEM);
	tr_txn_fail(&f->txn, -EINVAL); /* the first cause is the one kept */
	assert_true(f->txn.doomed);
	assert_int_equal(tr_txn_commit(&f->txn), TR_ESTORE);
	assert_false(f->txn.open);
	assert_false(f->txn.doomed);
	assert_int_equal(f->txn.commits, 0);
	assert_string_equal(f->seen, "A");
	assert_int_equal(has(f, "a", NULL), 0);
	const struct tr_commit_health *h = &f->txn.health;
	assert_int_equal(h->failing, 1);
	assert_int_equal(h->failures, 1);
	assert_true(h->failing_since > 0);
	assert_int_equal(h->last_failed_at, h->failing_since);
	assert_string_equal(h->last_error, tr_strerror(-ENOMEM));

	/* the next good commit clears "failing", not the history */
	assert_int_equal(tr_txn_begin(&f->txn), 0);
	assert_int_equal(tr_store_state_set(f->s, "b", "2"), 0);
	assert_int_equal(tr_txn_commit(&f->txn), 0);
	assert_int_equal(h->failing, 0);
	assert_int_equal(h->failing_since, 0);
	assert_int_equal(h->failures, 1);
	assert_int_equal(f->txn.commits, 1);
	assert_string_equal(f->seen, "ACK");
}

/* A transaction doomed while none was open (its BEGIN failed) fails its
 * commit and is over: the next one starts clean. */
static void test_doomed_before_begin_fails_once(void **state)
{
	struct fixture *f = *state;
	tr_txn_fail(&f->txn, TR_ESTORE);
	assert_false(f->txn.open);
	assert_int_equal(tr_txn_commit(&f->txn), TR_ESTORE);
	assert_false(f->txn.doomed);
	assert_int_equal(f->txn.health.failing, 1);
	assert_string_equal(f->seen, "A");
	assert_int_equal(tr_txn_begin(&f->txn), 0);
	assert_int_equal(tr_store_state_set(f->s, "c", "3"), 0);
	assert_int_equal(tr_txn_commit(&f->txn), 0);
	assert_int_equal(has(f, "c", "3"), 1);
	assert_string_equal(f->seen, "ACK");
}

struct work {
	struct fixture *f;
	const char *key;
	int rc;      /* what fn returns */
	int doom;    /* fn dooms the transaction first */
	int called;
};

static int write_one(void *ud)
{
	struct work *w = ud;
	w->called++;
	assert_true(w->f->txn.open);
	assert_int_equal(tr_store_state_set(w->f->s, w->key, "x"), 0);
	if (w->doom)
		tr_txn_fail(&w->f->txn, TR_ESTORE);
	return w->rc;
}

static void test_run_return_codes(void **state)
{
	struct fixture *f = *state;
	struct work ok = {.f = f, .key = "ok"};
	assert_int_equal(tr_txn_run(&f->txn, write_one, &ok), 0);
	assert_int_equal(ok.called, 1);
	assert_int_equal(has(f, "ok", "x"), 1);
	assert_int_equal(f->txn.commits, 1);

	struct work bad = {.f = f, .key = "bad", .rc = -EINVAL};
	assert_int_equal(tr_txn_run(&f->txn, write_one, &bad), -EINVAL);
	assert_int_equal(bad.called, 1);
	assert_int_equal(has(f, "bad", NULL), 0);
	assert_int_equal(f->txn.commits, 1);
	assert_int_equal(f->txn.health.failures, 0); /* fn's failure is not a failed commit */

	struct work doomed = {.f = f, .key = "doomed", .doom = 1};
	assert_int_equal(tr_txn_run(&f->txn, write_one, &doomed), TR_ESTORE);
	assert_int_equal(has(f, "doomed", NULL), 0);
	assert_int_equal(f->txn.commits, 1);
	assert_int_equal(f->txn.health.failures, 1);
	assert_string_equal(f->seen, "CKAA");

	/* a begin that fails (a transaction opened behind txn's back):
	 * fn is not called and its error comes back */
	assert_int_equal(tr_store_begin(f->s), 0);
	struct work late = {.f = f, .key = "late"};
	assert_int_equal(tr_txn_run(&f->txn, write_one, &late), TR_ESTORE);
	assert_int_equal(late.called, 0);
	assert_false(f->txn.open);
	assert_int_equal(tr_store_rollback(f->s), 0);
	assert_int_equal(f->txn.commits, 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_keeps_counts_and_calls_hooks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_abort_keeps_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doomed_rolls_back_and_reports, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doomed_before_begin_fails_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_run_return_codes, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
