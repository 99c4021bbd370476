/* Unit tests for daemon/calendar.c: business-time arithmetic in the zones our
 * users work in (Asia/Shanghai, Asia/Tokyo) and across the DST changes of
 * the marketplaces' zones (America/Los_Angeles 2026-03-08 and 2026-11-01,
 * Europe/Berlin 2026-03-29 and 2026-10-25): SPEC §5's examples, weekends,
 * holidays, make-up workdays, lunch breaks, long spans, bounds and errors,
 * and a property test against a slow per-minute reference that knows the
 * hours from its own tables, not from calendar.c's parser. Expected instants
 * are written as RFC 3339 with their offsets, worked out by hand. */
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
#include "tr_calendar.h"
#include "tr_config.h"
#include "tr_error.h"
#include "tr_time.h"

#define H 3600
#define MIN 60

/* The instant of s (RFC 3339, or local in zone); fails the test on error. */
static int64_t at(const char *s, const char *zone)
{
	int64_t t;
	int rc = tr_time_parse(s, zone, &t);
	if (rc != 0)
		fail_msg("tr_time_parse(\"%s\", %s) = %d", s, zone ? zone : "UTC", rc);
	return t;
}

/* Asserts got is the instant written in want (RFC 3339 with an offset),
 * printing both in want's zone when not. */
#define assert_instant(got, want, zone) assert_instant_at(got, want, zone, __LINE__)
static void assert_instant_at(int64_t got, const char *want, const char *zone, int line)
{
	int64_t w = at(want, NULL);
	if (got != w) {
		char buf[48] = "?";
		tr_time_format(got, zone, buf, sizeof(buf));
		fail_msg("line %d: got %s (%lld), want %s (%lld)", line, buf, (long long)got, want,
			 (long long)w);
	}
}

static struct tr_cal *compile(const char *zone, const char *hours, const char *const *holidays,
			      size_t nholidays, const char *const *workdays, size_t nworkdays)
{
	struct tr_calendar c = {
		.name = (char *)"test", .timezone = (char *)zone, .hours = (char *)hours,
		.holidays = (char **)holidays, .nholidays = nholidays,
		.workdays = (char **)workdays, .nworkdays = nworkdays,
	};
	struct tr_cal *cal = NULL;
	char err[256] = "";
	int rc = tr_cal_compile(&c, &cal, err, sizeof(err));
	if (rc != 0)
		fail_msg("compile \"%s\": %d %s", hours, rc, err);
	assert_non_null(cal);
	return cal;
}

static int64_t add_ok(const struct tr_cal *cal, int64_t t, int64_t secs)
{
	int64_t out = -1;
	int rc = tr_cal_add(cal, t, secs, &out);
	if (rc != 0)
		fail_msg("tr_cal_add(%lld, %lld) = %d", (long long)t, (long long)secs, rc);
	return out;
}

static int64_t last_ok(const struct tr_cal *cal, int64_t deadline, int64_t margin)
{
	int64_t out = -1;
	int rc = tr_cal_last_open(cal, deadline, margin, &out);
	if (rc != 0)
		fail_msg("tr_cal_last_open(%lld, %lld) = %d", (long long)deadline, (long long)margin, rc);
	return out;
}

#define SH "Asia/Shanghai"
#define LA "America/Los_Angeles"
#define BER "Europe/Berlin"

/* 2026-09-25 is a Friday. */
static void test_spec_examples(void **state)
{
	(void)state;
	struct tr_cal *cn = compile(SH, "Mon-Fri 09:00-18:00", NULL, 0, NULL, 0);
	int64_t fri17 = at("2026-09-25 17:00", SH);
	assert_instant(add_ok(cn, fri17, 4 * H), "2026-09-28T12:00:00+08:00", SH);
	/* Saturday 03:00 deadline, 1 h margin: escalate Friday 17:00. */
	assert_instant(last_ok(cn, at("2026-09-26 03:00", SH), 1 * H), "2026-09-25T17:00:00+08:00", SH);
	/* A deadline inside hours: the margin is taken from that day. */
	assert_instant(last_ok(cn, at("2026-09-23 15:00", SH), 1 * H), "2026-09-23T14:00:00+08:00", SH);
	tr_cal_free(cn);

	static const char *const sat[] = {"2026-09-26"};
	cn = compile(SH, "Mon-Fri 09:00-18:00", NULL, 0, sat, 1);
	assert_instant(add_ok(cn, fri17, 4 * H), "2026-09-26T12:00:00+08:00", SH);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-26 09:00", SH)), 1);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-26 18:00", SH)), 0);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-27 10:00", SH)), 0);
	tr_cal_free(cn);

	static const char *const mon[] = {"2026-09-28"};
	cn = compile(SH, "Mon-Fri 09:00-18:00", mon, 1, NULL, 0);
	assert_instant(add_ok(cn, fri17, 4 * H), "2026-09-29T12:00:00+08:00", SH);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-28 10:00", SH)), 0);
	tr_cal_free(cn);
}

static void test_start_positions(void **state)
{
	(void)state;
	struct tr_cal *cn = compile(SH, "Mon-Fri 09:00-18:00", NULL, 0, NULL, 0);
	/* Inside, before, after hours; at opening and at closing. */
	assert_instant(add_ok(cn, at("2026-09-23 10:00", SH), 2 * H), "2026-09-23T12:00:00+08:00", SH);
	assert_instant(add_ok(cn, at("2026-09-23 07:00", SH), 2 * H), "2026-09-23T11:00:00+08:00", SH);
	assert_instant(add_ok(cn, at("2026-09-23 20:00", SH), 2 * H), "2026-09-24T11:00:00+08:00", SH);
	assert_instant(add_ok(cn, at("2026-09-23 09:00", SH), 9 * H), "2026-09-23T18:00:00+08:00", SH);
	assert_instant(add_ok(cn, at("2026-09-23 18:00", SH), 1), "2026-09-24T09:00:01+08:00", SH);
	assert_instant(add_ok(cn, at("2026-09-23 17:59:59", SH), 1), "2026-09-23T18:00:00+08:00", SH);
	assert_instant(add_ok(cn, at("2026-09-23 17:59:59", SH), 2), "2026-09-24T09:00:01+08:00", SH);
	/* Filling the day to its closing ends at the closing, not next morning. */
	assert_instant(add_ok(cn, at("2026-09-23 17:00", SH), 1 * H), "2026-09-23T18:00:00+08:00", SH);
	/* Weekend starts count from Monday's opening. */
	assert_instant(add_ok(cn, at("2026-09-26 10:00", SH), 1 * H), "2026-09-28T10:00:00+08:00", SH);
	assert_instant(add_ok(cn, at("2026-09-27 23:59", SH), 30 * MIN), "2026-09-28T09:30:00+08:00", SH);
	/* Friday evening to Monday. */
	assert_instant(add_ok(cn, at("2026-09-25 18:00", SH), 9 * H), "2026-09-28T18:00:00+08:00", SH);
	/* is_open edges. */
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-23 08:59:59", SH)), 0);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-23 09:00", SH)), 1);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-23 17:59:59", SH)), 1);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-23 18:00", SH)), 0);
	assert_int_equal(tr_cal_is_open(cn, at("2026-09-26 12:00", SH)), 0);
	tr_cal_free(cn);
}

