/* Unit tests for notification delivery (include/tr_outputs.h, SPEC §5
 * notify) on a real store file and a real libuv loop in a mkdtemp folder:
 * a dir output writes <id, 12 digits>.json atomically (the payload, no temp
 * file left) into a folder it creates; an exec output gets the payload on
 * stdin and its placeholders substituted in argv (unknown ones kept, missing
 * values empty, no shell); a failing exec is retried with backoff, attempts
 * counted and last_error set, never marked delivered; a missing program is a
 * failure that says so; a slow exec is killed at its timeout and recorded;
 * no more than four children run at once; watch subscribers get the payload
 * once and the journal logs the message; a row whose output left the config
 * is kept and retried in an hour; a child still running at close finishes
 * and is recorded; more rows than one batch all go; and a restart delivers
 * only what was not delivered, rewriting (never duplicating) a dir file whose
 * row was not marked. Every test ends with uv_loop_close() == 0. The outbox
 * is read with sqlite3 directly, as an operator would. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>
#include "tr_config.h"
#include "tr_daemon.h"
#include "tr_ingest.h"
#include "tr_notify.h"
#include "tr_outputs.h"
#include "tr_store.h"
#include "tr_time.h"

struct fixture {
	char dir[64];
	char db[128];
	char outbox[128];     /* a dir output's folder (created by the output) */
	struct tr_daemon d;
	uv_loop_t loop;
	uv_timer_t ticker;    /* wakes UV_RUN_ONCE so the test can look */
	struct tr_outputs *o;
	char *watched[8];
	int nwatched;
};

/* ---- helpers ------------------------------------------------------------ */

static char *xstrdup(const char *s)
{
	char *p = strdup(s);
	assert_non_null(p);
	return p;
}

static struct tr_output *add_output(struct fixture *f, const char *name)
{
	struct tr_config *cfg = &f->d.cfg;
	struct tr_output *o = realloc(cfg->outputs, (cfg->noutputs + 1) * sizeof(*o));
	assert_non_null(o);
	cfg->outputs = o;
	o = &cfg->outputs[cfg->noutputs++];
	memset(o, 0, sizeof(*o));
	o->name = xstrdup(name);
	o->timeout_ms = 10000;
	return o;
}

static void add_dir_output(struct fixture *f, const char *name, const char *dir)
{
	add_output(f, name)->dir = xstrdup(dir);
}

/* argv: NULL-terminated. */
static void add_exec_output(struct fixture *f, const char *name, int timeout_ms, const char *const *argv)
{
	struct tr_output *o = add_output(f, name);
	size_t n = 0;
	while (argv[n])
		n++;
	o->exec_argv = calloc(n + 1, sizeof(char *));
	assert_non_null(o->exec_argv);
	for (size_t i = 0; i < n; i++)
		o->exec_argv[i] = xstrdup(argv[i]);
	o->nexec_argv = n;
	o->timeout_ms = timeout_ms;
}

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

/* Opens the store, the ingest and the loop, and starts the outputs. */
static void open_daemon(struct fixture *f)
{
	char err[256] = "";
	if (tr_store_open(f->db, TR_DURABILITY_NORMAL, &f->d.store, err, sizeof(err)) != 0)
		fail_msg("tr_store_open: %s", err);
	assert_int_equal(tr_ingest_open(&f->d.ingest, f->dir, f->d.store, NULL), 0);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->d.loop = &f->loop;
	uv_timer_init(&f->loop, &f->ticker);
	uv_timer_start(&f->ticker, on_tick, 20, 20);
	assert_int_equal(tr_outputs_start(&f->d, &f->o), 0);
}

