/* Unit tests for daemon/json_print.c: the same text as
 * cJSON_PrintUnformatted for what events, effects and answers hold
 * (escapes, UTF-8, nesting, whole and fractional numbers), and numbers that
 * read back as the same double (where cJSON's own printer may round). */
#include <math.h>
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_cjson),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_null_item),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
