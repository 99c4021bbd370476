/* Unit tests for daemon/json_print.c: the same text as
 * cJSON_PrintUnformatted for what events, effects and answers hold
 * (escapes, UTF-8, nesting, whole and fractional numbers), and numbers that
 * read back as the same double (where cJSON's own printer may round). And
 * the shape check: a key given twice is found at any depth and named by its
 * path, in small objects and in large ones (sorted: a 200,000-key object
 * is checked in well under a second), and nesting past the limit is
 * refused. */
#include <math.h>
#include <stdio.h>
#include <time.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "tr_json.h"

/* Prints the parsed text both ways and compares. */
static void assert_same_as_cjson(const char *json)
{
	cJSON *v = cJSON_Parse(json);
	assert_non_null(v);
	char *ours = tr_json_print(v), *theirs = cJSON_PrintUnformatted(v);
	assert_non_null(ours);
	assert_string_equal(ours, theirs);
	free(ours);
	free(theirs);
	cJSON_Delete(v);
}

static void test_matches_cjson(void **state)
{
	(void)state;
	assert_same_as_cjson("{}");
	assert_same_as_cjson("[]");
	assert_same_as_cjson("null");
	assert_same_as_cjson("[true,false,null]");
	assert_same_as_cjson("{\"type\":\"message.new\",\"id\":\"m-1\",\"n\":[1,-2,0,3.5,-0.25,1e-7,123456789]}");
	assert_same_as_cjson("{\"a\":{\"b\":{\"c\":[[],{},[{\"d\":\"\"}]]}}}");
	assert_same_as_cjson("\"quote \\\" backslash \\\\ slash / tab \\t nl \\n cr \\r bs \\b ff \\f\"");
	assert_same_as_cjson("\"ctl \\u0001 \\u001f del \\u007f\"");
	assert_same_as_cjson("{\"买家\":\"商品未收到 — お問い合わせ\"}");
	assert_same_as_cjson("[0.1,2.5e10,-7,2147483647,-2147483648,1e-5]");
}

static void assert_prints(double d, const char *want)
{
	cJSON *n = cJSON_CreateNumber(d);
	char *s = tr_json_print(n);
	assert_string_equal(s, want);
	free(s);
	cJSON_Delete(n);
}

static void test_numbers(void **state)
{
	(void)state;
	/* whole numbers beyond int32 print whole (ids, epoch milliseconds) */
	assert_prints(1764000000000.0, "1764000000000");
	assert_prints(-9007199254740993.0, "-9007199254740992");
	assert_prints(-0.0, "0");
	assert_prints(NAN, "null");
	assert_prints(INFINITY, "null");
	assert_prints(1e300, "1e+300");
	/* cJSON 1.7.15 prints this one as 0.3, which reads back as another double */
	assert_prints(0.1 + 0.2, "0.30000000000000004");
	/* fractions read back as the same double */
	const double samples[] = {0.1, 1.0 / 3, 2.0 / 3, 1e-300, 123.456, 5e-324};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		cJSON *n = cJSON_CreateNumber(samples[i]);
		char *s = tr_json_print(n);
		assert_true(strtod(s, NULL) == samples[i]);
		free(s);
		cJSON_Delete(n);
	}
}

static void test_null_item(void **state)
{
	(void)state;
	assert_null(tr_json_print(NULL));
}

/* tr_json_check on json with max_depth: its code, and the path in where. */
static int check_text(const char *json, int max_depth, char *where, size_t len)
{
	cJSON *v = cJSON_Parse(json);
	if (!v)
		fail_msg("test JSON does not parse: %s", json);
	int rc = tr_json_check(v, max_depth, where, len);
	cJSON_Delete(v);
	return rc;
}

static void assert_duplicate(const char *json, const char *path)
{
	char where[128];
	int rc = check_text(json, 64, where, sizeof(where));
	if (rc != TR_JSON_DUPLICATE)
		fail_msg("no duplicate found (%d) in %s", rc, json);
	if (strcmp(where, path) != 0)
		fail_msg("path \"%s\", expected \"%s\", for %s", where, path, json);
}