static void test_zero_and_negative(void **state)
{
	(void)state;
	struct tr_cal *cn = compile(SH, "Mon-Fri 09:00-18:00", NULL, 0, NULL, 0);
	int64_t sat = at("2026-09-26 10:00", SH), wed = at("2026-09-23 10:00", SH);
	/* Zero seconds: t itself, open or closed. */
	assert_int_equal(add_ok(cn, sat, 0), sat);
	assert_int_equal(add_ok(cn, wed, 0), wed);
	int64_t out = 42;
	assert_int_equal(tr_cal_add(cn, wed, -1, &out), -EINVAL);
	assert_int_equal(tr_cal_last_open(cn, wed, -1, &out), -EINVAL);
	assert_int_equal(tr_cal_add(tr_cal_24x7(), wed, -1, &out), -EINVAL);
	assert_int_equal(tr_cal_last_open(tr_cal_24x7(), wed, -1, &out), -EINVAL);
	assert_int_equal(out, 42);
	/* Zero margin: the deadline when open, else the last closing. */
	assert_int_equal(last_ok(cn, wed, 0), wed);
	assert_int_equal(last_ok(cn, at("2026-09-23 09:00", SH), 0), at("2026-09-23 09:00", SH));
	assert_instant(last_ok(cn, sat, 0), "2026-09-25T18:00:00+08:00", SH);
	assert_instant(last_ok(cn, at("2026-09-23 08:00", SH), 0), "2026-09-22T18:00:00+08:00", SH);
	/* Instants tr_time cannot convert. */
	assert_int_equal(tr_cal_add(cn, INT64_MAX, 1, &out), -ERANGE);
	assert_int_equal(tr_cal_add(cn, INT64_MIN, 1, &out), -ERANGE);
	assert_int_equal(tr_cal_last_open(cn, INT64_MAX, 1, &out), -ERANGE);
	assert_int_equal(tr_cal_is_open(cn, INT64_MIN), -ERANGE);
	assert_int_equal(out, 42);
	/* A huge amount runs into the search bound, fast, instead of year 9999. */
	assert_int_equal(tr_cal_add(cn, wed, INT64_MAX, &out), -ERANGE);
	assert_int_equal(tr_cal_last_open(cn, wed, INT64_MAX, &out), -ERANGE);
	/* Far but within bounds: 10 years of 9 h weekdays is ~23,500 h. */
	int64_t far = add_ok(cn, wed, 20000 * (int64_t)H);
	assert_true(far > wed + 8 * 365 * 86400LL);
	assert_int_equal(last_ok(cn, far, 20000 * (int64_t)H), wed);
	tr_cal_free(cn);
}

static void test_lunch_break_and_saturday(void **state)
{
	(void)state;
	const char *tk = "Asia/Tokyo";
	/* 2026-09-21 is a Monday. */
	struct tr_cal *jp = compile(tk, "Mon-Fri 09:00-12:00,13:00-18:00; Sat 10:00-14:00", NULL, 0, NULL, 0);
	assert_instant(add_ok(jp, at("2026-09-21 11:00", tk), 2 * H), "2026-09-21T14:00:00+09:00", tk);
	assert_instant(add_ok(jp, at("2026-09-21 12:30", tk), 1 * H), "2026-09-21T14:00:00+09:00", tk);
	assert_instant(add_ok(jp, at("2026-09-21 11:00", tk), 1 * H), "2026-09-21T12:00:00+09:00", tk);
	assert_instant(add_ok(jp, at("2026-09-25 17:00", tk), 2 * H), "2026-09-26T11:00:00+09:00", tk);
	assert_instant(add_ok(jp, at("2026-09-26 13:00", tk), 2 * H), "2026-09-28T10:00:00+09:00", tk);
	assert_int_equal(tr_cal_is_open(jp, at("2026-09-21 12:15", tk)), 0);
	assert_int_equal(tr_cal_is_open(jp, at("2026-09-26 13:59", tk)), 1);
	assert_int_equal(tr_cal_is_open(jp, at("2026-09-26 14:00", tk)), 0);
	/* Walking back over the lunch break. */
	assert_instant(last_ok(jp, at("2026-09-21 13:30", tk), 1 * H), "2026-09-21T11:30:00+09:00", tk);
	assert_instant(last_ok(jp, at("2026-09-21 12:30", tk), 1 * H), "2026-09-21T11:00:00+09:00", tk);
	/* Monday 09:30 with 2 h: Saturday's 10:00-14:00 is the last open day. */
	assert_instant(last_ok(jp, at("2026-09-28 09:30", tk), 2 * H), "2026-09-26T12:30:00+09:00", tk);
	tr_cal_free(jp);

	/* A make-up Sunday opens with the workday hours (Monday's, lunch
	 * included), not Saturday's. */
	static const char *const sun[] = {"2026-09-27"};
	jp = compile(tk, "Mon-Fri 09:00-12:00,13:00-18:00; Sat 10:00-14:00", NULL, 0, sun, 1);
	assert_instant(add_ok(jp, at("2026-09-26 13:00", tk), 2 * H), "2026-09-27T10:00:00+09:00", tk);
	assert_instant(add_ok(jp, at("2026-09-26 13:00", tk), 5 * H), "2026-09-27T14:00:00+09:00", tk);
	assert_int_equal(tr_cal_is_open(jp, at("2026-09-27 12:30", tk)), 0);
	tr_cal_free(jp);

	/* Workday hours come from the first weekday with hours: Wednesday here. */
	static const char *const sat[] = {"2026-09-26"};
	struct tr_cal *c = compile(tk, "Wed 10:00-11:00; Thu-Fri 09:00-18:00", NULL, 0, sat, 1);
	assert_int_equal(tr_cal_is_open(c, at("2026-09-26 10:30", tk)), 1);
	assert_int_equal(tr_cal_is_open(c, at("2026-09-26 11:00", tk)), 0);
	assert_instant(add_ok(c, at("2026-09-25 17:00", tk), 3 * H), "2026-09-30T11:00:00+09:00", tk);
	tr_cal_free(c);
}

