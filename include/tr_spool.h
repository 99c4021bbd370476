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

#endif
