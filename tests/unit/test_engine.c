/* Unit tests for the rule engine (include/tr_engine.h) as a rule author
 * sees it: rule files written into a mkdtemp rules folder, loaded with
 * tr_engine_load under tr_config_defaults (budgets cut down so overruns are
 * quick), events run through tr_engine_dispatch inside a store transaction
 * on a temp-file database, and the results read back as a user would: the
 * outcome rows of `explain` and the tickets. It proves that rules run in
 * file-name order unless `priority` says otherwise; `on` takes a type, a glob
 * or a list; a false `when` leaves no outcome and a failing one an error
 * outcome; a failing action is rolled back alone, recorded with its message
 * and "file.lua:LINE", and the other rules still run (SPEC §3); instruction,
 * memory and wall-clock budgets stop a rule, the time budget even inside a
 * pathological string.find, and pcall cannot swallow them; ticket.open
 * rejects unknown options, returns the open ticket for a key (created false)
 * and a new one once it is closed, and computes the due time from the event;
 * state.incr counts in a window; loading reports syntax errors, runtime
 * errors, duplicate names and bad `on` with file and line; require reads
 * lib/ only; the sandbox has no io, os.execute, debug, package, string.dump
 * or binary load; and 10,000 dispatches leave the Lua stack where it was.
 * Tests marked "Regression test" guard daemon bugs these tests found (now
 * fixed): edits of `ev` leaking between rules, budgets not holding inside
 * string.rep, table.move/insert/remove/sort or __gc finalizers, a signed
 * overflow in table.move, numbers accepted in `on`, and stray text in log
 * lines. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include "tr_config.h"
#include "tr_engine.h"
#include "tr_error.h"
#include "tr_event.h"
#include "tr_store.h"
#include "tr_views.h"

#define NOW 1795500000 /* 2026-11-24T06:00:00Z */
#define T_0500Z 1795496400

struct fx {
	char dir[64];
	char rules[128];
	char db[160];
	struct tr_config cfg;
	struct tr_store *s;
	struct tr_engine *e;
	struct tr_errors errs;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_engine.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->rules, sizeof(f->rules), "%s/rules.d", f->dir);
	snprintf(f->db, sizeof(f->db), "%s/triaged.db", f->dir);
	char lib[200];
	snprintf(lib, sizeof(lib), "%s/lib", f->rules);
	if (mkdir(f->rules, 0700) || mkdir(lib, 0700))
		return -1;
	if (tr_config_defaults(&f->cfg))
		return -1;
	/* small budgets so that overruns are quick */
	f->cfg.limits.rule_time_ms = 100;
	f->cfg.limits.rule_memory_mb = 16;
	f->cfg.limits.rule_instructions = 1000000;
	char err[256];
	if (tr_store_open(f->db, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err))) {
		fprintf(stderr, "%s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fx *f = *state;
	tr_engine_free(f->e);
	tr_store_close(f->s);
	tr_config_free(&f->cfg);
	tr_errors_free(&f->errs);
	nftw(f->dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Writes text to <rules>/name (name may be "lib/x.lua"). */
static void write_rule(struct fx *f, const char *name, const char *text)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", f->rules, name);
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
}

static void remove_rule(struct fx *f, const char *name)
{
	char path[512];
	snprintf(path, sizeof(path), "%s/%s", f->rules, name);
	assert_int_equal(unlink(path), 0);
}

/* The 1-based line of text that contains marker. */
static int line_of(const char *text, const char *marker)
{
	const char *at = strstr(text, marker);
	if (!at)
		fail_msg("marker %s not in the rule text", marker);
	int line = 1;
	for (const char *p = text; p < at; p++)
		line += *p == '\n';
	return line;
}

static void print_errors(const struct tr_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		char buf[800];
		tr_error_format(&errs->items[i], buf, sizeof(buf));
		fprintf(stderr, "  %s\n", buf);
	}
}

/* Loads the rules folder; fails the test when it does not load. */
static void load_ok(struct fx *f)
{
	tr_engine_free(f->e);
	f->e = NULL;
	tr_errors_free(&f->errs);
	memset(&f->errs, 0, sizeof(f->errs));
	int rc = tr_engine_load(f->rules, &f->cfg, &f->e, &f->errs);
	if (rc != 0) {
		print_errors(&f->errs);
		fail_msg("tr_engine_load: %d", rc);
	}
	assert_non_null(f->e);
	assert_int_equal(f->errs.n, 0);
}

/* Loads the rules folder expecting TR_EPARSE; returns the first error. */
static const struct tr_error *load_fails(struct fx *f)
{
	tr_engine_free(f->e);
	f->e = (struct tr_engine *)0x1;
	tr_errors_free(&f->errs);
	memset(&f->errs, 0, sizeof(f->errs));
	int rc = tr_engine_load(f->rules, &f->cfg, &f->e, &f->errs);
	if (rc != TR_EPARSE) {
		char files[1024] = "";
		struct dirent **names;
		int n = scandir(f->rules, &names, NULL, alphasort);
		for (int i = 0; i < n; i++) {
			size_t len = strlen(files);
			snprintf(files + len, sizeof(files) - len, " %s", names[i]->d_name);
			free(names[i]);
		}
		if (n >= 0)
			free(names);
		fail_msg("tr_engine_load: %d, expected TR_EPARSE; the folder holds:%s", rc, files);
	}
	assert_null(f->e);
	assert_true(f->errs.n >= 1);
	return &f->errs.items[0];
}

/* Validates json, stores it and runs it through the rules in one
 * transaction, as live ingest does. Returns the event's seq. */
static int64_t ingest(struct fx *f, const char *json, int64_t now, struct tr_dispatch *out)
{
	struct tr_event ev;
	char err[256];
	cJSON *obj = cJSON_Parse(json);
	if (!obj)
		fail_msg("test JSON does not parse: %s", json);
	if (tr_event_init(&ev, obj, NULL, "test", now, err, sizeof(err)))
		fail_msg("event rejected: %s", err);
	struct tr_dispatch d;
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_event_insert(f->s, &ev), 0);
	int rc = tr_engine_dispatch(f->e, f->s, &ev, now, out ? out : &d);
	if (rc != 0)
		fail_msg("tr_engine_dispatch: %d (%s)", rc, tr_store_errmsg(f->s));
	assert_int_equal(tr_store_commit(f->s), 0);
	int64_t seq = ev.seq;
	tr_event_free(&ev);
	return seq;
}

/* The event's outcomes as `explain` shows them (caller frees). */
static cJSON *explain(struct fx *f, int64_t seq)
{
	int found = 0;
	cJSON *x = tr_view_explain(f->s, NULL, NULL, seq, &found);
	assert_true(found);
	return x;
}

/* "rule:status,rule:status" for the outcomes of seq, in the order recorded. */
static char *outcome_list(struct fx *f, int64_t seq)
{
	cJSON *x = explain(f, seq);
	char buf[2048] = "";
	for (cJSON *o = cJSON_GetObjectItem(x, "outcomes")->child; o; o = o->next) {
		if (buf[0])
			strcat(buf, ",");
		strcat(buf, cJSON_GetObjectItem(o, "rule")->valuestring);
		strcat(buf, ":");
		strcat(buf, cJSON_GetObjectItem(o, "status")->valuestring);
	}
	cJSON_Delete(x);
	return strdup(buf);
}

static void assert_outcomes(struct fx *f, int64_t seq, const char *want)
{
	char *got = outcome_list(f, seq);
	if (strcmp(got, want) != 0) {
		char msg[4200];
		snprintf(msg, sizeof(msg), "outcomes [%s], want [%s]", got, want);
		free(got);
		fail_msg("%s", msg);
	}
	free(got);
}

/* One outcome of seq by rule name, copied (caller frees); fails if absent. */
static cJSON *outcome(struct fx *f, int64_t seq, const char *rule)
{
	cJSON *x = explain(f, seq);
	cJSON *found = NULL;
	for (cJSON *o = cJSON_GetObjectItem(x, "outcomes")->child; o && !found; o = o->next)
		if (strcmp(cJSON_GetObjectItem(o, "rule")->valuestring, rule) == 0)
			found = cJSON_Duplicate(o, 1);
	cJSON_Delete(x);
	if (!found)
		fail_msg("no outcome for rule %s", rule);
	return found;
}

