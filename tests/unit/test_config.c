/* Unit tests for daemon/config.c: defaults (and the systemd environment
 * variables), the shipped contrib/triaged.yaml and contrib/demo.yaml, relative
 * paths, and above all the errors a user sees: every problem of a file listed
 * with its line, column and key path, YAML syntax errors at their line. Each
 * test writes its YAML into a fresh temporary folder. */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <stdbool.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include "tr_config.h"
#include "tr_engine.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_rules_dir.h"

static char tmp[PATH_MAX];  /* realpath of this run's temporary folder */

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static int setup(void **state)
{
	(void)state;
	char templ[] = "/tmp/test_config.XXXXXX";
	if (!mkdtemp(templ) || !realpath(templ, tmp))
		return -1;
	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	return nftw(tmp, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* Writes text to <tmp>/<name> (one level of folder is created) and returns
 * the path in a static buffer. */
static const char *write_yaml(const char *name, const char *text)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", tmp, name);
	char *slash = strrchr(path, '/');
	*slash = '\0';
	mkdir(path, 0700);
	*slash = '/';
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void dump(const struct tr_errors *errs)
{
	char line[800];
	for (size_t i = 0; i < errs->n; i++) {
		tr_error_format(&errs->items[i], line, sizeof(line));
		fprintf(stderr, "  error: %s\n", line);
	}
}

/* Loads text as a config file; returns tr_config_load's code. */
static int load_text(const char *text, struct tr_config *cfg, struct tr_errors *errs)
{
	return tr_config_load(write_yaml("triaged.yaml", text), cfg, errs);
}

/* Loads text and fails the test unless it has no error. */
static void load_ok(const char *text, struct tr_config *cfg)
{
	struct tr_errors errs = {0};
	int rc = load_text(text, cfg, &errs);
	if (rc != 0 || errs.n != 0) {
		dump(&errs);
		fail_msg("load failed: %d", rc);
	}
	tr_errors_free(&errs);
}

/* Asserts errs holds an error at line (and column when > 0) for field whose
 * message contains `part`. */
static void expect_error(const struct tr_errors *errs, int line, int column, const char *field,
			 const char *part)
{
	for (size_t i = 0; i < errs->n; i++) {
		const struct tr_error *e = &errs->items[i];
		if (e->line == line && (column <= 0 || e->column == column) &&
		    strcmp(e->field, field) == 0 && strstr(e->message, part))
			return;
	}
	dump(errs);
	fail_msg("no error at line %d col %d for \"%s\" containing \"%s\"", line, column, field, part);
}

static void expect_defaults(const struct tr_config *cfg)
{
	assert_string_equal(cfg->state_dir, "/var/lib/triaged");
	assert_string_equal(cfg->db_path, "/var/lib/triaged/triaged.db");
	assert_string_equal(cfg->socket_path, "/run/triaged/triaged.sock");
	assert_string_equal(cfg->rules_dir, "/etc/triaged/rules.d");
	assert_string_equal(cfg->spool_dir, "/var/lib/triaged/spool");
	assert_int_equal(cfg->durability, TR_DURABILITY_FULL);
	assert_int_equal(cfg->settle_ms, 1000);
	assert_int_equal(cfg->rescan_ms, 5000);
	assert_int_equal(cfg->nsources, 0);
	assert_int_equal(cfg->ncalendars, 0);
	assert_int_equal(cfg->noutputs, 0);
	assert_int_equal(cfg->limits.rule_instructions, 1000000);
	assert_int_equal(cfg->limits.rule_memory_mb, 64);
	assert_int_equal(cfg->limits.rule_time_ms, 200);
	assert_int_equal(cfg->limits.event_bytes, 1048576);
	assert_int_equal(cfg->limits.request_bytes, 16777216);
	assert_int_equal(cfg->limits.max_clients, 256);
	assert_int_equal(cfg->limits.max_pending_events, 20000);
	assert_int_equal(cfg->limits.wal_mb, 256);
	assert_int_equal(cfg->limits.lua_state_mb, 256);
	assert_int_equal(cfg->limits.rule_log_lines, 20);
	assert_int_equal(cfg->limits.rule_timers, 100);
	assert_int_equal(cfg->log_level, TR_LOG_INFO);
}

static void test_defaults(void **state)
{
	(void)state;
	struct tr_config cfg;
	assert_int_equal(tr_config_defaults(&cfg), 0);
	assert_null(cfg.path);
	expect_defaults(&cfg);
	tr_config_free(&cfg);
	tr_config_free(&cfg); /* idempotent */

	struct tr_config zero = {0};
	tr_config_free(&zero); /* safe on an empty struct */
	tr_config_free(NULL);

	/* No file at all: defaults. */
	struct tr_errors errs = {0};
	assert_int_equal(tr_config_load(NULL, &cfg, &errs), 0);
	assert_int_equal(errs.n, 0);
	expect_defaults(&cfg);
	tr_config_free(&cfg);

	/* Empty files, comments only, an empty document, null sections. */
	static const char *empty[] = {"", "\n\n", "# nothing here\n", "---\n", "---\n...\n", "~\n",
				      "spool:\nsources:\ncalendars: ~\noutputs: null\nlimits: {}\nlog:\n"};
	for (size_t i = 0; i < sizeof(empty) / sizeof(empty[0]); i++) {
		load_ok(empty[i], &cfg);
		expect_defaults(&cfg);
		char want[PATH_MAX + 32];
		snprintf(want, sizeof(want), "%s/triaged.yaml", tmp);
		assert_string_equal(cfg.path, want);
		tr_config_free(&cfg);
	}
}

static void test_env_defaults(void **state)
{
	(void)state;
	struct tr_config cfg;
	/* systemd passes a colon-separated list when several folders are set. */
	setenv("STATE_DIRECTORY", "/var/lib/triaged-a:/var/lib/triaged-b", 1);
	setenv("RUNTIME_DIRECTORY", "/run/triaged-x/", 1);
	assert_int_equal(tr_config_defaults(&cfg), 0);
	assert_string_equal(cfg.state_dir, "/var/lib/triaged-a");
	assert_string_equal(cfg.db_path, "/var/lib/triaged-a/triaged.db");
	assert_string_equal(cfg.spool_dir, "/var/lib/triaged-a/spool");
	assert_string_equal(cfg.socket_path, "/run/triaged-x/triaged.sock");
	tr_config_free(&cfg);

	/* Loading a file starts from the same defaults. */
	load_ok("durability: normal\n", &cfg);
	assert_string_equal(cfg.state_dir, "/var/lib/triaged-a");
	assert_string_equal(cfg.spool_dir, "/var/lib/triaged-a/spool");
	assert_string_equal(cfg.socket_path, "/run/triaged-x/triaged.sock");
	tr_config_free(&cfg);

	/* A key in the file wins over the environment, and the derived paths
	 * follow it. */
	load_ok("state_dir: /srv/triaged\nsocket: /tmp/t.sock\n", &cfg);
	assert_string_equal(cfg.state_dir, "/srv/triaged");
	assert_string_equal(cfg.db_path, "/srv/triaged/triaged.db");
	assert_string_equal(cfg.spool_dir, "/srv/triaged/spool");
	assert_string_equal(cfg.socket_path, "/tmp/t.sock");
	tr_config_free(&cfg);

	setenv("STATE_DIRECTORY", "/one", 1);
	setenv("RUNTIME_DIRECTORY", "", 1);
	assert_int_equal(tr_config_defaults(&cfg), 0);
	assert_string_equal(cfg.state_dir, "/one");
	assert_string_equal(cfg.socket_path, "/run/triaged/triaged.sock");
	tr_config_free(&cfg);

	unsetenv("STATE_DIRECTORY");
	unsetenv("RUNTIME_DIRECTORY");
	assert_int_equal(tr_config_defaults(&cfg), 0);
	expect_defaults(&cfg);
	tr_config_free(&cfg);
}

static void test_shipped_default_config(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	int rc = tr_config_load(TR_SOURCE_DIR "/contrib/triaged.yaml", &cfg, &errs);
	if (rc != 0)
		dump(&errs);
	assert_int_equal(rc, 0);
	assert_int_equal(errs.n, 0);
	expect_defaults(&cfg); /* everything in it is commented out */
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

/* Every example in contrib/triaged.yaml, uncommented, is a valid config whose
 * values are the defaults it claims. A commented YAML line is "#key: ..." at
 * the top level, or "#  ..." inside such a block (up to a blank line); the
 * explanations are "# ..." outside blocks. */
static void test_shipped_default_config_uncommented(void **state)
{
	(void)state;
	FILE *in = fopen(TR_SOURCE_DIR "/contrib/triaged.yaml", "r");
	assert_non_null(in);
	char out_path[PATH_MAX + 32];
	snprintf(out_path, sizeof(out_path), "%s/uncommented.yaml", tmp);
	FILE *out = fopen(out_path, "w");
	assert_non_null(out);
	char line[1024];
	bool in_block = false;
	int keys = 0;
	while (fgets(line, sizeof(line), in)) {
		if (line[0] == '#' && line[1] >= 'a' && line[1] <= 'z') {
			in_block = true;
			keys++;
			fputs(line + 1, out);
		} else if (in_block && strncmp(line, "#  ", 3) == 0) {
			fputs(line + 1, out);
		} else if (line[0] == '\n') {
			in_block = false;
		}
	}
	fclose(in);
	fclose(out);
	assert_int_equal(keys, 13); /* every top-level key of SPEC §1 is shown, and params */

	struct tr_config cfg;
	struct tr_errors errs = {0};
	int rc = tr_config_load(out_path, &cfg, &errs);
	if (rc != 0)
		dump(&errs);
	assert_int_equal(rc, 0);
	assert_string_equal(cfg.state_dir, "/var/lib/triaged");
	assert_string_equal(cfg.db_path, "/var/lib/triaged/triaged.db");
	assert_string_equal(cfg.socket_path, "/run/triaged/triaged.sock");
	assert_string_equal(cfg.rules_dir, "/etc/triaged/rules.d");
	assert_string_equal(cfg.spool_dir, "/var/lib/triaged/spool");
	assert_int_equal(cfg.durability, TR_DURABILITY_FULL);
	assert_int_equal(cfg.settle_ms, 1000);
	assert_int_equal(cfg.rescan_ms, 5000);
	assert_int_equal(cfg.ack_timeout, 4 * 3600);
	assert_string_equal(tr_config_param(&cfg, "cases.max_per_day"), "10");
	assert_int_equal(cfg.limits.rule_instructions, 1000000);
	assert_int_equal(cfg.limits.rule_memory_mb, 64);
	assert_int_equal(cfg.limits.rule_time_ms, 200);
	assert_int_equal(cfg.limits.event_bytes, 1048576);
	assert_int_equal(cfg.limits.request_bytes, 16777216);
	assert_int_equal(cfg.limits.max_clients, 256);
	assert_int_equal(cfg.limits.max_pending_events, 20000);
	assert_int_equal(cfg.limits.wal_mb, 256);
	assert_int_equal(cfg.limits.lua_state_mb, 256);
	assert_int_equal(cfg.limits.rule_log_lines, 20);
	assert_int_equal(cfg.limits.rule_timers, 100);
	assert_int_equal(cfg.log_level, TR_LOG_INFO);
	assert_true(cfg.nsources >= 4);
	assert_int_equal(cfg.ncalendars, 1);
	assert_int_equal(cfg.noutputs, 2);
	assert_int_equal(cfg.outputs[0].timeout_ms, 10000);
	assert_string_equal(tr_config_source_for(&cfg, "feedback_jp_20261123.csv")->encoding, "shift_jis");
	assert_string_equal(tr_config_source_for(&cfg, "feedback_20261123.csv")->encoding, "gbk");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static const struct tr_source *source_for(const struct tr_config *cfg, const char *name)
{
	const struct tr_source *s = tr_config_source_for(cfg, name);
	if (!s)
		fail_msg("no source for %s", name);
	return s;
}

static const char *column_field(const struct tr_source *s, const char *header)
{
	for (size_t i = 0; i < s->ncolumns; i++)
		if (strcmp(s->columns[i].header, header) == 0)
			return s->columns[i].field;
	return NULL;
}

static void test_demo_config(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	int rc = tr_config_load(TR_SOURCE_DIR "/contrib/demo.yaml", &cfg, &errs);
	if (rc != 0)
		dump(&errs);
	assert_int_equal(rc, 0);
	assert_int_equal(errs.n, 0);

	char contrib[PATH_MAX], want[PATH_MAX + 64];
	assert_non_null(realpath(TR_SOURCE_DIR "/contrib", contrib));
	snprintf(want, sizeof(want), "%s/state", contrib);
	assert_string_equal(cfg.state_dir, want);
	snprintf(want, sizeof(want), "%s/state/triaged.db", contrib);
	assert_string_equal(cfg.db_path, want);
	snprintf(want, sizeof(want), "%s/state/spool", contrib);
	assert_string_equal(cfg.spool_dir, want);
	snprintf(want, sizeof(want), "%s/triaged.sock", contrib);
	assert_string_equal(cfg.socket_path, want);
	snprintf(want, sizeof(want), "%s/rules.d", contrib);
	assert_string_equal(cfg.rules_dir, want);
	assert_int_equal(cfg.durability, TR_DURABILITY_NORMAL);
	assert_int_equal(cfg.settle_ms, 200);

	/* Every sample file has a source, and the right one. */
	DIR *d = opendir(TR_SHARED_DIR "/samples");
	assert_non_null(d);
	struct dirent *de;
	int nsamples = 0;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strcmp(de->d_name, "README.md") == 0)
			continue;
		source_for(&cfg, de->d_name);
		nsamples++;
	}
	closedir(d);
	assert_true(nsamples >= 8);

	const struct tr_source *s = source_for(&cfg, "feedback_jp_20261123.csv");
	assert_string_equal(s->match, "feedback_jp_*.csv");
	assert_string_equal(s->type, "feedback.new");
	assert_string_equal(s->encoding, "shift_jis");
	assert_string_equal(s->timezone, "Asia/Tokyo");
	assert_string_equal(column_field(s, "注文番号"), "order_id");
	assert_string_equal(column_field(s, "日付"), "occurred_at");
	assert_int_equal(s->nid_fields, 1);
	assert_string_equal(s->id_fields[0], "order_id");

	s = source_for(&cfg, "feedback_20261123.csv");
	assert_string_equal(s->match, "feedback_*.csv");
	assert_string_equal(s->encoding, "gbk");
	assert_string_equal(s->timezone, "Asia/Shanghai");
	assert_int_equal(s->ncolumns, 7);
	assert_string_equal(column_field(s, "评论内容"), "comment");
	assert_string_equal(column_field(s, "站点"), "marketplace");

	s = source_for(&cfg, "bad_feedback.csv");
	assert_string_equal(s->type, "feedback.new");
	assert_string_equal(s->encoding, "utf-8");
	assert_string_equal(s->id_fields[0], "order_id");

	s = source_for(&cfg, "messages_20261124.csv");
	assert_string_equal(s->type, "message.new");
	assert_string_equal(s->encoding, "utf-8");
	assert_string_equal(column_field(s, "消息ID"), "id");
	assert_string_equal(column_field(s, "接收时间"), "occurred_at");

	assert_null(source_for(&cfg, "cases_20261124.json")->type);
	assert_null(source_for(&cfg, "alerts_20261124.yaml")->type);
	assert_null(source_for(&cfg, "events_20261124.ndjson")->type);
	assert_null(source_for(&cfg, "bad_events.ndjson")->type);
	assert_null(tr_config_source_for(&cfg, "orders_20261124.csv"));

	assert_int_equal(cfg.ncalendars, 1);
	assert_string_equal(cfg.calendars[0].name, "cn-support");
	assert_string_equal(cfg.calendars[0].timezone, "Asia/Shanghai");
	assert_string_equal(cfg.calendars[0].hours, "Mon-Fri 09:00-18:00");
	assert_int_equal(cfg.calendars[0].nholidays, 1);
	assert_string_equal(cfg.calendars[0].holidays[0], "2026-10-01");
	assert_int_equal(cfg.calendars[0].nworkdays, 1);
	assert_string_equal(cfg.calendars[0].workdays[0], "2026-09-27");

	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_many_errors(void **state)
{
	(void)state;
	static const char text[] =
		"state_dir: /srv/ok\n"                               /* 1 */
		"durability: fast\n"                                 /* 2 */
		"spool:\n"                                           /* 3 */
		"  settle_ms: -5\n"                                  /* 4 */
		"  dri: /tmp\n"                                      /* 5 */
		"limits:\n"                                          /* 6 */
		"  rule_time_ms: \"200\"\n"                          /* 7 */
		"  rule_memory_mb: 0\n"                              /* 8 */
		"  event_bytes: 99999999999999999999999\n"           /* 9 */
		"log: { level: loud }\n"                             /* 10 */
		"sources:\n"                                         /* 11 */
		"  - match: \"a_*.csv\"\n"                           /* 12 */
		"    type: Bad.Type\n"                               /* 13 */
		"    encoding: latin1\n"                             /* 14 */
		"    timezone: Mars/Base\n"                          /* 15 */
		"    columns: [a, b]\n"                              /* 16 */
		"    id: {x: 1}\n"                                   /* 17 */
		"  - type: feedback.new\n"                           /* 18 */
		"calendars:\n"                                       /* 19 */
		"  cn: { timezone: Asia/Shanghai, hours: \"Mon-Fri 9:00-18:00\", holidays: [2026-02-30] }\n" /* 20 */
		"outputs:\n"                                         /* 21 */
		"  both: { exec: [/bin/true], dir: out }\n"          /* 22 */
		"  none: { timeout: 5s }\n"                          /* 23 */
		"  slow: { exec: [/bin/true], timeout: 10 }\n"       /* 24 */
		"colour: blue\n"                                     /* 25 */
		"durability: full\n";                                /* 26 */
	struct tr_config cfg;
	struct tr_errors errs = {0};
	assert_int_equal(load_text(text, &cfg, &errs), TR_EPARSE);

	expect_error(&errs, 2, 13, "durability", "full or normal");
	expect_error(&errs, 4, 14, "spool.settle_ms", "positive integer");
	expect_error(&errs, 5, 3, "spool.dri", "unknown key");
	expect_error(&errs, 7, 17, "limits.rule_time_ms", "quoted");
	expect_error(&errs, 8, 19, "limits.rule_memory_mb", "positive");
	expect_error(&errs, 9, 16, "limits.event_bytes", "at most");
	expect_error(&errs, 10, 15, "log.level", "loud");
	expect_error(&errs, 13, 11, "sources[0].type", "dotted lowercase");
	expect_error(&errs, 14, 15, "sources[0].encoding", "latin1");
	expect_error(&errs, 15, 15, "sources[0].timezone", "Mars/Base");
	expect_error(&errs, 16, 14, "sources[0].columns", "mapping");
	expect_error(&errs, 17, 9, "sources[0].id", "list");
	expect_error(&errs, 18, 5, "sources[1]", "match is required");
	expect_error(&errs, 20, 41, "calendars.cn.hours", "09:00-18:00");
	expect_error(&errs, 20, 74, "calendars.cn.holidays", "2026-02-30");
	expect_error(&errs, 22, 9, "outputs.both", "both exec and dir");
	expect_error(&errs, 23, 9, "outputs.none", "needs exec");
	expect_error(&errs, 24, 39, "outputs.slow.timeout", "duration");
	expect_error(&errs, 25, 1, "colour", "unknown key");
	expect_error(&errs, 26, 1, "durability", "duplicate key");
	if (errs.n != 20) {
		dump(&errs);
		fail_msg("%zu errors, want 20", errs.n);
	}
	/* Formatted as the user sees it. */
	char line[800];
	tr_error_format(&errs.items[0], line, sizeof(line));
	assert_non_null(strstr(line, "/triaged.yaml:2:13: durability: "));

	/* What was valid still applied; what was not kept its default. */
	assert_string_equal(cfg.state_dir, "/srv/ok");
	assert_int_equal(cfg.durability, TR_DURABILITY_FULL);
	assert_int_equal(cfg.limits.rule_time_ms, 200);
	assert_int_equal(cfg.nsources, 2);
	tr_config_free(&cfg);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_syntax_errors(void **state)
{
	(void)state;
	static const struct {
		const char *text;
		int line;
		const char *part;
	} cases[] = {
		/* A key indented under a scalar. */
		{"state_dir: /x\nsocket: /y\n  rules_dir: /z\n", 3, "not allowed"},
		/* An unclosed flow sequence. */
		{"state_dir: /x\nsources: [a, b\nlog: {}\n", 3, "line 2"},
		/* A quote that never closes: reported where it opened too. */
		{"state_dir: /x\nsocket: \"/run/x\nrules_dir: /z\n", 4, "started at line 2"},
		/* A tab where indentation is expected. */
		{"spool:\n\tsettle_ms: 5\n", 2, "cannot start any token"},
		/* Invalid UTF-8 (a GBK byte in a UTF-8 file). */
		{"state_dir: /x\nsocket: /\xb5\xea\n", 2, "UTF-8"},
		/* A second document. */
		{"state_dir: /x\n---\nstate_dir: /y\n", 2, "one YAML document"},
		/* Aliases. */
		{"state_dir: &d /x\nrules_dir: *d\n", 2, "aliases"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tr_config cfg;
		struct tr_errors errs = {0};
		assert_int_equal(load_text(cases[i].text, &cfg, &errs), TR_EPARSE);
		if (errs.n != 1 || errs.items[0].line != cases[i].line ||
		    !strstr(errs.items[0].message, cases[i].part)) {
			dump(&errs);
			fail_msg("case %zu: want one error at line %d with \"%s\"", i, cases[i].line, cases[i].part);
		}
		assert_true(errs.items[0].column > 0);
		/* A file that does not parse leaves the defaults. */
		assert_string_equal(cfg.state_dir, "/var/lib/triaged");
		tr_config_free(&cfg);
		tr_errors_free(&errs);
	}

	/* Not a mapping, a NUL in a value, nesting without end. */
	struct tr_config cfg;
	struct tr_errors errs = {0};
	assert_int_equal(load_text("- a\n- b\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 1, "", "must be a mapping");
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	assert_int_equal(load_text("rules_dir: \"/etc/a\\0b\"\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 12, "", "NUL");
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	char deep[256] = "log: ";
	for (int i = 0; i < 40; i++)
		strcat(deep, "[");
	for (int i = 0; i < 40; i++)
		strcat(deep, "]");
	strcat(deep, "\n");
	assert_int_equal(load_text(deep, &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 0, "", "nested");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_unknown_keys(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	assert_int_equal(load_text("durability: normal\n"
				   "state-dir: /x\n"
				   "limits:\n"
				   "  rule_time: 5\n"
				   "sources:\n"
				   "  - match: \"*.csv\"\n"
				   "    encodng: gbk\n"
				   "calendars:\n"
				   "  c: { hours: \"Mon 09:00-10:00\", zone: UTC }\n"
				   "outputs:\n"
				   "  o: { dir: /x, exec_argv: [a] }\n",
				   &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 1, "state-dir", "unknown key");
	expect_error(&errs, 2, 1, "state-dir", "state_dir");  /* the known keys are listed */
	expect_error(&errs, 4, 3, "limits.rule_time", "unknown key");
	expect_error(&errs, 7, 5, "sources[0].encodng", "unknown key");
	expect_error(&errs, 9, 34, "calendars.c.zone", "unknown key");
	expect_error(&errs, 11, 17, "outputs.o.exec_argv", "unknown key");
	assert_int_equal(errs.n, 5);
	assert_int_equal(cfg.durability, TR_DURABILITY_NORMAL);
	assert_string_equal(cfg.sources[0].encoding, "utf-8");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_unreadable(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	char path[PATH_MAX + 32];
	snprintf(path, sizeof(path), "%s/missing.yaml", tmp);
	assert_int_equal(tr_config_load(path, &cfg, &errs), -ENOENT);
	assert_int_equal(errs.n, 1);
	assert_string_equal(errs.items[0].file, path);
	assert_non_null(strstr(errs.items[0].message, "cannot read"));
	expect_defaults(&cfg);
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	assert_int_equal(tr_config_load(tmp, &cfg, &errs), -EISDIR);
	assert_int_equal(errs.n, 1);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_relative_paths(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	const char *path = write_yaml("sub/c.yaml",
				      "state_dir: st\n"
				      "socket: ./run//t.sock\n"
				      "rules_dir: ../rules/\n"
				      "spool: { dir: sp/ }\n"
				      "outputs: { o: { dir: out/./x } }\n");
	char want[PATH_MAX + 64];
	for (int pass = 0; pass < 2; pass++) {
		char cwd[PATH_MAX];
		assert_non_null(getcwd(cwd, sizeof(cwd)));
		int rc;
		if (pass == 0) {
			rc = tr_config_load(path, &cfg, &errs);
		} else {
			/* A relative config path gives the same absolute paths. */
			assert_int_equal(chdir(tmp), 0);
			rc = tr_config_load("sub/c.yaml", &cfg, &errs);
			assert_int_equal(chdir(cwd), 0);
		}
		if (rc != 0)
			dump(&errs);
		assert_int_equal(rc, 0);
		snprintf(want, sizeof(want), "%s/sub/c.yaml", tmp);
		assert_string_equal(cfg.path, want);
		snprintf(want, sizeof(want), "%s/sub/st", tmp);
		assert_string_equal(cfg.state_dir, want);
		snprintf(want, sizeof(want), "%s/sub/st/triaged.db", tmp);
		assert_string_equal(cfg.db_path, want);
		snprintf(want, sizeof(want), "%s/sub/run/t.sock", tmp);
		assert_string_equal(cfg.socket_path, want);
		snprintf(want, sizeof(want), "%s/sub/../rules", tmp);
		assert_string_equal(cfg.rules_dir, want);
		snprintf(want, sizeof(want), "%s/sub/sp", tmp);
		assert_string_equal(cfg.spool_dir, want);
		snprintf(want, sizeof(want), "%s/sub/out/x", tmp);
		assert_string_equal(cfg.outputs[0].dir, want);
		tr_config_free(&cfg);
	}

	/* The spool follows a state_dir set in the file; absolute paths are
	 * only tidied. */
	load_ok("state_dir: /srv//triaged/./\nrules_dir: /etc/triaged/rules.d/\n", &cfg);
	assert_string_equal(cfg.state_dir, "/srv/triaged");
	assert_string_equal(cfg.spool_dir, "/srv/triaged/spool");
	assert_string_equal(cfg.db_path, "/srv/triaged/triaged.db");
	assert_string_equal(cfg.rules_dir, "/etc/triaged/rules.d");
	tr_config_free(&cfg);
	load_ok("state_dir: /\n", &cfg);
	assert_string_equal(cfg.state_dir, "/");
	assert_string_equal(cfg.db_path, "/triaged.db");
	tr_config_free(&cfg);

	/* Empty paths are errors. */
	assert_int_equal(load_text("state_dir:\nsocket: \"\"\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 11, "state_dir", "needs a value");
	expect_error(&errs, 2, 9, "socket", "needs a value");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_sources(void **state)
{
	(void)state;
	struct tr_config cfg;
	load_ok("sources:\n"
		"  - match: \"a_*.csv\"\n"
		"    encoding: UTF8\n"
		"    format: jsonl\n"
		"    id: order_id\n"
		"    time_format: \"%d.%m.%Y %H:%M\"\n"
		"  - { match: \"*.csv\", encoding: cp932, format: yml, type: x_1.y2.z }\n"
		"  - { match: \"b_*\", encoding: GB18030, id: [a, b, c] }\n"
		"  - { match: \"c_*\", encoding: SJIS, columns: {} }\n",
		&cfg);
	assert_int_equal(cfg.nsources, 4);
	const struct tr_source *s = &cfg.sources[0];
	assert_int_equal(s->line, 2);
	assert_null(s->type);
	assert_string_equal(s->encoding, "utf-8");
	assert_string_equal(s->timezone, "UTC");
	assert_string_equal(s->format, "ndjson");
	assert_string_equal(s->time_format, "%d.%m.%Y %H:%M");
	assert_int_equal(s->nid_fields, 1);
	assert_string_equal(s->id_fields[0], "order_id");
	s = &cfg.sources[1];
	assert_string_equal(s->encoding, "shift_jis");
	assert_string_equal(s->format, "yaml");
	assert_string_equal(s->type, "x_1.y2.z");
	assert_int_equal(s->nid_fields, 0);
	assert_null(s->time_format);
	assert_string_equal(cfg.sources[2].encoding, "gb18030");
	assert_int_equal(cfg.sources[2].nid_fields, 3);
	assert_string_equal(cfg.sources[2].id_fields[2], "c");
	assert_string_equal(cfg.sources[3].encoding, "shift_jis");
	assert_int_equal(cfg.sources[3].ncolumns, 0);

	/* fnmatch on the base name; the first match wins. */
	assert_ptr_equal(tr_config_source_for(&cfg, "a_1.csv"), &cfg.sources[0]);
	assert_ptr_equal(tr_config_source_for(&cfg, "z.csv"), &cfg.sources[1]);
	assert_ptr_equal(tr_config_source_for(&cfg, "b_1.csv"), &cfg.sources[1]);
	assert_ptr_equal(tr_config_source_for(&cfg, "b_1.json"), &cfg.sources[2]);
	assert_null(tr_config_source_for(&cfg, "z.json"));
	tr_config_free(&cfg);

	/* Bad values, one error each. */
	static const struct {
		const char *yaml, *field, *part;
	} bad[] = {
		{"match: \"in/*.csv\"", "match", "base name"},
		{"match: \"\"", "match", "needs a value"},
		{"match: [a]", "match", "expected a string"},
		{"type: Feedback.new", "type", "dotted lowercase"},
		{"type: feedback.", "type", "dotted lowercase"},
		{"type: .new", "type", "dotted lowercase"},
		{"type: feedback..new", "type", "dotted lowercase"},
		{"type: 1x", "type", "dotted lowercase"},
		{"type: \"feedback new\"", "type", "dotted lowercase"},
		{"encoding: latin-1", "encoding", "utf-8, utf8, gbk"},
		{"encoding: shift-jis", "encoding", "supported encoding"},
		{"timezone: Asia/Nowhere", "timezone", "unknown time zone"},
		{"timezone: ../../etc/passwd", "timezone", "unknown time zone"},
		{"format: xml", "format", "file format"},
		{"time_format: dd.mm.yyyy", "time_format", "strptime"},
		{"columns: {a: [b]}", "columns", "column \"a\""},
		{"columns: {a: }", "columns", "field name"},
		{"columns: {a: x, a: y}", "columns.a", "duplicate"},
		{"id: [a, [b]]", "id", "item 2"},
		{"id: ", "id", "list of strings"},
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[256], field[64];
		bool has_match = strncmp(bad[i].yaml, "match:", 6) == 0;
		snprintf(text, sizeof(text), "sources:\n  - %s%s\n", has_match ? "" : "match: x\n    ",
			 bad[i].yaml);
		snprintf(field, sizeof(field), "sources[0].%s", bad[i].field);
		struct tr_errors errs = {0};
		assert_int_equal(load_text(text, &cfg, &errs), TR_EPARSE);
		expect_error(&errs, has_match ? 2 : 3, 0, field, bad[i].part);
		if (errs.n != 1) {
			dump(&errs);
			fail_msg("case %zu: %zu errors", i, errs.n);
		}
		tr_config_free(&cfg);
		tr_errors_free(&errs);
	}

	struct tr_errors errs = {0};
	assert_int_equal(load_text("sources: {match: x}\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 10, "sources", "list of sources");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
	assert_int_equal(load_text("sources:\n  - feedback_*.csv\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 5, "sources[0]", "expected a mapping");
	assert_null(tr_config_source_for(&cfg, "feedback_1.csv"));
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_calendar_hours(void **state)
{
	(void)state;
	static const char *good[] = {
		"Mon-Fri 09:00-18:00", "Mon-Fri 09:00-12:00,13:00-18:00",
		"Mon-Fri 09:00-18:00; Sat 10:00-14:00", "Mon-Fri 09:00-18:00;Sat-Sun 10:00-12:00",
		"Mon,Wed,Fri 09:00-17:00", "Mon-Wed,Fri 08:00-12:00", "Sun 00:00-24:00",
		"Mon 00:00-00:01", "Mon-Mon 09:00-10:00", "Mon-Fri  09:00-12:00,12:00-18:00",
		"Mon-Sun 00:00-24:00",
	};
	static const char *bad[] = {
		"Mon-Fri", "Mon-Fri 9:00-18:00", "mon-fri 09:00-18:00", "Monday 09:00-18:00",
		"Fri-Mon 09:00-18:00", "Mon-Fri 18:00-09:00", "Mon-Fri 09:00-09:00",
		"Mon-Fri 09:00-18:00,12:00-19:00", "Mon-Fri 13:00-18:00,09:00-12:00",
		"Mon-Fri 09:00-18:00; Fri 19:00-20:00", "Mon,Mon 09:00-10:00", "Mon-Fri 09:00-24:01",
		"Mon-Fri 24:00-24:00", "Mon-Fri 09:00-18:00;", "Mon-Fri 09:00-18:00 x",
		"Mon-Fri 09:60-18:00", "Mon-Fri 09:00 - 18:00", "Mon-Fri 09:00-18:00,", "Mon- 09:00-18:00",
		"Mon-Fri 25:00-26:00", "Mon-Fri 09:00", " ", "24x7", "Mon-Fri\t09:00-18:00",
		"Mon-Fri 22:00-06:00",
	};
	struct tr_config cfg;
	char text[256];
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(text, sizeof(text), "calendars:\n  c:\n    hours: \"%s\"\n", good[i]);
		struct tr_errors errs = {0};
		if (load_text(text, &cfg, &errs) != 0) {
			dump(&errs);
			fail_msg("\"%s\" rejected", good[i]);
		}
		assert_string_equal(cfg.calendars[0].hours, good[i]);
		assert_string_equal(cfg.calendars[0].timezone, "UTC");
		tr_config_free(&cfg);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(text, sizeof(text), "calendars:\n  c:\n    hours: \"%s\"\n", bad[i]);
		struct tr_errors errs = {0};
		if (load_text(text, &cfg, &errs) != TR_EPARSE || errs.n != 1 || errs.items[0].line != 3 ||
		    strcmp(errs.items[0].field, "calendars.c.hours") != 0) {
			dump(&errs);
			fail_msg("\"%s\" not rejected as expected", bad[i]);
		}
		tr_config_free(&cfg);
		tr_errors_free(&errs);
	}
}

static void test_calendar_dates(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	load_ok("calendars:\n"
		"  cn-support:\n"
		"    timezone: Asia/Shanghai\n"
		"    hours: \"Mon-Fri 09:00-18:00\"\n"
		"    holidays: [2026-10-01, 2026-10-02, 2024-02-29]\n"
		"    workdays: [2026-09-27, \"2026-10-10\"]\n"
		"  jp: { timezone: Asia/Tokyo, hours: \"Mon-Fri 10:00-19:00\", holidays: [] }\n",
		&cfg);
	assert_int_equal(cfg.ncalendars, 2);
	assert_int_equal(cfg.calendars[0].nholidays, 3);
	assert_string_equal(cfg.calendars[0].holidays[2], "2024-02-29");
	assert_int_equal(cfg.calendars[0].nworkdays, 2);
	assert_int_equal(cfg.calendars[0].line, 2);
	assert_string_equal(cfg.calendars[1].name, "jp");
	assert_int_equal(cfg.calendars[1].nholidays, 0);
	tr_config_free(&cfg);

	assert_int_equal(load_text("calendars:\n"
				   "  a:\n"
				   "    hours: \"Mon-Fri 09:00-18:00\"\n"
				   "    holidays:\n"
				   "      - 2026-02-29\n"
				   "      - 2026-13-01\n"
				   "      - 2026-1-1\n"
				   "      - 20261001\n"
				   "      - 2026-10-01 \n"
				   "    workdays: 2026-09-27\n"
				   "  b: { hours: \"Mon 09:00-10:00\", holidays: [2026-10-01], workdays: [2026-10-01] }\n"
				   "  c: { timezone: Asia/Shanghai }\n"
				   "  24x7: { hours: \"Mon 09:00-10:00\" }\n"
				   "  d: Mon-Fri\n",
				   &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 5, 9, "calendars.a.holidays", "2026-02-29");
	expect_error(&errs, 6, 9, "calendars.a.holidays", "2026-13-01");
	expect_error(&errs, 7, 9, "calendars.a.holidays", "2026-1-1");
	expect_error(&errs, 8, 9, "calendars.a.holidays", "20261001");
	expect_error(&errs, 10, 15, "calendars.a.workdays", "list of dates");
	expect_error(&errs, 11, 0, "calendars.b", "both a holiday and a workday");
	expect_error(&errs, 12, 6, "calendars.c", "hours is required");
	expect_error(&errs, 13, 3, "calendars.24x7", "built in");
	expect_error(&errs, 14, 6, "calendars.d", "expected a mapping");
	assert_int_equal(errs.n, 9);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_outputs(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	load_ok("outputs:\n"
		"  lead: { exec: [/usr/local/bin/notify-lead, \"{ticket.id}\", \"\"], timeout: 1m30s }\n"
		"  erp:  { dir: /var/lib/triaged/spool/outbox }\n"
		"  fast:\n"
		"    exec:\n"
		"      - /bin/true\n",
		&cfg);
	assert_int_equal(cfg.noutputs, 3);
	const struct tr_output *o = &cfg.outputs[0];
	assert_string_equal(o->name, "lead");
	assert_int_equal(o->nexec_argv, 3);
	assert_string_equal(o->exec_argv[0], "/usr/local/bin/notify-lead");
	assert_string_equal(o->exec_argv[1], "{ticket.id}");
	assert_string_equal(o->exec_argv[2], "");
	assert_null(o->exec_argv[3]);
	assert_null(o->dir);
	assert_int_equal(o->timeout_ms, 90000);
	assert_int_equal(o->line, 2);
	o = &cfg.outputs[1];
	assert_null(o->exec_argv);
	assert_string_equal(o->dir, "/var/lib/triaged/spool/outbox");
	assert_int_equal(o->timeout_ms, 10000);
	assert_int_equal(cfg.outputs[2].nexec_argv, 1);
	assert_int_equal(cfg.outputs[2].timeout_ms, 10000);
	tr_config_free(&cfg);

	assert_int_equal(load_text("outputs:\n"
				   "  a: { exec: /bin/true }\n"
				   "  b: { exec: [] }\n"
				   "  c: { exec: [\"\", x] }\n"
				   "  d: { dir: /x, timeout: 5s }\n"
				   "  e: { exec: [/bin/true], timeout: 0s }\n"
				   "  f: { exec: [/bin/true], timeout: 9999999s }\n"
				   "  g: /bin/true\n"
				   "  h: { dir: [x] }\n",
				   &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 14, "outputs.a.exec", "expected a list");
	expect_error(&errs, 3, 14, "outputs.b.exec", "must not be empty");
	expect_error(&errs, 4, 15, "outputs.c.exec", "program name is empty");
	expect_error(&errs, 5, 26, "outputs.d", "exec outputs only");
	expect_error(&errs, 6, 36, "outputs.e.timeout", "between 1s");
	expect_error(&errs, 7, 36, "outputs.f.timeout", "between 1s");
	expect_error(&errs, 8, 6, "outputs.g", "expected a mapping");
	expect_error(&errs, 9, 13, "outputs.h.dir", "expected a string");
	assert_int_equal(errs.n, 8);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

/* An output's delivery keys (issue 20): attempts and max_age park a
 * delivery that keeps failing, group_wait sends what gathers as one
 * digest; defaults 10 tries, 24h, no grouping; a bad value names its key
 * and line. */
static void test_output_delivery_keys(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	load_ok("outputs:\n"
		"  lead: { exec: [/bin/true], attempts: 3, max_age: 2h, group_wait: 30s }\n"
		"  erp: { dir: /x }\n"
		"  now: { dir: /y, group_wait: \"0\" }\n",
		&cfg);
	assert_int_equal(cfg.outputs[0].attempts, 3);
	assert_int_equal(cfg.outputs[0].max_age, 7200);
	assert_int_equal(cfg.outputs[0].group_wait, 30);
	assert_int_equal(cfg.outputs[1].attempts, 10);
	assert_int_equal(cfg.outputs[1].max_age, 86400);
	assert_int_equal(cfg.outputs[1].group_wait, 0);
	assert_int_equal(cfg.outputs[2].group_wait, 0);
	tr_config_free(&cfg);

	assert_int_equal(load_text("outputs:\n"
				   "  a: { dir: /x, attempts: 0 }\n"
				   "  b: { dir: /x, attempts: three }\n"
				   "  c: { dir: /x, attempts: 1001 }\n"
				   "  d: { dir: /x, max_age: soon }\n"
				   "  e: { dir: /x, max_age: 0s }\n"
				   "  f: { dir: /x, group_wait: 2h }\n"
				   "  g: { dir: /x, group_wait: [1s] }\n"
				   "  h: { dir: /x, grouping: 1s }\n",
				   &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 27, "outputs.a.attempts", "whole number from 1 to 1000");
	expect_error(&errs, 3, 27, "outputs.b.attempts", "whole number from 1 to 1000");
	expect_error(&errs, 4, 27, "outputs.c.attempts", "whole number from 1 to 1000");
	expect_error(&errs, 5, 26, "outputs.d.max_age", "not a duration");
	expect_error(&errs, 6, 26, "outputs.e.max_age", "between 1s and 365d");
	expect_error(&errs, 7, 29, "outputs.f.group_wait", "between 0s and 1h");
	expect_error(&errs, 8, 29, "outputs.g.group_wait", "expected a string");
	expect_error(&errs, 9, 17, "outputs.h.grouping", "unknown key");
	assert_int_equal(errs.n, 8);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

/* params: scalars kept as written for rules' param(); anything else is an
 * error at its line. */
static void test_params(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	load_ok("params:\n  cases.max_per_day: 12\n  team: \"cn-support\"\n  strict: true\n", &cfg);
	assert_string_equal(tr_config_param(&cfg, "cases.max_per_day"), "12");
	assert_string_equal(tr_config_param(&cfg, "team"), "cn-support");
	assert_string_equal(tr_config_param(&cfg, "strict"), "true");
	assert_null(tr_config_param(&cfg, "absent"));
	assert_null(tr_config_param(NULL, "team"));
	tr_config_free(&cfg);

	assert_int_equal(load_text("params:\n  a: [1, 2]\n  b:\n  c: 1\n  c: 2\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 6, "params.a", "expected a number, a string or a boolean");
	expect_error(&errs, 3, 5, "params.b", "expected a number, a string or a boolean");
	expect_error(&errs, 5, 3, "params.c", "duplicate key");
	assert_int_equal(errs.n, 3);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
	assert_int_equal(load_text("params: 7\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 9, "params", "expected a mapping");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

static void test_limits_and_log(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	load_ok("durability: normal\n"
		"spool: { settle_ms: 250, rescan_ms: 60000 }\n"
		"limits:\n"
		"  rule_instructions: 5000\n"
		"  rule_memory_mb: 8\n"
		"  rule_time_ms: 50\n"
		"  event_bytes: 4096\n"
		"  request_bytes: 65536\n"
		"  max_clients: 4\n"
		"  max_pending_events: 100\n"
		"  wal_mb: 64\n"
		"  lua_state_mb: 16\n"
		"  rule_log_lines: 3\n"
		"  rule_timers: 7\n"
		"log: { level: debug }\n",
		&cfg);
	assert_int_equal(cfg.durability, TR_DURABILITY_NORMAL);
	assert_int_equal(cfg.settle_ms, 250);
	assert_int_equal(cfg.rescan_ms, 60000);
	assert_int_equal(cfg.limits.rule_instructions, 5000);
	assert_int_equal(cfg.limits.rule_memory_mb, 8);
	assert_int_equal(cfg.limits.rule_time_ms, 50);
	assert_int_equal(cfg.limits.event_bytes, 4096);
	assert_int_equal(cfg.limits.request_bytes, 65536);
	assert_int_equal(cfg.limits.max_clients, 4);
	assert_int_equal(cfg.limits.max_pending_events, 100);
	assert_int_equal(cfg.limits.wal_mb, 64);
	assert_int_equal(cfg.limits.lua_state_mb, 16);
	assert_int_equal(cfg.limits.rule_log_lines, 3);
	assert_int_equal(cfg.limits.rule_timers, 7);
	assert_int_equal(cfg.log_level, TR_LOG_DEBUG);
	tr_config_free(&cfg);

	load_ok("log: { level: warn }\n", &cfg);
	assert_int_equal(cfg.log_level, TR_LOG_WARNING);
	tr_config_free(&cfg);

	/* SPEC §1 tickets.ack_timeout: a duration, at least a second */
	load_ok("tickets: { ack_timeout: 90m }\n", &cfg);
	assert_int_equal(cfg.ack_timeout, 5400);
	tr_config_free(&cfg);
	assert_int_equal(load_text("tickets:\n  ack_timeout: soon\n  ack_tmeout: 4h\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 0, "tickets.ack_timeout", "not a duration");
	expect_error(&errs, 3, 0, "tickets.ack_tmeout", "");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
	errs = (struct tr_errors){0};

	assert_int_equal(load_text("limits:\n"
				   "  rule_instructions: 2147483648\n"
				   "  rule_memory_mb: 1048577\n"
				   "  rule_time_ms: 1.5\n"
				   "  event_bytes: 1e6\n"
				   "  request_bytes: +5\n"
				   "  max_clients: \n"
				   "  max_pending_events: [1]\n"
				   "spool: { settle_ms: 0x10, rescan_ms: -1 }\n"
				   "durability: [full]\n"
				   "log: { level: }\n"
				   "limits: {}\n",
				   &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 22, "limits.rule_instructions", "at most 2147483647");
	expect_error(&errs, 3, 19, "limits.rule_memory_mb", "at most 1048576");
	expect_error(&errs, 4, 17, "limits.rule_time_ms", "\"1.5\"");
	expect_error(&errs, 5, 16, "limits.event_bytes", "\"1e6\"");
	expect_error(&errs, 6, 18, "limits.request_bytes", "\"+5\"");
	expect_error(&errs, 7, 15, "limits.max_clients", "got nothing");
	expect_error(&errs, 8, 23, "limits.max_pending_events", "got a list");
	expect_error(&errs, 9, 21, "spool.settle_ms", "\"0x10\"");
	expect_error(&errs, 9, 38, "spool.rescan_ms", "\"-1\"");
	expect_error(&errs, 10, 13, "durability", "expected a string, got a list");
	expect_error(&errs, 11, 15, "log.level", "needs a value");
	expect_error(&errs, 12, 1, "limits", "duplicate key");
	assert_int_equal(errs.n, 12);
	expect_defaults(&cfg);
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	assert_int_equal(load_text("limits: 5\nlog: [info]\nspool: on\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 9, "limits", "expected a mapping, got a string");
	expect_error(&errs, 2, 6, "log", "got a list");
	expect_error(&errs, 3, 8, "spool", "expected a mapping");
	assert_int_equal(errs.n, 3);
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	assert_int_equal(load_text("limits: { wal_mb: 0 }\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 19, "limits.wal_mb", "must be positive");
	tr_config_free(&cfg);
	tr_errors_free(&errs);
	assert_int_equal(load_text("limits: { wal_mb: 65537 }\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 19, "limits.wal_mb", "at most 65536");
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	/* The whole Lua state has a floor: below it the rules could not load. */
	assert_int_equal(load_text("limits:\n"
				   "  lua_state_mb: 15\n"
				   "  rule_log_lines: 0\n"
				   "  rule_timers: 2147483648\n"
				   "  lua_state_mb: 1048577\n",
				   &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 17, "limits.lua_state_mb", "at least 16");
	expect_error(&errs, 3, 19, "limits.rule_log_lines", "must be positive");
	expect_error(&errs, 4, 16, "limits.rule_timers", "at most 2147483647");
	expect_error(&errs, 5, 3, "limits.lua_state_mb", "duplicate key");
	assert_int_equal(errs.n, 4);
	expect_defaults(&cfg);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
}

/* A socket path bind(2) cannot take is a config error naming the key and
 * the length, counted after a relative path is made absolute; the default
 * under a long $RUNTIME_DIRECTORY is checked too. */
static void test_socket_path_length(void **state)
{
	(void)state;
	struct tr_config cfg;
	struct tr_errors errs = {0};
	char path[200], text[300];
	memset(path, 'a', sizeof(path));
	path[0] = '/';
	path[107] = '\0';  /* 107 bytes and the NUL: sun_path's 108 exactly */
	snprintf(text, sizeof(text), "socket: %s\n", path);
	load_ok(text, &cfg);
	assert_string_equal(cfg.socket_path, path);
	tr_config_free(&cfg);

	path[107] = 'a';
	path[108] = '\0';
	snprintf(text, sizeof(text), "durability: full\nsocket: %s\n", path);
	assert_int_equal(load_text(text, &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 2, 9, "socket", "is 108 bytes; a Unix socket path holds at most 107");
	assert_int_equal(errs.n, 1);
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	/* Short as written, long once it starts at the config's folder. */
	size_t dir_len = strlen(tmp) + 1;
	assert_true(dir_len < 100);
	memset(path, 'b', 120 - dir_len);
	path[120 - dir_len] = '\0';
	snprintf(text, sizeof(text), "socket: %s\n", path);
	assert_int_equal(load_text(text, &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 1, 9, "socket", "is 120 bytes");
	assert_int_equal(errs.n, 1);
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	memset(path, 'c', 110);
	path[0] = '/';
	path[110] = '\0';
	setenv("RUNTIME_DIRECTORY", path, 1);
	assert_int_equal(load_text("durability: full\n", &cfg, &errs), TR_EPARSE);
	expect_error(&errs, 0, 0, "socket", "the default");
	expect_error(&errs, 0, 0, "socket", "is 123 bytes");
	assert_int_equal(errs.n, 1);
	tr_config_free(&cfg);
	tr_errors_free(&errs);
	/* A socket key in the file makes the default's length moot. */
	load_ok("socket: /run/t.sock\n", &cfg);
	tr_config_free(&cfg);
	unsetenv("RUNTIME_DIRECTORY");
}

/* Makes <tmp>/<rel> a file with text and mode (its folder must exist);
 * returns the path in a static buffer. */
static const char *put(const char *rel, const char *text, mode_t mode)
{
	static char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	assert_int_equal(chmod(path, mode), 0);
	return path;
}

static void folder(const char *rel, mode_t mode)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	mkdir(path, 0700);
	assert_int_equal(chmod(path, mode), 0);  /* mkdir's mode passes the umask */
}

/* errs holds exactly one error, for path, saying what is writable. */
static void expect_writable(struct tr_errors *errs, const char *rel, const char *what)
{
	char path[PATH_MAX + 64];
	snprintf(path, sizeof(path), "%s/%s", tmp, rel);
	if (errs->n != 1 || strcmp(errs->items[0].file, path) != 0 ||
	    strcmp(errs->items[0].field, "rules_dir") != 0 ||
	    !strstr(errs->items[0].message, what) ||
	    !strstr(errs->items[0].message, "writable by everyone")) {
		dump(errs);
		fail_msg("expected one error for %s (%s)", path, what);
	}
	tr_errors_free(errs);
}

/* Anyone who can write a rule runs code as the daemon: a rules folder,
 * rule file, lib/ folder or module that everyone may write is refused,
 * each named; group-writable is fine, and so are the files the daemon
 * never runs. */
static void test_rules_dir_writable(void **state)
{
	(void)state;
	struct tr_errors errs = {0};
	char rules[PATH_MAX + 64];
	snprintf(rules, sizeof(rules), "%s/up/rules.d", tmp);
	folder("up", 0755);
	folder("up/rules.d", 0775);
	folder("up/rules.d/lib", 0775);
	folder("up/rules.d/lib/deep", 0770);
	put("up/rules.d/a.lua", "rule { name = 'a', on = 'x', action = function() end }\n", 0664);
	put("up/rules.d/a.test.lua", "", 0666);   /* the daemon never loads tests */
	put("up/rules.d/.hidden.lua", "", 0666);  /* nor dot-files */
	put("up/rules.d/notes.txt", "", 0666);
	put("up/rules.d/lib/m.lua", "return {}\n", 0664);
	put("up/rules.d/lib/deep/n.lua", "return {}\n", 0660);
	assert_int_equal(tr_rules_dir_check(rules, &errs), 0);
	assert_int_equal(errs.n, 0);

	/* Each offender alone, then all at once. */
	folder("up/rules.d", 0777);
	assert_int_equal(tr_rules_dir_check(rules, &errs), TR_EPARSE);
	expect_writable(&errs, "up/rules.d", "the rules folder");
	folder("up/rules.d", 0775);
	put("up/rules.d/a.lua", "rule { name = 'a', on = 'x', action = function() end }\n", 0646);
	assert_int_equal(tr_rules_dir_check(rules, &errs), TR_EPARSE);
	expect_writable(&errs, "up/rules.d/a.lua", "mode 0646");
	put("up/rules.d/a.lua", "rule { name = 'a', on = 'x', action = function() end }\n", 0664);
	folder("up/rules.d/lib", 0777);
	assert_int_equal(tr_rules_dir_check(rules, &errs), TR_EPARSE);
	expect_writable(&errs, "up/rules.d/lib", "lib/ folder");
	folder("up/rules.d/lib", 0775);
	folder("up/rules.d/lib/deep", 0777);
	assert_int_equal(tr_rules_dir_check(rules, &errs), TR_EPARSE);
	expect_writable(&errs, "up/rules.d/lib/deep", "module folder");
	folder("up/rules.d/lib/deep", 0770);
	put("up/rules.d/lib/deep/n.lua", "return {}\n", 0666);
	assert_int_equal(tr_rules_dir_check(rules, &errs), TR_EPARSE);
	expect_writable(&errs, "up/rules.d/lib/deep/n.lua", "this module");
	put("up/rules.d/lib/deep/n.lua", "return {}\n", 0660);

	/* Whoever may rename the folder may swap in their own: a folder above
	 * counts, unless it is sticky like /tmp. */
	folder("up", 0777);
	assert_int_equal(tr_rules_dir_check(rules, &errs), TR_EPARSE);
	expect_writable(&errs, "up", "folder above the rules");
	folder("up", 01777);
	assert_int_equal(tr_rules_dir_check(rules, &errs), 0);
	assert_int_equal(errs.n, 0);

	/* The engine refuses such a folder (--check, start and reload all load
	 * through it), listing every offender. */
	folder("up/rules.d", 0777);
	put("up/rules.d/a.lua", "rule { name = 'a', on = 'x', action = function() end }\n", 0666);
	struct tr_config cfg;
	assert_int_equal(tr_config_defaults(&cfg), 0);
	struct tr_engine *e = NULL;
	assert_int_equal(tr_engine_load(rules, &cfg, &e, &errs), TR_EPARSE);
	assert_null(e);
	if (errs.n != 2)
		dump(&errs);
	assert_int_equal(errs.n, 2);
	tr_errors_free(&errs);
	folder("up/rules.d", 0755);
	put("up/rules.d/a.lua", "rule { name = 'a', on = 'x', action = function() end }\n", 0644);
	assert_int_equal(tr_engine_load(rules, &cfg, &e, &errs), 0);
	assert_non_null(e);
	tr_engine_free(e);
	tr_config_free(&cfg);
	tr_errors_free(&errs);

	/* A folder that is not there is the loader's to report. */
	snprintf(rules, sizeof(rules), "%s/missing", tmp);
	assert_int_equal(tr_rules_dir_check(rules, &errs), 0);
	assert_int_equal(errs.n, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_env_defaults),
		cmocka_unit_test(test_shipped_default_config),
		cmocka_unit_test(test_shipped_default_config_uncommented),
		cmocka_unit_test(test_demo_config),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_syntax_errors),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_relative_paths),
		cmocka_unit_test(test_sources),
		cmocka_unit_test(test_calendar_hours),
		cmocka_unit_test(test_calendar_dates),
		cmocka_unit_test(test_outputs),
		cmocka_unit_test(test_output_delivery_keys),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_socket_path_length),
		cmocka_unit_test(test_rules_dir_writable),
		cmocka_unit_test(test_limits_and_log),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
