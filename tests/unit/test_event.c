/* Unit tests for tr_event_init (include/tr_event.h): what makes an event
 * acceptable and what it looks like once accepted. The sample events of the
 * 2026-11-24 drop are accepted as they are; type names follow the dotted
 * lowercase rule; a numeric id becomes its decimal string; an event without
 * an id gets a derived "h:" id that is the same for the same content (so the
 * same row dropped twice is the same event, SPEC §2) and differs otherwise;
 * occurred_at is normalised to RFC 3339 UTC ("Z") whatever offset it came
 * with, a zone-less time is read in the source's zone (Asia/Shanghai is 8 h
 * ahead of UTC), bad times (and times whose UTC instant is outside years
 * 0000-9999) are refused; feedback.new ratings are whole
 * numbers 1..5 (the string "2" becomes the number 2) and anything else is
 * refused with a message naming "rating"; a non-string account and nesting
 * deeper than 64 levels are refused; so is an object, at any depth, that
 * gives a key twice (the engine would read the first value, rules the
 * last), with a message naming the key's path. Every refusal fills the message and
 * leaves nothing to free: obj is always taken, which ASan's leak checker
 * proves on every error path these tests walk. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include "tr_error.h"
#include "tr_event.h"

#define NOW 1795500000 /* 2026-11-24T06:00:00Z */
#define T_0500Z 1795496400 /* 2026-11-24T05:00:00Z */

static char err[512];

/* Parses json and runs tr_event_init with zone; returns its code. The event
 * is left in *ev for the caller (tr_event_free) when the code is 0. */
static int init_json(struct tr_event *ev, const char *json, const char *zone, int64_t now)
{
	cJSON *obj = cJSON_Parse(json);
	if (!obj)
		fail_msg("test JSON does not parse: %s", json);
	err[0] = 0;
	return tr_event_init(ev, obj, zone, "test", now, err, sizeof(err));
}

/* Asserts json is accepted and returns the event. */
static void accept(struct tr_event *ev, const char *json, const char *zone)
{
	int rc = init_json(ev, json, zone, NOW);
	if (rc != 0)
		fail_msg("rejected (%d: %s): %s", rc, err, json);
}

/* Asserts json is refused with TR_EPARSE, a message containing needle, and
 * an event that holds nothing. */
static void refuse(const char *json, const char *zone, const char *needle)
{
	struct tr_event ev;
	memset(&ev, 0xa5, sizeof(ev));
	int rc = init_json(&ev, json, zone, NOW);
	if (rc != TR_EPARSE)
		fail_msg("expected TR_EPARSE, got %d for %s", rc, json);
	if (!strstr(err, needle))
		fail_msg("message \"%s\" does not name \"%s\" (input %s)", err, needle, json);
	assert_null(ev.payload);
	assert_null(ev.payload_text);
	assert_null(ev.source);
	tr_event_free(&ev); /* harmless on an emptied event */
}