static const char *str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItem(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Asserts rule's outcome for seq is an error whose message contains needle
 * and, when line > 0, whose location is file:line. */
static void assert_error_outcome(struct fx *f, int64_t seq, const char *rule, const char *needle,
				 const char *file, int line)
{
	cJSON *o = outcome(f, seq, rule);
	assert_string_equal(str(o, "status"), "error");
	const char *msg = str(o, "error");
	if (!msg || !strstr(msg, needle)) {
		char buf[700];
		snprintf(buf, sizeof(buf), "rule %s: error \"%s\" does not contain \"%s\"", rule,
			 msg ? msg : "(null)", needle);
		cJSON_Delete(o);
		fail_msg("%s", buf);
	}
	if (file) {
		char want[300];
		if (line > 0)
			snprintf(want, sizeof(want), "%s:%d", file, line);
		else
			snprintf(want, sizeof(want), "%s:", file);
		const char *loc = str(o, "location");
		if (!loc || (line > 0 ? strcmp(loc, want) != 0 : strncmp(loc, want, strlen(want)) != 0)) {
			char buf[700];
			snprintf(buf, sizeof(buf), "rule %s: location %s, want %s", rule, loc ? loc : "(null)", want);
			cJSON_Delete(o);
			fail_msg("%s", buf);
		}
	}
	cJSON_Delete(o);
}

/* The open ticket with key, loaded into t (caller frees); fails if none. */
static void open_ticket(struct fx *f, const char *key, struct tr_ticket *t)
{
	int64_t id = tr_store_ticket_find_open(f->s, key);
	if (id <= 0)
		fail_msg("no open ticket with key %s", key);
	assert_int_equal(tr_store_ticket_get(f->s, id, t), 0);
}

static int has_open_ticket(struct fx *f, const char *key)
{
	return tr_store_ticket_find_open(f->s, key) > 0;
}

/* A state value as stored (JSON text of [value]); NULL when absent. */
static char *state_value(struct fx *f, const char *key)
{
	char *v = NULL;
	int rc = tr_store_state_get(f->s, key, &v);
	assert_true(rc >= 0);
	return v;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- load order, priority, on, when ---- */

#define RULE_NOOP(name, on) "rule { name = \"" name "\", on = \"" on "\", action = function() end }\n"

static void test_load_order_and_priority(void **state)
{
	struct fx *f = *state;
	write_rule(f, "20-b.lua", RULE_NOOP("b1", "x.y") RULE_NOOP("b2", "x.y"));
	write_rule(f, "10-a.lua", RULE_NOOP("a", "x.y"));
	write_rule(f, "30-c.lua", RULE_NOOP("c", "x.y"));
	write_rule(f, "90-first.lua",
		   "rule { name = \"first\", on = \"x.y\", priority = 10, action = function() end }\n"
		   "rule { name = \"second\", on = \"x.y\", priority = 5, action = function() end }\n");
	write_rule(f, "00-last.lua",
		   "rule { name = \"last\", on = \"x.y\", priority = -5, action = function() end }\n");
	/* not rules: tests, libraries, other files, hidden files */
	write_rule(f, "20-b.test.lua", "error('a .test.lua file must not load')\n");
	write_rule(f, "lib/helper.lua", "error('lib/ must not load as rules')\n");
	write_rule(f, "README.txt", "error('not lua')\n");
	write_rule(f, ".hidden.lua", "error('hidden files must not load')\n");
	write_rule(f, "x.lua.orig", "error('not .lua')\n");
	load_ok(f);
	assert_int_equal(tr_engine_rule_count(f->e), 7);

	struct tr_dispatch d;
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"1\"}", NOW, &d);
	assert_int_equal(d.matched, 7);
	assert_int_equal(d.errors, 0);
	assert_outcomes(f, seq, "first:ok,second:ok,a:ok,b1:ok,b2:ok,c:ok,last:ok");

	/* `rules` lists them with their files and lines */
	cJSON *list = tr_engine_rules_json(f->e);
	assert_int_equal(cJSON_GetArraySize(list), 7);
	int seen = 0;
	for (cJSON *r = list->child; r; r = r->next) {
		if (strcmp(str(r, "name"), "b2") == 0) {
			assert_string_equal(str(r, "file"), "20-b.lua");
			assert_int_equal((int)cJSON_GetObjectItem(r, "line")->valuedouble, 2);
			assert_int_equal((int)cJSON_GetObjectItem(r, "runs")->valuedouble, 1);
			assert_int_equal((int)cJSON_GetObjectItem(r, "errors")->valuedouble, 0);
			seen = 1;
		}
	}
	assert_true(seen);
	cJSON_Delete(list);
}

static void test_on_type_glob_list(void **state)
{
	struct fx *f = *state;
	write_rule(f, "on.lua",
		   RULE_NOOP("exact", "case.opened")
		   RULE_NOOP("glob", "case.*")
		   RULE_NOOP("one-char", "?ase.update")
		   "rule { name = \"list\", on = { \"message.new\", \"feedback.new\" }, action = function() end }\n"
		   "rule { name = \"list-glob\", on = { \"*.new\" }, action = function() end }\n"
		   "rule { name = \"class\", on = \"account.[a-m]*\", action = function() end }\n");
	load_ok(f);
	struct tr_dispatch d;
	assert_outcomes(f, ingest(f, "{\"type\":\"case.opened\",\"id\":\"1\"}", NOW, &d), "exact:ok,glob:ok");
	assert_int_equal(d.matched, 2);
	assert_outcomes(f, ingest(f, "{\"type\":\"case.update\",\"id\":\"1\"}", NOW, NULL), "glob:ok,one-char:ok");
	assert_outcomes(f, ingest(f, "{\"type\":\"message.new\",\"id\":\"1\"}", NOW, NULL), "list:ok,list-glob:ok");
	assert_outcomes(f, ingest(f, "{\"type\":\"feedback.new\",\"id\":\"1\",\"rating\":4}", NOW, NULL),
			"list:ok,list-glob:ok");
	assert_outcomes(f, ingest(f, "{\"type\":\"account.alert\",\"id\":\"1\"}", NOW, NULL), "class:ok");
	/* near misses match nothing */
	assert_outcomes(f, ingest(f, "{\"type\":\"cases.opened\",\"id\":\"1\"}", NOW, &d), "");
	assert_int_equal(d.matched, 0);
	assert_outcomes(f, ingest(f, "{\"type\":\"case\",\"id\":\"1\"}", NOW, NULL), "");
	assert_outcomes(f, ingest(f, "{\"type\":\"message.new_thread\",\"id\":\"1\"}", NOW, NULL), "");
	assert_outcomes(f, ingest(f, "{\"type\":\"message.replied\",\"id\":\"1\"}", NOW, NULL), "");
	assert_outcomes(f, ingest(f, "{\"type\":\"account.status\",\"id\":\"1\"}", NOW, NULL), "");
}

/* The rule of SPEC §5, with what this engine provides. */
static const char feedback_rule[] =
	"rule {\n"
	"  name = \"negative-feedback\",\n"
	"  on = \"feedback.new\",\n"
	"  when = function(ev) return tonumber(ev.rating) < 3 end,\n"
	"  action = function(ev, ctx)\n"
	"    local t = ticket.open {\n"
	"      key = \"feedback:\" .. ev.order_id,\n"
	"      title = (\"%d-star feedback on %s\"):format(ev.rating, ev.order_id),\n"
	"      queue = \"customer-care\", priority = \"high\", account = ev.account,\n"
	"      due = \"2h\",\n"
	"    }\n"
	"  end,\n"
	"}\n";

static void test_when(void **state)
{
	struct fx *f = *state;
	write_rule(f, "feedback.lua", feedback_rule);
	const char when_err[] =
		"rule { name = \"when-fails\", on = \"feedback.new\",\n"
		"  when = function(ev)\n"
		"    return ev.missing.field --@when\n"
		"  end,\n"
		"  action = function() end }\n"
		"rule { name = \"when-mutates\", on = \"feedback.new\",\n"
		"  when = function(ev) ticket.open{key = 'from-when', title = 'x'} --@mut\n"
		"    return true end,\n"
		"  action = function() end }\n"
		"rule { name = \"when-truthy\", on = \"feedback.new\", when = function(ev) return ev.order_id end,\n"
		"  action = function() end }\n";
	write_rule(f, "when.lua", when_err);
	load_ok(f);

	/* 4 stars: the feedback rule's when is false: no outcome, no ticket */
	struct tr_dispatch d;
	int64_t seq = ingest(f, "{\"type\":\"feedback.new\",\"id\":\"fb-1\",\"account\":\"acme-de\","
			     "\"order_id\":\"302-1\",\"rating\":4,\"occurred_at\":\"2026-11-24T05:00:00Z\"}", NOW, &d);
	assert_outcomes(f, seq, "when-fails:error,when-mutates:error,when-truthy:ok");
	assert_int_equal(d.errors, 2);
	assert_false(has_open_ticket(f, "feedback:302-1"));
	assert_error_outcome(f, seq, "when-fails", "missing", "when.lua", line_of(when_err, "--@when"));
	assert_error_outcome(f, seq, "when-mutates", "action", "when.lua", line_of(when_err, "--@mut"));
	assert_false(has_open_ticket(f, "from-when"));

	/* "1" star: a ticket for the order, due 2 h after the feedback was
	 * given, in the queue and priority the rule says */
	seq = ingest(f, "{\"type\":\"feedback.new\",\"id\":\"fb-2\",\"account\":\"acme-de\",\"order_id\":\"302-2\","
		     "\"rating\":\"1\",\"occurred_at\":\"2026-11-24T06:00:00+01:00\"}", NOW, NULL);
	assert_outcomes(f, seq, "negative-feedback:ok,when-fails:error,when-mutates:error,when-truthy:ok");
	struct tr_ticket t;
	open_ticket(f, "feedback:302-2", &t);
	assert_string_equal(t.title, "1-star feedback on 302-2");
	assert_string_equal(t.queue, "customer-care");
	assert_string_equal(t.priority, "high");
	assert_string_equal(t.account, "acme-de");
	assert_string_equal(t.state, "open");
	assert_int_equal(t.due_at, T_0500Z + 2 * 3600);
	assert_int_equal(t.created_at, NOW);
	tr_ticket_free(&t);
	/* the outcome journals what the rule did */
	cJSON *o = outcome(f, seq, "negative-feedback");
	cJSON *eff = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "effects"), 0);
	assert_string_equal(str(eff, "op"), "ticket.open");
	assert_string_equal(str(eff, "key"), "feedback:302-2");
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(o, "error")));
	cJSON_Delete(o);
}

/* ---- isolation: a failing action is undone alone ---- */

