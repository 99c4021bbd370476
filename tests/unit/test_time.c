/* Unit tests for daemon/time.c: parsing and printing wall-clock times in the
 * zones our users live in (Asia/Shanghai, Asia/Tokyo, UTC), the DST edges of
 * the marketplaces' zones (America/Los_Angeles, Europe/Berlin), zone name
 * checks, and strict durations. Expected instants were computed independently
 * (Python's datetime) and are written as literals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include "tr_error.h"
#include "tr_time.h"

/* Parses s in zone and returns the instant; fails the test on an error. */
static int64_t parse_ok(const char *s, const char *zone)
{
	int64_t t = -12345;
	int rc = tr_time_parse(s, zone, &t);
	if (rc != 0)
		fail_msg("tr_time_parse(\"%s\", %s) = %d", s, zone ? zone : "NULL", rc);
	return t;
}

static void assert_format(int64_t t, const char *zone, const char *want)
{
	char buf[64];
	assert_int_equal(tr_time_format(t, zone, buf, sizeof(buf)), 0);
	assert_string_equal(buf, want);
}

static void test_rfc3339(void **state)
{
	(void)state;
	/* 2026-11-24T05:00:00Z */
	const int64_t t = 1795496400;
	assert_int_equal(parse_ok("2026-11-24T05:00:00Z", NULL), t);
	assert_int_equal(parse_ok("2026-11-24T05:00:00z", "Asia/Tokyo"), t);
	assert_int_equal(parse_ok("2026-11-24t05:00:00Z", ""), t);
	assert_int_equal(parse_ok("2026-11-24 05:00:00Z", "UTC"), t);
	assert_int_equal(parse_ok("2026-11-24T05:00:00.123456Z", NULL), t);
	assert_int_equal(parse_ok("2026-11-24T05:00:00,5Z", NULL), t);
	assert_int_equal(parse_ok("2026-11-24T14:00:00+09:00", NULL), t);
	/* An explicit offset wins over the zone argument. */
	assert_int_equal(parse_ok("2026-11-24T13:00:00+08:00", "America/Los_Angeles"), t);
	assert_int_equal(parse_ok("2026-11-23T21:00:00-08:00", "Asia/Shanghai"), t);
	assert_int_equal(parse_ok("2026-11-24T05:00:00+00:00", NULL), t);
	assert_int_equal(parse_ok("2026-11-24T05:00:00-00:00", NULL), t);
	assert_int_equal(parse_ok("1970-01-01T00:00:00Z", NULL), 0);
	assert_int_equal(parse_ok("1969-12-31T23:59:59Z", NULL), -1);
	/* A leap second is the first second of the next minute. */
	assert_int_equal(parse_ok("2016-12-31T23:59:60Z", NULL), 1483228799 + 1);
	/* Minutes only. */
	assert_int_equal(parse_ok("2026-11-24T05:00Z", NULL), t);
}

static void test_local_forms(void **state)
{
	(void)state;
	/* feedback_20261123.csv: Asia/Shanghai, "YYYY-MM-DD HH:MM:SS". */
	assert_int_equal(parse_ok("2026-11-23 08:15:00", "Asia/Shanghai"), 1795392900);
	assert_int_equal(parse_ok("2026-11-23T08:15:00", "Asia/Shanghai"), 1795392900);
	assert_int_equal(parse_ok("2026/11/23 08:15", "Asia/Shanghai"), 1795392900);
	/* feedback_jp_20261123.csv: Asia/Tokyo, "YYYY/MM/DD HH:MM". */
	assert_int_equal(parse_ok("2026/11/23 18:00", "Asia/Tokyo"), 1795424400);
	assert_int_equal(parse_ok("2026-11-23 18:00:00", "Asia/Tokyo"), 1795424400);
	/* No zone: UTC. */
	assert_int_equal(parse_ok("2026-11-24 05:00:00", NULL), 1795496400);
	assert_int_equal(parse_ok("2026-11-24 05:00", ""), 1795496400);
	assert_int_equal(parse_ok("2026-11-24 05:00", "UTC"), 1795496400);
	assert_int_equal(parse_ok("2026-11-24 05:00", "Etc/UTC"), 1795496400);
	/* Switching zones back and forth must not keep a stale zone. */
	assert_int_equal(parse_ok("2026-11-23 08:15:00", "Asia/Shanghai"), 1795392900);
	assert_int_equal(parse_ok("2026-11-23 09:15:00", "Asia/Tokyo"), 1795392900);
	assert_int_equal(parse_ok("2026-11-23 00:15:00", "UTC"), 1795392900);
	assert_int_equal(parse_ok("2026-11-23 08:15:00", "Asia/Shanghai"), 1795392900);
	/* Leap years. */
	assert_int_equal(parse_ok("2024-02-29 08:00", "Asia/Shanghai"), 1709164800);
	int64_t t;
	assert_int_equal(tr_time_parse("2000-02-29 00:00", NULL, &t), 0);
}