static const char *payload_string(const struct tr_event *ev, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev->payload, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void test_sample_events(void **state)
{
	(void)state;
	char path[1024];
	snprintf(path, sizeof(path), "%s/samples/events_20261124.ndjson", TR_SHARED_DIR);
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	char line[8192];
	int n = 0;
	while (fgets(line, sizeof(line), f)) {
		struct tr_event ev;
		accept(&ev, line, NULL);
		/* the fields of the file are what the event carries */
		cJSON *orig = cJSON_Parse(line);
		assert_string_equal(ev.type, cJSON_GetObjectItem(orig, "type")->valuestring);
		assert_string_equal(ev.id, cJSON_GetObjectItem(orig, "id")->valuestring);
		assert_string_equal(ev.account, cJSON_GetObjectItem(orig, "account")->valuestring);
		assert_string_equal(ev.marketplace, cJSON_GetObjectItem(orig, "marketplace")->valuestring);
		assert_string_equal(ev.source, "test");
		assert_int_equal(ev.received_at, NOW);
		assert_int_equal(ev.seq, 0);
		/* payload_text is the payload, printed */
		char *text = cJSON_PrintUnformatted(ev.payload);
		assert_string_equal(ev.payload_text, text);
		free(text);
		cJSON_Delete(orig);
		tr_event_free(&ev);
		n++;
	}
	fclose(f);
	assert_int_equal(n, 5);

	/* the first sample, field by field */
	struct tr_event ev;
	accept(&ev, "{\"type\":\"message.new\",\"id\":\"msg-0101\",\"account\":\"acme-us\","
		    "\"order_id\":\"113-2222222-3333333\",\"occurred_at\":\"2026-11-24T05:00:00Z\","
		    "\"tags\":[\"a\",1,true,null],\"meta\":{\"x\":{\"y\":2.5}}}", NULL);
	assert_string_equal(ev.type, "message.new");
	assert_string_equal(ev.id, "msg-0101");
	assert_string_equal(ev.account, "acme-us");
	assert_null(ev.marketplace);
	assert_int_equal(ev.occurred_at, T_0500Z);
	assert_string_equal(payload_string(&ev, "order_id"), "113-2222222-3333333");
	/* anything else is handed on untouched */
	cJSON *meta = cJSON_GetObjectItem(ev.payload, "meta");
	assert_true(cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "x"), "y")->valuedouble == 2.5);
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(ev.payload, "tags")), 4);
	tr_event_free(&ev);

	/* no source: the socket */
	cJSON *obj = cJSON_Parse("{\"type\":\"a.b\",\"id\":\"1\"}");
	assert_int_equal(tr_event_init(&ev, obj, NULL, NULL, NOW, err, sizeof(err)), 0);
	assert_string_equal(ev.source, "socket");
	tr_event_free(&ev);

	/* account and marketplace may be null: absent */
	accept(&ev, "{\"type\":\"a.b\",\"id\":\"1\",\"account\":null,\"marketplace\":null}", NULL);
	assert_null(ev.account);
	assert_null(ev.marketplace);
	tr_event_free(&ev);
}

static void test_type_names(void **state)
{
	(void)state;
	static const char *const good[] = {
		"feedback.new", "message.no_response_needed", "case.update", "a", "a.b.c.d",
		"x1.y2_z", "ticket.closed", "timer.fired",
		/* 64 characters: the longest allowed */
		"abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefghi",
	};
	static const char *const bad[] = {
		"", "Feedback.new", "feedback.New", "feedback.", ".feedback", "feedback..new",
		"1feedback", "feedback.1new", "feedback-new", "feedback new", "feedback/new",
		"feedback.*", "fééd.new", "_a.b", "a._b",
		/* 65 characters */
		"abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefghij.abcdefghij",
	};
	char json[256];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		if (!tr_event_type_valid(good[i]))
			fail_msg("\"%s\" should be a valid type", good[i]);
		struct tr_event ev;
		snprintf(json, sizeof(json), "{\"type\":\"%s\",\"id\":\"1\",\"rating\":3}", good[i]);
		accept(&ev, json, NULL);
		assert_string_equal(ev.type, good[i]);
		tr_event_free(&ev);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (tr_event_type_valid(bad[i]))
			fail_msg("\"%s\" should not be a valid type", bad[i]);
		snprintf(json, sizeof(json), "{\"type\":\"%s\",\"id\":\"1\"}", bad[i]);
		refuse(json, NULL, "type");
	}
	refuse("{\"id\":\"1\"}", NULL, "type");
	refuse("{\"type\":7,\"id\":\"1\"}", NULL, "type");
	refuse("{\"type\":null,\"id\":\"1\"}", NULL, "type");
	refuse("{\"type\":[\"a.b\"],\"id\":\"1\"}", NULL, "type");
	/* the name is case-sensitive: "Type" is not "type" */
	refuse("{\"Type\":\"a.b\",\"id\":\"1\"}", NULL, "type");
}

