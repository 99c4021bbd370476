/* Fuzz target for the scan of rule files for the names they use
 * (tr_rule_names.h): each input is the text of one rule file. What must
 * hold, whatever the text: no crash, read past the input or undefined
 * behaviour; every name found lies inside the input, on a line the input
 * has, with a kind and, for a reference, the shape that found it; and the
 * check against a config lists each problem with its file, a line and a
 * sentence. Built with libFuzzer under clang, or with replay_main.c under
 * gcc. Not a test of which shapes are names: see
 * tests/unit/test_rule_names.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_rule_names.h"

struct bounds {
	const char *text;
	size_t len;
	int lines;
};

static void fail(const char *why)
{
	fprintf(stderr, "fuzz_rule_names: %s\n", why);
	abort();
}

static void on_name(const struct tr_rule_name *n, void *arg)
{
	const struct bounds *b = arg;
	if (n->text < b->text || n->len > b->len || (size_t)(n->text - b->text) > b->len - n->len)
		fail("a name outside the input");
	if (n->line < 1 || n->line > b->lines)
		fail("a name on a line the input does not have");
	if (n->kind > TR_NAME_HAS_OUTPUT || (n->kind != TR_NAME_LITERAL) != (n->via != NULL))
		fail("a name without its kind or shape");
	if (n->kind != TR_NAME_LITERAL && n->escaped)
		fail("an escaped literal taken for a name");
}

static void check_list(const struct tr_errors *l, const char *what)
{
	for (size_t i = 0; i < l->n; i++)
		if (!l->items[i].file[0] || l->items[i].line < 1 || !l->items[i].message[0])
			fail(what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bounds b = {(const char *)data, size, 1};
	for (size_t i = 0; i < size; i++)
		b.lines += data[i] == '\n' || data[i] == '\r'; /* at least as many as Lua counts */
	tr_rule_names_scan(b.text, size, on_name, &b);

	static struct tr_calendar calendars[] = {{.name = "cn-support", .line = 3}};
	static struct tr_output outputs[] = {{.name = "lead", .line = 5}, {.name = "erp", .line = 6}};
	struct tr_config cfg = {.path = "triaged.yaml", .calendars = calendars, .ncalendars = 1,
				.outputs = outputs, .noutputs = 2};
	const char *ladders[] = {"suspension"};
	struct tr_rule_file f = {"rules.d/fuzz.lua", b.text, size};
	struct tr_errors errs = {0}, warnings = {0};
	int n = tr_rule_names_check(&f, 1, &cfg, ladders, 1, &errs, &warnings);
	if (n < 0 || (size_t)n != errs.n)
		fail("the count of errors is not the list's");
	check_list(&errs, "an error without its file, line or reason");
	check_list(&warnings, "a warning without its file, line or reason");
	tr_errors_free(&errs);
	tr_errors_free(&warnings);
	return 0;
}
