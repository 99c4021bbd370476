/* A dropped file's progress (SPEC §4): its row in files, written with each
 * batch of its rows so a restart resumes exactly where the last commit left
 * it; the rows it could not take, kept until its .errors report is
 * written; and how many files finished since a time, for `status`. Not the
 * reading, moving or reporting of files (spool.c, spool_reader.c). */
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>
#include "store_internal.h"

int tr_store_file_add(struct tr_store *s, struct tr_file *f, int64_t now)
{
	sqlite3_stmt *st = stmt(s, S_FILE_ADD);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, f->name);
	bind_text(st, 2, f->work_name);
	sqlite3_bind_int64(st, 3, f->size);
	sqlite3_bind_int64(st, 4, now);
	int rc = run(s, st);
	if (rc == 0) {
		f->id = sqlite3_last_insert_rowid(s->db);
		snprintf(f->state, sizeof(f->state), "work");
		f->started_at = now;
	}
	return rc;
}

int tr_store_file_progress(struct tr_store *s, const struct tr_file *f)
{
	sqlite3_stmt *st = stmt(s, S_FILE_PROGRESS);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, f->rows_done);
	sqlite3_bind_int64(st, 2, f->rows_ok);
	sqlite3_bind_int64(st, 3, f->rows_bad);
	sqlite3_bind_int64(st, 4, f->duplicates);
	sqlite3_bind_int64(st, 5, f->id);
	return run(s, st);
}

int tr_store_file_error(struct tr_store *s, int64_t file_id, int line, const char *field, const char *message)
{
	sqlite3_stmt *st = stmt(s, S_FILE_ERROR);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, file_id);
	sqlite3_bind_int(st, 2, line);
	bind_text(st, 3, field && *field ? field : NULL);
	bind_text(st, 4, message);
	return run(s, st);
}

int tr_store_file_finish(struct tr_store *s, struct tr_file *f, const char *state, const char *reason,
			 int64_t now)
{
	sqlite3_stmt *st = stmt(s, S_FILE_FINISH);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, state);
	bind_text(st, 2, reason);
	sqlite3_bind_int64(st, 3, now);
	sqlite3_bind_int64(st, 4, f->id);
	int rc = run(s, st);
	if (rc == 0)
		snprintf(f->state, sizeof(f->state), "%s", state);
	return rc;
}

int tr_store_file_by_work_name(struct tr_store *s, const char *work_name, struct tr_file *f)
{
	sqlite3_stmt *st = stmt(s, S_FILE_BY_WORK);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, work_name);
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW) {
		found = 1;
		memset(f, 0, sizeof(*f));
		f->id = sqlite3_column_int64(st, 0);
		snprintf(f->name, sizeof(f->name), "%s", (const char *)sqlite3_column_text(st, 1));
		snprintf(f->work_name, sizeof(f->work_name), "%s", (const char *)sqlite3_column_text(st, 2));
		f->size = sqlite3_column_int64(st, 3);
		snprintf(f->state, sizeof(f->state), "%s", (const char *)sqlite3_column_text(st, 4));
		f->rows_done = sqlite3_column_int64(st, 5);
		f->rows_ok = sqlite3_column_int64(st, 6);
		f->rows_bad = sqlite3_column_int64(st, 7);
		f->duplicates = sqlite3_column_int64(st, 8);
		f->started_at = sqlite3_column_int64(st, 9);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : TR_ESTORE;
}

int tr_store_file_errors(struct tr_store *s, int64_t file_id,
			 int (*each)(void *ud, int line, const char *field, const char *message), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_FILE_ERRORS);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, file_id);
	int rc, err = 0;
	while (err == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW)
		err = each(ud, sqlite3_column_int(st, 0), (const char *)sqlite3_column_text(st, 1),
			   (const char *)sqlite3_column_text(st, 2));
	sqlite3_reset(st);
	return err;
}

int tr_store_files_finished_since(struct tr_store *s, int64_t since, int64_t *done, int64_t *rejected)
{
	sqlite3_stmt *st = stmt(s, S_FILES_FINISHED_SINCE);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, since);
	*done = *rejected = 0;
	if (sqlite3_step(st) == SQLITE_ROW) {
		*done = sqlite3_column_int64(st, 0);
		*rejected = sqlite3_column_int64(st, 1);
	}
	sqlite3_reset(st);
	return 0;
}