static void test_not_an_object(void **state)
{
	(void)state;
	static const char *const inputs[] = {"[]", "[{\"type\":\"a.b\"}]", "\"a.b\"", "42", "null", "true"};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++)
		refuse(inputs[i], NULL, "object");
	/* NULL is taken too (nothing to free) and refused */
	struct tr_event ev;
	err[0] = 0;
	assert_int_equal(tr_event_init(&ev, NULL, NULL, "test", NOW, err, sizeof(err)), TR_EPARSE);
	assert_true(err[0] != 0);
}

static void test_ids(void **state)
{
	(void)state;
	struct tr_event ev;
	/* numeric ids become their decimal string, in the payload too */
	accept(&ev, "{\"type\":\"a.b\",\"id\":42}", NULL);
	assert_string_equal(ev.id, "42");
	assert_string_equal(payload_string(&ev, "id"), "42");
	assert_non_null(strstr(ev.payload_text, "\"id\":\"42\""));
	tr_event_free(&ev);
	accept(&ev, "{\"type\":\"a.b\",\"id\":-7}", NULL);
	assert_string_equal(ev.id, "-7");
	tr_event_free(&ev);
	accept(&ev, "{\"type\":\"a.b\",\"id\":0}", NULL);
	assert_string_equal(ev.id, "0");
	tr_event_free(&ev);
	/* 2^53: exactly representable, printed without exponent */
	accept(&ev, "{\"type\":\"a.b\",\"id\":9007199254740992}", NULL);
	assert_string_equal(ev.id, "9007199254740992");
	tr_event_free(&ev);
	accept(&ev, "{\"type\":\"a.b\",\"id\":113222222233}", NULL);
	assert_string_equal(ev.id, "113222222233");
	tr_event_free(&ev);

	/* strings are kept as they are, up to 256 bytes */
	char json[700], id[300];
	memset(id, 'x', 256);
	id[256] = 0;
	snprintf(json, sizeof(json), "{\"type\":\"a.b\",\"id\":\"%s\"}", id);
	accept(&ev, json, NULL);
	assert_string_equal(ev.id, id);
	tr_event_free(&ev);
	id[256] = 'x';
	id[257] = 0;
	snprintf(json, sizeof(json), "{\"type\":\"a.b\",\"id\":\"%s\"}", id);
	refuse(json, NULL, "id");

	refuse("{\"type\":\"a.b\",\"id\":\"\"}", NULL, "id");
	refuse("{\"type\":\"a.b\",\"id\":2.5}", NULL, "id");
	refuse("{\"type\":\"a.b\",\"id\":true}", NULL, "id");
	refuse("{\"type\":\"a.b\",\"id\":[1]}", NULL, "id");
	refuse("{\"type\":\"a.b\",\"id\":{\"n\":1}}", NULL, "id");
	/* Far outside int64: must be refused (or accepted) without undefined
	 * behaviour; clang's UBSan reports float-cast-overflow here. */
	struct tr_event big;
	int rc = init_json(&big, "{\"type\":\"a.b\",\"id\":1e30}", NULL, NOW);
	if (rc == 0)
		tr_event_free(&big);
	else
		assert_non_null(strstr(err, "id"));
}

/* The derived id of json (which has no id) received at now; malloc'd. */
static char *derived_id(const char *json, int64_t now)
{
	struct tr_event ev;
	int rc = init_json(&ev, json, NULL, now);
	if (rc != 0)
		fail_msg("rejected (%s): %s", err, json);
	char *id = strdup(ev.id);
	/* the id is written into the payload, so the stored row carries it */
	assert_string_equal(payload_string(&ev, "id"), id);
	tr_event_free(&ev);
	return id;
}