static void test_action_error_rolled_back_alone(void **state)
{
	struct fx *f = *state;
	const char text[] =
		"rule { name = \"first\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"first:\" .. ev.id, title = \"first\" }\n"
		"end }\n"
		"rule { name = \"broken\", on = \"x.y\", action = function(ev)\n"
		"  local t = ticket.open { key = \"broken:\" .. ev.id, title = \"broken\" }\n"
		"  t:comment(\"half done\")\n"
		"  state.set(\"broken\", true)\n"
		"  state.incr(\"broken-count\")\n"
		"  error(\"boom: order \" .. ev.id) --@boom\n"
		"end }\n"
		"rule { name = \"nil-index\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"nil:\" .. ev.id, title = \"nil\" }\n"
		"  return ev.nothing.here --@nil\n"
		"end }\n"
		"rule { name = \"last\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"last:\" .. ev.id, title = \"last\" }\n"
		"end }\n";
	write_rule(f, "50-iso.lua", text);
	load_ok(f);
	struct tr_dispatch d;
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"e1\"}", NOW, &d);
	assert_int_equal(d.matched, 4);
	assert_int_equal(d.errors, 2);
	assert_outcomes(f, seq, "first:ok,broken:error,nil-index:error,last:ok");
	assert_error_outcome(f, seq, "broken", "boom: order e1", "50-iso.lua", line_of(text, "--@boom"));
	assert_error_outcome(f, seq, "nil-index", "nothing", "50-iso.lua", line_of(text, "--@nil"));
	/* the message is the error itself, not prefixed with the location again */
	cJSON *o = outcome(f, seq, "broken");
	assert_string_equal(str(o, "error"), "boom: order e1");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(o, "effects")), 0);
	cJSON_Delete(o);

	assert_true(has_open_ticket(f, "first:e1"));
	assert_true(has_open_ticket(f, "last:e1"));
	assert_false(has_open_ticket(f, "broken:e1"));
	assert_false(has_open_ticket(f, "nil:e1"));
	char *v = state_value(f, "broken");
	assert_null(v);
	int64_t total = -1;
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_counter_add(f->s, "broken-count", 0, NOW, 0, &total), 0);
	assert_int_equal(tr_store_rollback(f->s), 0);
	assert_int_equal(total, 0);
	int64_t events, open, all;
	assert_int_equal(tr_store_counts(f->s, &events, &open, &all), 0);
	assert_int_equal(open, 2);
	assert_int_equal(all, 2);

	/* `rules` counts the failure and keeps the last error */
	cJSON *list = tr_engine_rules_json(f->e);
	for (cJSON *r = list->child; r; r = r->next)
		if (strcmp(str(r, "name"), "broken") == 0) {
			assert_int_equal((int)cJSON_GetObjectItem(r, "errors")->valuedouble, 1);
			assert_non_null(strstr(str(r, "last_error"), "boom"));
		}
	cJSON_Delete(list);

	/* other error values */
	const char objs[] =
		"rule { name = \"table-error\", on = \"z.z\", action = function() error({ code = 1 }) end }\n"
		"rule { name = \"nil-error\", on = \"z.z\", action = function() error() end }\n"
		"rule { name = \"assert\", on = \"z.z\", action = function() assert(false, \"assertion text\") end }\n"
		"rule { name = \"bad-arg\", on = \"z.z\", action = function() ticket.open(\"nope\") end }\n"
		"rule { name = \"after\", on = \"z.z\", action = function() end }\n";
	write_rule(f, "60-objs.lua", objs);
	load_ok(f);
	seq = ingest(f, "{\"type\":\"z.z\",\"id\":\"1\"}", NOW, &d);
	assert_outcomes(f, seq, "table-error:error,nil-error:error,assert:error,bad-arg:error,after:ok");
	assert_error_outcome(f, seq, "table-error", "table", "60-objs.lua", 1);
	assert_error_outcome(f, seq, "assert", "assertion text", "60-objs.lua", 3);
	assert_error_outcome(f, seq, "bad-arg", "table", "60-objs.lua", 4);
	o = outcome(f, seq, "nil-error");
	assert_non_null(str(o, "error"));
	cJSON_Delete(o);
}

/* Regression test (a bug this file found in daemon/engine.c,
 * tr_engine_dispatch, which pushed one `ev` table for all rules): a rule that
 * changed the event table and then failed was rolled back in the database
 * but its change reached every later rule; here a higher-priority rule sets
 * ev.rating = 5 and raises, and the negative-feedback rule must still see
 * the 1-star rating and open its ticket. SPEC §3: rules are isolated. */
static void test_rules_do_not_share_event_changes(void **state)
{
	struct fx *f = *state;
	write_rule(f, "feedback.lua", feedback_rule);
	write_rule(f, "00-meddler.lua",
		   "rule { name = \"meddler\", on = \"feedback.new\", priority = 100, action = function(ev, ctx)\n"
		   "  ev.rating = 5\n"
		   "  ev.account = \"someone-else\"\n"
		   "  ctx.rule = \"forged\"\n"
		   "  error(\"meddler failed\")\n"
		   "end }\n");
	load_ok(f);
	int64_t seq = ingest(f, "{\"type\":\"feedback.new\",\"id\":\"fb-9\",\"account\":\"acme-de\","
			     "\"order_id\":\"302-9\",\"rating\":1}", NOW, NULL);
	char *got = outcome_list(f, seq);
	int ok = strcmp(got, "meddler:error,negative-feedback:ok") == 0 && has_open_ticket(f, "feedback:302-9");
	if (!ok) {
		char msg[600];
		snprintf(msg, sizeof(msg), "a failed rule's edit of `ev` leaked into the next rule: outcomes [%s], "
			 "ticket feedback:302-9 %s", got, has_open_ticket(f, "feedback:302-9") ? "open" : "missing");
		free(got);
		fail_msg("%s", msg);
	}
	free(got);
	struct tr_ticket t;
	open_ticket(f, "feedback:302-9", &t);
	assert_string_equal(t.account, "acme-de");
	tr_ticket_free(&t);
}

/* ---- budgets ---- */

static void test_budgets(void **state)
{
	struct fx *f = *state;
	/* The wall clock now holds at every call: 3 s, not 100 ms, so the
	 * memory hogs (16 MB of fresh pages, slow to fault in on a loaded
	 * machine or under a sanitizer) meet their memory budget before their
	 * time budget. */
	f->cfg.limits.rule_time_ms = 3000;
	const char text[] =
		"rule { name = \"spin\", on = \"x.y\", action = function() while true do end end }\n"
		"rule { name = \"hog\", on = \"x.y\", action = function()\n"
		"  local s = (\"x\"):rep(256 * 1024 * 1024)\n"
		"  ticket.open { key = \"hog\", title = #s }\n"
		"end }\n"
		"rule { name = \"hog-table\", on = \"x.y\", action = function()\n"
		"  local t = {}\n"
		"  for i = 1, 64 do t[i] = (\"y\"):rep(1024 * 1024) .. i end\n"
		"  ticket.open { key = \"hog-table\", title = \"x\" }\n"
		"end }\n"
		"rule { name = \"slow\", on = \"x.y\", action = function()\n"
		"  string.find((\"a\"):rep(600), \".-.-.-.-b\")\n"
		"  ticket.open { key = \"slow\", title = \"x\" }\n"
		"end }\n"
		"rule { name = \"recurse\", on = \"x.y\", action = function()\n"
		"  local function f() return 1 + f() end\n"
		"  return f()\n"
		"end }\n"
		"rule { name = \"when-spin\", on = \"x.y\", when = function() while true do end end,\n"
		"  action = function() ticket.open { key = \"when-spin\", title = \"x\" } end }\n"
		"rule { name = \"canary\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"canary:\" .. ev.id, title = \"the other rules still run\" }\n"
		"end }\n";
	write_rule(f, "budget.lua", text);
	load_ok(f);
	for (int round = 0; round < 2; round++) {
		char json[64];
		snprintf(json, sizeof(json), "{\"type\":\"x.y\",\"id\":\"b%d\"}", round);
		struct tr_dispatch d;
		uint64_t start = mono_ms();
		int64_t seq = ingest(f, json, NOW, &d);
		uint64_t took = mono_ms() - start;
		assert_outcomes(f, seq, "spin:error,hog:error,hog-table:error,slow:error,recurse:error,"
					"when-spin:error,canary:ok");
		assert_int_equal(d.errors, 6);
		assert_error_outcome(f, seq, "spin", "instruction", "budget.lua", 1);
		assert_error_outcome(f, seq, "hog", "memory", "budget.lua", 0);
		assert_error_outcome(f, seq, "hog-table", "memory", "budget.lua", 0);
		assert_error_outcome(f, seq, "slow", "time", "budget.lua", 0);
		/* stack overflow or memory, whichever comes first: an error, not a crash */
		assert_error_outcome(f, seq, "recurse", "", "budget.lua", 0);
		assert_error_outcome(f, seq, "when-spin", "instruction", "budget.lua", 0);
		/* a 27 s pattern is stopped near rule_time_ms, not run out */
		cJSON *o = outcome(f, seq, "slow");
		double us = cJSON_GetObjectItem(o, "duration_us")->valuedouble;
		cJSON_Delete(o);
		if (us < 1500000 || us > 3300000)
			fail_msg("the time-budgeted rule ran %.0f us (budget 3000 ms)", us);
		if (took > 10000)
			fail_msg("the dispatch took %llu ms", (unsigned long long)took);
		snprintf(json, sizeof(json), "canary:b%d", round);
		assert_true(has_open_ticket(f, json));
		assert_false(has_open_ticket(f, "hog"));
		assert_false(has_open_ticket(f, "hog-table"));
		assert_false(has_open_ticket(f, "slow"));
		assert_false(has_open_ticket(f, "when-spin"));
	}
}

static void test_pcall_cannot_swallow_budget(void **state)
{
	struct fx *f = *state;
	write_rule(f, "swallow.lua",
		   "rule { name = \"pcall-spin\", on = \"x.y\", action = function()\n"
		   "  local ok = pcall(function() while true do end end)\n"
		   "  ticket.open { key = \"escaped:spin\", title = tostring(ok) }\n"
		   "end }\n"
		   "rule { name = \"pcall-loop\", on = \"x.y\", action = function()\n"
		   "  for i = 1, 100 do pcall(function() while true do end end) end\n"
		   "  ticket.open { key = \"escaped:loop\", title = \"x\" }\n"
		   "end }\n"
		   "rule { name = \"pcall-nested\", on = \"x.y\", action = function()\n"
		   "  pcall(pcall, function() while true do end end)\n"
		   "  ticket.open { key = \"escaped:nested\", title = \"x\" }\n"
		   "end }\n"
		   "rule { name = \"xpcall-spin\", on = \"x.y\", action = function()\n"
		   "  xpcall(function() while true do end end, function(m) return m end)\n"
		   "  ticket.open { key = \"escaped:xpcall\", title = \"x\" }\n"
		   "end }\n"
		   "rule { name = \"pcall-time\", on = \"x.y\", action = function()\n"
		   "  pcall(string.find, (\"a\"):rep(600), \".-.-.-.-b\")\n"
		   "  ticket.open { key = \"escaped:time\", title = \"x\" }\n"
		   "end }\n"
		   "rule { name = \"pcall-memory\", on = \"x.y\", action = function()\n"
		   "  pcall(string.rep, \"x\", 256 * 1024 * 1024)\n"
		   "  ticket.open { key = \"escaped:memory\", title = \"x\" }\n"
		   "end }\n"
		   "rule { name = \"pcall-ok\", on = \"x.y\", action = function()\n"
		   "  local ok, err = pcall(error, \"ordinary\")\n"
		   "  assert(not ok and err == \"ordinary\")\n"
		   "  ticket.open { key = \"ordinary errors are caught\", title = \"x\" }\n"
		   "end }\n");
	load_ok(f);
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"1\"}", NOW, NULL);
	assert_outcomes(f, seq, "pcall-spin:error,pcall-loop:error,pcall-nested:error,xpcall-spin:error,"
				"pcall-time:error,pcall-memory:error,pcall-ok:ok");
	assert_error_outcome(f, seq, "pcall-spin", "budget", "swallow.lua", 0);
	assert_error_outcome(f, seq, "pcall-time", "time", "swallow.lua", 0);
	assert_error_outcome(f, seq, "pcall-memory", "memory", "swallow.lua", 0);
	static const char *const escaped[] = {"escaped:spin", "escaped:loop", "escaped:nested",
					      "escaped:xpcall", "escaped:time", "escaped:memory"};
	for (size_t i = 0; i < sizeof(escaped) / sizeof(escaped[0]); i++)
		if (has_open_ticket(f, escaped[i]))
			fail_msg("%s: pcall swallowed a budget error", escaped[i]);
	assert_true(has_open_ticket(f, "ordinary errors are caught"));
}

