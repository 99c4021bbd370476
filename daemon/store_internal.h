/* What the store's files share: the connection struct, the ids of the
 * statement table (its SQL is in store.c, in the same order), and the small
 * helpers every statement goes through. Private to store.c and the table
 * family files store_*.c; everyone else sees tr_store.h. The helpers are
 * inline so that a statement run from a family file costs what it cost when
 * the store was one file. */
#ifndef TR_STORE_INTERNAL_H
#define TR_STORE_INTERNAL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include "tr_error.h"
#include "tr_log.h"
#include "tr_store.h"

#define TICKET_COLUMNS "id, key, title, queue, priority, state, account, assignee," \
	" close_reason, tags, fields, level, due_at, created_at, updated_at, closed_at, acked_at, ladder"

/* A row of steps (named r) has not fired nor been skipped: no step_log row. */
#define STEP_PENDING(r) "NOT EXISTS (SELECT 1 FROM step_log l WHERE l.at = " r ".at AND l.ticket_id = " r \
	".ticket_id AND l.id = " r ".id)"

/* One id per row of the statement table (stmt_sql in store.c). */
enum stmt {
	S_TIMER_IDS_SAVE, S_BEGIN, S_COMMIT, S_ROLLBACK, S_SAVEPOINT, S_RELEASE, S_ROLLBACK_TO,
	S_EVENT_INSERT, S_OUTCOME_INSERT, S_QUARANTINE_ADD, S_QUARANTINED,
	S_TICKET_INSERT, S_TICKET_GET, S_TICKET_OPEN_KEY, S_TICKET_UPDATE, S_TICKET_UPDATE_BODY, S_HISTORY_ADD,
	S_STATE_GET, S_STATE_SET, S_STATE_DELETE, S_STATE_READ, S_STATE_LIST, S_STATE_SWEEP,
	S_COUNTER_ADD, S_COUNTER_SUM, S_COUNTER_PRUNE, S_COUNTER_KEY, S_COUNTER_KEY_SET, S_COUNTER_BUCKETS,
	S_COUNTER_CLEAR,
	S_HISTORY_LIST, S_TIMERS_FOR_TICKET, S_EVENT_BY_ID, S_EVENT_BY_SEQ, S_OUTCOMES_FOR,
	S_COUNT_EVENTS, S_COUNT_TICKETS,
	S_FILE_ADD, S_FILE_PROGRESS, S_FILE_ERROR, S_FILE_FINISH, S_FILE_BY_WORK,
	S_FILE_ERRORS, S_FILES_FINISHED_SINCE,
	S_TIMER_ADD, S_TIMER_NEXT, S_TIMERS_DUE, S_TIMER_DELETE,
	S_STEP_ADD, S_STEP_ADD_CHECKED, S_STEP_FIRST, S_STEPS_CANCEL, S_STEPS_DUE, S_STEP_DONE, S_STEP_LOG, S_STEP_MOVE,
	S_WAKES_AFTER, S_STEPS_CALENDARED, S_WAKE_ADD, S_WAKE_DELETE, S_WAKES_LIST,
	S_TIMERS_LIST, S_TIMERS_COUNT, S_OUTBOX_ADD, S_OUTBOX_PENDING, S_OUTBOX_DONE, S_OUTBOX_RETRY,
	S_OUTBOX_NEXT, S_OUTBOX_PRUNE, S_FAILED_OUTCOMES, S_OUTCOME_RETRIED, S_TICKET_LADDER, S_SUSPECT_ADD, S_SUSPECT_COUNT,
	S_EVENT_DECLINED_SET, S_EVENT_DECLINED,
	S_OUTBOX_PARK, S_OUTBOX_DEFER, S_OUTBOX_UNPARK, S_OUTBOX_COUNTS, S_OUTBOX_LIST, S_OUTBOX_GROUP,
	S_SILENCE_ADD, S_SILENCE_EXPIRE, S_SILENCE_RELEASE, S_SILENCE_UNHOLD, S_SILENCE_HOLD_NEXT, S_SILENCE_HOLD,
	S_SILENCES_LIST, S_SILENCES_HELD, S_SILENCES_PRUNE_HELD, S_SILENCES_PRUNE, S_SILENCE_HELD_ROWS,
	S_COUNT
};