static void test_derived_id(void **state)
{
	(void)state;
	const char *row = "{\"type\":\"feedback.new\",\"account\":\"acme-de\",\"order_id\":\"302-1\","
			  "\"rating\":1,\"occurred_at\":\"2026-11-24T06:00:00Z\"}";
	char *a = derived_id(row, NOW);
	assert_true(strncmp(a, "h:", 2) == 0);
	assert_true(strlen(a) > 2 + 16);
	for (const char *p = a + 2; *p; p++)
		assert_non_null(strchr("0123456789abcdef", *p));
	/* identical content, received later: the same event */
	char *b = derived_id(row, NOW + 3600);
	assert_string_equal(a, b);
	free(b);
	/* the same instant written with an offset is the same content */
	b = derived_id("{\"type\":\"feedback.new\",\"account\":\"acme-de\",\"order_id\":\"302-1\","
		       "\"rating\":1,\"occurred_at\":\"2026-11-24T14:00:00+08:00\"}", NOW);
	assert_string_equal(a, b);
	free(b);
	/* a rating given as "1" is the number 1 once normalised */
	b = derived_id("{\"type\":\"feedback.new\",\"account\":\"acme-de\",\"order_id\":\"302-1\","
		       "\"rating\":\"1\",\"occurred_at\":\"2026-11-24T06:00:00Z\"}", NOW);
	assert_string_equal(a, b);
	free(b);

	/* any difference in content: another event */
	static const char *const others[] = {
		"{\"type\":\"feedback.new\",\"account\":\"acme-de\",\"order_id\":\"302-2\","
		"\"rating\":1,\"occurred_at\":\"2026-11-24T06:00:00Z\"}",
		"{\"type\":\"feedback.new\",\"account\":\"acme-de\",\"order_id\":\"302-1\","
		"\"rating\":2,\"occurred_at\":\"2026-11-24T06:00:00Z\"}",
		"{\"type\":\"feedback.new\",\"account\":\"acme-us\",\"order_id\":\"302-1\","
		"\"rating\":1,\"occurred_at\":\"2026-11-24T06:00:00Z\"}",
		"{\"type\":\"feedback.new\",\"account\":\"acme-de\",\"order_id\":\"302-1\","
		"\"rating\":1,\"occurred_at\":\"2026-11-24T06:00:01Z\"}",
		"{\"type\":\"feedback.new\",\"account\":\"acme-de\",\"order_id\":\"302-1\","
		"\"rating\":1,\"occurred_at\":\"2026-11-24T06:00:00Z\",\"comment\":\"\"}",
	};
	char *seen[sizeof(others) / sizeof(others[0])];
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		seen[i] = derived_id(others[i], NOW);
		if (strcmp(seen[i], a) == 0)
			fail_msg("%s has the id of another event", others[i]);
		for (size_t k = 0; k < i; k++)
			assert_string_not_equal(seen[i], seen[k]);
	}
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++)
		free(seen[i]);
	free(a);
}

/* Regression test (a bug this file found in daemon/event.c, normalise):
 * an event without occurred_at got occurred_at = now written into its
 * payload before the content id was hashed, so the same id-less, time-less
 * row received at two moments got two ids and ran twice. SPEC §2: the id
 * "is derived from the event's content, so the same row dropped twice is
 * the same event". */
static void test_derived_id_ignores_receipt_time(void **state)
{
	(void)state;
	const char *row = "{\"type\":\"message.new\",\"account\":\"acme-us\",\"order_id\":\"113-1\"}";
	char *a = derived_id(row, NOW);
	char *b = derived_id(row, NOW + 60);
	/* the receipt time still becomes occurred_at */
	struct tr_event ev;
	accept(&ev, row, NULL);
	assert_int_equal(ev.occurred_at, NOW);
	tr_event_free(&ev);
	if (strcmp(a, b) != 0) {
		char msg[256];
		snprintf(msg, sizeof(msg), "same row, received 60 s apart, got ids %s and %s", a, b);
		free(a);
		free(b);
		fail_msg("%s", msg);
	}
	free(a);
	free(b);
}