/* Runs the rules of the folder on one event in a child process with its own
 * database and returns how long it took, -1 when it did not finish within
 * limit_s (then the child is killed), or -2 when the child died (a crash, or
 * a sanitizer stopping it), so one hang or crash fails one test and not the
 * whole file. */
static int64_t dispatch_in_child(struct fx *f, const char *json, int limit_s)
{
	static int runs;
	char db[200];
	snprintf(db, sizeof(db), "%s/child-%d.db", f->dir, runs++);
	uint64_t start = mono_ms();
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		char err[256];
		struct tr_store *s;
		if (tr_store_open(db, TR_DURABILITY_NORMAL, &s, err, sizeof(err)))
			_exit(3);
		struct tr_event ev;
		if (tr_event_init(&ev, cJSON_Parse(json), NULL, "test", NOW, err, sizeof(err)))
			_exit(4);
		struct tr_dispatch d;
		if (tr_store_begin(s) || tr_store_event_insert(s, &ev) ||
		    tr_engine_dispatch(f->e, s, &ev, NOW, &d) || tr_store_commit(s))
			_exit(5);
		_exit(0); /* finishing is what counts, error outcome or not */
	}
	int status = 0;
	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);
		if (w == pid)
			break;
		if (mono_ms() - start > (uint64_t)limit_s * 1000) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			return -1;
		}
		usleep(20000);
	}
	if (!WIFEXITED(status))
		return -2;
	if (WEXITSTATUS(status) >= 3 && WEXITSTATUS(status) <= 5)
		fail_msg("child dispatch failed before running the rules (%d)", WEXITSTATUS(status));
	if (WEXITSTATUS(status) != 0)
		return -2;
	return (int64_t)(mono_ms() - start);
}

/* Runs each case (event JSON, description) in a child killed after 5 s and
 * fails naming every case the 100 ms time budget did not stop in 3 s. */
static void expect_all_stopped(struct fx *f, const char *const cases[][2], size_t n_cases)
{
	char failures[512] = "";
	for (size_t i = 0; i < n_cases; i++) {
		int64_t ms = dispatch_in_child(f, cases[i][0], 5);
		if (ms < 0 || ms > 3000) {
			size_t n = strlen(failures);
			snprintf(failures + n, sizeof(failures) - n, "%s%s", n ? ", " : "", cases[i][1]);
		}
	}
	if (failures[0])
		fail_msg("the 100 ms time budget did not stop: %s (killed after 5 s)", failures);
}

/* Regression test (a bug this file found in daemon/sandbox.c, which
 * exposed the stock string.rep and table.move): both loop in C without
 * allocating, so neither the instruction hook nor the allocator saw
 * string.rep("", 1e12) or table.move({}, 1, 1e12, 1), and one such rule hung
 * the daemon. SPEC §3: the wall-clock budget "holds even then". Each case
 * runs in a child killed after 5 s. */