/* China's 2026 National Day week as test data: 10-01 to 10-07 off, Sunday
 * 09-27 and Saturday 10-10 worked. */
static const char *const golden_holidays[] = {
	"2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07",
};
static const char *const golden_workdays[] = {"2026-09-27", "2026-10-10"};

static void test_many_days(void **state)
{
	(void)state;
	struct tr_cal *cn = compile(SH, "Mon-Fri 09:00-18:00", NULL, 0, NULL, 0);
	/* 100 h of 9 h days from Monday 09-07: 11 days and 1 h. */
	assert_instant(add_ok(cn, at("2026-09-07 09:00", SH), 100 * H), "2026-09-22T10:00:00+08:00", SH);
	assert_instant(last_ok(cn, at("2026-09-22 10:00", SH), 100 * H), "2026-09-07T09:00:00+08:00", SH);
	tr_cal_free(cn);

	cn = compile(SH, "Mon-Fri 09:00-18:00", golden_holidays, 7, golden_workdays, 2);
	/* Fri 25th 9, Sun 27th 9, Mon-Wed 27, holidays, Thu-Fri 18, Sat 10th
	 * 9, Mon-Wed 27 = 99 h; 1 h more on Thursday the 15th. */
	int64_t from = at("2026-09-25 09:00", SH);
	assert_instant(add_ok(cn, from, 100 * H), "2026-10-15T10:00:00+08:00", SH);
	assert_instant(last_ok(cn, at("2026-10-15 10:00", SH), 100 * H), "2026-09-25T09:00:00+08:00", SH);
	/* Across the holidays from their eve. */
	assert_instant(add_ok(cn, at("2026-09-30 17:00", SH), 2 * H), "2026-10-08T10:00:00+08:00", SH);
	assert_instant(last_ok(cn, at("2026-10-08 09:30", SH), 1 * H), "2026-09-30T17:30:00+08:00", SH);
	tr_cal_free(cn);
}

static void test_last_open(void **state)
{
	(void)state;
	static const char *const mon[] = {"2026-09-28"};
	struct tr_cal *cn = compile(SH, "Mon-Fri 09:00-18:00", mon, 1, NULL, 0);
	/* Outside hours on a weekday evening. */
	assert_instant(last_ok(cn, at("2026-09-23 20:00", SH), 1 * H), "2026-09-23T17:00:00+08:00", SH);
	/* Before opening: the previous evening. */
	assert_instant(last_ok(cn, at("2026-09-23 07:00", SH), 1 * H), "2026-09-22T17:00:00+08:00", SH);
	/* On a weekend. */
	assert_instant(last_ok(cn, at("2026-09-20 12:00", SH), 2 * H), "2026-09-18T16:00:00+08:00", SH);
	/* Just after opening, margin longer than today's open time so far. */
	assert_instant(last_ok(cn, at("2026-09-23 09:30", SH), 1 * H), "2026-09-22T17:30:00+08:00", SH);
	/* Exactly the open time so far: today's opening. */
	assert_instant(last_ok(cn, at("2026-09-23 10:00", SH), 1 * H), "2026-09-23T09:00:00+08:00", SH);
	/* At closing. */
	assert_instant(last_ok(cn, at("2026-09-23 18:00", SH), 1 * H), "2026-09-23T17:00:00+08:00", SH);
	/* After a holiday Monday: back to Friday. */
	assert_instant(last_ok(cn, at("2026-09-29 09:30", SH), 1 * H), "2026-09-25T17:30:00+08:00", SH);
	/* Margin over several days. */
	assert_instant(last_ok(cn, at("2026-09-24 10:00", SH), 19 * H), "2026-09-22T09:00:00+08:00", SH);
	/* The escalation moment is open and leaves the margin before the deadline. */
	int64_t d = at("2026-09-26 03:00", SH), m = last_ok(cn, d, 1 * H);
	assert_int_equal(tr_cal_is_open(cn, m), 1);
	assert_true(add_ok(cn, m, 1 * H) <= d);
	tr_cal_free(cn);
}

/* last_open from now: a message at Friday 19:00 in Shanghai is due Saturday
 * 19:00, and the office closed at 18:00 for the weekend: no moment is left
 * with an hour of office time before the deadline (-ENOENT), where plain
 * last_open answers Friday 17:00, already past. 2026-11-27 is a Friday. */