static void test_occurred_at(void **state)
{
	(void)state;
	static const struct {
		const char *in, *zone;
		int64_t want;
		const char *norm;
	} cases[] = {
		{"2026-11-24T05:00:00Z", NULL, T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-24T14:00:00+09:00", NULL, T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-24T13:00:00+08:00", "America/Los_Angeles", T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-23T21:00:00-08:00", "Asia/Shanghai", T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-24T05:00:00.999Z", NULL, T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-24t05:00:00z", NULL, T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-24T10:30:00+05:30", NULL, T_0500Z, "2026-11-24T05:00:00Z"},
		/* no zone: the source's zone; Shanghai is UTC+8 (8 h earlier in UTC) */
		{"2026-11-24 13:00:00", "Asia/Shanghai", T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-24T13:00:00", "Asia/Shanghai", T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026/11/24 13:00", "Asia/Shanghai", T_0500Z, "2026-11-24T05:00:00Z"},
		{"2026-11-24 14:00:00", "Asia/Tokyo", T_0500Z, "2026-11-24T05:00:00Z"},
		/* no zone and no source zone: UTC */
		{"2026-11-24 05:00:00", NULL, T_0500Z, "2026-11-24T05:00:00Z"},
		/* across midnight into the previous UTC day */
		{"2026-11-24 03:00:00", "Asia/Shanghai", T_0500Z - 10 * 3600, "2026-11-23T19:00:00Z"},
	};
	char json[256];
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tr_event ev;
		snprintf(json, sizeof(json), "{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":\"%s\"}", cases[i].in);
		accept(&ev, json, cases[i].zone);
		if (ev.occurred_at != cases[i].want)
			fail_msg("%s in %s: %lld, want %lld", cases[i].in, cases[i].zone ? cases[i].zone : "UTC",
				 (long long)ev.occurred_at, (long long)cases[i].want);
		assert_string_equal(payload_string(&ev, "occurred_at"), cases[i].norm);
		tr_event_free(&ev);
	}

	/* absent or null: the time of receipt, written in the payload */
	struct tr_event ev;
	accept(&ev, "{\"type\":\"a.b\",\"id\":\"1\"}", "Asia/Shanghai");
	assert_int_equal(ev.occurred_at, NOW);
	assert_string_equal(payload_string(&ev, "occurred_at"), "2026-11-24T06:00:00Z");
	tr_event_free(&ev);
	accept(&ev, "{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":null}", NULL);
	assert_int_equal(ev.occurred_at, NOW);
	assert_string_equal(payload_string(&ev, "occurred_at"), "2026-11-24T06:00:00Z");
	tr_event_free(&ev);
}

static void test_bad_times(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"\"yesterday\"", "\"\"", "\"2026-13-01T00:00:00Z\"", "\"2026-11-31T00:00:00Z\"",
		"\"2026-11-24T25:00:00Z\"", "\"2026-11-24T05:61:00Z\"", "\"2026-11-24T05:00:00+25:00\"",
		"\"2026-11-24\"", "\"24/11/2026 05:00\"", "\"2026-11-24T05:00:00Zjunk\"",
		"1795496400", "true", "[\"2026-11-24T05:00:00Z\"]", "{}",
	};
	char json[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":%s}", bad[i]);
		refuse(json, NULL, "occurred_at");
	}
	/* a zone-less time in an unknown zone is an error naming the zone */
	refuse("{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":\"2026-11-24 13:00:00\"}", "Mars/Olympus", "Mars/Olympus");
}

/* Regression test (a bug this file found in daemon/event.c, normalise,
 * which ignored tr_time_format's result): a time that parses but whose UTC
 * instant falls outside years 0000-9999 (year 0000 with a positive offset,
 * 9999 with a negative one) left the formatting buffer uninitialised and
 * its garbage became the payload's occurred_at ("" and "%" were seen). The
 * header promises occurred_at "RFC 3339 UTC", so such an event is refused. */