static void test_time_budget_holds_in_library_loops(void **state)
{
	struct fx *f = *state;
	write_rule(f, "loops.lua",
		   "rule { name = \"rep-empty\", on = \"rep.empty\", action = function()\n"
		   "  return #string.rep(\"\", 1000000000000)\n"
		   "end }\n"
		   "rule { name = \"rep-sep\", on = \"rep.sep\", action = function()\n"
		   "  return #string.rep(\"\", 1000000000000, \"\")\n"
		   "end }\n"
		   "rule { name = \"move\", on = \"table.move\", action = function()\n"
		   "  table.move({}, 1, 1000000000000, 1)\n"
		   "end }\n");
	load_ok(f);
	static const char *const cases[][2] = {
		{"{\"type\":\"rep.empty\",\"id\":\"1\"}", "string.rep(\"\", 1e12)"},
		{"{\"type\":\"rep.sep\",\"id\":\"1\"}", "string.rep(\"\", 1e12, \"\")"},
		{"{\"type\":\"table.move\",\"id\":\"1\"}", "table.move({}, 1, 1e12, 1)"},
	};
	expect_all_stopped(f, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Regression test (a bug this file found in daemon/sandbox.c, which exposed
 * the stock table.insert, table.remove and table.sort): each takes the
 * length from __len and then loops in C over elements that do not exist,
 * unseen by the allocator and the instruction hook. With __len 10^12,
 * table.insert(t, 1, x) and table.remove(t, 1) looped 10^12 times; with
 * __len 2^31 - 2 and __index = rawlen, table.sort sorted two billion equal
 * numbers. SPEC §3: the wall-clock budget "holds even then". Each case runs
 * in a child killed after 5 s. */
static void test_time_budget_holds_in_table_functions(void **state)
{
	struct fx *f = *state;
	write_rule(f, "len.lua",
		   "local function huge(n, index)\n"
		   "  return setmetatable({}, { __len = function() return n end, __index = index })\n"
		   "end\n"
		   "rule { name = \"insert\", on = \"t.insert\", action = function()\n"
		   "  table.insert(huge(1000000000000), 1, \"x\")\n"
		   "end }\n"
		   "rule { name = \"remove\", on = \"t.remove\", action = function()\n"
		   "  table.remove(huge(1000000000000), 1)\n"
		   "end }\n"
		   "rule { name = \"sort\", on = \"t.sort\", action = function()\n"
		   "  table.sort(huge(2147483646, rawlen))\n"
		   "end }\n");
	load_ok(f);
	static const char *const cases[][2] = {
		{"{\"type\":\"t.insert\",\"id\":\"1\"}", "table.insert with __len 1e12"},
		{"{\"type\":\"t.remove\",\"id\":\"1\"}", "table.remove with __len 1e12"},
		{"{\"type\":\"t.sort\",\"id\":\"1\"}", "table.sort with __len 2^31-2"},
	};
	expect_all_stopped(f, cases, sizeof(cases) / sizeof(cases[0]));
}

/* Regression test (a bug this file found in daemon/sandbox.c, l_move, whose
 * destination check was one too loose): table.move({1, 2}, 1, 2,
 * math.maxinteger) computed math.maxinteger + 1, a signed overflow that
 * UBSan stops the process for. Lua 5.4 answers "destination wrap around";
 * overlapping moves keep Lua's semantics. */
static void test_table_move_wrap_around(void **state)
{
	struct fx *f = *state;
	write_rule(f, "move.lua",
		   "rule { name = \"wrap\", on = \"x.y\", action = function()\n"
		   "  table.move({ 1, 2 }, 1, 2, math.maxinteger)\n"
		   "end }\n"
		   "rule { name = \"wrap-dst\", on = \"x.y\", action = function()\n"
		   "  table.move({ 1, 2, 3 }, 1, 3, math.maxinteger - 1, {})\n"
		   "end }\n"
		   "rule { name = \"edge\", on = \"x.y\", action = function()\n"
		   "  local t = table.move({ 1, 2 }, 1, 2, math.maxinteger - 1, {})\n"
		   "  assert(t[math.maxinteger] == 2)\n"
		   "  local a = table.move({ 1, 2, 3, 4 }, 1, 3, 2)\n"
		   "  assert(a[1] == 1 and a[2] == 1 and a[3] == 2 and a[4] == 3, \"overlap up\")\n"
		   "  local b = table.move({ 1, 2, 3, 4 }, 2, 4, 1)\n"
		   "  assert(b[1] == 2 and b[2] == 3 and b[3] == 4 and b[4] == 4, \"overlap down\")\n"
		   "end }\n");
	load_ok(f);
	/* first in a child: undefined behaviour must not take the other tests down */
	if (dispatch_in_child(f, "{\"type\":\"x.y\",\"id\":\"1\"}", 10) < 0)
		fail_msg("table.move near math.maxinteger killed the process (see the sanitizer report above)");
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"1\"}", NOW, NULL);
	assert_outcomes(f, seq, "wrap:error,wrap-dst:error,edge:ok");
	assert_error_outcome(f, seq, "wrap", "wrap around", "move.lua", 2);
	assert_error_outcome(f, seq, "wrap-dst", "wrap around", "move.lua", 5);
}

/* Regression test (a bug this file found in daemon/sandbox.c, where
 * setmetatable honoured __gc): a finalizer runs whenever the collector does,
 * under no rule's budget (tr_lua_pcall's full collection after a budget
 * error, lua_close on reload), so a spinning __gc hung the daemon. SPEC §3:
 * a rule run's budget holds whatever the rule does. Runs in a child killed
 * after 5 s. */
static void test_finalizer_cannot_escape_the_budget(void **state)
{
	struct fx *f = *state;
	write_rule(f, "gc.lua",
		   "rule { name = \"leave-finalizer\", on = \"gc.spin\", action = function()\n"
		   "  setmetatable({}, { __gc = function() while true do end end })\n"
		   "  local s = (\"x\"):rep(256 * 1024 * 1024) -- a memory error: a full collection follows\n"
		   "end }\n");
	load_ok(f);
	int64_t ms = dispatch_in_child(f, "{\"type\":\"gc.spin\",\"id\":\"1\"}", 5);
	if (ms == -1)
		fail_msg("a rule's __gc finalizer ran outside any budget: the dispatch never returned (killed after 5 s)");
	if (ms == -2)
		fail_msg("a rule's __gc finalizer killed the process");
}

/* Regression test (the same __gc bug): a finalizer left by one rule ran
 * inside whatever rule was running when the collector got to it, with that
 * rule's identity and in that event's transaction. Rule "ghost" (event 1)
 * leaves an object whose __gc opens a ticket; rule "allocator" (events 2
 * and 3) only makes garbage; no ticket may appear. SPEC §3: rules are
 * isolated, and what a rule does is journaled as its own outcome. */
static void test_finalizer_cannot_act_as_another_rule(void **state)
{
	struct fx *f = *state;
	write_rule(f, "ghost.lua",
		   "local function haunt()\n"
		   "  -- when it runs where tickets cannot be opened, it leaves another one\n"
		   "  setmetatable({}, { __gc = function()\n"
		   "    if not pcall(ticket.open, { key = \"ghost\", title = \"from a finalizer\" }) then haunt() end\n"
		   "  end })\n"
		   "end\n"
		   "rule { name = \"ghost\", on = \"gc.leave\", action = function() haunt() end }\n"
		   "rule { name = \"allocator\", on = \"gc.alloc\", action = function()\n"
		   "  for i = 1, 50 do local s = (\"x\"):rep(20000) .. i end -- garbage: the collector runs\n"
		   "end }\n");
	load_ok(f);
	ingest(f, "{\"type\":\"gc.leave\",\"id\":\"1\"}", NOW, NULL);
	assert_outcomes(f, ingest(f, "{\"type\":\"gc.alloc\",\"id\":\"2\"}", NOW, NULL), "allocator:ok");
	assert_outcomes(f, ingest(f, "{\"type\":\"gc.alloc\",\"id\":\"3\"}", NOW, NULL), "allocator:ok");
	if (has_open_ticket(f, "ghost")) {
		struct tr_ticket t;
		open_ticket(f, "ghost", &t);
		int found;
		cJSON *j = tr_view_ticket_by_id(f->s, t.id, 1, &found);
		char actor[100];
		snprintf(actor, sizeof(actor), "%s", str(cJSON_GetArrayItem(cJSON_GetObjectItem(j, "history"), 0), "actor"));
		cJSON_Delete(j);
		tr_ticket_free(&t);
		fail_msg("rule ghost's finalizer opened a ticket during another rule's run (history actor %s)", actor);
	}
}

/* Runs one event with stderr sent to a file and returns what was written
 * there (caller frees): the daemon's log, as journald would get it. */
static char *dispatch_capturing_log(struct fx *f, const char *json)
{
	char path[200];
	snprintf(path, sizeof(path), "%s/stderr.log", f->dir);
	fflush(stderr);
	int saved = dup(2);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	assert_true(dup2(fd, 2) >= 0);
	close(fd);
	ingest(f, json, NOW, NULL);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	FILE *fp = fopen(path, "r");
	assert_non_null(fp);
	char *text = calloc(1, 65536);
	size_t n = fread(text, 1, 65535, fp);
	text[n] = 0;
	fclose(fp);
	return text;
}

/* Regression test (a bug this file found in daemon/lua_log.c, log_at, and
 * daemon/sandbox.c, l_print, which read lua_gettop after luaL_buffinit
 * pushed its placeholder): every line a rule logged ended with
 * " userdata: 0x7ff...". SPEC §5: log.info/warn/error(...) write what the
 * rule said, tagged with the rule and the event. */
static void test_log_lines(void **state)
{
	struct fx *f = *state;
	write_rule(f, "logger.lua",
		   "rule { name = \"logger\", on = \"x.y\", action = function(ev)\n"
		   "  log.info(\"hello\", 42, true)\n"
		   "  log.warn(\"careful:\", ev.id)\n"
		   "  log.error(\"broken\")\n"
		   "  print(\"printed\", 1)\n"
		   "end }\n");
	load_ok(f);
	char *log = dispatch_capturing_log(f, "{\"type\":\"x.y\",\"id\":\"e7\"}");
	static const char *const want[] = {
		"<6>rule logger (x.y e7): hello 42 true\n",
		"<4>rule logger (x.y e7): careful: e7\n",
		"<3>rule logger (x.y e7): broken\n",
		"<6>rule logger (x.y e7): printed 1\n",
	};
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		if (!strstr(log, want[i])) {
			char msg[1200];
			snprintf(msg, sizeof(msg), "the log lacks the line \"%.*s\"; it holds:\n%.900s",
				 (int)strlen(want[i]) - 1, want[i], log);
			free(log);
			fail_msg("%s", msg);
		}
	free(log);
}

/* A rule that logs in a loop writes limits.rule_log_lines lines and one
 * line counting the rest, and no line is longer than 2 KiB and change:
 * the journal cannot be flooded by one event. */
static void test_log_flood(void **state)
{
	struct fx *f = *state;
	write_rule(f, "flood.lua",
		   "rule { name = \"flood\", on = \"x.y\", action = function(ev)\n"
		   "  local long = (\"x\"):rep(5000)\n"
		   "  for i = 1, 200 do log.info(\"line\", i, long) end\n"
		   "  for i = 1, 200 do print(\"more\") end\n"
		   "end }\n");
	load_ok(f);
	char *log = dispatch_capturing_log(f, "{\"type\":\"x.y\",\"id\":\"e8\"}");
	int lines = 0;
	size_t longest = 0;
	for (const char *p = log; *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		if (strstr(p, "rule flood (x.y e8): line ") && strstr(p, "rule flood (x.y e8): line ") < p + len)
			lines++;
		if (len > longest)
			longest = len;
		p += len + (nl != NULL);
	}
	int dropped = strstr(log, "rule flood (x.y e8): 380 more log lines dropped") != NULL;
	free(log);
	assert_int_equal(lines, f->cfg.limits.rule_log_lines);
	assert_true(dropped);
	assert_true(longest < 2200);
}

/* ---- tickets and state from rules ---- */

static void test_ticket_open_options(void **state)
{
	struct fx *f = *state;
	const char text[] =
		"rule { name = \"typo\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"typo\", title = \"t\", priorty = \"high\" } --@typo\n"
		"end }\n"
		"rule { name = \"no-title\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"no-title\" } --@notitle\n"
		"end }\n"
		"rule { name = \"no-key\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { title = \"no key\" }\n"
		"end }\n"
		"rule { name = \"bad-priority\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"bad-priority\", title = \"t\", priority = \"critical\" }\n"
		"end }\n"
		"rule { name = \"bad-due\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"bad-due\", title = \"t\", due = \"soon\" }\n"
		"end }\n"
		"rule { name = \"full\", on = \"x.y\", action = function(ev)\n"
		"  local t = ticket.open { key = \"full\", title = \"Full ticket\", queue = \"q1\",\n"
		"    priority = \"urgent\", account = \"acme-jp\", assignee = \"mei\",\n"
		"    due = \"2026-11-25T09:00:00+09:00\", tags = { \"a\", \"b\" }, fields = { order_id = \"503-1\", n = 2 } }\n"
		"  t:tag(\"c\")\n"
		"  t:comment(\"first comment\")\n"
		"  t:set { priority = \"high\", fields = { note = \"extra\" } }\n"
		"end }\n"
		"rule { name = \"set-typo\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"set-typo\", title = \"t\" }:set { prority = \"urgent\" }\n"
		"end }\n"
		"rule { name = \"defaults\", on = \"x.y\", action = function(ev)\n"
		"  ticket.open { key = \"defaults\", title = \"Defaults\" }\n"
		"end }\n";
	write_rule(f, "opts.lua", text);
	load_ok(f);
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"1\",\"account\":\"acme-us\","
			     "\"occurred_at\":\"2026-11-24T05:00:00Z\"}", NOW, NULL);
	assert_outcomes(f, seq, "typo:error,no-title:error,no-key:error,bad-priority:error,bad-due:error,"
				"full:ok,set-typo:error,defaults:ok");
	/* SPEC §5: a typo in t:set is an error, not a field named "prority" */
	assert_error_outcome(f, seq, "set-typo", "unknown option 'prority'", "opts.lua", 0);
	assert_error_outcome(f, seq, "typo", "unknown option 'priorty'", "opts.lua", line_of(text, "--@typo"));
	assert_error_outcome(f, seq, "no-title", "title", "opts.lua", line_of(text, "--@notitle"));
	assert_error_outcome(f, seq, "no-key", "key", "opts.lua", 0);
	assert_error_outcome(f, seq, "bad-priority", "critical", "opts.lua", 0);
	assert_error_outcome(f, seq, "bad-due", "soon", "opts.lua", 0);
	assert_false(has_open_ticket(f, "typo"));
	assert_false(has_open_ticket(f, "no-title"));

	struct tr_ticket t;
	open_ticket(f, "full", &t);
	assert_string_equal(t.title, "Full ticket");
	assert_string_equal(t.queue, "q1");
	assert_string_equal(t.priority, "high");
	assert_string_equal(t.account, "acme-jp");
	assert_string_equal(t.assignee, "mei");
	assert_int_equal(t.due_at, T_0500Z + 19 * 3600); /* 2026-11-25T00:00:00Z */
	cJSON *tags = cJSON_Parse(t.tags);
	assert_int_equal(cJSON_GetArraySize(tags), 3);
	assert_string_equal(cJSON_GetArrayItem(tags, 2)->valuestring, "c");
	cJSON_Delete(tags);
	cJSON *fields = cJSON_Parse(t.fields);
	assert_string_equal(cJSON_GetObjectItem(fields, "order_id")->valuestring, "503-1");
	assert_int_equal((int)cJSON_GetObjectItem(fields, "n")->valuedouble, 2);
	assert_string_equal(cJSON_GetObjectItem(fields, "note")->valuestring, "extra");
	cJSON_Delete(fields);
	int64_t full_id = t.id;
	tr_ticket_free(&t);
	int found;
	cJSON *j = tr_view_ticket_by_id(f->s, full_id, 1, &found);
	cJSON *h = cJSON_GetObjectItem(j, "history");
	assert_string_equal(str(cJSON_GetArrayItem(h, 0), "action"), "opened");
	assert_string_equal(str(cJSON_GetArrayItem(h, 0), "actor"), "rule:full");
	assert_string_equal(str(cJSON_GetArrayItem(h, 2), "action"), "comment");
	assert_string_equal(str(cJSON_GetArrayItem(h, 2), "detail"), "first comment");
	assert_int_equal((int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(h, 0), "event_seq")->valuedouble, seq);
	cJSON_Delete(j);

	open_ticket(f, "defaults", &t);
	assert_string_equal(t.priority, "normal");
	assert_string_equal(t.account, "acme-us"); /* the event's */
	assert_int_equal(t.due_at, 0);
	tr_ticket_free(&t);
}