static void test_last_open_from(void **state)
{
	(void)state;
	struct tr_cal *cn = compile(SH, "Mon-Fri 09:00-18:00", NULL, 0, NULL, 0);
	int64_t sat19 = at("2026-11-28 19:00", SH), out = 42;
	assert_instant(last_ok(cn, sat19, 1 * H), "2026-11-27T17:00:00+08:00", SH);
	assert_int_equal(tr_cal_last_open_from(cn, at("2026-11-27 19:00", SH), sat19, 1 * H, &out), -ENOENT);
	assert_int_equal(out, 42);  /* untouched */
	/* Still in time at 16:00; exactly in time at 17:00; a second late after. */
	assert_int_equal(tr_cal_last_open_from(cn, at("2026-11-27 16:00", SH), sat19, 1 * H, &out), 0);
	assert_instant(out, "2026-11-27T17:00:00+08:00", SH);
	assert_int_equal(tr_cal_last_open_from(cn, at("2026-11-27 17:00", SH), sat19, 1 * H, &out), 0);
	assert_instant(out, "2026-11-27T17:00:00+08:00", SH);
	assert_int_equal(tr_cal_last_open_from(cn, at("2026-11-27 17:00", SH) + 1, sat19, 1 * H, &out), -ENOENT);
	/* Margin 0: the last closing, Friday 18:00, is past by Friday 18:30. */
	assert_int_equal(tr_cal_last_open_from(cn, at("2026-11-27 17:59", SH), sat19, 0, &out), 0);
	assert_instant(out, "2026-11-27T18:00:00+08:00", SH);
	assert_int_equal(tr_cal_last_open_from(cn, at("2026-11-27 18:30", SH), sat19, 0, &out), -ENOENT);
	/* A deadline inside hours, and one already past. */
	int64_t wed15 = at("2026-11-25 15:00", SH);
	assert_int_equal(tr_cal_last_open_from(cn, at("2026-11-25 13:00", SH), wed15, 1 * H, &out), 0);
	assert_instant(out, "2026-11-25T14:00:00+08:00", SH);
	assert_int_equal(tr_cal_last_open_from(cn, wed15 + 1, wed15, 0, &out), -ENOENT);
	/* Errors come first, as in last_open. */
	assert_int_equal(tr_cal_last_open_from(cn, 0, sat19, -1, &out), -EINVAL);
	assert_int_equal(tr_cal_last_open_from(cn, 0, INT64_MAX, 1, &out), -ERANGE);
	/* 24x7: deadline - margin, if not before from. */
	assert_int_equal(tr_cal_last_open_from(tr_cal_24x7(), sat19 - H, sat19, 1 * H, &out), 0);
	assert_int_equal(out, sat19 - H);
	assert_int_equal(tr_cal_last_open_from(tr_cal_24x7(), sat19 - H + 1, sat19, 1 * H, &out), -ENOENT);
	tr_cal_free(cn);

	/* Open one hour a week: the walk stops once it is past from instead of
	 * searching back through closed days. */
	struct tr_cal *rare = compile(SH, "Mon 09:00-10:00", NULL, 0, NULL, 0);
	int64_t sun = at("2026-11-29 12:00", SH);
	assert_int_equal(tr_cal_last_open_from(rare, at("2026-11-27 12:00", SH), sun, 1 * H, &out), -ENOENT);
	assert_int_equal(tr_cal_last_open_from(rare, at("2026-11-23 08:00", SH), sun, 1 * H, &out), 0);
	assert_instant(out, "2026-11-23T09:00:00+08:00", SH);
	tr_cal_free(rare);

	/* Against plain last_open: the same moment when it is not before from,
	 * else -ENOENT, over deadlines, margins and froms around them. */
	static const char *const hol[] = {"2026-10-01", "2026-10-02", "2026-10-05"};
	static const char *const work[] = {"2026-10-10"};
	struct tr_cal *cal = compile(SH, "Mon-Fri 09:00-12:00,13:00-18:00", hol, 3, work, 1);
	int64_t base = at("2026-09-20 00:00", SH);
	uint64_t x = 88172645463325252ULL;  /* its own xorshift: test_property's sequence stays */
	for (int i = 0; i < 20000; i++) {
		uint64_t r[3];
		for (int k = 0; k < 3; k++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			r[k] = x;
		}
		int64_t d = base + (int64_t)(r[0] % (40 * 1440)) * 60;
		int64_t m = (int64_t)(r[1] % (30 * H + 1));
		int64_t from = d - (int64_t)(r[2] % (4 * 86400)) + 3600;
		int64_t want = last_ok(cal, d, m), got = -1;
		int rc = tr_cal_last_open_from(cal, from, d, m, &got);
		if (want >= from ? rc != 0 || got != want : rc != -ENOENT)
			fail_msg("last_open_from(%lld, %lld, %lld) = %d, %lld; last_open says %lld", (long long)from,
				 (long long)d, (long long)m, rc, (long long)got, (long long)want);
	}
	tr_cal_free(cal);
}

static void test_24x7(void **state)
{
	(void)state;
	const struct tr_cal *c = tr_cal_24x7();
	assert_ptr_equal(c, tr_cal_24x7());
	assert_string_equal(tr_cal_name(c), "24x7");
	int64_t t = at("2026-09-26 03:00", SH), out = 0;
	assert_int_equal(tr_cal_is_open(c, t), 1);
	assert_int_equal(add_ok(c, t, 4 * H), t + 4 * H);
	assert_int_equal(add_ok(c, t, 0), t);
	assert_int_equal(last_ok(c, t, 1 * H), t - 1 * H);
	assert_int_equal(tr_cal_add(c, INT64_MAX - 5, 10, &out), -ERANGE);
	assert_int_equal(tr_cal_last_open(c, INT64_MIN + 5, 10, &out), -ERANGE);
	tr_cal_free((struct tr_cal *)c);  /* a no-op */
	tr_cal_free(NULL);
	assert_int_equal(tr_cal_is_open(tr_cal_24x7(), t), 1);

	/* A local "always open" calendar agrees with 24x7 through both DST days. */
	struct tr_cal *la = compile(LA, "Mon-Sun 00:00-24:00", NULL, 0, NULL, 0);
	int64_t from = at("2026-03-07T12:00:00-08:00", NULL);
	for (int64_t s = 0; s < 60 * H; s += 1234)
		assert_int_equal(add_ok(la, from, s), from + s);
	from = at("2026-10-31T12:00:00-07:00", NULL);
	for (int64_t s = 0; s < 60 * H; s += 1234) {
		assert_int_equal(add_ok(la, from, s), from + s);
		assert_int_equal(last_ok(la, from + s, s), from);
	}
	tr_cal_free(la);
}

