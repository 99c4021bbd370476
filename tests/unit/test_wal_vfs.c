/* Unit tests for the WAL-append VFS (daemon/wal_vfs.c): what a commit
 * wrote is seen by a connection on the default VFS the moment the commit
 * returns, survives a SIGKILL right after it, stays whole through spills
 * and savepoint rollbacks, and a write the kernel refuses fails the commit
 * instead of vanishing. And the appends really are gathered. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <sqlite3.h>
#include "tr_wal_vfs.h"

struct fixture {
	char dir[64];
	char db[128];
};

static int setup(void **state)
{
	static struct fixture f;
	snprintf(f.dir, sizeof(f.dir), "/tmp/tr-walvfs-XXXXXX");
	assert_non_null(mkdtemp(f.dir));
	snprintf(f.db, sizeof(f.db), "%s/t.db", f.dir);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	assert_int_equal(system(cmd), 0);
	return 0;
}

/* A connection as the store opens it: WAL, synchronous NORMAL. */
static sqlite3 *open_db(const char *path, const char *vfs, const char *extra)
{
	sqlite3 *db = NULL;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, vfs), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
				      "CREATE TABLE IF NOT EXISTS t(x INTEGER PRIMARY KEY, v TEXT NOT NULL);",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	if (extra)
		assert_int_equal(sqlite3_exec(db, extra, NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static int insert_rows(sqlite3 *db, int n)
{
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %d)"
		 " INSERT INTO t(v) SELECT hex(randomblob(150)) FROM c;", n);
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

static int64_t count_rows(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

static void assert_intact(sqlite3 *db)
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

static void test_commit_is_seen_at_once_by_another_connection(void **state)
{
	struct fixture *f = *state;
	assert_non_null(tr_wal_vfs());
	uint64_t asked0, made0, asked, made;
	tr_wal_vfs_counts(&asked0, &made0);
	sqlite3 *w = open_db(f->db, tr_wal_vfs(), NULL);
	sqlite3 *r = open_db(f->db, NULL, NULL);
	int64_t expected = 0;
	for (int k = 1; k <= 30; k++) {
		assert_int_equal(sqlite3_exec(w, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
		assert_int_equal(insert_rows(w, k * 41), SQLITE_OK);
		assert_int_equal(sqlite3_exec(w, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
		expected += k * 41;
		assert_int_equal(count_rows(r), expected);
	}
	/* a checkpoint that empties the WAL, then appends from its start again */
	assert_int_equal(sqlite3_wal_checkpoint_v2(r, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL), SQLITE_OK);
	assert_int_equal(insert_rows(w, 500), SQLITE_OK);
	assert_int_equal(count_rows(r), expected + 500);
	assert_intact(r);
	tr_wal_vfs_counts(&asked, &made);
	/* two writes a frame asked for, about one per 15 frames made */
	assert_true(asked - asked0 > 400);
	assert_true((made - made0) * 4 < asked - asked0);
	sqlite3_close(w);
	sqlite3_close(r);
}

/* Runs writes in a child that SIGKILLs itself right after them. */
static void in_killed_child(const char *db, void (*writes)(sqlite3 *))
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		writes(open_db(db, tr_wal_vfs(), NULL));
		raise(SIGKILL);
		_exit(1);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
}

static void ten_commits(sqlite3 *w)
{
	for (int k = 0; k < 10; k++)
		if (insert_rows(w, 321) != SQLITE_OK)
			_exit(1);
}

static void open_transaction(sqlite3 *w)
{
	if (sqlite3_exec(w, "PRAGMA cache_size = 4; BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    insert_rows(w, 999) != SQLITE_OK)
		_exit(1);
}

/* SPEC §3: committed means in the OS; a SIGKILL right after the commit
 * loses nothing, and one inside a transaction leaves no trace of it. */
static void test_sigkill_after_commit_loses_nothing(void **state)
{
	struct fixture *f = *state;
	in_killed_child(f->db, ten_commits);
	sqlite3 *r = open_db(f->db, NULL, NULL);
	assert_int_equal(count_rows(r), 3210);
	assert_intact(r);
	sqlite3_close(r);
	in_killed_child(f->db, open_transaction);
	r = open_db(f->db, NULL, NULL);
	assert_int_equal(count_rows(r), 3210);
	assert_intact(r);
	/* the VFS picks up the WAL left behind and goes on appending to it */
	sqlite3 *w = open_db(f->db, tr_wal_vfs(), NULL);
	assert_int_equal(insert_rows(w, 100), SQLITE_OK);
	assert_int_equal(count_rows(r), 3310);
	assert_intact(r);
	sqlite3_close(w);
	sqlite3_close(r);
}

/* A tiny cache spills pages of an open transaction into the WAL, and a
 * rollback to a savepoint rewrites frames already written. */
static void test_spills_and_savepoint_rollbacks_stay_whole(void **state)
{
	struct fixture *f = *state;
	sqlite3 *w = open_db(f->db, tr_wal_vfs(), "PRAGMA cache_size = 8;");
	sqlite3 *r = open_db(f->db, NULL, NULL);
	assert_int_equal(sqlite3_exec(w, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(insert_rows(w, 2000), SQLITE_OK);
	assert_int_equal(sqlite3_exec(w, "SAVEPOINT s", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(insert_rows(w, 3000), SQLITE_OK);
	assert_int_equal(sqlite3_exec(w, "UPDATE t SET v = 'x' WHERE x % 3 = 0", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_exec(w, "ROLLBACK TO s; RELEASE s", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(count_rows(r), 0);
	assert_int_equal(insert_rows(w, 700), SQLITE_OK);
	assert_int_equal(sqlite3_exec(w, "DELETE FROM t WHERE x % 5 = 0; COMMIT", NULL, NULL, NULL), SQLITE_OK);
	assert_int_equal(count_rows(r), 2700 - 540);
	assert_intact(r);
	sqlite3_close(w);
	sqlite3_close(r);
}

/* A write the kernel refuses (here: past RLIMIT_FSIZE) fails the commit,
 * and nothing of it is seen afterwards. The transaction is smaller than
 * the VFS's buffer, so the refused write is the one the commit frame
 * completes. */
static void test_refused_write_fails_the_commit(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		signal(SIGXFSZ, SIG_IGN);
		sqlite3 *w = open_db(f->db, tr_wal_vfs(), NULL);
		char wal[160];
		snprintf(wal, sizeof(wal), "%s-wal", f->db);
		struct stat sb;
		if (insert_rows(w, 10) != SQLITE_OK || stat(wal, &sb) != 0)
			_exit(2);
		struct rlimit lim = {.rlim_cur = (rlim_t)sb.st_size + 4096, .rlim_max = RLIM_INFINITY};
		if (setrlimit(RLIMIT_FSIZE, &lim) != 0)
			_exit(3);
		uint64_t asked0, made0, asked, made;
		tr_wal_vfs_counts(&asked0, &made0);
		int rc = insert_rows(w, 40); /* a few pages: held until the commit frame */
		tr_wal_vfs_counts(&asked, &made);
		_exit(rc == SQLITE_OK ? 4 : made - made0 == 1 && asked - asked0 >= 4 ? 0 : 5);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	sqlite3 *r = open_db(f->db, NULL, NULL);
	assert_int_equal(count_rows(r), 10);
	assert_intact(r);
	sqlite3_close(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_commit_is_seen_at_once_by_another_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sigkill_after_commit_loses_nothing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_spills_and_savepoint_rollbacks_stay_whole, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refused_write_fails_the_commit, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