static void test_ticket_same_key_and_reopen(void **state)
{
	struct fx *f = *state;
	write_rule(f, "tickets.lua",
		   "rule { name = \"open\", on = \"message.new\", action = function(ev)\n"
		   "  local t, created = ticket.open { key = \"message:\" .. ev.order_id, title = \"Reply to \" .. ev.buyer,\n"
		   "                                  due = \"24h\" }\n"
		   "  t:comment(created and \"created\" or \"matched\")\n"
		   "  state.set(\"last:\" .. ev.id, { id = t.id, created = created })\n"
		   "end }\n"
		   "rule { name = \"close\", on = \"message.replied\", action = function(ev)\n"
		   "  local t = ticket.find(\"message:\" .. ev.order_id)\n"
		   "  if t then t:close(\"replied\") end\n"
		   "end }\n");
	load_ok(f);
	ingest(f, "{\"type\":\"message.new\",\"id\":\"m1\",\"order_id\":\"113-1\",\"buyer\":\"Chris\","
		  "\"occurred_at\":\"2026-11-24T05:00:00Z\"}", NOW, NULL);
	int64_t seq2 = ingest(f, "{\"type\":\"message.new\",\"id\":\"m2\",\"order_id\":\"113-1\",\"buyer\":\"Chris\","
			      "\"occurred_at\":\"2026-11-24T06:00:00Z\"}", NOW, NULL);
	char *a = state_value(f, "last:m1"), *b = state_value(f, "last:m2");
	cJSON *ja = cJSON_Parse(a), *jb = cJSON_Parse(b);
	free(a);
	free(b);
	int64_t first = (int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(ja, 0), "id")->valuedouble;
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(ja, 0), "created")));
	assert_int_equal((int64_t)cJSON_GetObjectItem(cJSON_GetArrayItem(jb, 0), "id")->valuedouble, first);
	assert_true(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetArrayItem(jb, 0), "created")));
	cJSON_Delete(ja);
	cJSON_Delete(jb);
	/* the second message joined the ticket: the due time is the first's */
	struct tr_ticket t;
	open_ticket(f, "message:113-1", &t);
	assert_int_equal(t.id, first);
	assert_int_equal(t.due_at, T_0500Z + 86400);
	tr_ticket_free(&t);
	cJSON *o = outcome(f, seq2, "open");
	assert_string_equal(str(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "effects"), 0), "op"), "ticket.match");
	cJSON_Delete(o);
	int found;
	cJSON *j = tr_view_ticket_by_id(f->s, first, 1, &found);
	cJSON *h = cJSON_GetObjectItem(j, "history");
	assert_int_equal(cJSON_GetArraySize(h), 4);
	assert_string_equal(str(cJSON_GetArrayItem(h, 1), "detail"), "created");
	assert_string_equal(str(cJSON_GetArrayItem(h, 2), "action"), "matched");
	assert_string_equal(str(cJSON_GetArrayItem(h, 3), "detail"), "matched");
	cJSON_Delete(j);

	/* replied: closed; a new message for the order opens a new ticket */
	ingest(f, "{\"type\":\"message.replied\",\"id\":\"r1\",\"order_id\":\"113-1\"}", NOW + 60, NULL);
	assert_false(has_open_ticket(f, "message:113-1"));
	assert_int_equal(tr_store_ticket_get(f->s, first, &t), 0);
	assert_string_equal(t.state, "closed");
	assert_string_equal(t.close_reason, "replied");
	assert_int_equal(t.closed_at, NOW + 60);
	tr_ticket_free(&t);
	ingest(f, "{\"type\":\"message.new\",\"id\":\"m3\",\"order_id\":\"113-1\",\"buyer\":\"Chris\","
		  "\"occurred_at\":\"2026-11-25T05:00:00Z\"}", NOW + 120, NULL);
	open_ticket(f, "message:113-1", &t);
	assert_true(t.id != first);
	assert_int_equal(t.due_at, T_0500Z + 2 * 86400);
	tr_ticket_free(&t);
	char *c = state_value(f, "last:m3");
	assert_non_null(strstr(c, "\"created\":true"));
	free(c);
	/* a reply with no open ticket is fine */
	int64_t seq = ingest(f, "{\"type\":\"message.replied\",\"id\":\"r2\",\"order_id\":\"999\"}", NOW, NULL);
	assert_outcomes(f, seq, "close:ok");
}

static void test_state_incr_window(void **state)
{
	struct fx *f = *state;
	write_rule(f, "guard.lua",
		   "rule { name = \"guard\", on = \"case.opened\", action = function(ev)\n"
		   "  local n = state.incr(\"cases:\" .. ev.account, { window = \"24h\" })\n"
		   "  if n > 2 then\n"
		   "    ticket.open { key = \"too-many:\" .. ev.account, title = (\"%d cases opened in 24h\"):format(n),\n"
		   "                  priority = \"high\" }\n"
		   "  end\n"
		   "end }\n"
		   "rule { name = \"bad-window\", on = \"case.bad\", action = function(ev)\n"
		   "  state.incr(\"x\", { window = \"one day\" })\n"
		   "end }\n"
		   "rule { name = \"bad-option\", on = \"case.bad\", action = function(ev)\n"
		   "  state.incr(\"x\", { windw = \"24h\" })\n"
		   "end }\n"
		   "rule { name = \"remember\", on = \"case.note\", action = function(ev)\n"
		   "  local seen = state.get(\"seen\") or { n = 0, ids = {} }\n"
		   "  seen.n = seen.n + 1\n"
		   "  seen.ids[#seen.ids + 1] = ev.id\n"
		   "  state.set(\"seen\", seen)\n"
		   "  state.incr(\"forever\", 5)\n"
		   "end }\n");
	load_ok(f);
	const int64_t t0 = NOW, h = 3600;
	static const struct { int64_t at; const char *account; int64_t count; } adds[] = {
		{0, "acme-us", 1}, {1, "acme-us", 2}, {1, "acme-de", 1}, {2, "acme-us", 3},
		{23, "acme-us", 4}, {27, "acme-us", 2}, {60, "acme-us", 1},
	};
	for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
		char json[256], at[40];
		time_t tt = (time_t)(t0 + adds[i].at * h);
		strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", gmtime(&tt));
		snprintf(json, sizeof(json), "{\"type\":\"case.opened\",\"id\":\"c%zu\",\"account\":\"%s\","
			 "\"occurred_at\":\"%s\"}", i, adds[i].account, at);
		int64_t seq = ingest(f, json, NOW + 60 * 3600, NULL);
		cJSON *o = outcome(f, seq, "guard");
		cJSON *eff = cJSON_GetArrayItem(cJSON_GetObjectItem(o, "effects"), 0);
		assert_string_equal(str(eff, "op"), "state.incr");
		if ((int64_t)cJSON_GetObjectItem(eff, "value")->valuedouble != adds[i].count)
			fail_msg("add %zu at +%lldh: count %g, want %lld", i, (long long)adds[i].at,
				 cJSON_GetObjectItem(eff, "value")->valuedouble, (long long)adds[i].count);
		cJSON_Delete(o);
		if (i == 3) {
			struct tr_ticket t;
			open_ticket(f, "too-many:acme-us", &t);
			assert_string_equal(t.title, "3 cases opened in 24h");
			tr_ticket_free(&t);
			assert_false(has_open_ticket(f, "too-many:acme-de"));
		}
	}
	int64_t seq = ingest(f, "{\"type\":\"case.bad\",\"id\":\"1\"}", NOW, NULL);
	assert_error_outcome(f, seq, "bad-window", "one day", "guard.lua", 9);
	assert_error_outcome(f, seq, "bad-option", "unknown option 'windw'", "guard.lua", 12);

	ingest(f, "{\"type\":\"case.note\",\"id\":\"n1\"}", NOW, NULL);
	ingest(f, "{\"type\":\"case.note\",\"id\":\"n2\"}", NOW, NULL);
	char *v = state_value(f, "seen");
	cJSON *j = cJSON_Parse(v);
	free(v);
	cJSON *seen = cJSON_GetArrayItem(j, 0);
	assert_int_equal((int)cJSON_GetObjectItem(seen, "n")->valuedouble, 2);
	assert_string_equal(cJSON_GetArrayItem(cJSON_GetObjectItem(seen, "ids"), 1)->valuestring, "n2");
	cJSON_Delete(j);
	int64_t total = 0;
	assert_int_equal(tr_store_begin(f->s), 0);
	assert_int_equal(tr_store_counter_add(f->s, "forever", 0, NOW, 0, &total), 0);
	assert_int_equal(tr_store_rollback(f->s), 0);
	assert_int_equal(total, 10);
}

static void test_ctx_and_time(void **state)
{
	struct fx *f = *state;
	write_rule(f, "ctx.lua",
		   "rule { name = \"ctx\", on = \"x.y\", action = function(ev, ctx)\n"
		   "  state.set(\"ctx\", { rule = ctx.rule, seq = ctx.seq, now = ctx.now, time = ctx.time,\n"
		   "    tnow = time.now(), parsed = time.parse(\"2026-11-24 13:00:00\", \"Asia/Shanghai\"),\n"
		   "    fmt = time.format(ctx.time, \"Asia/Tokyo\"), id = ev.id, nested = ev.a.b[2] })\n"
		   "end }\n");
	load_ok(f);
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"42\",\"occurred_at\":\"2026-11-24T05:00:00Z\","
			     "\"a\":{\"b\":[1,\"two\"]}}", NOW, NULL);
	char *v = state_value(f, "ctx");
	cJSON *j = cJSON_Parse(v);
	free(v);
	cJSON *c = cJSON_GetArrayItem(j, 0);
	assert_string_equal(str(c, "rule"), "ctx");
	assert_int_equal((int64_t)cJSON_GetObjectItem(c, "seq")->valuedouble, seq);
	assert_int_equal((int64_t)cJSON_GetObjectItem(c, "now")->valuedouble, NOW);
	assert_int_equal((int64_t)cJSON_GetObjectItem(c, "tnow")->valuedouble, NOW);
	assert_int_equal((int64_t)cJSON_GetObjectItem(c, "time")->valuedouble, T_0500Z);
	assert_int_equal((int64_t)cJSON_GetObjectItem(c, "parsed")->valuedouble, T_0500Z);
	assert_string_equal(str(c, "fmt"), "2026-11-24T14:00:00+09:00");
	assert_string_equal(str(c, "id"), "42");
	assert_string_equal(str(c, "nested"), "two");
	cJSON_Delete(j);
}

/* ---- loading ---- */