static void test_bad_text(void **state)
{
	(void)state;
	static const char *bad[] = {
		"", "2026", "2026-11-24", "2026-11-24T", "2026-11-24T05", "2026-11-24T5:00",
		"26-11-24 05:00", "2026-1-24 05:00", "2026-11/24 05:00", "2026/11-24 05:00",
		"2026-11-24X05:00", "2026-11-24  05:00", " 2026-11-24 05:00", "2026-11-24 05:00 ",
		"2026-11-24T05:00:00Zjunk", "2026-11-24T05:00:00ZZ", "2026-11-24T05:00:00+0900",
		"2026-11-24T05:00:00+09", "2026-11-24T05:00:00+24:00", "2026-11-24T05:00:00+09:60",
		"2026-11-24T05:00:00.Z", "2026-11-24T05:00.5Z", "2026-11-24T05:00:0Z",
		"2026-00-10 00:00", "2026-13-10 00:00", "2026-11-00 00:00", "2026-11-31 00:00",
		"2026-04-31 00:00", "2026-02-29 00:00", "1900-02-29 00:00", "2026-11-24 24:00",
		"2026-11-24 23:60", "2026-11-24 23:59:61", "2026-11-24 05:00:00 UTC",
		"2026-11-24T05:00:00Z\n", "２０２６-11-24 05:00", "2026-11-24T05:00:00-",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t t = 42;
		int rc = tr_time_parse(bad[i], "Asia/Shanghai", &t);
		if (rc != TR_EPARSE)
			fail_msg("\"%s\" gave %d, want TR_EPARSE", bad[i], rc);
		assert_int_equal(t, 42); /* untouched on error */
	}
	int64_t t;
	assert_int_equal(tr_time_parse(NULL, NULL, &t), TR_EPARSE);
}

static void test_zones(void **state)
{
	(void)state;
	assert_true(tr_zone_valid("UTC"));
	assert_true(tr_zone_valid("Asia/Shanghai"));
	assert_true(tr_zone_valid("Asia/Tokyo"));
	assert_true(tr_zone_valid("America/Los_Angeles"));
	assert_true(tr_zone_valid("Europe/Berlin"));
	assert_true(tr_zone_valid("Etc/GMT+5"));
	assert_false(tr_zone_valid(NULL));
	assert_false(tr_zone_valid(""));
	assert_false(tr_zone_valid("Mars/Olympus_Mons"));
	assert_false(tr_zone_valid("America"));          /* a folder */
	assert_false(tr_zone_valid("zone.tab"));         /* not a TZif file */
	assert_false(tr_zone_valid("/etc/localtime"));
	assert_false(tr_zone_valid("../zoneinfo/UTC"));
	assert_false(tr_zone_valid("Asia/../Asia/Tokyo"));
	assert_false(tr_zone_valid("EST5EDT,M3.2.0,M11.1.0")); /* a POSIX rule, not a file */
	assert_false(tr_zone_valid("Asia/Shanghai "));

	int64_t t = 7;
	assert_int_equal(tr_time_parse("2026-11-24 05:00", "Mars/Olympus_Mons", &t), -EINVAL);
	assert_int_equal(tr_time_parse("2026-11-24T05:00:00Z", "Mars/Olympus_Mons", &t), -EINVAL);
	assert_int_equal(tr_time_parse("2026-11-24 05:00", "../../etc/passwd", &t), -EINVAL);
	assert_int_equal(t, 7);
	char buf[64];
	assert_int_equal(tr_time_format(0, "Mars/Olympus_Mons", buf, sizeof(buf)), -EINVAL);
	/* A bad zone does not break the next good one. */
	assert_int_equal(parse_ok("2026-11-23 08:15:00", "Asia/Shanghai"), 1795392900);
}

