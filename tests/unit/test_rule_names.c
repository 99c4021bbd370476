/* Tests for daemon/rule_names.c: which literals of a rule file's text the
 * scan takes for a calendar, an output or a ladder (and which it must not:
 * comments, strings that only look like calls, variables, concatenations,
 * other tables' fields), on which line; and the check of those names
 * against a config: the error a user reads for a typo, the warning for a
 * fallback and for a config name no rule uses. Not a test of loading rules
 * (test_engine.c) or of --check and reload (tests/integration). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_rule_names.h"

static const char *kind_name(enum tr_name_kind k)
{
	switch (k) {
	case TR_NAME_LITERAL: return "literal";
	case TR_NAME_CALENDAR: return "calendar";
	case TR_NAME_OUTPUT: return "output";
	case TR_NAME_LADDER: return "ladder";
	case TR_NAME_HAS_CALENDAR: return "has_calendar";
	case TR_NAME_HAS_OUTPUT: return "has_output";
	}
	return "?";
}

/* The references (not the plain literals) as "kind name line; …". */
struct seen {
	char refs[2048];
	int literals;
};

static void collect(const struct tr_rule_name *n, void *arg)
{
	struct seen *s = arg;
	if (n->kind == TR_NAME_LITERAL) {
		s->literals++;
		return;
	}
	size_t len = strlen(s->refs);
	snprintf(s->refs + len, sizeof(s->refs) - len, "%s%s %.*s %d", len ? "; " : "", kind_name(n->kind),
		 (int)n->len, n->text, n->line);
}

static const char *refs(const char *src, struct seen *s)
{
	memset(s, 0, sizeof(*s));
	tr_rule_names_scan(src, strlen(src), collect, s);
	return s->refs;
}

static void test_the_shapes_the_issue_names(void **state)
{
	(void)state;
	struct seen s;
	assert_string_equal(refs("notify(\"lead\", \"hi\", t)", &s), "output lead 1");
	assert_string_equal(refs("t:nudge{ notify = \"lead\", calendar = \"cn-support\" }", &s),
			    "output lead 1; calendar cn-support 1");
	assert_string_equal(refs("t:escalate{ ladder = \"suspension\" }", &s), "ladder suspension 1");
	assert_string_equal(refs("local x = time.add(t, \"4h\", \"cn-support\")", &s), "calendar cn-support 1");
	assert_string_equal(refs("if time.is_open(t, \"x\") then end", &s), "calendar x 1");
	assert_string_equal(refs("local a = time.last_open(d, \"x\", \"1h\")", &s), "calendar x 1");
	assert_string_equal(refs("t:due(\"8h\", \"x\")", &s), "calendar x 1");
	assert_string_equal(refs("ladder { name = \"l\", calendar = \"c\",\n"
				 "  levels = {{ after = \"1h\", notify = \"o\" }; { after = \"2h\", notify = 'p' }} }", &s),
			    "calendar c 1; output o 2; output p 2");
	assert_string_equal(refs("local z = time.zone(\"tokyo\")", &s), "calendar tokyo 1");
	assert_string_equal(refs("local a = time.has_calendar(\"x\") and has_output(\"y\")", &s),
			    "has_calendar x 1; has_output y 1");
	/* a call with a string argument and no parentheses */
	assert_string_equal(refs("notify \"lead\"", &s), "output lead 1");
	/* nested calls: each at its own position */
	assert_string_equal(refs("time.add(time.add(t, \"1h\", \"a\"), \"2h\", \"b\")", &s), "calendar a 1; calendar b 1");
	assert_string_equal(refs("time.add(t, {\"x\", \"y\"}, \"b\")", &s), "calendar b 1");
	assert_string_equal(refs("notify(\"a\", f(\"b\", \"c\"))", &s), "output a 1");
	/* a long string is a literal too */
	assert_string_equal(refs("notify([[lead]], m)", &s), "output lead 1");
}

static void test_what_is_not_a_literal_name(void **state)
{
	(void)state;
	struct seen s;
	/* not a literal at that position: checked when the rule runs */
	assert_string_equal(refs("notify(LEAD, \"lead\")", &s), "");
	assert_string_equal(refs("time.add(t, \"4h\", \"cn\" .. \"-support\")", &s), "");
	assert_string_equal(refs("time.add(t, \"cn-support\")", &s), "");
	assert_string_equal(refs("notify((\"lead\"), m)", &s), "");
	assert_string_equal(refs("notify(\"lead\" .. x, m)", &s), "");
	assert_string_equal(refs("t:nudge{ notify = \"le\" .. \"ad\", calendar = TEAM }", &s), "");
	assert_string_equal(refs("t:nudge{ calendar = ok and \"a\" or \"b\" }", &s), "");
	/* an escape: its value is not its text */
	assert_string_equal(refs("notify(\"le\\x61d\", m)", &s), "");
	/* not the global notify, not the time table, not a field of a table */
	assert_string_equal(refs("x.notify(\"a\"); o:notify(\"b\"); x.time.add(t, \"1h\", \"c\")", &s), "");
	assert_string_equal(refs("local calendar = \"x\"; t.calendar = \"y\"; if calendar == \"z\" then end", &s), "");
	assert_string_equal(refs("local t = { [\"calendar\"] = \"x\" }", &s), "");
	assert_string_equal(refs("f(a, due(\"8h\", \"x\"))", &s), "");
	/* comments and strings that only look like calls */
	assert_string_equal(refs("-- notify(\"a\")\n--[[ notify(\"b\") ]]\n--[==[ ]] notify(\"c\") ]==]\n"
				 "local s = \"notify(\\\"d\\\")\" .. [[notify(\"e\")]] .. 'time.add(t, \"1h\", \"f\")'", &s),
			    "");
	assert_int_equal(s.literals, 3);
	/* half a comment opener is a line comment */
	assert_string_equal(refs("--[= notify(\"a\")\nnotify(\"b\")", &s), "output b 2");
}