static int errs_mention(const struct tr_errors *errs, const char *file, const char *needle)
{
	for (size_t i = 0; i < errs->n; i++)
		if (strstr(errs->items[i].file, file) && strstr(errs->items[i].message, needle))
			return 1;
	return 0;
}

static const struct tr_error *error_for(const struct tr_errors *errs, const char *file)
{
	for (size_t i = 0; i < errs->n; i++)
		if (strstr(errs->items[i].file, file))
			return &errs->items[i];
	print_errors(errs);
	fail_msg("no error for %s", file);
	abort(); /* fail_msg is not noreturn; GCC -O3 would warn of a NULL read */
}

static void test_load_errors(void **state)
{
	struct fx *f = *state;
	write_rule(f, "10-good.lua", RULE_NOOP("good", "x.y"));
	const char syntax[] =
		"rule {\n"
		"  name = \"broken\",\n"
		"  on = \"x.y\" --@syntax\n"
		"  action = function() end,\n"
		"}\n";
	write_rule(f, "20-syntax.lua", syntax);
	const char runtime[] =
		"local t = nil\n"
		"local x = t.field --@runtime\n";
	write_rule(f, "30-runtime.lua", runtime);
	load_fails(f);
	/* every problem is listed, each with its file and line */
	assert_int_equal(f->errs.n, 2);
	const struct tr_error *e = error_for(&f->errs, "20-syntax.lua");
	/* the parser reports the token after the missing comma */
	assert_true(e->line == line_of(syntax, "--@syntax") || e->line == line_of(syntax, "--@syntax") + 1);
	assert_true(e->message[0] != 0);
	e = error_for(&f->errs, "30-runtime.lua");
	assert_int_equal(e->line, line_of(runtime, "--@runtime"));
	assert_non_null(strstr(e->message, "index"));
	char buf[800];
	tr_error_format(e, buf, sizeof(buf));
	assert_non_null(strstr(buf, "30-runtime.lua"));
	remove_rule(f, "20-syntax.lua");
	remove_rule(f, "30-runtime.lua");
	load_ok(f);

	/* a rule file that runs forever at load is stopped */
	write_rule(f, "40-forever.lua", "while true do end\n");
	load_fails(f);
	assert_true(errs_mention(&f->errs, "40-forever.lua", "budget"));
	remove_rule(f, "40-forever.lua");

	/* a binary chunk is not a rule file */
	write_rule(f, "45-binary.lua", "\x1bLuaT\x00\x19\x93\r\n\x1a\n");
	load_fails(f);
	error_for(&f->errs, "45-binary.lua");
	remove_rule(f, "45-binary.lua");

	/* duplicate names, in two files or in one */
	const char dup[] = "rule { name = \"good\", on = \"x.z\", action = function() end } --@dup\n";
	write_rule(f, "50-dup.lua", dup);
	load_fails(f);
	e = error_for(&f->errs, "50-dup.lua");
	assert_non_null(strstr(e->message, "good"));
	assert_int_equal(e->line, 1);
	remove_rule(f, "50-dup.lua");
	write_rule(f, "50-dup.lua", RULE_NOOP("twice", "x.y") RULE_NOOP("twice", "x.y"));
	load_fails(f);
	e = error_for(&f->errs, "50-dup.lua");
	assert_non_null(strstr(e->message, "twice"));
	assert_int_equal(e->line, 2);
	remove_rule(f, "50-dup.lua");

	/* bad `on` and other bad declarations */
	static const char *const bad[] = {
		"rule { name = \"r\", on = 5, action = function() end }\n",
		"rule { name = \"r\", on = \"\", action = function() end }\n",
		"rule { name = \"r\", on = {}, action = function() end }\n",
		"rule { name = \"r\", on = { \"Bad Type\" }, action = function() end }\n",
		"rule { name = \"r\", on = \"a b\", action = function() end }\n",
		"rule { name = \"r\", on = { x = \"a.b\" }, action = function() end }\n",
		"rule { name = \"r\", action = function() end }\n",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		write_rule(f, "60-bad.lua", bad[i]);
		load_fails(f);
		if (!errs_mention(&f->errs, "60-bad.lua", "'on'")) {
			print_errors(&f->errs);
			fail_msg("no error about 'on' for: %s", bad[i]);
		}
		assert_int_equal(error_for(&f->errs, "60-bad.lua")->line, 1);
		remove_rule(f, "60-bad.lua");
	}
	static const char *const bad_decl[][2] = {
		{"rule { name = \"r\", on = \"a.b\" }\n", "action"},
		{"rule { name = \"r\", on = \"a.b\", action = 5 }\n", "action"},
		{"rule { name = \"r\", on = \"a.b\", when = true, action = function() end }\n", "when"},
		{"rule { on = \"a.b\", action = function() end }\n", "name"},
		{"rule { name = \"\", on = \"a.b\", action = function() end }\n", "name"},
		{"rule { name = \"r\", on = \"a.b\", prority = 1, action = function() end }\n", "prority"},
		{"rule { name = \"r\", on = \"a.b\", priority = \"high\", action = function() end }\n", "priority"},
		{"rule(\"r\")\n", "table"},
	};
	for (size_t i = 0; i < sizeof(bad_decl) / sizeof(bad_decl[0]); i++) {
		write_rule(f, "60-bad.lua", bad_decl[i][0]);
		load_fails(f);
		if (!errs_mention(&f->errs, "60-bad.lua", bad_decl[i][1])) {
			print_errors(&f->errs);
			fail_msg("no error about %s for: %s", bad_decl[i][1], bad_decl[i][0]);
		}
		remove_rule(f, "60-bad.lua");
	}

	/* a missing folder */
	struct tr_engine *e2 = (struct tr_engine *)0x1;
	struct tr_errors errs = {0};
	char missing[200];
	snprintf(missing, sizeof(missing), "%s/no-such-folder", f->dir);
	assert_int_equal(tr_engine_load(missing, &f->cfg, &e2, &errs), TR_EPARSE);
	assert_null(e2);
	assert_true(errs.n >= 1);
	tr_errors_free(&errs);

	/* declaring a rule from an action is refused */
	write_rule(f, "70-late.lua",
		   "rule { name = \"late\", on = \"x.y\", action = function()\n"
		   "  rule { name = \"later\", on = \"x.y\", action = function() end }\n"
		   "end }\n");
	load_ok(f);
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"1\"}", NOW, NULL);
	assert_error_outcome(f, seq, "late", "rule", "70-late.lua", 2);
	assert_int_equal(tr_engine_rule_count(f->e), 2);
}

/* Regression test (a bug this file found in daemon/engine.c, read_on,
 * where lua_tostring ran before the type check and turned a number into a
 * string): `on = { "case.opened", 7 }` was accepted as the pattern "7",
 * which no type can match. SPEC §5: `on` is a type, a glob or a list. */
static void test_on_entry_must_be_a_string(void **state)
{
	struct fx *f = *state;
	write_rule(f, "bad-on.lua",
		   "rule { name = \"r\", on = { \"case.opened\", 7 }, action = function() end }\n");
	const struct tr_error *e = load_fails(f);
	assert_non_null(strstr(e->message, "'on'"));
	assert_int_equal(e->line, 1);
}

static void test_single_file_load(void **state)
{
	struct fx *f = *state;
	write_rule(f, "lib/names.lua", "return { prefix = \"lib:\" }\n");
	write_rule(f, "one.lua",
		   "local names = require(\"names\")\n"
		   "rule { name = \"one\", on = \"x.y\", action = function(ev)\n"
		   "  ticket.open { key = names.prefix .. ev.id, title = \"x\" }\n"
		   "end }\n");
	write_rule(f, "two.lua", RULE_NOOP("two", "x.y"));
	char path[300];
	snprintf(path, sizeof(path), "%s/one.lua", f->rules);
	assert_int_equal(tr_engine_load_file(path, &f->cfg, &f->e, &f->errs), 0);
	assert_int_equal(tr_engine_rule_count(f->e), 1);
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"1\"}", NOW, NULL);
	assert_outcomes(f, seq, "one:ok");
	assert_true(has_open_ticket(f, "lib:1"));
}

/* ---- require and the sandbox ---- */

static void test_require(void **state)
{
	struct fx *f = *state;
	char sub[300];
	snprintf(sub, sizeof(sub), "%s/lib/sub", f->rules);
	assert_int_equal(mkdir(sub, 0700), 0);
	write_rule(f, "lib/util.lua",
		   "local M = {}\n"
		   "loads = (loads or 0) + 1\n"
		   "function M.key(ev) return \"util:\" .. ev.id end\n"
		   "return M\n");
	write_rule(f, "lib/sub/deep.lua", "return { answer = 42 }\n");
	/* a file outside lib/ that a rule must not reach */
	char outside[300];
	snprintf(outside, sizeof(outside), "%s/x.lua", f->dir);
	FILE *fp = fopen(outside, "w");
	assert_non_null(fp);
	fputs("ticket.open { key = \"escaped\", title = \"require left lib/\" }\nreturn {}\n", fp);
	fclose(fp);
	write_rule(f, "secret.lua", "return { secret = true }\n");

	write_rule(f, "req.lua",
		   "local util = require(\"util\")\n"
		   "local again = require(\"util\")\n"
		   "assert(util == again, \"modules load once\")\n"
		   "rule { name = \"uses-lib\", on = \"x.y\", action = function(ev)\n"
		   "  ticket.open { key = util.key(ev), title = tostring(require(\"sub.deep\").answer) }\n"
		   "end }\n"
		   "rule { name = \"dotdot\", on = \"x.y\", action = function() require(\"../x\") end }\n"
		   "rule { name = \"dotdot2\", on = \"x.y\", action = function() require(\"..x\") end }\n"
		   "rule { name = \"dotdot3\", on = \"x.y\", action = function() require(\"sub/../../../x\") end }\n"
		   "rule { name = \"absolute\", on = \"x.y\", action = function() require(\"/etc/passwd\") end }\n"
		   "rule { name = \"sibling\", on = \"x.y\", action = function() require(\"secret\") end }\n"
		   "rule { name = \"missing\", on = \"x.y\", action = function() require(\"nope\") end }\n"
		   "rule { name = \"stdlib\", on = \"x.y\", action = function() require(\"io\") end }\n"
		   "rule { name = \"global-stays\", on = \"x.y\", action = function()\n"
		   "  assert(loads == nil, \"a module's globals leaked into the rule file\")\n"
		   "end }\n");
	load_ok(f);
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"r1\"}", NOW, NULL);
	assert_outcomes(f, seq, "uses-lib:ok,dotdot:error,dotdot2:error,dotdot3:error,absolute:error,"
				"sibling:error,missing:error,stdlib:error,global-stays:ok");
	struct tr_ticket t;
	open_ticket(f, "util:r1", &t);
	assert_string_equal(t.title, "42");
	tr_ticket_free(&t);
	assert_error_outcome(f, seq, "dotdot", "require", "req.lua", 7);
	assert_error_outcome(f, seq, "sibling", "secret", "req.lua", 11);
	assert_false(has_open_ticket(f, "escaped"));

	/* at load time too */
	write_rule(f, "zz-escape.lua", "require(\"../x\")\n");
	load_fails(f);
	error_for(&f->errs, "zz-escape.lua");
	unlink(outside);
}

