/* Unit tests for the words of a notification (daemon/notify_text.c): the
 * time left as people say it, a due time in a zone with its weekday, and
 * the line that puts a ticket in front of a rule's note without saying a
 * part twice. */
#include <setjmp.h>
#include <stdarg.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include "tr_notify.h"
#include "tr_time.h"

static void left_is(int64_t s, const char *want)
{
	char buf[48];
	tr_notify_time_left(s, buf, sizeof(buf));
	assert_string_equal(buf, want);
}

static void time_left_reads_as_people_say_it(void **state)
{
	(void)state;
	left_is(3 * 3600 + 12 * 60 + 30, "in 3 h 12 min");
	left_is(4 * 3600, "in 4 h");
	left_is(42 * 60, "in 42 min");
	left_is(59, "in under a minute");
	left_is(0, "now");
	left_is(-30, "now");
	left_is(-(40 * 60), "overdue by 40 min");
	left_is(47 * 3600 + 59 * 60, "in 47 h 59 min");
	left_is(71 * 3600 + 59 * 60, "in 2 d 23 h");
	left_is(72 * 3600, "in 3 d");
	left_is(-(50 * 3600), "overdue by 2 d 2 h");
}

static void local_time_names_weekday_and_zone(void **state)
{
	(void)state;
	int64_t t;
	char buf[96];
	assert_int_equal(tr_time_parse("2026-11-27T04:00:00Z", NULL, &t), 0);
	assert_int_equal(tr_notify_local_time(t, NULL, buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Fri 27 Nov 04:00 UTC");
	assert_int_equal(tr_notify_local_time(t, "Asia/Shanghai", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Fri 27 Nov 12:00 Asia/Shanghai");
	/* the day before in a zone west of UTC */
	assert_int_equal(tr_notify_local_time(t, "America/Los_Angeles", buf, sizeof(buf)), 0);
	assert_string_equal(buf, "Thu 26 Nov 20:00 America/Los_Angeles");
	assert_int_equal(tr_notify_local_time(t, "Nowhere/Land", buf, sizeof(buf)), -EINVAL);
	assert_int_equal(tr_notify_local_time(t, NULL, buf, 8), -ENOSPC);
}

static void line(const struct tr_ticket *t, const char *market, const char *note, int64_t now, const char *want)
{
	struct tr_notify_about a;
	tr_notify_about_fill(&a, t, market, "Asia/Shanghai", now);
	struct tr_buf b = {0};
	tr_notify_line(&b, &a, note);
	assert_false(b.oom);
	assert_string_equal(b.p, want);
	tr_buf_free(&b);
}

static void the_line_names_the_ticket_once(void **state)
{
	(void)state;
	int64_t due, now;
	assert_int_equal(tr_time_parse("2026-11-25T05:00:00Z", NULL, &due), 0);
	now = due - 4 * 3600;
	struct tr_ticket t = {.id = 7, .title = "Reply to Chris: Where is my order?", .priority = "normal",
			      .account = "acme-us", .due_at = due,
			      .fields = "{\"order_id\":\"113-1\",\"marketplace\":\"US\",\"buyer\":\"Chris\"}"};
	/* the buyer is in the title: not said again */
	line(&t, NULL, "4 h left to reply to the buyer", now,
	     "[normal] Reply to Chris: Where is my order? — acme-us (US), order 113-1"
	     " — due Wed 25 Nov 13:00 Asia/Shanghai (in 4 h) — 4 h left to reply to the buyer");
	/* the event's marketplace when the ticket keeps none; a case id as a number */
	struct tr_ticket c = {.id = 8, .title = "Listing merged", .priority = "high", .account = "acme-de",
			      .fields = "{\"case_id\":17301}"};
	line(&c, "amazon.de", "call Seller Support", now,
	     "[high] Listing merged — acme-de (amazon.de), case 17301 — call Seller Support");
	/* no title, no account: the ticket's number, and only what is known */
	struct tr_ticket bare = {.id = 9, .fields = "{}"};
	line(&bare, NULL, NULL, now, "ticket 9");
	/* a marketplace without an account stands alone */
	struct tr_ticket m = {.id = 10, .title = "Policy warning", .priority = "urgent", .fields = "{\"marketplace\":\"JP\"}"};
	line(&m, NULL, "read it", now, "[urgent] Policy warning — JP — read it");
	/* a number too large for a whole one, or not whole, is not shown */
	struct tr_ticket big = {.id = 11, .title = "Odd", .fields = "{\"order_id\":1e300,\"case_id\":1.5}"};
	line(&big, NULL, NULL, now, "Odd");
}

/* A notification delivered an hour after it was made says the time left
 * as of its delivery; anything else in the line stays as it was. */
static void a_late_delivery_says_the_time_left_now(void **state)
{
	(void)state;
	const char *made =
		"{\"message\":\"[high] Reply — acme-us — due Tue 24 Nov 08:00 UTC (in 4 h) — reply\","
		"\"ticket\":{\"due_at\":\"2026-11-24T08:00:00Z\",\"due_local\":\"Tue 24 Nov 08:00 UTC\","
		"\"time_left_s\":14400}}";
	int64_t due;
	assert_int_equal(tr_time_parse("2026-11-24T08:00:00Z", NULL, &due), 0);
	char *p = strdup(made);
	tr_notify_refresh(&p, due - 3600);
	cJSON *j = cJSON_Parse(p);
	assert_string_equal(cJSON_GetObjectItem(j, "message")->valuestring,
			    "[high] Reply — acme-us — due Tue 24 Nov 08:00 UTC (in 1 h) — reply");
	assert_int_equal((int)cJSON_GetObjectItem(cJSON_GetObjectItem(j, "ticket"), "time_left_s")->valuedouble, 3600);
	cJSON_Delete(j);
	/* past the due time it says so */
	tr_notify_refresh(&p, due + 40 * 60);
	assert_non_null(strstr(p, "(overdue by 40 min)"));
	free(p);
	/* a notification about no ticket, or one whose words were changed, is left alone */
	p = strdup("{\"message\":\"hello\"}");
	tr_notify_refresh(&p, due);
	assert_string_equal(p, "{\"message\":\"hello\"}");
	free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(time_left_reads_as_people_say_it),
		cmocka_unit_test(local_time_names_weekday_and_zone),
		cmocka_unit_test(the_line_names_the_ticket_once),
		cmocka_unit_test(a_late_delivery_says_the_time_left_now),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