static void test_lines_count_as_lua_counts_them(void **state)
{
	(void)state;
	struct seen s;
	assert_string_equal(refs("\n\nnotify(\"a\")", &s), "output a 3");
	assert_string_equal(refs("--[[\n\n]] notify(\"a\")", &s), "output a 3");
	assert_string_equal(refs("local s = [[\nx\ny]]\nnotify(\"a\")", &s), "output a 4");
	assert_string_equal(refs("local s = \"x\\\ny\"\nnotify(\"a\")", &s), "output a 3");
	assert_string_equal(refs("local s = \"x\\z\n\n  y\"\nnotify(\"a\")", &s), "output a 4");
	assert_string_equal(refs("a\r\nb\n\rc\rnotify(\"a\")", &s), "output a 4");
	assert_string_equal(refs("notify(\n  \"a\"\n)", &s), "output a 2");
	assert_string_equal(refs("t:nudge {\n  after = \"1h\",\n  calendar = \"c\"\n}", &s), "calendar c 3");
}

static void test_broken_text_ends_quietly(void **state)
{
	(void)state;
	struct seen s;
	/* the first argument was whole before the string that does not end */
	assert_string_equal(refs("notify(\"a\", \"unfinished\nnotify(\"b\")", &s), "output a 1");
	assert_string_equal(refs("notify(\"a\"", &s), "");
	assert_string_equal(refs("x = [==[ never closed ]] notify(\"a\")", &s), "");
	assert_string_equal(refs("))))}}]] notify(\"a\")", &s), "output a 1");
	assert_string_equal(refs("\"\\", &s), "");
	assert_string_equal(refs("'\\z", &s), "");
	/* deeper than the scan follows: counted, and the names after it still found */
	char deep[3000] = "";
	for (int i = 0; i < 600; i++)
		strcat(deep, "(");
	strcat(deep, "notify(\"a\")");
	for (int i = 0; i < 600; i++)
		strcat(deep, ")");
	strcat(deep, " notify(\"b\")");
	assert_string_equal(refs(deep, &s), "output b 1");
}

/* A config with two calendars and two outputs, made by hand. */
static struct tr_calendar calendars[] = {{.name = "cn-support", .line = 12}, {.name = "jp-support", .line = 13}};
static struct tr_output outputs[] = {{.name = "lead", .line = 20}, {.name = "erp", .line = 21}};

static struct tr_config config(void)
{
	struct tr_config cfg = {0};
	cfg.path = "triaged.yaml";
	cfg.calendars = calendars;
	cfg.ncalendars = 2;
	cfg.outputs = outputs;
	cfg.noutputs = 2;
	return cfg;
}

static const char *formatted(const struct tr_errors *l, size_t i)
{
	static char buf[512];
	assert_true(i < l->n);
	tr_error_format(&l->items[i], buf, sizeof(buf));
	return buf;
}

static void test_a_typo_is_an_error_at_its_line(void **state)
{
	(void)state;
	struct tr_config cfg = config();
	const char *src = "-- messages\n"
			  "local LEAD = \"lead\"\n"
			  "rule { name = \"r\", on = \"a.b\", action = function(ev)\n"
			  "  notify(\"laed\", \"x\")\n"
			  "  t:nudge { after = \"1h\", calendar = \"cn_support\", notify = \"journal\" }\n"
			  "  t:escalate { ladder = \"suspention\" }\n"
			  "  local x = time.add(0, \"1h\", \"24x7\") + time.add(0, \"1h\", \"jp-support\")\n"
			  "  notify(\"erp\", \"y\"); notify(\"watch\", \"z\")\n"
			  "end }\n";
	struct tr_rule_file f = {"rules.d/messages.lua", src, strlen(src)};
	const char *ladders[] = {"suspension"};
	struct tr_errors errs = {0}, warnings = {0};
	assert_int_equal(tr_rule_names_check(&f, 1, &cfg, ladders, 1, &errs, &warnings), 3);
	assert_int_equal(errs.n, 3);
	assert_string_equal(formatted(&errs, 0), "rules.d/messages.lua:4: notify names output 'laed' that the config "
						 "lacks (outputs: lead, erp; built in: journal, watch)");
	assert_string_equal(formatted(&errs, 1), "rules.d/messages.lua:5: option calendar names calendar 'cn_support' "
						 "that the config lacks (calendars: cn-support, jp-support; built in: 24x7)");
	assert_string_equal(formatted(&errs, 2), "rules.d/messages.lua:6: option ladder names ladder 'suspention' "
						 "that no ladder{} declares (ladders: suspension)");
	/* cn-support is named nowhere but in the typo; lead and erp are used */
	assert_int_equal(warnings.n, 1);
	assert_string_equal(formatted(&warnings, 0), "triaged.yaml:12: calendars: calendar 'cn-support' is not used "
						     "by any rule (no rule file holds the string \"cn-support\")");
	tr_errors_free(&errs);
	tr_errors_free(&warnings);

	/* ladders NULL: not known yet (a file failed), so not checked */
	assert_int_equal(tr_rule_names_check(&f, 1, &cfg, NULL, 0, &errs, &warnings), 2);
	tr_errors_free(&errs);
	tr_errors_free(&warnings);
}

