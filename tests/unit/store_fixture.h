/* The unit tests' scratch database: a store opened in a fresh folder under
 * /tmp before each test and removed after it, and a side connection that
 * reads it as a user's sqlite3 would. Define STORE_FIXTURE_NAME (the folder's
 * prefix, e.g. "test_store") before including it. */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sqlite3.h>
#include "tr_store.h"

struct fixture {
	char dir[64];
	char path[128];
	struct tr_store *s;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (!f)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/%s.XXXXXX", STORE_FIXTURE_NAME);
	if (!mkdtemp(f->dir)) {
		free(f);
		return -1;
	}
	snprintf(f->path, sizeof(f->path), "%s/triaged.db", f->dir);
	char err[256] = "";
	if (tr_store_open(f->path, TR_DURABILITY_NORMAL, &f->s, err, sizeof(err)) != 0) {
		fprintf(stderr, "tr_store_open: %s\n", err);
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	tr_store_close(f->s);
	char p[200];
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", f->path, suffixes[i]);
		unlink(p);
	}
	rmdir(f->dir);
	free(f);
	return 0;
}

/* One integer from a side connection, as a user's sqlite3 would see it
 * (-1 when the query gives no row). */
__attribute__((unused)) static int64_t side_count(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	int64_t n = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return n;
}

#endif