static void test_dst_los_angeles(void **state)
{
	(void)state;
	/* Sunday 00:00-24:00: 23 h on 03-08, 25 h on 11-01. */
	struct tr_cal *c = compile(LA, "Sun 00:00-24:00", NULL, 0, NULL, 0);
	int64_t sun = at("2026-03-08T00:00:00-08:00", NULL);
	assert_instant(add_ok(c, sun, 23 * H), "2026-03-09T00:00:00-07:00", LA);
	assert_instant(add_ok(c, sun, 23 * H + 1), "2026-03-15T00:00:01-07:00", LA);
	assert_instant(last_ok(c, at("2026-03-10T00:00:00-07:00", NULL), 23 * H), "2026-03-08T00:00:00-08:00", LA);
	sun = at("2026-11-01T00:00:00-07:00", NULL);
	assert_instant(add_ok(c, sun, 25 * H), "2026-11-02T00:00:00-08:00", LA);
	assert_instant(add_ok(c, sun, 25 * H + 1), "2026-11-08T00:00:01-08:00", LA);
	assert_int_equal(tr_cal_is_open(c, at("2026-11-01T01:30:00-08:00", NULL)), 1);
	assert_int_equal(tr_cal_is_open(c, at("2026-11-02T00:00:00-08:00", NULL)), 0);
	tr_cal_free(c);

	/* Sunday 01:00-04:00 spans the change: 2 h in spring, 4 h in autumn. */
	c = compile(LA, "Sun 01:00-04:00", NULL, 0, NULL, 0);
	int64_t one = at("2026-03-08T01:00:00-08:00", NULL);
	assert_instant(add_ok(c, one, 2 * H), "2026-03-08T04:00:00-07:00", LA);
	assert_instant(add_ok(c, one, 2 * H + 1), "2026-03-15T01:00:01-07:00", LA);
	assert_instant(add_ok(c, at("2026-03-08T00:00:00-08:00", NULL), 1 * H), "2026-03-08T03:00:00-07:00", LA);
	one = at("2026-11-01T01:00:00-07:00", NULL);
	assert_instant(add_ok(c, one, 4 * H), "2026-11-01T04:00:00-08:00", LA);
	assert_instant(add_ok(c, one, 1 * H), "2026-11-01T01:00:00-08:00", LA);
	assert_instant(last_ok(c, at("2026-11-01T04:00:00-08:00", NULL), 4 * H), "2026-11-01T01:00:00-07:00", LA);
	assert_instant(last_ok(c, at("2026-11-05T00:00:00-08:00", NULL), 90 * MIN), "2026-11-01T02:30:00-08:00", LA);
	tr_cal_free(c);

	/* A range in the spring gap opens when the clock jumps: 02:30-03:30 is
	 * 03:00-03:30 PDT; in autumn it is an ordinary hour (PST). */
	c = compile(LA, "Sun 02:30-03:30", NULL, 0, NULL, 0);
	assert_instant(add_ok(c, at("2026-03-07T12:00:00-08:00", NULL), 30 * MIN), "2026-03-08T03:30:00-07:00", LA);
	assert_instant(add_ok(c, at("2026-03-07T12:00:00-08:00", NULL), 1), "2026-03-08T03:00:01-07:00", LA);
	assert_int_equal(tr_cal_is_open(c, at("2026-03-08T01:59:59-08:00", NULL)), 0);
	assert_int_equal(tr_cal_is_open(c, at("2026-03-08T03:00:00-07:00", NULL)), 1);
	assert_instant(add_ok(c, at("2026-10-31T12:00:00-07:00", NULL), 1 * H), "2026-11-01T03:30:00-08:00", LA);
	tr_cal_free(c);

	/* A range wholly in the gap is no open time that day. */
	c = compile(LA, "Sun 02:00-03:00", NULL, 0, NULL, 0);
	assert_instant(add_ok(c, at("2026-03-07T12:00:00-08:00", NULL), 1), "2026-03-15T02:00:01-07:00", LA);
	tr_cal_free(c);

	/* Office hours are 9 h on both sides of a change at night. */
	c = compile(LA, "Mon-Fri 09:00-18:00; Sun 09:00-18:00", NULL, 0, NULL, 0);
	assert_instant(add_ok(c, at("2026-03-06T17:00:00-08:00", NULL), 11 * H), "2026-03-09T10:00:00-07:00", LA);
	assert_instant(add_ok(c, at("2026-03-08T09:00:00-07:00", NULL), 9 * H), "2026-03-08T18:00:00-07:00", LA);
	assert_instant(add_ok(c, at("2026-10-30T17:00:00-07:00", NULL), 11 * H), "2026-11-02T10:00:00-08:00", LA);
	assert_instant(last_ok(c, at("2026-03-09T03:00:00-07:00", NULL), 1 * H), "2026-03-08T17:00:00-07:00", LA);
	assert_instant(last_ok(c, at("2026-11-02T03:00:00-08:00", NULL), 10 * H), "2026-10-30T17:00:00-07:00", LA);
	tr_cal_free(c);
}

static void test_dst_berlin(void **state)
{
	(void)state;
	/* 2026-03-29: 02:00 CET -> 03:00 CEST; 2026-10-25: 03:00 CEST -> 02:00 CET. */
	struct tr_cal *c = compile(BER, "Sun 00:00-24:00", NULL, 0, NULL, 0);
	assert_instant(add_ok(c, at("2026-03-29T00:00:00+01:00", NULL), 23 * H), "2026-03-30T00:00:00+02:00", BER);
	assert_instant(add_ok(c, at("2026-10-25T00:00:00+02:00", NULL), 25 * H), "2026-10-26T00:00:00+01:00", BER);
	assert_instant(add_ok(c, at("2026-10-25T00:00:00+02:00", NULL), 25 * H + 1), "2026-11-01T00:00:01+01:00", BER);
	tr_cal_free(c);

	c = compile(BER, "Sun 01:00-04:00", NULL, 0, NULL, 0);
	assert_instant(add_ok(c, at("2026-03-29T01:00:00+01:00", NULL), 2 * H), "2026-03-29T04:00:00+02:00", BER);
	assert_instant(add_ok(c, at("2026-03-29T01:00:00+01:00", NULL), 1 * H), "2026-03-29T03:00:00+02:00", BER);
	assert_instant(add_ok(c, at("2026-10-25T01:00:00+02:00", NULL), 4 * H), "2026-10-25T04:00:00+01:00", BER);
	assert_instant(add_ok(c, at("2026-10-25T01:00:00+02:00", NULL), 2 * H), "2026-10-25T02:00:00+01:00", BER);
	assert_instant(last_ok(c, at("2026-10-25T04:00:00+01:00", NULL), 4 * H), "2026-10-25T01:00:00+02:00", BER);
	assert_int_equal(tr_cal_is_open(c, at("2026-10-25T02:30:00+02:00", NULL)), 1);
	assert_int_equal(tr_cal_is_open(c, at("2026-10-25T02:30:00+01:00", NULL)), 1);
	tr_cal_free(c);

	/* Weekday hours across both weekends: Friday 16:00 + 2 h = Monday 09:00. */
	c = compile(BER, "Mon-Fri 08:00-17:00", NULL, 0, NULL, 0);
	assert_instant(add_ok(c, at("2026-03-27T16:00:00+01:00", NULL), 2 * H), "2026-03-30T09:00:00+02:00", BER);
	assert_instant(add_ok(c, at("2026-10-23T16:00:00+02:00", NULL), 2 * H), "2026-10-26T09:00:00+01:00", BER);
	assert_instant(last_ok(c, at("2026-03-30T08:30:00+02:00", NULL), 1 * H), "2026-03-27T16:30:00+01:00", BER);
	tr_cal_free(c);
}