static void test_times_outside_rfc3339_years(void **state)
{
	(void)state;
	refuse("{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":\"0000-01-01T00:00:00+01:00\"}", NULL, "occurred_at");
	refuse("{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":\"9999-12-31T23:59:59-01:00\"}", NULL, "occurred_at");
	refuse("{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":\"0000-01-01 00:30:00\"}", "Asia/Shanghai", "occurred_at");
	/* the edges themselves are fine */
	struct tr_event ev;
	accept(&ev, "{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":\"0000-01-01T00:00:00Z\"}", NULL);
	assert_string_equal(payload_string(&ev, "occurred_at"), "0000-01-01T00:00:00Z");
	tr_event_free(&ev);
	accept(&ev, "{\"type\":\"a.b\",\"id\":\"1\",\"occurred_at\":\"9999-12-31T23:59:59Z\"}", NULL);
	assert_string_equal(payload_string(&ev, "occurred_at"), "9999-12-31T23:59:59Z");
	tr_event_free(&ev);
}

static void test_feedback_rating(void **state)
{
	(void)state;
	static const struct { const char *in; int want; } good[] = {
		{"\"2\"", 2}, {"2", 2}, {"1", 1}, {"5", 5}, {"\"5\"", 5}, {"3.0", 3}, {"\"4.0\"", 4},
	};
	char json[256];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct tr_event ev;
		snprintf(json, sizeof(json), "{\"type\":\"feedback.new\",\"id\":\"1\",\"rating\":%s}", good[i].in);
		accept(&ev, json, NULL);
		cJSON *r = cJSON_GetObjectItem(ev.payload, "rating");
		if (!cJSON_IsNumber(r) || r->valuedouble != good[i].want)
			fail_msg("rating %s should become the number %d", good[i].in, good[i].want);
		tr_event_free(&ev);
	}
	static const char *const bad[] = {
		"\"six\"", "0", "6", "2.5", "\"2.5\"", "-1", "\"\"", "\"2 stars\"", "true", "null",
		"[2]", "{\"v\":2}", "\"0\"", "\"6\"", "1e10", "\"1e10\"", "-1e300", "\"nan\"", "\"inf\"",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"type\":\"feedback.new\",\"id\":\"1\",\"rating\":%s}", bad[i]);
		refuse(json, NULL, "rating");
	}
	/* feedback.new needs a rating */
	refuse("{\"type\":\"feedback.new\",\"id\":\"1\"}", NULL, "rating");
	/* other types may carry any rating */
	struct tr_event ev;
	accept(&ev, "{\"type\":\"feedback.other\",\"id\":\"1\",\"rating\":\"six\"}", NULL);
	assert_string_equal(payload_string(&ev, "rating"), "six");
	tr_event_free(&ev);
}

static void test_account_marketplace(void **state)
{
	(void)state;
	static const char *const bad[] = {"5", "true", "[\"acme\"]", "{\"name\":\"acme\"}"};
	char json[256];
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(json, sizeof(json), "{\"type\":\"a.b\",\"id\":\"1\",\"account\":%s}", bad[i]);
		refuse(json, NULL, "account");
		snprintf(json, sizeof(json), "{\"type\":\"a.b\",\"id\":\"1\",\"marketplace\":%s}", bad[i]);
		refuse(json, NULL, "marketplace");
	}
	struct tr_event ev;
	accept(&ev, "{\"type\":\"a.b\",\"id\":\"1\",\"account\":\"店铺-上海\",\"marketplace\":\"JP\"}", NULL);
	assert_string_equal(ev.account, "店铺-上海");
	assert_string_equal(ev.marketplace, "JP");
	tr_event_free(&ev);
}

/* An event {"type":"a.b","id":"1","x":[[...]]} whose nesting, counting the
 * event object itself, is depth levels. */