static void test_format(void **state)
{
	(void)state;
	const int64_t t = 1795496400; /* 2026-11-24T05:00:00Z */
	assert_format(t, NULL, "2026-11-24T05:00:00Z");
	assert_format(t, "", "2026-11-24T05:00:00Z");
	assert_format(t, "UTC", "2026-11-24T05:00:00Z");
	assert_format(t, "Etc/UTC", "2026-11-24T05:00:00+00:00");
	assert_format(t, "Asia/Shanghai", "2026-11-24T13:00:00+08:00");
	assert_format(t, "Asia/Tokyo", "2026-11-24T14:00:00+09:00");
	assert_format(t, "America/Los_Angeles", "2026-11-23T21:00:00-08:00");
	assert_format(t, "Europe/Berlin", "2026-11-24T06:00:00+01:00");
	assert_format(t, "Asia/Kolkata", "2026-11-24T10:30:00+05:30");
	assert_format(1783000000, "America/Los_Angeles", "2026-07-02T06:46:40-07:00");
	assert_format(1783000000, "Europe/Berlin", "2026-07-02T15:46:40+02:00");
	assert_format(0, NULL, "1970-01-01T00:00:00Z");
	assert_format(-1, NULL, "1969-12-31T23:59:59Z");
	assert_format(-1, "Asia/Shanghai", "1970-01-01T07:59:59+08:00");
	assert_format(253402300799, NULL, "9999-12-31T23:59:59Z");

	char buf[64];
	assert_int_equal(tr_time_format(t, NULL, buf, 16), -ENOSPC);
	assert_int_equal(tr_time_format(INT64_MAX, NULL, buf, sizeof(buf)), -ERANGE);
	assert_int_equal(tr_time_format(INT64_MIN, "Asia/Tokyo", buf, sizeof(buf)), -ERANGE);
	assert_int_equal(tr_time_format(253402300799 + 86400 * 2, NULL, buf, sizeof(buf)), -ERANGE);

	/* What is printed parses back to the same instant, in every zone. */
	static const char *zones[] = {NULL, "Asia/Shanghai", "Asia/Tokyo", "America/Los_Angeles",
				      "Europe/Berlin", "Australia/Lord_Howe"};
	for (size_t z = 0; z < sizeof(zones) / sizeof(zones[0]); z++) {
		/* Around the 2026 spring-forward and fall-back days. */
		static const int64_t from[] = {1772900000, 1774700000, 1792800000, 1793450000};
		for (size_t r = 0; r < sizeof(from) / sizeof(from[0]); r++) {
			for (int64_t u = from[r]; u < from[r] + 200000; u += 599) {
				assert_int_equal(tr_time_format(u, zones[z], buf, sizeof(buf)), 0);
				assert_int_equal(parse_ok(buf, "Asia/Tokyo"), u);
			}
		}
	}
}

/* DST: times in a gap are read with the offset before the gap (they land
 * after it), times in an overlap take the earlier instant. */
static void test_dst_los_angeles(void **state)
{
	(void)state;
	const char *la = "America/Los_Angeles";
	/* 2026-03-08: 02:00 PST -> 03:00 PDT. */
	assert_int_equal(parse_ok("2026-03-08 01:59:59", la), 1772963999); /* 09:59:59Z, PST */
	assert_int_equal(parse_ok("2026-03-08 02:00:00", la), 1772964000); /* gap: 10:00Z = 03:00 PDT */
	assert_int_equal(parse_ok("2026-03-08 02:30:00", la), 1772965800); /* gap: 10:30Z = 03:30 PDT */
	assert_int_equal(parse_ok("2026-03-08 03:00:00", la), 1772964000); /* 10:00Z, PDT */
	assert_int_equal(parse_ok("2026-03-08 03:30:00", la), 1772965800);
	assert_format(1772963999, la, "2026-03-08T01:59:59-08:00");
	assert_format(1772964000, la, "2026-03-08T03:00:00-07:00");
	assert_format(1772965800, la, "2026-03-08T03:30:00-07:00");

	/* 2026-11-01: 02:00 PDT -> 01:00 PST; 01:00-01:59 happen twice. */
	assert_int_equal(parse_ok("2026-11-01 00:59:59", la), 1793519999); /* 07:59:59Z, PDT */
	assert_int_equal(parse_ok("2026-11-01 01:00:00", la), 1793520000); /* 08:00Z, PDT (earlier) */
	assert_int_equal(parse_ok("2026-11-01 01:30:00", la), 1793521800); /* 08:30Z, PDT (earlier) */
	assert_int_equal(parse_ok("2026-11-01 01:59:59", la), 1793523599);
	assert_int_equal(parse_ok("2026-11-01 02:00:00", la), 1793527200); /* 10:00Z, PST */
	/* The second 01:30 is reachable with its offset. */
	assert_int_equal(parse_ok("2026-11-01T01:30:00-08:00", la), 1793521800 + 3600);
	assert_format(1793521800, la, "2026-11-01T01:30:00-07:00");
	assert_format(1793521800 + 3600, la, "2026-11-01T01:30:00-08:00");
}

