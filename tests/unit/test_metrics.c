/* Unit tests for the pieces of `metrics` that take no daemon: a label
 * value escaped as the Prometheus text format asks (rule names and event
 * types come from users), durations into cumulative-ready buckets, and
 * event counts bounded by type, kept only when their transaction commits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "tr_event_counts.h"
#include "tr_histogram.h"
#include "tr_metrics.h"

static char *escaped(const char *v)
{
	struct tr_buf b = {0};
	tr_metrics_label_value(&b, v);
	tr_buf_add(&b, "", 0);
	assert_false(b.oom);
	return b.p ? b.p : strdup("");
}

static void test_a_hostile_rule_name_is_escaped(void **state)
{
	(void)state;
	char *s = escaped("say \"hi\" \\ then\nnewline");
	assert_string_equal(s, "say \\\"hi\\\" \\\\ then\\nnewline");
	free(s);
	/* UTF-8 passes as it is; a byte that is not UTF-8 becomes U+FFFD */
	s = escaped("客服 \xff end \xe2\x82");
	assert_string_equal(s, "客服 \xef\xbf\xbd end \xef\xbf\xbd\xef\xbf\xbd");
	free(s);
	s = escaped("");
	assert_string_equal(s, "");
	free(s);
}

static void test_durations_fall_in_their_bucket(void **state)
{
	(void)state;
	struct tr_histogram h = {0};
	tr_histogram_add(&h, 0);        /* the first bucket */
	tr_histogram_add(&h, 100);      /* at a bound: in it (le) */
	tr_histogram_add(&h, 101);      /* past it: the next */
	tr_histogram_add(&h, 60000000); /* a minute: +Inf */
	assert_int_equal(h.counts[0], 2);
	assert_int_equal(h.counts[1], 1);
	assert_int_equal(h.counts[TR_HISTOGRAM_BUCKETS], 1);
	assert_int_equal(h.n, 4);
	assert_int_equal(h.sum_us, 60000201);
	struct tr_histogram sum = {0};
	tr_histogram_merge(&sum, &h);
	tr_histogram_merge(&sum, &h);
	assert_int_equal(sum.counts[0], 4);
	assert_int_equal(sum.n, 8);
}

struct seen {
	uint64_t socket_a, file_a, other, pairs;
};

static int see(void *ud, const char *type, const char *source, uint64_t n)
{
	struct seen *s = ud;
	s->pairs++;
	if (strcmp(type, "a.b") == 0 && strcmp(source, "socket") == 0)
		s->socket_a += n;
	else if (strcmp(type, "a.b") == 0 && strcmp(source, "file") == 0)
		s->file_a += n;
	else if (strcmp(type, TR_EVENT_COUNTS_OTHER) == 0)
		s->other += n;
	return 0;
}

static void test_event_counts_are_bounded_and_transactional(void **state)
{
	(void)state;
	struct tr_event_counts c = {0};
	assert_int_equal(tr_event_counts_add(&c, "a.b", "socket"), 0);
	assert_int_equal(tr_event_counts_add(&c, "a.b", "file:x.csv:3"), 0);
	tr_event_counts_end(&c, 1);
	assert_int_equal(tr_event_counts_add(&c, "a.b", "socket"), 0);
	tr_event_counts_end(&c, 0); /* rolled back: not counted */
	struct seen s = {0};
	tr_event_counts_each(&c, see, &s);
	assert_int_equal(s.socket_a, 1);
	assert_int_equal(s.file_a, 1);
	/* a sender inventing types: past the cap they are one "other" type */
	for (int i = 0; i < 1000; i++) {
		char type[32];
		snprintf(type, sizeof(type), "made.up%d", i);
		assert_int_equal(tr_event_counts_add(&c, type, "socket"), 0);
	}
	tr_event_counts_end(&c, 1);
	memset(&s, 0, sizeof(s));
	tr_event_counts_each(&c, see, &s);
	assert_int_equal(s.pairs, TR_EVENT_COUNTS_TYPES + 1);
	assert_int_equal(s.other, 1000 - (TR_EVENT_COUNTS_TYPES - 2));
	tr_event_counts_free(&c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_hostile_rule_name_is_escaped),
		cmocka_unit_test(test_durations_fall_in_their_bucket),
		cmocka_unit_test(test_event_counts_are_bounded_and_transactional),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
