/* Unit tests for the map of open tickets' keys (include/tr_open_keys.h):
 * SipHash-2-4 gives the reference value of its authors' paper; pairs are
 * found under their hash, several ids may share one hash, adding a pair
 * twice keeps one, and removing leaves the others reachable; thousands of
 * random adds and removes over a few hashes (long probe chains that wrap
 * around the table, growth, backward shifts) agree with a plain list at
 * every step; growing moves pairs to the larger table a few at a time,
 * and meanwhile each pair is found once and can be removed and put back;
 * and the journal undoes exactly what a rolled-back savepoint
 * or transaction did, while release and commit keep it. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "tr_open_keys.h"

/* The ids under hash, in an order-free form: their sum and how many. */
/* A hash whose kept part (the top 28 bits) is x. */
#define H(x) ((uint64_t)(x) << 36)

static int64_t ids_under(struct tr_open_keys *k, uint64_t hash, int *n)
{
	size_t cursor = 0;
	int64_t id, sum = 0;
	*n = 0;
	while ((id = tr_open_keys_next(k, hash, &cursor)) != 0) {
		sum += id;
		(*n)++;
	}
	return sum;
}

static int has(struct tr_open_keys *k, uint64_t hash, int64_t id)
{
	size_t cursor = 0;
	int64_t x;
	while ((x = tr_open_keys_next(k, hash, &cursor)) != 0)
		if (x == id)
			return 1;
	return 0;
}

static void test_siphash_reference(void **state)
{
	(void)state;
	/* Appendix A of "SipHash: a fast short-input PRF": key 00..0f,
	 * message 00..0e. */
	unsigned char msg[15];
	for (int i = 0; i < 15; i++)
		msg[i] = (unsigned char)i;
	assert_int_equal(tr_open_keys_siphash(msg, sizeof(msg), 0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL),
			 0xa129ca6149be45e5ULL);
	assert_int_equal(tr_open_keys_hash("message:111-2"), tr_open_keys_hash("message:111-2"));
	assert_true(tr_open_keys_hash("message:111-2") != tr_open_keys_hash("message:111-3"));
}

static void test_add_find_remove(void **state)
{
	(void)state;
	struct tr_open_keys *k = tr_open_keys_new();
	assert_non_null(k);
	int n;
	assert_int_equal(ids_under(k, 42, &n), 0); /* empty, never allocated */
	assert_int_equal(n, 0);
	assert_int_equal(tr_open_keys_add(k, H(42), 7, 0), 0);
	assert_int_equal(tr_open_keys_add(k, H(42), 7, 0), 0); /* already there */
	assert_int_equal(tr_open_keys_add(k, H(42), 9, 0), 0); /* another key, same hash */
	assert_int_equal(tr_open_keys_add(k, H(42) | 0xfff, 10, 0), 0); /* low bits not kept: the same too */
	assert_int_equal(tr_open_keys_add(k, H(43), 11, 0), 0);
	assert_int_equal(tr_open_keys_count(k), 4);
	assert_int_equal(ids_under(k, H(42), &n), 26);
	assert_int_equal(n, 3);
	assert_int_equal(tr_open_keys_remove(k, H(42), 7, 0), 0);
	assert_int_equal(tr_open_keys_remove(k, H(42), 7, 0), 0); /* not there: nothing */
	assert_int_equal(ids_under(k, H(42), &n), 19);
	assert_int_equal(n, 2);
	assert_true(has(k, H(43), 11));
	assert_false(has(k, H(44), 11));
	/* ids are kept in 36 bits */
	assert_int_equal(tr_open_keys_add(k, H(45), (int64_t)1 << 36, 0), -EOVERFLOW);
	assert_int_equal(tr_open_keys_add(k, H(45), ((int64_t)1 << 36) - 1, 0), 0);
	assert_true(has(k, H(45), ((int64_t)1 << 36) - 1));
	assert_int_equal(tr_open_keys_count(k), 4);
	tr_open_keys_free(k);
	tr_open_keys_free(NULL);
}

/* Hashes drawn from a few values that all share a home slot region, so
 * chains are long, wrap past the table's end and shift back on removal. */
static void test_random_against_a_list(void **state)
{
	(void)state;
	enum { IDS = 3000 };
	static uint64_t hash_of[IDS + 1];
	static char present[IDS + 1];
	struct tr_open_keys *k = tr_open_keys_new();
	assert_non_null(k);
	srand(12345);
	for (int id = 1; id <= IDS; id++)
		/* homes near the end of any power-of-two table: wrap-around */
		hash_of[id] = H(0xfffffffu - (unsigned)(rand() % 200)) | (uint64_t)rand();
	size_t count = 0;
	for (int step = 0; step < 40000; step++) {
		int id = 1 + rand() % IDS;
		if (rand() % 3) {
			assert_int_equal(tr_open_keys_add(k, hash_of[id], id, 0), 0);
			count += !present[id];
			present[id] = 1;
		} else {
			assert_int_equal(tr_open_keys_remove(k, hash_of[id], id, 0), 0);
			count -= present[id];
			present[id] = 0;
		}
		assert_int_equal(tr_open_keys_count(k), count);
		if (step % 997 == 0)
			for (int j = 1; j <= IDS; j++)
				assert_int_equal(has(k, hash_of[j], j), present[j]);
	}
	for (int j = 1; j <= IDS; j++)
		assert_int_equal(has(k, hash_of[j], j), present[j]);
	tr_open_keys_free(k);
}