/* The daemon's way out: close, run the loop dry, free; the loop closes clean. */
static void close_daemon(struct fixture *f)
{
	tr_outputs_close(f->o);
	uv_close((uv_handle_t *)&f->ticker, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	tr_outputs_free(f->o);
	f->o = NULL;
	assert_int_equal(uv_loop_close(&f->loop), 0);
	tr_ingest_close(&f->d.ingest);
	tr_store_close(f->d.store);
	f->d.store = NULL;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/test_outputs.XXXXXX");
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->db, sizeof(f->db), "%s/triaged.db", f->dir);
	snprintf(f->outbox, sizeof(f->outbox), "%s/spool/outbox", f->dir);
	if (tr_config_defaults(&f->d.cfg) != 0) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->d.store)
		close_daemon(f);
	for (int i = 0; i < f->nwatched; i++)
		free(f->watched[i]);
	tr_config_free(&f->d.cfg);
	nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* Queues one notification in its own transaction, as a rule would, and
 * pokes the outputs as the daemon's after-commit hook does. */
static void queue(struct fixture *f, const char *output, int64_t ticket_id, const char *message)
{
	char err[256] = "";
	assert_int_equal(tr_txn_begin(&f->d.ingest.txn), 0);
	if (tr_notify(f->d.store, &f->d.cfg, output, ticket_id, message, "message.new", "m-1", "rule:test",
		      tr_time_now(), err, sizeof(err)) != 0)
		fail_msg("tr_notify: %s", err);
	assert_int_equal(tr_txn_commit(&f->d.ingest.txn), 0);
	if (f->o)
		tr_outputs_poke(f->o);
}

static int64_t add_ticket(struct fixture *f)
{
	struct tr_ticket t = {
		.key = "feedback:123-456", .title = "2-star feedback on 123-456", .queue = "customer-care",
		.priority = "high", .state = "open", .account = "acme-us",
		.due_at = 1795507200, /* 2026-11-24T08:00:00Z */
	};
	assert_int_equal(tr_txn_begin(&f->d.ingest.txn), 0);
	assert_int_equal(tr_store_ticket_insert(f->d.store, &t, tr_time_now()), 0);
	assert_int_equal(tr_txn_commit(&f->d.ingest.txn), 0);
	return t.id;
}