static void test_a_binding_error_at_the_same_line_is_not_repeated(void **state)
{
	(void)state;
	struct tr_config cfg = config();
	const char *src = "ladder { name = \"l\", levels = {{ after = \"1h\", notify = \"nope\" }} }\n";
	struct tr_rule_file f = {"r.lua", src, strlen(src)};
	struct tr_errors errs = {0}, warnings = {0};
	tr_errors_add(&errs, "r.lua", 1, 0, NULL, "ladder 'l': level 1 notifies unknown output 'nope'");
	assert_int_equal(tr_rule_names_check(&f, 1, &cfg, NULL, 0, &errs, &warnings), 0);
	assert_int_equal(errs.n, 1);
	tr_errors_free(&errs);
	tr_errors_free(&warnings);
}

static void test_fallbacks_and_unused_names_are_warnings(void **state)
{
	(void)state;
	struct tr_config cfg = config();
	const char *a = "local TEAM = time.has_calendar(\"cn_support\") and \"cn_support\" or \"24x7\"\n"
			"local LEAD = has_output(\"lead\") and \"lead\" or \"journal\"\n"
			"local OPS = has_output(\"ops\") and \"ops\" or \"journal\"\n";
	const char *b = "-- jp-support and erp only in a comment: not a use\nlocal x = 'cn-support'\n";
	struct tr_rule_file f[] = {{"a.lua", a, strlen(a)}, {"b.lua", b, strlen(b)}};
	struct tr_errors errs = {0}, warnings = {0};
	assert_int_equal(tr_rule_names_check(f, 2, &cfg, NULL, 0, &errs, &warnings), 0);
	assert_int_equal(errs.n, 0);
	assert_int_equal(warnings.n, 4);
	assert_string_equal(formatted(&warnings, 0), "a.lua:1: calendar 'cn_support' is not in the config; the rule falls back");
	assert_string_equal(formatted(&warnings, 1), "a.lua:3: output 'ops' is not in the config; the rule falls back");
	assert_string_equal(formatted(&warnings, 2), "triaged.yaml:13: calendars: calendar 'jp-support' is not used by "
						     "any rule (no rule file holds the string \"jp-support\")");
	assert_string_equal(formatted(&warnings, 3), "triaged.yaml:21: outputs: output 'erp' is not used by any rule "
						     "(no rule file holds the string \"erp\")");
	/* the same fallback noted again as the file loads is one warning */
	tr_rule_names_fallback(&warnings, "a.lua", 1, "calendar", "cn_support");
	assert_int_equal(warnings.n, 4);
	tr_rule_names_fallback(&warnings, "a.lua", 2, "calendar", "cn_support");
	assert_int_equal(warnings.n, 5);
	tr_errors_free(&errs);
	tr_errors_free(&warnings);
}

static void test_no_config_names_lists_none(void **state)
{
	(void)state;
	struct tr_config cfg = {0};
	const char *src = "notify(\"lead\", m); t:due(\"1h\", \"cn-support\")";
	struct tr_rule_file f = {"x.lua", src, strlen(src)};
	struct tr_errors errs = {0}, warnings = {0};
	assert_int_equal(tr_rule_names_check(&f, 1, &cfg, NULL, 0, &errs, &warnings), 2);
	assert_string_equal(formatted(&errs, 0), "x.lua:1: notify names output 'lead' that the config lacks "
						 "(outputs: none; built in: journal, watch)");
	assert_string_equal(formatted(&errs, 1), "x.lua:1: due names calendar 'cn-support' that the config lacks "
						 "(calendars: none; built in: 24x7)");
	assert_int_equal(warnings.n, 0);
	tr_errors_free(&errs);
	tr_errors_free(&warnings);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_the_shapes_the_issue_names),
		cmocka_unit_test(test_what_is_not_a_literal_name),
		cmocka_unit_test(test_lines_count_as_lua_counts_them),
		cmocka_unit_test(test_broken_text_ends_quietly),
		cmocka_unit_test(test_a_typo_is_an_error_at_its_line),
		cmocka_unit_test(test_a_binding_error_at_the_same_line_is_not_repeated),
		cmocka_unit_test(test_fallbacks_and_unused_names_are_warnings),
		cmocka_unit_test(test_no_config_names_lists_none),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