static void test_dst_berlin(void **state)
{
	(void)state;
	const char *be = "Europe/Berlin";
	/* 2026-03-29: 02:00 CET -> 03:00 CEST. */
	assert_int_equal(parse_ok("2026-03-29 01:59:59", be), 1774745999); /* 00:59:59Z */
	assert_int_equal(parse_ok("2026-03-29 02:30:00", be), 1774747800); /* gap: 01:30Z = 03:30 CEST */
	assert_int_equal(parse_ok("2026-03-29 03:30:00", be), 1774747800);
	assert_format(1774747800, be, "2026-03-29T03:30:00+02:00");
	/* 2026-10-25: 03:00 CEST -> 02:00 CET; 02:00-02:59 happen twice. */
	assert_int_equal(parse_ok("2026-10-25 02:30:00", be), 1792888200); /* 00:30Z, CEST (earlier) */
	assert_int_equal(parse_ok("2026-10-25T02:30:00+01:00", be), 1792888200 + 3600);
	assert_int_equal(parse_ok("2026-10-25 03:00:00", be), 1792893600); /* 02:00Z, CET */
	assert_format(1792888200, be, "2026-10-25T02:30:00+02:00");
	assert_format(1792888200 + 3600, be, "2026-10-25T02:30:00+01:00");
	/* Shanghai and Tokyo have no DST: every local time exists once. */
	assert_int_equal(parse_ok("2026-03-29 02:30:00", "Asia/Shanghai"), 1774722600);
	assert_int_equal(parse_ok("2026-10-25 02:30:00", "Asia/Tokyo"), 1792863000);
}

static void test_durations(void **state)
{
	(void)state;
	static const struct { const char *s; int64_t secs; } good[] = {
		{"90s", 90}, {"15m", 900}, {"4h", 14400}, {"3d", 259200}, {"1h30m", 5400},
		{"2d12h", 216000}, {"1d2h3m4s", 93784}, {"0s", 0}, {"24h", 86400},
		{"90m", 5400}, {"007s", 7}, {"106751991167300d", 106751991167300 * 86400},
		{"9223372036854775807s", INT64_MAX},
	};
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		int64_t v = -1;
		if (tr_duration_parse(good[i].s, &v) != 0)
			fail_msg("\"%s\" rejected", good[i].s);
		assert_int_equal(v, good[i].secs);
	}
	static const char *bad[] = {
		"", "4", "h", "4x", "-4h", "+4h", "4h4h", "30m1h", "1s1m", "4H", " 4h", "4h ",
		"1h 30m", "4.5h", "1h30", "d", "4hh", "9223372036854775808s",
		"106751991167301d", "99999999999999999999s", "9223372036854775807s1s",
		"1d9223372036854775807s",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int64_t v = 42;
		if (tr_duration_parse(bad[i], &v) != TR_EPARSE)
			fail_msg("\"%s\" accepted", bad[i]);
		assert_int_equal(v, 42);
	}
	int64_t v;
	assert_int_equal(tr_duration_parse(NULL, &v), TR_EPARSE);
}

static void test_clocks(void **state)
{
	(void)state;
	int64_t now = tr_time_now();
	int64_t sys = (int64_t)time(NULL);
	assert_true(now <= sys && sys - now <= 1);
	uint64_t a = tr_mono_ms(), au = tr_mono_us();
	struct timespec ts = {0, 3 * 1000 * 1000};
	nanosleep(&ts, NULL);
	uint64_t b = tr_mono_ms(), bu = tr_mono_us();
	assert_true(b >= a + 2);
	assert_true(bu >= au + 2000);
	assert_true(bu / 1000 >= b - 1);
}

/* "today" for the spool's status is the host's day, whatever zone the rows
 * and calendars switched to since (main starts the process in Tokyo). */
static void test_host_midnight(void **state)
{
	(void)state;
	int64_t t = parse_ok("2026-11-24T20:00:00Z", NULL);
	parse_ok("2026-11-24 09:00", "America/Los_Angeles");
	assert_int_equal(tr_time_host_midnight(t), parse_ok("2026-11-24T15:00:00Z", NULL));
	/* and the zone cache still answers for Los Angeles afterwards */
	assert_int_equal(parse_ok("2026-11-24 09:00", "America/Los_Angeles"), parse_ok("2026-11-24T17:00:00Z", NULL));
	assert_int_equal(tr_time_host_midnight(t), parse_ok("2026-11-24T15:00:00Z", NULL));
}

int main(void)
{
	setenv("TZ", ":Asia/Tokyo", 1);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc3339),
		cmocka_unit_test(test_local_forms),
		cmocka_unit_test(test_bad_text),
		cmocka_unit_test(test_zones),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_dst_los_angeles),
		cmocka_unit_test(test_dst_berlin),
		cmocka_unit_test(test_durations),
		cmocka_unit_test(test_clocks),
		cmocka_unit_test(test_host_midnight),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
