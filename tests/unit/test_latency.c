/* Unit tests for recent answer times (daemon/latency.c): nearest-rank
 * percentiles over the last TR_LATENCY_WINDOW durations, older ones
 * forgotten. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "tr_latency.h"

static void test_nothing_added_summarises_to_zeros(void **state)
{
	(void)state;
	static struct tr_latency l;
	struct tr_latency_summary s;
	assert_int_equal(tr_latency_summarize(&l, &s), 0);
	assert_int_equal(s.n, 0);
	assert_true(s.max_ms == 0);
}

static void test_percentiles_by_nearest_rank(void **state)
{
	(void)state;
	static struct tr_latency l;
	for (uint64_t us = 100; us >= 1; us--) /* 1..100 us, out of order */
		tr_latency_add(&l, us * 1000);
	struct tr_latency_summary s;
	assert_int_equal(tr_latency_summarize(&l, &s), 0);
	assert_int_equal(s.n, 100);
	assert_true(s.p50_ms == 50);
	assert_true(s.p99_ms == 99);
	assert_true(s.max_ms == 100);
}

static void test_only_the_last_window_counts(void **state)
{
	(void)state;
	static struct tr_latency l;
	tr_latency_add(&l, 5000000); /* a 5 s outlier, then a full window of 1 ms */
	for (int i = 0; i < TR_LATENCY_WINDOW; i++)
		tr_latency_add(&l, 1000);
	struct tr_latency_summary s;
	assert_int_equal(tr_latency_summarize(&l, &s), 0);
	assert_int_equal(s.n, TR_LATENCY_WINDOW);
	assert_true(s.max_ms == 1);
	tr_latency_add(&l, UINT64_MAX); /* capped, not wrapped */
	assert_int_equal(tr_latency_summarize(&l, &s), 0);
	assert_true(s.max_ms == UINT32_MAX / 1e3);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nothing_added_summarises_to_zeros),
		cmocka_unit_test(test_percentiles_by_nearest_rank),
		cmocka_unit_test(test_only_the_last_window_counts),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