/* Growing moves pairs over many later changes: meanwhile every pair is
 * found once, under either table, and changes to moved and unmoved pairs
 * alike are seen; a rollback in the middle undoes them across both. */
static void test_growth_moves_gradually(void **state)
{
	(void)state;
	struct tr_open_keys *k = tr_open_keys_new();
	assert_non_null(k);
	const uint64_t shared = H(0x5151);
	for (int64_t id = 1; id <= 10; id++) /* ten keys, one hash */
		assert_int_equal(tr_open_keys_add(k, shared, id, 0), 0);
	int64_t id = 11;
	for (; id <= 768; id++) /* 768: the 1024-slot table's 3/4 */
		assert_int_equal(tr_open_keys_add(k, (uint64_t)id * 0x9e3779b97f4a7c15ULL, id, 0), 0);
	int n;
	for (int round = 0; round < 80; round++, id++) { /* the move takes 64 changes */
		tr_open_keys_commit(k);
		assert_int_equal(tr_open_keys_add(k, (uint64_t)id * 0x9e3779b97f4a7c15ULL, id, 1), 0);
		assert_int_equal(ids_under(k, shared, &n), 55);
		assert_int_equal(n, 10);
		if (round == 5) { /* an unmoved pair leaves, and comes back on rollback */
			assert_int_equal(tr_open_keys_remove(k, shared, 7, 1), 0);
			assert_int_equal(ids_under(k, shared, &n), 48);
			assert_int_equal(tr_open_keys_savepoint(k), 0);
			assert_int_equal(tr_open_keys_add(k, shared, 99, 1), 0);
			assert_int_equal(tr_open_keys_remove(k, shared, 3, 1), 0);
			tr_open_keys_rollback_to(k);
			tr_open_keys_release(k);
			assert_int_equal(ids_under(k, shared, &n), 48);
			tr_open_keys_rollback(k);
			assert_int_equal(ids_under(k, shared, &n), 55);
			assert_false(has(k, (uint64_t)id * 0x9e3779b97f4a7c15ULL, id)); /* rolled back too */
			assert_int_equal(tr_open_keys_add(k, (uint64_t)id * 0x9e3779b97f4a7c15ULL, id, 0), 0);
		}
		for (int64_t j = 11; j <= id; j += 37)
			assert_true(has(k, (uint64_t)j * 0x9e3779b97f4a7c15ULL, j));
	}
	assert_int_equal(tr_open_keys_count(k), (size_t)(id - 1));
	for (int64_t j = 11; j < id; j++)
		assert_true(has(k, (uint64_t)j * 0x9e3779b97f4a7c15ULL, j));
	tr_open_keys_free(k);
}

static void test_journal(void **state)
{
	(void)state;
	struct tr_open_keys *k = tr_open_keys_new();
	assert_non_null(k);
	assert_int_equal(tr_open_keys_add(k, H(1), 100, 0), 0); /* committed before */
	assert_int_equal(tr_open_keys_add(k, H(2), 200, 0), 0);

	/* a transaction: a rule's savepoint rolled back, another released */
	assert_int_equal(tr_open_keys_add(k, H(3), 300, 1), 0);
	assert_int_equal(tr_open_keys_savepoint(k), 0);
	assert_int_equal(tr_open_keys_add(k, H(4), 400, 1), 0);
	assert_int_equal(tr_open_keys_remove(k, H(1), 100, 1), 0);
	assert_int_equal(tr_open_keys_add(k, H(1), 101, 1), 0); /* closed, reopened under a new id */
	tr_open_keys_rollback_to(k);
	tr_open_keys_release(k);
	assert_false(has(k, H(4), 400));
	assert_true(has(k, H(1), 100));
	assert_false(has(k, H(1), 101));
	assert_true(has(k, H(3), 300)); /* before the savepoint: kept */
	assert_int_equal(tr_open_keys_savepoint(k), 0);
	assert_int_equal(tr_open_keys_remove(k, H(2), 200, 1), 0);
	tr_open_keys_release(k);
	assert_false(has(k, H(2), 200));

	/* the whole transaction rolled back: as before it began */
	tr_open_keys_rollback(k);
	assert_true(has(k, H(1), 100));
	assert_true(has(k, H(2), 200));
	assert_false(has(k, H(3), 300));
	assert_int_equal(tr_open_keys_count(k), 2);

	/* committed: a later rollback leaves it alone */
	assert_int_equal(tr_open_keys_add(k, H(5), 500, 1), 0);
	assert_int_equal(tr_open_keys_remove(k, H(2), 200, 1), 0);
	tr_open_keys_commit(k);
	tr_open_keys_rollback(k);
	assert_true(has(k, H(5), 500));
	assert_false(has(k, H(2), 200));

	/* undo across growth: many adds after a remove, all rolled back */
	assert_int_equal(tr_open_keys_remove(k, H(1), 100, 1), 0);
	for (int64_t id = 1000; id < 6000; id++)
		assert_int_equal(tr_open_keys_add(k, (uint64_t)id * 0x9e3779b97f4a7c15ULL, id, 1), 0);
	tr_open_keys_rollback(k);
	assert_int_equal(tr_open_keys_count(k), 2);
	assert_true(has(k, H(5), 500));
	assert_true(has(k, H(1), 100));
	assert_false(has(k, 1000 * 0x9e3779b97f4a7c15ULL, 1000));
	tr_open_keys_free(k);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_siphash_reference),
		cmocka_unit_test(test_add_find_remove),
		cmocka_unit_test(test_random_against_a_list),
		cmocka_unit_test(test_growth_moves_gradually),
		cmocka_unit_test(test_journal),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
