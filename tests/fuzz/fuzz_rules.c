/* Fuzz target for rules (tr_engine.h, the sandbox under it): each input is
 * the text of one rule file, loaded as the daemon loads a rules folder and,
 * when it loads, given two events, each stored and run through the rules in
 * a transaction of its own as live ingest does. What must hold, whatever the
 * rule says: no crash, leak or undefined behaviour; a load either succeeds
 * with nothing listed or fails with every problem naming the file and why;
 * every event keeps its outcome rows (an error row for each error the
 * dispatch counted, one row for each rule that ran, each error with its
 * message); no rule run outlasts limits.rule_time_ms by more than 100 ms;
 * and the database passes SQLite's integrity check. Budgets are small so
 * that the hostile seeds stop fast. Built with libFuzzer under clang, or with
 * replay_main.c under gcc. Not a test of what rules do: see
 * tests/unit/test_engine.c and rules/x.test.lua. */
#include <errno.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include <sqlite3.h>
#include "tr_config.h"
#include "tr_engine.h"
#include "tr_error.h"
#include "tr_event.h"
#include "tr_store.h"

#define NOW 1795500000        /* 2026-11-24T06:00:00Z */
#define TIME_MS 50            /* limits.rule_time_ms here */
#define SLACK_MS 100          /* what a run may take past its budget */
#define CHECK_EVERY 256       /* inputs between integrity checks (the database grows) */

static struct {
	char dir[64];
	char rules[96];
	char file[128];
	char db[128];
	struct tr_config cfg;
	struct tr_store *store;
	sqlite3 *reader;      /* a second connection: sees what was committed */
	sqlite3_stmt *outcomes;
	unsigned long inputs;
	unsigned long events;
} fx;

static void fail(const char *fmt, const char *detail)
{
	fprintf(stderr, "fuzz_rules: ");
	fprintf(stderr, fmt, detail);
	fprintf(stderr, "\n");
	abort();
}

static void integrity_check(void)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(fx.reader, "PRAGMA integrity_check", -1, &st, NULL) != SQLITE_OK)
		fail("cannot prepare the integrity check: %s", sqlite3_errmsg(fx.reader));
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *row = (const char *)sqlite3_column_text(st, 0);
		if (!row || strcmp(row, "ok") != 0)
			fail("integrity check: %s", row ? row : "(null)");
	}
	sqlite3_finalize(st);
}

static int remove_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(path);
}