static void test_sandbox(void **state)
{
	struct fx *f = *state;
	write_rule(f, "sandbox.lua",
		   "local function leaks()\n"
		   "  local found = {}\n"
		   "  local function check(name, v) if v ~= nil then found[#found + 1] = name end end\n"
		   "  check(\"io\", io)\n"
		   "  check(\"debug\", debug)\n"
		   "  check(\"package\", package)\n"
		   "  check(\"os.execute\", os.execute)\n"
		   "  check(\"os.exit\", os.exit)\n"
		   "  check(\"os.getenv\", os.getenv)\n"
		   "  check(\"os.remove\", os.remove)\n"
		   "  check(\"os.rename\", os.rename)\n"
		   "  check(\"os.tmpname\", os.tmpname)\n"
		   "  check(\"string.dump\", string.dump)\n"
		   "  check(\"(''):dump\", (\"\").dump)\n"
		   "  check(\"dofile\", dofile)\n"
		   "  check(\"loadfile\", loadfile)\n"
		   "  check(\"rawset\", rawset)\n"
		   "  check(\"collectgarbage\", collectgarbage)\n"
		   "  check(\"_G.io\", _G.io)\n"
		   "  check(\"_ENV.io\", _ENV.io)\n"
		   "  check(\"load'return io'\", load(\"return io\")())\n"
		   "  check(\"load'return debug'\", load(\"return debug\")())\n"
		   "  -- binary chunks: refused whatever the mode\n"
		   "  local bin = \"\\27LuaT\\0\\25\\147\\13\\10\\26\\10\\4\\8\\8\"\n"
		   "  local ok, f = pcall(load, bin, \"bin\", \"b\")\n"
		   "  if ok and f then found[#found + 1] = \"load binary (b)\" end\n"
		   "  ok, f = pcall(load, bin, \"bin\", \"bt\")\n"
		   "  if ok and f then found[#found + 1] = \"load binary (bt)\" end\n"
		   "  ok, f = pcall(load, bin)\n"
		   "  if ok and f then found[#found + 1] = \"load binary (default)\" end\n"
		   "  -- the shared string metatable cannot be reached or changed\n"
		   "  if type(getmetatable(\"\")) == \"table\" then found[#found + 1] = \"string metatable\" end\n"
		   "  if pcall(setmetatable, string, {}) then found[#found + 1] = \"setmetatable(string)\" end\n"
		   "  if pcall(function() string.upper = nil end) then found[#found + 1] = \"string.upper writable\" end\n"
		   "  if pcall(function() os.time = nil end) then found[#found + 1] = \"os.time writable\" end\n"
		   "  if pcall(function() ticket.open = nil end) then found[#found + 1] = \"ticket.open writable\" end\n"
		   "  if pcall(function() _G.pcall = nil end) then found[#found + 1] = \"_G writable\" end\n"
		   "  if pcall(setmetatable, _G, nil) then found[#found + 1] = \"_G metatable\" end\n"
		   "  -- what rules may use is there\n"
		   "  if not (os.time and os.date and string.format and table.concat and math.floor and utf8.char\n"
		   "          and pcall and tostring and ticket and state and time and log) then\n"
		   "    found[#found + 1] = \"an allowed function is missing\"\n"
		   "  end\n"
		   "  return table.concat(found, \",\")\n"
		   "end\n"
		   "local at_load = leaks()\n"
		   "rule { name = \"sandbox\", on = \"x.y\", action = function()\n"
		   "  state.set(\"leaks\", { load = at_load, run = leaks(), upper = (\"abc\"):upper() })\n"
		   "end }\n");
	load_ok(f);
	int64_t seq = ingest(f, "{\"type\":\"x.y\",\"id\":\"1\"}", NOW, NULL);
	assert_outcomes(f, seq, "sandbox:ok");
	char *v = state_value(f, "leaks");
	assert_non_null(v);
	cJSON *j = cJSON_Parse(v);
	free(v);
	cJSON *l = cJSON_GetArrayItem(j, 0);
	if (strcmp(str(l, "load"), "") != 0 || strcmp(str(l, "run"), "") != 0) {
		char msg[600];
		snprintf(msg, sizeof(msg), "sandbox escapes: at load [%s], in a rule [%s]", str(l, "load"), str(l, "run"));
		cJSON_Delete(j);
		fail_msg("%s", msg);
	}
	assert_string_equal(str(l, "upper"), "ABC");
	cJSON_Delete(j);

	/* globals a rule file sets stay its own */
	write_rule(f, "a-sets.lua", "shared = \"from a\"\nstring_upper_saved = string.upper\n");
	write_rule(f, "b-reads.lua",
		   "rule { name = \"reads\", on = \"g.g\", action = function()\n"
		   "  assert(shared == nil, \"a global of another rule file is visible\")\n"
		   "  rule_global = true\n"
		   "end }\n"
		   "rule { name = \"reads-again\", on = \"g.g\", action = function()\n"
		   "  assert(rule_global == true)\n"
		   "end }\n");
	load_ok(f);
	seq = ingest(f, "{\"type\":\"g.g\",\"id\":\"1\"}", NOW, NULL);
	assert_outcomes(f, seq, "reads:ok,reads-again:ok");
}

/* ---- the Lua stack across many dispatches ---- */

static void test_stack_stable_over_10000_dispatches(void **state)
{
	struct fx *f = *state;
	/* The probe measures, from inside a rule, how many more values the Lua
	 * stack can take (table.unpack fails once it would pass LUAI_MAXSTACK):
	 * if dispatch left anything behind, the headroom would shrink. */
	f->cfg.limits.rule_time_ms = 5000;
	f->cfg.limits.rule_memory_mb = 64;
	write_rule(f, "stack.lua",
		   "local function headroom()\n"
		   "  local lo, hi = 0, 2000000\n"
		   "  while lo < hi do\n"
		   "    local mid = (lo + hi + 1) // 2\n"
		   "    if pcall(table.unpack, {}, 1, mid) then lo = mid else hi = mid - 1 end\n"
		   "  end\n"
		   "  return lo\n"
		   "end\n"
		   "rule { name = \"probe\", on = \"probe.now\", action = function(ev)\n"
		   "  state.set(\"headroom:\" .. ev.id, headroom())\n"
		   "end }\n"
		   "rule { name = \"busy\", on = \"x.*\", when = function(ev) return ev.n % 3 ~= 0 end,\n"
		   "  action = function(ev, ctx)\n"
		   "    if ev.n % 7 == 0 then error(\"every seventh fails\") end\n"
		   "    local t = ticket.open { key = \"k\" .. (ev.n % 50), title = ev.id }\n"
		   "    if ev.n % 11 == 0 then t:close(\"done\") end\n"
		   "    state.incr(\"busy\", { window = \"1h\" })\n"
		   "  end }\n"
		   "rule { name = \"when-fails\", on = \"x.a\", when = function(ev) return ev.nothing.here end,\n"
		   "  action = function() end }\n");
	load_ok(f);
	ingest(f, "{\"type\":\"probe.now\",\"id\":\"before\"}", NOW, NULL);
	char *before = state_value(f, "headroom:before");
	assert_non_null(before);

	struct tr_dispatch d;
	int errors = 0;
	for (int batch = 0; batch < 100; batch++) {
		assert_int_equal(tr_store_begin(f->s), 0);
		for (int i = 0; i < 100; i++) {
			int n = batch * 100 + i;
			char json[128], err[128];
			snprintf(json, sizeof(json), "{\"type\":\"x.%s\",\"id\":\"e%d\",\"n\":%d}", n % 2 ? "a" : "b", n, n);
			struct tr_event ev;
			assert_int_equal(tr_event_init(&ev, cJSON_Parse(json), NULL, "test", NOW + n, err, sizeof(err)), 0);
			assert_int_equal(tr_store_event_insert(f->s, &ev), 0);
			assert_int_equal(tr_engine_dispatch(f->e, f->s, &ev, NOW + n, &d), 0);
			errors += d.errors;
			tr_event_free(&ev);
		}
		assert_int_equal(tr_store_commit(f->s), 0);
	}
	assert_true(errors > 1000);

	ingest(f, "{\"type\":\"probe.now\",\"id\":\"after\"}", NOW, NULL);
	char *after = state_value(f, "headroom:after");
	assert_non_null(after);
	int room = atoi(before + 1), same = strcmp(before, after) == 0;
	if (!same) {
		char msg[200];
		snprintf(msg, sizeof(msg), "Lua stack headroom was %s before 10,000 dispatches and %s after", before, after);
		free(before);
		free(after);
		fail_msg("%s", msg);
	}
	free(before);
	free(after);
	assert_true(room > 100000);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_load_order_and_priority, setup, teardown),
		cmocka_unit_test_setup_teardown(test_on_type_glob_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_when, setup, teardown),
		cmocka_unit_test_setup_teardown(test_action_error_rolled_back_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rules_do_not_share_event_changes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budgets, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pcall_cannot_swallow_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_budget_holds_in_library_loops, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_budget_holds_in_table_functions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_table_move_wrap_around, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finalizer_cannot_escape_the_budget, setup, teardown),
		cmocka_unit_test_setup_teardown(test_finalizer_cannot_act_as_another_rule, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_flood, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ticket_open_options, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ticket_same_key_and_reopen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_incr_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctx_and_time, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_on_entry_must_be_a_string, setup, teardown),
		cmocka_unit_test_setup_teardown(test_single_file_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_require, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sandbox, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stack_stable_over_10000_dispatches, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