/* One integer from a side connection. */
static int64_t side_int(const struct fixture *f, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	int64_t v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* One text (malloc'd, "" for NULL) from a side connection. */
static char *side_text(const struct fixture *f, const char *fmt, ...)
{
	char sql[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(sql, sizeof(sql), fmt, ap);
	va_end(ap);
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	const unsigned char *v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
	char *out = xstrdup(v ? (const char *)v : "");
	sqlite3_finalize(st);
	sqlite3_close(db);
	return out;
}

static void side_exec(const struct fixture *f, const char *sql)
{
	sqlite3 *db;
	assert_int_equal(sqlite3_open_v2(f->db, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	char *err = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK)
		fail_msg("%s: %s", sql, err);
	sqlite3_close(db);
}

/* Runs the loop until sql (a count) reaches want, for at most ms. */
static int64_t run_until(struct fixture *f, const char *sql, int64_t want, uint64_t ms)
{
	uint64_t deadline = tr_mono_ms() + ms;
	int64_t v;
	while ((v = side_int(f, sql)) < want && tr_mono_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
	return v;
}

static void run_for(struct fixture *f, uint64_t ms)
{
	uint64_t deadline = tr_mono_ms() + ms;
	while (tr_mono_ms() < deadline)
		uv_run(&f->loop, UV_RUN_ONCE);
}

/* A whole file (malloc'd), or NULL when it cannot be read. */
static char *slurp(const char *path)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return NULL;
	char *buf = calloc(1, 1 << 16);
	assert_non_null(buf);
	size_t n = fread(buf, 1, (1 << 16) - 1, fp);
	buf[n] = 0;
	fclose(fp);
	return buf;
}

static char *slurpf(const char *fmt, ...)
{
	char path[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return slurp(path);
}

/* Entries of a folder: all, and those whose name starts with '.'. */
static int count_entries(const char *dir, int *dotfiles)
{
	DIR *dp = opendir(dir);
	assert_non_null(dp);
	int n = 0;
	*dotfiles = 0;
	struct dirent *e;
	while ((e = readdir(dp))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		if (e->d_name[0] == '.')
			(*dotfiles)++;
		n++;
	}
	closedir(dp);
	return n;
}

static void assert_file_is_payload(struct fixture *f, const char *dir, int64_t id)
{
	char *payload = side_text(f, "SELECT payload FROM outbox WHERE id = %lld", (long long)id);
	char *file = slurpf("%s/%012lld.json", dir, (long long)id);
	if (!file)
		fail_msg("%s/%012lld.json is missing", dir, (long long)id);
	size_t n = strlen(payload);
	assert_true(n > 0);
	assert_int_equal(strlen(file), n + 1);
	assert_memory_equal(file, payload, n);
	assert_int_equal(file[n], '\n');
	free(payload);
	free(file);
}

#define DELIVERED "SELECT count(*) FROM outbox WHERE delivered_at IS NOT NULL"

/* ---- tests -------------------------------------------------------------- */

static void test_dir_output(void **state)
{
	struct fixture *f = *state;
	add_dir_output(f, "erp", f->outbox);
	open_daemon(f);
	int64_t ticket = add_ticket(f);
	queue(f, "erp", ticket, "first");
	queue(f, "erp", 0, "second");
	queue(f, "erp", ticket, "third");
	assert_int_equal(run_until(f, DELIVERED, 3, 5000), 3);

	for (int64_t id = 1; id <= 3; id++)
		assert_file_is_payload(f, f->outbox, id);
	int dot;
	assert_int_equal(count_entries(f->outbox, &dot), 3);
	assert_int_equal(dot, 0);
	char *file = slurpf("%s/000000000001.json", f->outbox);
	assert_non_null(strstr(file, "\"note\":\"first\"")); /* the rule's words; "message" adds the ticket */
	assert_non_null(strstr(file, "\"key\":\"feedback:123-456\""));
	free(file);
	assert_int_equal(side_int(f, "SELECT count(*) FROM outbox WHERE attempts = 1 AND last_error IS NULL"), 3);
	close_daemon(f);
}

static void test_exec_output(void **state)
{
	struct fixture *f = *state;
	/* $0 is the folder, $1 the outbox id; the rest are written one per line */
	const char *const argv[] = {
		"/bin/sh", "-c", "cat > \"$0/$1.json\" && shift && printf '%s\\n' \"$@\" > \"$0/$1.args\"",
		f->dir, "{id}", "{id}", "{ticket.id}", "{ticket.key}", "{ticket.title}", "{ticket.priority}",
		"{ticket.account}", "{ticket.due_at}", "{message}", "{output}", "{event.type}", "{event.id}",
		"{nope} {ticket.nope}", "x{{id}}y", "{ticket.id", "#{ticket.priority}#{output}#", NULL};
	add_exec_output(f, "lead", 5000, argv);
	open_daemon(f);
	int64_t ticket = add_ticket(f);
	queue(f, "lead", ticket, "it's \"urgent\"; $(rm -rf /) *");
	queue(f, "lead", 0, "no ticket");
	assert_int_equal(run_until(f, DELIVERED, 2, 5000), 2);

	/* the payload reached stdin */
	char *payload = side_text(f, "SELECT payload FROM outbox WHERE id = 1");
	char *in = slurpf("%s/1.json", f->dir);
	assert_non_null(in);
	assert_string_equal(in, payload);
	free(in);
	free(payload);

	char *args = slurpf("%s/1.args", f->dir);
	assert_non_null(args);
	/* {message} is the whole line the daemon makes of a ticket's
	 * notification (notify_text.c): the ticket, then the rule's words;
	 * its "overdue by" depends on today, so it is checked by its ends */
	char head[512], tail[512];
	snprintf(head, sizeof(head),
		 "1\n%lld\nfeedback:123-456\n2-star feedback on 123-456\nhigh\nacme-us\n"
		 "2026-11-24T08:00:00Z\n[high] 2-star feedback on 123-456 — acme-us — due Tue 24 Nov 08:00 UTC (",
		 (long long)ticket);
	snprintf(tail, sizeof(tail), "— it's \"urgent\"; $(rm -rf /) *\nlead\nmessage.new\nm-1\n"
				     "{nope} {ticket.nope}\nx{1}y\n{ticket.id\n#high#lead#\n");
	assert_memory_equal(args, head, strlen(head));
	char *rest = strstr(args + strlen(head), ") — ");
	assert_non_null(rest);
	assert_string_equal(rest + 2, tail);
	free(args);

	/* no ticket: its placeholders are empty */
	args = slurpf("%s/2.args", f->dir);
	assert_non_null(args);
	assert_string_equal(args, "2\n\n\n\n\n\n\nno ticket\nlead\nmessage.new\nm-1\n"
				  "{nope} {ticket.nope}\nx{2}y\n{ticket.id\n##lead#\n");
	free(args);
	assert_int_equal(side_int(f, "SELECT count(*) FROM outbox WHERE attempts = 1 AND last_error IS NULL"), 2);
	close_daemon(f);
}

static void test_exec_failure_retried(void **state)
{
	struct fixture *f = *state;
	const char *const fails[] = {"/bin/false", NULL};
	const char *const missing[] = {"/nonexistent/notify-lead", "{ticket.id}", NULL};
	add_exec_output(f, "lead", 5000, fails);
	add_exec_output(f, "pager", 5000, missing);
	open_daemon(f);
	queue(f, "lead", 0, "will fail");
	queue(f, "pager", 0, "cannot run");

	/* first attempt at once, the second about 1 s later (2^0 s backoff) */
	assert_int_equal(run_until(f, "SELECT min(attempts) FROM outbox", 2, 6000), 2);
	int64_t now = tr_time_now();
	char *err = side_text(f, "SELECT last_error FROM outbox WHERE id = 1");
	assert_string_equal(err, "exit status 1");
	free(err);
	err = side_text(f, "SELECT last_error FROM outbox WHERE id = 2");
	assert_non_null(strstr(err, "No such file or directory"));
	assert_non_null(strstr(err, "/nonexistent/notify-lead"));
	free(err);
	assert_int_equal(side_int(f, DELIVERED), 0);
	/* the next try is in the future: 2^attempts s after the last one */
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM outbox WHERE next_at > %lld", (long long)now);
	assert_int_equal(side_int(f, sql), 2);
	assert_true(side_int(f, "SELECT max(next_at - created_at) FROM outbox") <= 1 + 2 + 4 + 1);
	close_daemon(f);
	/* never dropped: still there, still undelivered */
	assert_int_equal(side_int(f, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL"), 2);
}

static void test_exec_timeout(void **state)
{
	struct fixture *f = *state;
	const char *const slow[] = {"/bin/sleep", "5", NULL};
	add_exec_output(f, "slow", 200, slow);
	open_daemon(f);
	uint64_t t0 = tr_mono_ms();
	queue(f, "slow", 0, "too slow");
	assert_int_equal(run_until(f, "SELECT attempts FROM outbox WHERE id = 1", 1, 4000), 1);
	assert_true(tr_mono_ms() - t0 < 2000); /* killed, not waited for */
	char *err = side_text(f, "SELECT last_error FROM outbox WHERE id = 1");
	assert_string_equal(err, "timed out after 200 ms");
	free(err);
	assert_int_equal(side_int(f, DELIVERED), 0);
	close_daemon(f);
}

static void on_watch(void *ud, const char *json)
{
	struct fixture *f = ud;
	assert_true(f->nwatched < 8);
	f->watched[f->nwatched++] = xstrdup(json);
}

static void test_watch_and_journal(void **state)
{
	struct fixture *f = *state;
	open_daemon(f);
	tr_outputs_set_watch(f->o, on_watch, f);

	/* the journal line goes to stderr: catch it in a file */
	char logpath[128];
	snprintf(logpath, sizeof(logpath), "%s/stderr", f->dir);
	fflush(stderr);
	int saved = dup(STDERR_FILENO);
	int fd = open(logpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, STDERR_FILENO);
	close(fd);
	queue(f, "watch", 0, "to the watchers");
	queue(f, "journal", 0, "to the journal");
	int64_t got = run_until(f, DELIVERED, 2, 5000);
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(got, 2);

	assert_int_equal(f->nwatched, 1);
	char *payload = side_text(f, "SELECT payload FROM outbox WHERE id = 1");
	assert_string_equal(f->watched[0], payload);
	assert_non_null(strstr(payload, "\"output\":\"watch\""));
	free(payload);
	char *log = slurp(logpath);
	assert_non_null(log);
	assert_non_null(strstr(log, "notify journal: to the journal"));
	free(log);

	/* no watcher set: delivered all the same (a live stream), at most once */
	tr_outputs_set_watch(f->o, NULL, NULL);
	queue(f, "watch", 0, "nobody listens");
	assert_int_equal(run_until(f, DELIVERED, 3, 5000), 3);
	run_for(f, 100);
	assert_int_equal(f->nwatched, 1);
	close_daemon(f);
}

static void test_output_no_longer_configured(void **state)
{
	struct fixture *f = *state;
	open_daemon(f);
	int64_t now = tr_time_now();
	/* queued while "gone" was configured; the config has changed since */
	assert_int_equal(tr_txn_begin(&f->d.ingest.txn), 0);
	assert_int_equal(tr_store_outbox_add(f->d.store, "gone", "{\"output\":\"gone\",\"message\":\"m\"}", now), 0);
	assert_int_equal(tr_txn_commit(&f->d.ingest.txn), 0);
	tr_outputs_poke(f->o);
	assert_int_equal(run_until(f, "SELECT attempts FROM outbox", 1, 3000), 1);
	char *err = side_text(f, "SELECT last_error FROM outbox");
	assert_string_equal(err, "output gone is no longer configured");
	free(err);
	char sql[128];
	snprintf(sql, sizeof(sql), "SELECT next_at - %lld FROM outbox", (long long)now);
	assert_true(side_int(f, sql) >= 3600);
	assert_int_equal(side_int(f, DELIVERED), 0);
	close_daemon(f);
}

static void test_at_most_four_children(void **state)
{
	struct fixture *f = *state;
	/* each child notes how many are running (itself included) */
	const char *const argv[] = {
		"/bin/sh", "-c",
		"mkdir \"$0/run.$1\" && ls -d \"$0\"/run.* | wc -l >> \"$0/concurrency\" && sleep 0.2; "
		"rmdir \"$0/run.$1\"",
		f->dir, "{id}", NULL};
	add_exec_output(f, "lead", 5000, argv);
	open_daemon(f);
	for (int i = 0; i < 10; i++)
		queue(f, "lead", 0, "busy");
	assert_int_equal(run_until(f, DELIVERED, 10, 10000), 10);
	char *lines = slurpf("%s/concurrency", f->dir);
	assert_non_null(lines);
	int max = 0, n = 0;
	for (char *p = lines; *p;) {
		int v = atoi(p);
		max = v > max ? v : max;
		n++;
		p = strchr(p, '\n');
		if (!p)
			break;
		p++;
	}
	free(lines);
	assert_int_equal(n, 10);
	assert_true(max >= 2 && max <= 4); /* in parallel, four at most */
	close_daemon(f);
}

static void test_more_than_a_batch(void **state)
{
	struct fixture *f = *state;
	add_dir_output(f, "erp", f->outbox);
	open_daemon(f);
	assert_int_equal(tr_txn_begin(&f->d.ingest.txn), 0);
	char err[256];
	for (int i = 0; i < 150; i++)
		assert_int_equal(tr_notify(f->d.store, &f->d.cfg, i % 2 ? "erp" : "journal", 0, "bulk", NULL, NULL,
					   "timer", tr_time_now(), err, sizeof(err)), 0);
	assert_int_equal(tr_txn_commit(&f->d.ingest.txn), 0);
	tr_outputs_poke(f->o);
	assert_int_equal(run_until(f, DELIVERED, 150, 10000), 150);
	int dot;
	assert_int_equal(count_entries(f->outbox, &dot), 75);
	assert_int_equal(dot, 0);
	close_daemon(f);
}

/* SPEC §8 drain: a child running at close finishes and is recorded. */
static void test_close_drains_child(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {"/bin/sh", "-c", "sleep 0.5; cat > \"$0/$1.json\"", f->dir, "{id}", NULL};
	add_exec_output(f, "lead", 5000, argv);
	open_daemon(f);
	queue(f, "lead", 0, "finish me");
	run_for(f, 150); /* started, not finished */
	assert_int_equal(side_int(f, DELIVERED), 0);
	close_daemon(f);
	assert_int_equal(side_int(f, DELIVERED), 1);
	char *in = slurpf("%s/1.json", f->dir);
	assert_non_null(in);
	free(in);
}

/* A child that would outlive the drain is killed at close; its row stays
 * pending and unattempted, to run again on the next start. */
static void test_close_kills_long_child(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {"/bin/sleep", "30", NULL};
	add_exec_output(f, "lead", 60000, argv);
	open_daemon(f);
	queue(f, "lead", 0, "too long for shutdown");
	run_for(f, 100);
	uint64_t t0 = tr_mono_ms();
	close_daemon(f);
	assert_true(tr_mono_ms() - t0 < 6000);
	assert_int_equal(side_int(f, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND attempts = 0"), 1);
}

static void test_restart_delivers_only_undelivered(void **state)
{
	struct fixture *f = *state;
	/* each exec delivery appends its id to a log */
	const char *const argv[] = {"/bin/sh", "-c", "echo \"$1\" >> \"$0/exec.log\"", f->dir, "{id}", NULL};
	add_dir_output(f, "erp", f->outbox);
	add_exec_output(f, "lead", 5000, argv);
	open_daemon(f);
	queue(f, "erp", 0, "d1");   /* 1 */
	queue(f, "lead", 0, "e1");  /* 2 */
	queue(f, "erp", 0, "d2");   /* 3 */
	queue(f, "lead", 0, "e2");  /* 4 */
	assert_int_equal(run_until(f, DELIVERED, 4, 5000), 4);
	close_daemon(f);

	/* while down: more rows are committed, and row 1 looks as if the
	 * daemon died after writing its file but before marking it */
	char err[256] = "";
	assert_int_equal(tr_store_open(f->db, TR_DURABILITY_NORMAL, &f->d.store, err, sizeof(err)), 0);
	assert_int_equal(tr_ingest_open(&f->d.ingest, f->dir, f->d.store, NULL), 0);
	queue(f, "erp", 0, "d3");   /* 5 */
	queue(f, "lead", 0, "e3");  /* 6 */
	tr_ingest_close(&f->d.ingest);
	tr_store_close(f->d.store);
	f->d.store = NULL;
	side_exec(f, "UPDATE outbox SET delivered_at = NULL WHERE id = 1");
	assert_int_equal(side_int(f, DELIVERED), 3);

	open_daemon(f);
	assert_int_equal(run_until(f, DELIVERED, 6, 5000), 6);
	run_for(f, 200);
	char *log = slurpf("%s/exec.log", f->dir);
	assert_non_null(log);
	assert_string_equal(log, "2\n4\n6\n"); /* each exec row once */
	free(log);
	int dot;
	assert_int_equal(count_entries(f->outbox, &dot), 3); /* row 1 rewritten, not duplicated */
	assert_int_equal(dot, 0);
	assert_file_is_payload(f, f->outbox, 1);
	assert_file_is_payload(f, f->outbox, 5);
	assert_int_equal(side_int(f, "SELECT attempts FROM outbox WHERE id = 1"), 2);
	assert_int_equal(side_int(f, "SELECT max(attempts) FROM outbox WHERE id <> 1"), 1);
	close_daemon(f);
}

/* A commit that fails (the database is locked by someone else for longer
 * than the store's busy timeout) loses nothing: it is logged, the rows stay
 * pending and go on a later pass; the dir file is rewritten under the same
 * name and watchers hear nothing until the row is marked (at most once). */
static void test_commit_failure_retried(void **state)
{
	struct fixture *f = *state;
	add_dir_output(f, "erp", f->outbox);
	char err[256] = "";
	assert_int_equal(tr_store_open(f->db, TR_DURABILITY_NORMAL, &f->d.store, err, sizeof(err)), 0);
	assert_int_equal(tr_ingest_open(&f->d.ingest, f->dir, f->d.store, NULL), 0);
	queue(f, "erp", 0, "to the folder");
	queue(f, "watch", 0, "to the watchers");
	tr_ingest_close(&f->d.ingest);
	tr_store_close(f->d.store);
	f->d.store = NULL;

	open_daemon(f);
	tr_outputs_set_watch(f->o, on_watch, f);
	sqlite3 *locker;
	assert_int_equal(sqlite3_open_v2(f->db, &locker, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(locker, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	uv_run(&f->loop, UV_RUN_ONCE); /* the pass: delivers, then cannot record */
	assert_int_equal(side_int(f, DELIVERED), 0);
	assert_int_equal(f->nwatched, 0);
	assert_file_is_payload(f, f->outbox, 1);
	assert_int_equal(sqlite3_exec(locker, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(locker);

	assert_int_equal(run_until(f, DELIVERED, 2, 5000), 2);
	assert_int_equal(f->nwatched, 1);
	int dot;
	assert_int_equal(count_entries(f->outbox, &dot), 1);
	assert_int_equal(dot, 0);
	assert_file_is_payload(f, f->outbox, 1);
	close_daemon(f);
}

/* Free right after close, before the loop runs (a child still running):
 * the close callbacks arriving later free what is left; nothing leaks and
 * the loop closes clean. */
static void test_free_before_the_loop_runs(void **state)
{
	struct fixture *f = *state;
	const char *const argv[] = {"/bin/sleep", "30", NULL};
	add_exec_output(f, "lead", 60000, argv);
	open_daemon(f);
	queue(f, "lead", 0, "in flight");
	run_for(f, 100);
	tr_outputs_close(f->o);
	tr_outputs_free(f->o);
	f->o = NULL;
	uv_close((uv_handle_t *)&f->ticker, NULL);
	uint64_t t0 = tr_mono_ms();
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_true(tr_mono_ms() - t0 < 2000); /* killed at once */
	assert_int_equal(uv_loop_close(&f->loop), 0);
	tr_ingest_close(&f->d.ingest);
	tr_store_close(f->d.store);
	f->d.store = NULL;
	assert_int_equal(side_int(f, "SELECT count(*) FROM outbox WHERE delivered_at IS NULL AND attempts = 0"), 1);
}

static void test_free_without_start_is_safe(void **state)
{
	(void)state;
	tr_outputs_poke(NULL);
	tr_outputs_set_watch(NULL, NULL, NULL);
	tr_outputs_close(NULL);
	tr_outputs_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_dir_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_output, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_failure_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_exec_timeout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_watch_and_journal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_output_no_longer_configured, setup, teardown),
		cmocka_unit_test_setup_teardown(test_at_most_four_children, setup, teardown),
		cmocka_unit_test_setup_teardown(test_more_than_a_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_drains_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_kills_long_child, setup, teardown),
		cmocka_unit_test_setup_teardown(test_restart_delivers_only_undelivered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_failure_retried, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_before_the_loop_runs, setup, teardown),
		cmocka_unit_test(test_free_without_start_is_safe),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