static void finish(void)
{
	if (fx.reader) {
		integrity_check();
		sqlite3_finalize(fx.outcomes);
		sqlite3_close(fx.reader);
	}
	tr_store_close(fx.store);
	tr_config_free(&fx.cfg);
	nftw(fx.dir, remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
	snprintf(fx.dir, sizeof(fx.dir), "/tmp/fuzz_rules.XXXXXX");
	if (!mkdtemp(fx.dir))
		fail("mkdtemp: %s", strerror(errno));
	snprintf(fx.rules, sizeof(fx.rules), "%s/rules.d", fx.dir);
	snprintf(fx.file, sizeof(fx.file), "%s/fuzz.lua", fx.rules);
	snprintf(fx.db, sizeof(fx.db), "%s/triaged.db", fx.dir);
	char lib[128];
	snprintf(lib, sizeof(lib), "%s/lib", fx.rules);
	if (mkdir(fx.rules, 0700) || mkdir(lib, 0700))
		fail("mkdir: %s", strerror(errno));
	/* a module for the seeds that require one */
	FILE *m = fopen(strcat(lib, "/util.lua"), "w");
	if (!m || fputs("return { twice = function(x) return x * 2 end }\n", m) < 0 || fclose(m))
		fail("cannot write %s", lib);
	if (tr_config_defaults(&fx.cfg))
		fail("%s", "out of memory");
	fx.cfg.limits.rule_time_ms = TIME_MS;
	fx.cfg.limits.rule_memory_mb = 8;
	fx.cfg.limits.rule_instructions = 200000;
	fx.cfg.limits.lua_state_mb = 64;
	fx.cfg.limits.rule_log_lines = 5;
	fx.cfg.limits.rule_timers = 20;
	char err[256];
	if (tr_store_open(fx.db, TR_DURABILITY_NORMAL, &fx.store, err, sizeof(err)))
		fail("cannot open the store: %s", err);
	if (sqlite3_open_v2(fx.db, &fx.reader, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(fx.reader,
			       "SELECT count(*), coalesce(sum(status = 'error'), 0),"
			       " coalesce(sum(status = 'error' AND coalesce(error, '') = ''), 0),"
			       " coalesce(max(duration_us), 0) FROM outcomes WHERE event_seq = ?",
			       -1, &fx.outcomes, NULL) != SQLITE_OK)
		fail("cannot open the reader: %s", sqlite3_errmsg(fx.reader));
	atexit(finish);
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Stores one event of type and runs it through e in its own transaction,
 * then checks what was committed for it. */
static void dispatch(struct tr_engine *e, const char *type)
{
	char json[256], err[256];
	unsigned long n = ++fx.events;
	snprintf(json, sizeof(json),
		 "{\"type\":\"%s\",\"id\":\"f%lu\",\"account\":\"acme-us\",\"order_id\":\"111-%07lu\","
		 "\"rating\":%lu,\"subject\":\"Where is my order?\",\"tags\":[\"a\",\"b\"],\"n\":{\"k\":[1,2]}}",
		 type, n, n, n % 6);
	struct tr_event ev;
	if (tr_event_init(&ev, cJSON_Parse(json), NULL, "fuzz", NOW, err, sizeof(err)))
		fail("event rejected: %s", err);
	struct tr_dispatch d = {0};
	if (tr_store_begin(fx.store) || tr_store_event_insert(fx.store, &ev))
		fail("cannot store the event: %s", tr_store_errmsg(fx.store));
	uint64_t t0 = mono_ms();
	int rc = tr_engine_dispatch(e, fx.store, &ev, NOW + (int64_t)n, &d);
	uint64_t took = mono_ms() - t0;
	if (rc)
		fail("dispatch failed in the store: %s", tr_store_errmsg(fx.store));
	if (tr_store_commit(fx.store))
		fail("commit failed: %s", tr_store_errmsg(fx.store));
	/* Each rule runs its when and its action at most once per event. */
	uint64_t bound = (uint64_t)(2 * tr_engine_rule_count(e) + 1) * (TIME_MS + SLACK_MS);
	if (took > bound) {
		char msg[64];
		snprintf(msg, sizeof(msg), "%llu ms", (unsigned long long)took);
		fail("one dispatch took %s, past every budget", msg);
	}

	sqlite3_bind_int64(fx.outcomes, 1, ev.seq);
	if (sqlite3_step(fx.outcomes) != SQLITE_ROW)
		fail("cannot read the outcomes: %s", sqlite3_errmsg(fx.reader));
	int64_t rows = sqlite3_column_int64(fx.outcomes, 0), errors = sqlite3_column_int64(fx.outcomes, 1);
	int64_t silent = sqlite3_column_int64(fx.outcomes, 2), slowest = sqlite3_column_int64(fx.outcomes, 3);
	sqlite3_reset(fx.outcomes);
	char msg[160];
	snprintf(msg, sizeof(msg), "%lld rows, %lld errors; the dispatch counted %d matched, %d errors",
		 (long long)rows, (long long)errors, d.matched, d.errors);
	if (errors != d.errors || rows < d.matched || rows > (int64_t)d.matched + d.errors)
		fail("outcomes do not match the dispatch: %s", msg);
	if (silent)
		fail("an error outcome without its message: %s", msg);
	if (slowest > (int64_t)(TIME_MS + SLACK_MS) * 1000) {
		snprintf(msg, sizeof(msg), "%lld us", (long long)slowest);
		fail("a rule run took %s, past rule_time_ms + 100 ms", msg);
	}
	tr_event_free(&ev);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!fx.store)
		setup();
	FILE *f = fopen(fx.file, "wb");
	if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
		fail("cannot write %s", fx.file);

	struct tr_engine *e = NULL;
	struct tr_errors errs = {0};
	int rc = tr_engine_load(fx.rules, &fx.cfg, &e, &errs);
	if ((rc == 0) != (errs.n == 0) || (rc == 0) != (e != NULL))
		fail("%s", "a load must succeed with nothing listed, or fail with its problems and no engine");
	for (size_t i = 0; i < errs.n; i++)
		if (!errs.items[i].file[0] || !errs.items[i].message[0])
			fail("a load error without its file or reason: %s", errs.items[i].message);
	tr_errors_free(&errs);
	if (e) {
		dispatch(e, "fuzz.a");
		dispatch(e, "message.new");
		tr_engine_free(e);
	}
	if (tr_store_in_transaction(fx.store))
		fail("%s", "a transaction was left open");
	if (++fx.inputs % CHECK_EVERY == 0) {
		integrity_check();
		/* The daemon checkpoints the WAL from outside the store; so does this. */
		if (tr_store_checkpoint_now(fx.store))
			fail("checkpoint failed: %s", tr_store_errmsg(fx.store));
	}
	return 0;
}
