/* What `triagectl replay` reads (SPEC §7): the stored events of a live
 * database through a read-only connection that never takes a write lock
 * (WAL readers do not block the daemon's writer), and, from a scratch
 * database a replay ran its events into, what became of each ticket. A
 * reader is its own SQLite connection, for one thread. Not the replay
 * itself (tr_replay.h) nor the daemon's store (tr_store.h). */
#ifndef TR_STORE_REPLAY_H
#define TR_STORE_REPLAY_H

#include <stdint.h>
#include "tr_event.h"
#include "tr_store.h"

struct tr_store_reader;

/* Opens the database at path read-only (SQLITE_OPEN_READONLY: nothing it
 * does can change the file). *out is the caller's (tr_store_reader_close).
 * Returns 0, -ENOENT when there is no such file, or TR_ESTORE; err says
 * why either way. */
int tr_store_reader_open(const char *path, struct tr_store_reader **out, char *err, size_t errlen);
void tr_store_reader_close(struct tr_store_reader *r);

/* The highest event seq stored now (0: none). Every event up to it is
 * committed and never changes: a replay that stops there reads the same
 * events however long it runs and whatever the daemon adds meanwhile. */
int tr_store_reader_last_seq(struct tr_store_reader *r, int64_t *seq);

/* Which stored events a replay takes: seq in (after, upto], received in
 * [since, until) (0: no bound), and not made by a timer ("timer:N"
 * sources: a replay fires its own). */
struct tr_replay_range {
	int64_t after, upto, since, until;
};
/* The next limit of those events in seq order, each rebuilt as the engine
 * sees it into out[0..*n) (the caller frees each with tr_event_free; on
 * failure nothing is left to free). *last is the seq of the last row read
 * (the next call's after); *more says a full batch was read, so more may
 * follow. A stored event that no longer validates is skipped and counted
 * in *skipped. Each call is its own short read transaction, so the
 * daemon's checkpoints are never held back long. Returns 0, or TR_ESTORE
 * with err. */
int tr_store_reader_events(struct tr_store_reader *r, const struct tr_replay_range *range, int limit,
			   struct tr_event *out, int *n, int *more, int64_t *last, int64_t *skipped, char *err,
			   size_t errlen);

/* Counts of a run, kept in its scratch database (tr_store_replay_finish)
 * for whoever compares it. */
struct tr_replay_counts {
	int64_t events, rule_errors, skipped, last_at;
};

/* Makes a scratch store cheap to write: its journal in memory, no syncs,
 * one connection. Only for a database that may be lost in a crash. */
int tr_store_replay_scratch(struct tr_store *s);
/* After the last event: the notifications counted per ticket and output,
 * and c, written into the scratch database for tr_store_reader_*. 0 or
 * TR_ESTORE. */
int tr_store_replay_finish(struct tr_store *s, const struct tr_replay_counts *c);
/* The counts a finished scratch database holds. 0, or TR_ESTORE. */
int tr_store_reader_counts(struct tr_store_reader *r, struct tr_replay_counts *c);

/* What became of one ticket of a scratch database. Borrowed: the strings
 * live until the next call on the reader. */
struct tr_replay_ticket {
	int64_t id;
	const char *key, *title, *state, *close_reason, *priority, *queue;
	int64_t due_at, level, escalations;
	const char *notified;  /* "lead 2, journal 1" (outputs in name order), "" none */
};
/* The next ticket in (key, id) order: 1 with *t filled, 0 at the end,
 * TR_ESTORE on error. The first call starts the walk. */
int tr_store_reader_ticket_next(struct tr_store_reader *r, struct tr_replay_ticket *t);
/* Notifications per output in name order, each calling each(ud, output,
 * count). 0 or TR_ESTORE. */
int tr_store_reader_notified(struct tr_store_reader *r,
			     void (*each)(void *ud, const char *output, int64_t n), void *ud);

#endif