/* Sunday holidays in 2026 and 2027 in a Sunday-only calendar: no open time
 * for two years. */
static void test_no_open_time(void **state)
{
	(void)state;
	static char dates[120][16];
	static const char *holidays[120];
	size_t n = 0;
	int64_t sun = at("2026-01-04 00:00", NULL);  /* a Sunday */
	for (; n < 104; n++, sun += 7 * 86400LL) {
		char buf[48];
		assert_int_equal(tr_time_format(sun, NULL, buf, sizeof(buf)), 0);
		memcpy(dates[n], buf, 10);
		dates[n][10] = '\0';
		holidays[n] = dates[n];
	}
	struct tr_cal *c = compile(SH, "Sun 09:00-10:00", holidays, n, NULL, 0);
	int64_t out = 42;
	uint64_t t0 = tr_mono_ms();
	assert_int_equal(tr_cal_add(c, at("2026-01-01 00:00", SH), 1, &out), -ERANGE);
	assert_int_equal(tr_cal_last_open(c, at("2027-12-31 00:00", SH), 1, &out), -ERANGE);
	assert_int_equal(out, 42);
	assert_true(tr_mono_ms() - t0 < 2000);
	assert_int_equal(tr_cal_is_open(c, at("2026-06-07 09:30", SH)), 0);
	/* After the holidays end, Sundays open again (under 400 days away). */
	assert_instant(add_ok(c, at("2027-01-01 00:00", SH), 1), "2028-01-02T09:00:01+08:00", SH);
	tr_cal_free(c);
}

static void test_compile_errors(void **state)
{
	(void)state;
	static const char *const bad_hours[] = {
		"Mon-Fri", "Mon-Fri 9:00-18:00", "mon-fri 09:00-18:00", "Monday 09:00-18:00",
		"Fri-Mon 09:00-18:00", "Mon-Fri 18:00-09:00", "Mon-Fri 09:00-09:00",
		"Mon-Fri 09:00-18:00,12:00-19:00", "Mon-Fri 13:00-18:00,09:00-12:00",
		"Mon-Fri 09:00-18:00; Fri 19:00-20:00", "Mon,Mon 09:00-10:00", "Mon-Fri 09:00-24:01",
		"Mon-Fri 24:00-24:00", "Mon-Fri 09:00-18:00;", "Mon-Fri 09:00-18:00 x",
		"Mon-Fri 09:60-18:00", "Mon-Fri 09:00 - 18:00", "Mon-Fri 09:00-18:00,", "Mon- 09:00-18:00",
		"Mon-Fri 25:00-26:00", "Mon-Fri 09:00", " ", "", "24x7", "Mon-Fri\t09:00-18:00",
		"Mon-Fri 22:00-06:00",
	};
	static const char *const good_hours[] = {
		"Mon-Fri 09:00-18:00", "Mon-Fri 09:00-12:00,13:00-18:00",
		"Mon-Fri 09:00-18:00; Sat 10:00-14:00", "Mon-Fri 09:00-18:00;Sat-Sun 10:00-12:00",
		"Mon,Wed,Fri 09:00-17:00", "Mon-Wed,Fri 08:00-12:00", "Sun 00:00-24:00",
		"Mon 00:00-00:01", "Mon-Mon 09:00-10:00", "Mon-Fri  09:00-12:00,12:00-18:00",
		"Mon-Sun 00:00-24:00", "  Mon 09:00-10:00 ", "Mon 09:00-10:00 ;  Tue 09:00-10:00",
	};
	struct tr_calendar c = {.name = (char *)"cn", .timezone = (char *)SH};
	struct tr_cal *cal = (struct tr_cal *)1;
	char err[256];
	for (size_t i = 0; i < sizeof(bad_hours) / sizeof(bad_hours[0]); i++) {
		c.hours = (char *)bad_hours[i];
		err[0] = '\0';
		if (tr_cal_compile(&c, &cal, err, sizeof(err)) != -EINVAL || cal || !err[0])
			fail_msg("\"%s\" not rejected", bad_hours[i]);
	}
	for (size_t i = 0; i < sizeof(good_hours) / sizeof(good_hours[0]); i++) {
		c.hours = (char *)good_hours[i];
		if (tr_cal_compile(&c, &cal, err, sizeof(err)) != 0)
			fail_msg("\"%s\" rejected: %s", good_hours[i], err);
		assert_string_equal(tr_cal_name(cal), "cn");
		tr_cal_free(cal);
	}
	/* Touching ranges are one: 12:00 is open. */
	c.hours = (char *)"Mon-Fri 09:00-12:00,12:00-18:00";
	assert_int_equal(tr_cal_compile(&c, &cal, err, sizeof(err)), 0);
	assert_int_equal(tr_cal_is_open(cal, at("2026-09-23 12:00", SH)), 1);
	assert_instant(add_ok(cal, at("2026-09-23 11:00", SH), 2 * H), "2026-09-23T13:00:00+08:00", SH);
	tr_cal_free(cal);

	c.hours = (char *)"Mon-Fri 09:00-18:00";
	c.timezone = (char *)"Mars/Olympus";
	assert_int_equal(tr_cal_compile(&c, &cal, err, sizeof(err)), -EINVAL);
	assert_null(cal);
	assert_non_null(strstr(err, "Mars/Olympus"));
	c.timezone = (char *)"../etc/passwd";
	assert_int_equal(tr_cal_compile(&c, &cal, NULL, 0), -EINVAL);
	c.timezone = NULL;  /* UTC */
	assert_int_equal(tr_cal_compile(&c, &cal, err, sizeof(err)), 0);
	assert_instant(add_ok(cal, at("2026-09-25T17:00:00Z", NULL), 2 * H), "2026-09-28T10:00:00Z", NULL);
	tr_cal_free(cal);

	char *bad_date[] = {(char *)"2026-02-30"};
	c.holidays = bad_date;
	c.nholidays = 1;
	assert_int_equal(tr_cal_compile(&c, &cal, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "2026-02-30"));
	char *odd[] = {(char *)"2026-9-1"};
	c.holidays = odd;
	assert_int_equal(tr_cal_compile(&c, &cal, err, sizeof(err)), -EINVAL);
	char *both[] = {(char *)"2026-10-10"};
	c.holidays = both;
	c.workdays = both;
	c.nworkdays = 1;
	assert_int_equal(tr_cal_compile(&c, &cal, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "2026-10-10"));
	c.holidays = NULL;
	c.nholidays = 0;
	c.workdays = NULL;
	c.nworkdays = 0;
	c.hours = NULL;
	assert_int_equal(tr_cal_compile(&c, &cal, err, sizeof(err)), -EINVAL);
	assert_int_equal(tr_cal_compile(NULL, &cal, err, sizeof(err)), -EINVAL);
	/* A tiny error buffer is still terminated. */
	c.hours = (char *)"nonsense";
	char tiny[8];
	assert_int_equal(tr_cal_compile(&c, &cal, tiny, sizeof(tiny)), -EINVAL);
	assert_int_equal(strlen(tiny), 7);
}