static cJSON *nested(int depth)
{
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "type", "a.b");
	cJSON_AddStringToObject(obj, "id", "1");
	cJSON *at = obj;
	for (int i = 1; i < depth; i++) {
		cJSON *a = cJSON_CreateArray();
		if (at == obj)
			cJSON_AddItemToObject(obj, "x", a);
		else
			cJSON_AddItemToArray(at, a);
		at = a;
	}
	if (at == obj)
		cJSON_AddNumberToObject(obj, "x", 1);
	else
		cJSON_AddItemToArray(at, cJSON_CreateNumber(1));
	return obj;
}

static void test_nesting(void **state)
{
	(void)state;
	struct tr_event ev;
	/* 64 levels: accepted */
	assert_int_equal(tr_event_init(&ev, nested(TR_EVENT_MAX_DEPTH), NULL, "t", NOW, err, sizeof(err)), 0);
	tr_event_free(&ev);
	/* 65 and far more: refused, with a message saying so */
	static const int deeper[] = {TR_EVENT_MAX_DEPTH + 1, TR_EVENT_MAX_DEPTH + 2, 1000, 5000};
	for (size_t i = 0; i < sizeof(deeper) / sizeof(deeper[0]); i++) {
		err[0] = 0;
		int rc = tr_event_init(&ev, nested(deeper[i]), NULL, "t", NOW, err, sizeof(err));
		if (rc != TR_EPARSE)
			fail_msg("nesting %d accepted", deeper[i]);
		assert_non_null(strstr(err, "64"));
	}
	/* deep objects count as well as deep arrays */
	char json[2048] = "{\"type\":\"a.b\",\"id\":\"1\",\"x\":";
	for (int i = 0; i < 70; i++)
		strcat(json, "{\"k\":");
	strcat(json, "1");
	for (int i = 0; i < 70; i++)
		strcat(json, "}");
	strcat(json, "}");
	refuse(json, NULL, "64");
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	/* the cases of issue 17: the engine read the first, rules the last */
	refuse("{\"type\":\"message.new\",\"id\":\"1\",\"occurred_at\":\"2026-11-24T05:00:00Z\","
	       "\"occurred_at\":\"2020-01-01T00:00:00Z\"}", NULL, "field \"occurred_at\": the key is given more than once");
	refuse("{\"type\":\"message.new\",\"type\":\"feedback.new\",\"id\":\"1\"}", NULL, "field \"type\"");
	refuse("{\"type\":\"a.b\",\"id\":\"1\",\"id\":\"2\"}", NULL, "field \"id\"");
	/* at every depth, named by its path */
	refuse("{\"type\":\"a.b\",\"id\":\"1\",\"order\":{\"buyer\":{\"name\":\"x\",\"name\":\"y\"}}}", NULL,
	       "field \"order.buyer.name\"");
	refuse("{\"type\":\"a.b\",\"id\":\"1\",\"lines\":[{\"sku\":\"a\"},{\"sku\":\"b\",\"sku\":\"c\"}]}", NULL,
	       "field \"lines[1].sku\"");
	/* a large object (sorted, not pairwise) */
	cJSON *obj = cJSON_CreateObject();
	cJSON_AddStringToObject(obj, "type", "a.b");
	cJSON_AddStringToObject(obj, "id", "1");
	char key[32];
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "f%d", i);
		cJSON_AddNumberToObject(obj, key, i);
	}
	struct tr_event ev;
	assert_int_equal(tr_event_init(&ev, cJSON_Duplicate(obj, 1), NULL, "t", NOW, err, sizeof(err)), 0);
	tr_event_free(&ev);
	cJSON_AddNumberToObject(obj, "f4321", 0);
	assert_int_equal(tr_event_init(&ev, obj, NULL, "t", NOW, err, sizeof(err)), TR_EPARSE);
	assert_non_null(strstr(err, "field \"f4321\""));
	/* keys that differ in case are distinct keys */
	accept(&ev, "{\"type\":\"a.b\",\"id\":\"1\",\"Type\":\"x\",\"ID\":2}", NULL);
	tr_event_free(&ev);
}