struct tr_store {
	sqlite3 *db;
	sqlite3_stmt *stmts[S_COUNT];
	int64_t wal_pages;   /* frames in the WAL after the last commit */
	int64_t timer_hint;  /* earliest due_at added since tr_store_timer_hint */
	int outbox_hint;     /* a notification was added since tr_store_outbox_hint */
	int64_t fresh_ticket; /* inserted open by this transaction and not written
			       * since: its timers need no check (tr_store_timer_add) */
	int64_t wake_ticket; /* the ticket whose wake row is known: at wake_at */
	int64_t wake_at;     /* (0: none); forgotten when a rollback may undo it */
	uint64_t step_changes; /* steps added, cancelled or moved: counted, so that */
	uint64_t take_mark;    /* a fire knows whether rules changed any since its take */
	int64_t taken_ticket;  /* of the ticket whose wake row was taken last */
	int64_t quarantined; /* rows in quarantine: skip the lookup while 0 */
	int64_t next_timer_id;  /* saved to timer_ids by the commit that uses it
				 * (tr_store_commit), so it is never behind the rows */
	int64_t saved_timer_id; /* what timer_ids holds */
	struct tr_open_keys *open_keys; /* the open tickets' keys, owned */
	/* SPEC §6 watch: the keys of the step_log rows written since the
	 * stream last took them, kept only while it asks (journal_on); a
	 * row's key says nothing of when it was written, so the stream cannot
	 * find new ones by key. Owned; at most TR_STEP_JOURNAL_MAX, the rest
	 * counted in journal_lost. */
	struct tr_step_key *journal;
	int journal_n, journal_on;
	uint64_t journal_lost;
};

/* Prepares statement which for the life of the connection (store.c): the
 * statement, or NULL (logged) when SQLite refuses it. */
sqlite3_stmt *tr_store_prepare(struct tr_store *s, enum stmt which);

/* Loaded by tr_store_open once the schema is current: each family's state
 * kept in memory. 0, or -1 with the reason in sqlite3_errmsg. */
/* Opens the database, sets it up and migrates it (store.c); tr_store_open
 * (store_open.c) then loads what each table family keeps in memory. */
int tr_store_connect(const char *path, enum tr_durability durability, struct tr_store **out,
		     char *err, size_t errlen);
int tr_store_open_keys_load(struct tr_store *s);   /* store_tickets.c */
int tr_store_timer_ids_load(struct tr_store *s);   /* store_timers.c */
/* Ends a read of timer rows into out: step is the last sqlite3_step's
 * answer; a read error (logged) or rc frees the rows read and sets *n 0.
 * Resets st; returns rc, or TR_ESTORE. */
int tr_store_rows_end(struct tr_store *s, sqlite3_stmt *st, int step, int rc, struct tr_timer *out, int *n);
/* Reads a row of (id, due_at, kind, ticket_id, payload) into t, its
 * payload copied (NULL when out of memory; tr_timer_rows_free). */
void tr_store_timer_from_row(sqlite3_stmt *st, struct tr_timer *t);
/* Forgets the known wake row (a rollback may have undone it). */
static inline void tr_store_wake_forget(struct tr_store *s)
{
	s->wake_ticket = s->wake_at = s->taken_ticket = 0;
}
void tr_store_quarantine_load(struct tr_store *s); /* store_events.c */

/* The prepared statement which, prepared on first use. */
static inline sqlite3_stmt *stmt(struct tr_store *s, enum stmt which)
{
	sqlite3_stmt *st = s->stmts[which];
	return st ? st : tr_store_prepare(s, which);
}

/* Binds a nullable text. SQLITE_STATIC: every caller keeps the text alive
 * until the statement is reset. */
static inline void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

/* Binds a time or id where 0 means none (NULL). */
static inline void bind_time(sqlite3_stmt *st, int i, int64_t v)
{
	if (v)
		sqlite3_bind_int64(st, i, v);
	else
		sqlite3_bind_null(st, i);
}

/* Steps a statement that returns no row, then resets it. 0 or TR_ESTORE
 * (logged). */
static inline int run(struct tr_store *s, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		return TR_ESTORE;
	}
	return 0;
}

/* A copy of text column i the caller frees; NULL for SQL NULL or when out
 * of memory. */
static inline char *column_strdup(sqlite3_stmt *st, int i)
{
	const unsigned char *v = sqlite3_column_text(st, i);
	return v ? strdup((const char *)v) : NULL;
}

#endif