/* The calendars of a real config file, as tr_config_load hands them over. */
static void test_from_config(void **state)
{
	(void)state;
	char path[] = "/tmp/test_calendar_XXXXXX.yaml";
	int fd = mkstemps(path, 5);
	assert_true(fd >= 0);
	static const char yaml[] =
		"calendars:\n"
		"  cn-support: { timezone: Asia/Shanghai, hours: \"Mon-Fri 09:00-18:00\", "
		"holidays: [2026-10-01], workdays: [2026-09-27] }\n"
		"  us: { timezone: America/Los_Angeles, hours: \"Mon-Fri 09:00-12:00,13:00-17:00\" }\n";
	assert_int_equal(write(fd, yaml, sizeof(yaml) - 1), (ssize_t)(sizeof(yaml) - 1));
	close(fd);
	struct tr_config cfg;
	struct tr_errors errs = {0};
	int rc = tr_config_load(path, &cfg, &errs);
	unlink(path);
	assert_int_equal(rc, 0);
	assert_int_equal(cfg.ncalendars, 2);
	struct tr_cal *cals[2];
	char err[256];
	for (size_t i = 0; i < 2; i++)
		assert_int_equal(tr_cal_compile(&cfg.calendars[i], &cals[i], err, sizeof(err)), 0);
	assert_string_equal(tr_cal_name(cals[0]), "cn-support");
	/* Wednesday 09-30 17:00 + 2 h: the 1st is a holiday, the 2nd a Friday. */
	assert_instant(add_ok(cals[0], at("2026-09-30 17:00", SH), 2 * H), "2026-10-02T10:00:00+08:00", SH);
	/* Friday 09-25 17:00 + 2 h: Sunday 09-27 is worked. */
	assert_instant(add_ok(cals[0], at("2026-09-25 17:00", SH), 2 * H), "2026-09-27T10:00:00+08:00", SH);
	assert_instant(add_ok(cals[1], at("2026-03-06T16:00:00-08:00", NULL), 2 * H), "2026-03-09T10:00:00-07:00", LA);
	for (size_t i = 0; i < 2; i++)
		tr_cal_free(cals[i]);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

/* ---- property test against a slow reference ---------------------------------- */

/* A calendar described twice: as hours text for calendar.c, and as minute
 * ranges per weekday for the reference. */
struct ref_cal {
	const char *zone;
	const char *hours;
	int ranges[7][3][2];  /* minutes since midnight, [start, end); {0, 0} ends */
	int workday_like;     /* the weekday whose ranges a workday uses */
	const char *holidays[8];
	const char *workdays[4];
	const char *window;   /* first local day of the reference bitmap */
};

#define WEEKDAYS(...) {__VA_ARGS__}, {__VA_ARGS__}, {__VA_ARGS__}, {__VA_ARGS__}, {__VA_ARGS__}

static const struct ref_cal ref_cals[] = {
	{SH, "Mon-Fri 09:00-18:00", {WEEKDAYS({540, 1080}), {{0, 0}}, {{0, 0}}}, 0,
	 {"2026-10-01", "2026-10-02", "2026-10-03", "2026-10-04", "2026-10-05", "2026-10-06", "2026-10-07"},
	 {"2026-09-27", "2026-10-10"}, "2026-09-01"},
	{LA, "Mon-Fri 09:00-12:00,13:00-18:00; Sun 00:30-01:00,02:30-04:00",
	 {WEEKDAYS({540, 720}, {780, 1080}), {{0, 0}}, {{30, 60}, {150, 240}}}, 0,
	 {"2026-03-09"}, {"2026-03-14"}, "2026-02-20"},
	{LA, "Mon-Fri 09:00-12:00,13:00-18:00; Sun 00:30-01:00,02:30-04:00",
	 {WEEKDAYS({540, 720}, {780, 1080}), {{0, 0}}, {{30, 60}, {150, 240}}}, 0,
	 {"2026-11-26"}, {"2026-10-31"}, "2026-10-10"},
	{BER, "Mon-Sat 08:00-20:00; Sun 01:30-03:30",
	 {WEEKDAYS({480, 1200}), {{480, 1200}}, {{90, 210}}}, 0, {"2026-04-03"}, {NULL}, "2026-03-10"},
	{BER, "Mon-Sat 08:00-20:00; Sun 01:30-03:30",
	 {WEEKDAYS({480, 1200}), {{480, 1200}}, {{90, 210}}}, 0, {"2026-10-26"}, {NULL}, "2026-10-05"},
};

#define REF_DAYS 75
#define REF_MINUTES (REF_DAYS * 1440)

struct ref {
	int64_t start;                  /* UTC instant of the bitmap's first minute */
	unsigned char open[REF_MINUTES];
	int64_t before[REF_MINUTES + 1]; /* open minutes before index i */
};

static bool listed(const char *const *dates, size_t n, const char *date)
{
	for (size_t i = 0; i < n && dates[i]; i++)
		if (strncmp(dates[i], date, 10) == 0)
			return true;
	return false;
}

/* Open at UTC minute t by the reference's reading of the local clock. */
static bool ref_open_at(const struct ref_cal *rc, int64_t t)
{
	char buf[48];
	assert_int_equal(tr_time_format(t, rc->zone, buf, sizeof(buf)), 0);
	char date[20];
	snprintf(date, sizeof(date), "%.10s 00:00", buf);
	if (listed(rc->holidays, 8, buf))
		return false;
	int wd;
	if (listed(rc->workdays, 4, buf)) {
		wd = rc->workday_like;
	} else {
		int64_t days = at(date, NULL) / 86400;
		wd = (int)((days % 7 + 7 + 3) % 7);  /* 1970-01-01 was a Thursday */
	}
	int minute = atoi(buf + 11) * 60 + atoi(buf + 14);
	for (int i = 0; i < 3 && rc->ranges[wd][i][1]; i++)
		if (minute >= rc->ranges[wd][i][0] && minute < rc->ranges[wd][i][1])
			return true;
	return false;
}

/* Open seconds in [x, y) by the reference; both inside its window. */
static int64_t ref_open_between(const struct ref *r, int64_t x, int64_t y)
{
	assert_true(x >= r->start && y <= r->start + REF_MINUTES * 60LL && x <= y);
	if (x == y)
		return 0;
	int64_t mx = (x - r->start) / 60, my = (y - r->start) / 60;
	if (mx == my)
		return r->open[mx] ? y - x : 0;
	int64_t total = (r->before[my] - r->before[mx + 1]) * 60;
	if (r->open[mx])
		total += r->start + (mx + 1) * 60 - x;
	if (my < REF_MINUTES && r->open[my])
		total += y - (r->start + my * 60);
	return total;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_property(void **state)
{
	(void)state;
	static struct ref r;
	const int pairs = 10000 / (int)(sizeof(ref_cals) / sizeof(ref_cals[0]));
	for (size_t k = 0; k < sizeof(ref_cals) / sizeof(ref_cals[0]); k++) {
		const struct ref_cal *rc = &ref_cals[k];
		size_t nh = 0, nw = 0;
		while (nh < 8 && rc->holidays[nh])
			nh++;
		while (nw < 4 && rc->workdays[nw])
			nw++;
		struct tr_cal *cal = compile(rc->zone, rc->hours, rc->holidays, nh, rc->workdays, nw);
		char first[32];
		snprintf(first, sizeof(first), "%s 00:00", rc->window);
		r.start = at(first, rc->zone);
		r.before[0] = 0;
		for (int64_t i = 0; i < REF_MINUTES; i++) {
			int64_t t = r.start + i * 60;
			r.open[i] = ref_open_at(rc, t);
			r.before[i + 1] = r.before[i] + r.open[i];
			/* is_open agrees with the reference at every minute, and
			 * inside it (open hours have whole minutes). */
			if (tr_cal_is_open(cal, t) != r.open[i] || tr_cal_is_open(cal, t + 59) != r.open[i]) {
				char buf[48];
				tr_time_format(t, rc->zone, buf, sizeof(buf));
				fail_msg("%s: is_open(%s) != %d", rc->hours, buf, r.open[i]);
			}
		}
		const int64_t end = r.start + REF_MINUTES * 60LL;
		for (int i = 0; i < pairs; i++) {
			/* add: minute-aligned t in the first 45 days, up to 30 h. */
			int64_t t = r.start + (int64_t)(rng() % (45 * 1440)) * 60;
			int64_t s = (int64_t)(rng() % (30 * H + 1));
			if (i % 10 == 0)
				s = (int64_t)(rng() % 4) * 30 * MIN;  /* round amounts, zero too */
			int64_t out = add_ok(cal, t, s);
			assert_true(out >= t && out <= end);
			if (ref_open_between(&r, t, out) != s) {
				char a[48], b[48];
				tr_time_format(t, rc->zone, a, sizeof(a));
				tr_time_format(out, rc->zone, b, sizeof(b));
				fail_msg("%s: add(%s, %lld) = %s holds %lld open seconds", rc->hours, a,
					 (long long)s, b, (long long)ref_open_between(&r, t, out));
			}
			/* The earliest such instant: the second before it was open. */
			if (s > 0)
				assert_true(r.open[(out - 1 - r.start) / 60]);

			/* last_open: any deadline in the last 45 days, up to 30 h. */
			int64_t d = end - 1 - (int64_t)(rng() % (45 * 1440 * 60));
			int64_t m = last_ok(cal, d, s);
			assert_true(m <= d && m >= r.start);
			if (ref_open_between(&r, m, d) != s) {
				char a[48], b[48];
				tr_time_format(d, rc->zone, a, sizeof(a));
				tr_time_format(m, rc->zone, b, sizeof(b));
				fail_msg("%s: last_open(%s, %lld) = %s holds %lld open seconds", rc->hours, a,
					 (long long)s, b, (long long)ref_open_between(&r, m, d));
			}
			/* The latest such instant: the team is at work at m. */
			if (s > 0)
				assert_true(r.open[(m - r.start) / 60]);
			int64_t back = add_ok(cal, m, s);
			assert_true(back <= d);
		}
		tr_cal_free(cal);
	}
}

/* Not a benchmark (sanitizers are on here): prints what 200,000 adds cost
 * so a slowdown by orders of magnitude shows. */
static void test_speed(void **state)
{
	(void)state;
	struct tr_cal *cn = compile(SH, "Mon-Fri 09:00-12:00,13:00-18:00", golden_holidays, 7, golden_workdays, 2);
	int64_t base = at("2026-01-01 00:00", SH), sum = 0;
	uint64_t t0 = tr_mono_us();
	for (int i = 0; i < 200000; i++) {
		int64_t t = base + (int64_t)(rng() % (365 * 86400));
		sum += add_ok(cn, t, (int64_t)(rng() % (72 * H)));
	}
	uint64_t us = tr_mono_us() - t0;
	print_message("200000 tr_cal_add in %.1f ms (%.0f ns each)\n", us / 1000.0, us * 1000.0 / 200000);
	assert_true(sum != 0);
	tr_cal_free(cn);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_examples),
		cmocka_unit_test(test_start_positions),
		cmocka_unit_test(test_zero_and_negative),
		cmocka_unit_test(test_lunch_break_and_saturday),
		cmocka_unit_test(test_many_days),
		cmocka_unit_test(test_last_open),
		cmocka_unit_test(test_last_open_from),
		cmocka_unit_test(test_24x7),
		cmocka_unit_test(test_dst_los_angeles),
		cmocka_unit_test(test_dst_berlin),
		cmocka_unit_test(test_no_open_time),
		cmocka_unit_test(test_compile_errors),
		cmocka_unit_test(test_from_config),
		cmocka_unit_test(test_property),
		cmocka_unit_test(test_speed),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