/* Ownership: every refusal above ran through refuse(), which frees nothing
 * itself: ASan's leak check at exit proves obj was taken. This walks each
 * error path once more with objects that own many allocations. */
static void test_ownership_on_every_path(void **state)
{
	(void)state;
	static const char *const inputs[] = {
		"[1,2,3]",
		"{\"id\":\"1\",\"big\":[1,2,3,{\"a\":\"b\"}]}",
		"{\"type\":\"BAD\",\"big\":[1,2,3,{\"a\":\"b\"}]}",
		"{\"type\":\"a.b\",\"account\":1,\"big\":[1,{\"a\":\"b\"}]}",
		"{\"type\":\"a.b\",\"marketplace\":1,\"big\":[1,{\"a\":\"b\"}]}",
		"{\"type\":\"a.b\",\"occurred_at\":1,\"big\":[1,{\"a\":\"b\"}]}",
		"{\"type\":\"a.b\",\"occurred_at\":\"never\",\"big\":[1,{\"a\":\"b\"}]}",
		"{\"type\":\"feedback.new\",\"rating\":9,\"big\":[1,{\"a\":\"b\"}]}",
		"{\"type\":\"a.b\",\"id\":1.5,\"big\":[1,{\"a\":\"b\"}]}",
		"{\"type\":\"a.b\",\"id\":false,\"big\":[1,{\"a\":\"b\"}]}",
		"{\"type\":\"a.b\",\"id\":\"\",\"big\":[1,{\"a\":\"b\"}]}",
	};
	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		struct tr_event ev;
		cJSON *obj = cJSON_Parse(inputs[i]);
		assert_non_null(obj);
		err[0] = 0;
		assert_int_equal(tr_event_init(&ev, obj, NULL, "t", NOW, err, sizeof(err)), TR_EPARSE);
		assert_true(err[0] != 0);
		/* a tiny error buffer is still written safely */
		char small[8];
		obj = cJSON_Parse(inputs[i]);
		assert_int_equal(tr_event_init(&ev, obj, NULL, "t", NOW, small, sizeof(small)), TR_EPARSE);
		assert_true(strlen(small) < sizeof(small));
	}
}

/* Whole-number members, as timers and ladders read their payloads. */
static void test_json_whole(void **state)
{
	(void)state;
	cJSON *o = cJSON_Parse("{\"level\":3,\"neg\":-2,\"frac\":1.5,\"text\":\"3\",\"big\":1e300}");
	assert_non_null(o);
	assert_int_equal(tr_json_whole(o, "level", 9), 3);
	assert_int_equal(tr_json_whole(o, "neg", 9), -2);
	assert_int_equal(tr_json_whole(o, "frac", 9), 9);
	assert_int_equal(tr_json_whole(o, "text", 9), 9);
	assert_int_equal(tr_json_whole(o, "big", 9), 9);
	assert_int_equal(tr_json_whole(o, "absent", 9), 9);
	assert_int_equal(tr_json_whole(NULL, "level", 9), 9);
	cJSON_Delete(o);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sample_events),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_not_an_object),
		cmocka_unit_test(test_ids),
		cmocka_unit_test(test_derived_id),
		cmocka_unit_test(test_derived_id_ignores_receipt_time),
		cmocka_unit_test(test_occurred_at),
		cmocka_unit_test(test_bad_times),
		cmocka_unit_test(test_times_outside_rfc3339_years),
		cmocka_unit_test(test_feedback_rating),
		cmocka_unit_test(test_account_marketplace),
		cmocka_unit_test(test_nesting),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_ownership_on_every_path),
		cmocka_unit_test(test_json_whole),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