static void test_duplicate_keys(void **state)
{
	(void)state;
	char where[128];
	assert_int_equal(check_text("{\"a\":1,\"A\":2,\"b\":{\"a\":1},\"c\":[{\"a\":1},{\"a\":2}]}", 64,
				    where, sizeof(where)), TR_JSON_OK);
	assert_duplicate("{\"type\":\"a.b\",\"occurred_at\":\"x\",\"type\":\"c.d\"}", "type");
	assert_duplicate("{\"a\":{\"b\":{\"k\":1,\"k\":2}}}", "a.b.k");
	assert_duplicate("{\"items\":[{\"sku\":1},{\"sku\":1,\"sku\":2}]}", "items[1].sku");
	assert_duplicate("{\"m\":[[{\"x\":1,\"x\":1}]]}", "m[0][0].x");
	assert_duplicate("[{\"ok\":1},{\"k\":1,\"k\":2}]", "[1].k");
	/* empty keys and keys that differ only after a NUL-free prefix */
	assert_duplicate("{\"\":1,\"\":2}", "");
	assert_int_equal(check_text("{\"ab\":1,\"a\":2,\"abc\":3}", 64, where, sizeof(where)), TR_JSON_OK);
	/* a path longer than where keeps its outer part */
	assert_int_equal(check_text("{\"aaaaaaaaaaaaaaaaaaaa\":{\"k\":1,\"k\":2}}", 64, where, 8),
			 TR_JSON_DUPLICATE);
	assert_string_equal(where, "aaaaaaa");
	/* scalars and empty containers have nothing to check */
	assert_int_equal(check_text("3", 64, where, sizeof(where)), TR_JSON_OK);
	assert_int_equal(check_text("{}", 64, where, sizeof(where)), TR_JSON_OK);
}

/* An object of n keys "k0".."k<n-1>", with key dup_of repeated at the end
 * when dup_of >= 0. */
static cJSON *wide_object(int n, int dup_of)
{
	cJSON *o = cJSON_CreateObject();
	char key[32];
	for (int i = 0; i < n; i++) {
		snprintf(key, sizeof(key), "k%d", i);
		cJSON_AddItemToObject(o, key, cJSON_CreateNumber(i));
	}
	if (dup_of >= 0) {
		snprintf(key, sizeof(key), "k%d", dup_of);
		cJSON_AddItemToObject(o, key, cJSON_CreateTrue());
	}
	return o;
}

static double seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void test_duplicate_keys_large_objects(void **state)
{
	(void)state;
	char where[128];
	/* just over the pairwise size, and far over it */
	static const int sizes[] = {17, 1000, 200000};
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		cJSON *o = wide_object(sizes[i], -1);
		double t0 = seconds();
		assert_int_equal(tr_json_check(o, 64, where, sizeof(where)), TR_JSON_OK);
		/* pairwise, 200,000 keys would be 2e10 comparisons: minutes */
		assert_true(seconds() - t0 < 1.0);
		cJSON_Delete(o);
		o = wide_object(sizes[i], sizes[i] / 2);
		assert_int_equal(tr_json_check(o, 64, where, sizeof(where)), TR_JSON_DUPLICATE);
		char key[32];
		snprintf(key, sizeof(key), "k%d", sizes[i] / 2);
		assert_string_equal(where, key);
		const cJSON *dup;
		assert_int_equal(tr_json_duplicate_key(o, &dup), 1);
		assert_string_equal(dup->string, key);
		cJSON_Delete(o);
	}
}

static void test_depth_limit(void **state)
{
	(void)state;
	char where[16];
	assert_int_equal(check_text("{\"a\":[{\"b\":1}]}", 3, where, sizeof(where)), TR_JSON_OK);
	assert_int_equal(check_text("{\"a\":[{\"b\":[]}]}", 3, where, sizeof(where)), TR_JSON_TOO_DEEP);
	/* the first problem met in document order is the one reported */
	assert_int_equal(check_text("{\"a\":[[[[1]]]],\"a\":1}", 3, where, sizeof(where)),
			 TR_JSON_DUPLICATE);
	assert_int_equal(check_text("{\"x\":{\"a\":[[[[1]]]],\"a\":1}}", 3, where, sizeof(where)),
			 TR_JSON_DUPLICATE);
	assert_int_equal(check_text("{\"x\":[[[[1]]]],\"y\":{\"a\":1,\"a\":1}}", 3, where, sizeof(where)),
			 TR_JSON_TOO_DEEP);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_cjson),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_null_item),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_duplicate_keys_large_objects),
		cmocka_unit_test(test_depth_limit),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
