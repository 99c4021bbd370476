/* File drops (SPEC §4): watches <spool>/incoming, claims settled files into
 * work/, streams their rows through the ingest pipeline in bounded steps
 * (the socket stays responsive), commits each step with the file's progress
 * so a crash resumes without loss or repeat, and moves the file to done/ or
 * to rejected/ with a NAME.errors report. */
#ifndef TR_SPOOL_H
#define TR_SPOOL_H

#include <cjson/cJSON.h>
#include "tr_daemon.h"

struct tr_spool;

/* Creates the spool folders, resumes files left in work/, scans incoming/
 * and starts watching. *out is owned by the caller: tr_spool_close, run the
 * loop until the handles closed, tr_spool_free. Returns 0 or a negative
 * errno (logged). */
int tr_spool_start(struct tr_daemon *d, struct tr_spool **out);
/* True while a file is being read (its steps run every pass of the loop). */
int tr_spool_reading(const struct tr_spool *sp);
/* Goes on with the spool's files after d->writes_paused ends (a pause can
 * also fall before a claimed file was opened). */
void tr_spool_resume(struct tr_spool *sp);
/* A WAL flush finished: moves out the file whose end waited for it, and
 * goes on reading. NULL is a no-op. */
void tr_spool_flushed(struct tr_spool *sp);
void tr_spool_close(struct tr_spool *sp);
void tr_spool_free(struct tr_spool *sp);

/* {"queued":N,"in_progress":[{"file":…,"rows_done":N}],"done_today":N,
 * "rejected_today":N} — a new object the caller owns. */
cJSON *tr_spool_status(struct tr_spool *sp);

/* For `metrics`: the files in each spool folder now ("incoming", "work",
 * "done", "rejected" without its .errors reports, "outbox"), read from
 * the folders, at most a million each; a folder that cannot be read is
 * left out. Stops at fn's first non-zero return and returns it, else 0. */
int tr_spool_files_each(const struct tr_spool *sp, int (*fn)(void *ud, const char *folder, int64_t files),
			void *ud);
/* Rows of dropped files rejected since start (counted when their file is
 * moved out). */
uint64_t tr_spool_rows_rejected(const struct tr_spool *sp);

#endif
