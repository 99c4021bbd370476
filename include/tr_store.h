/* The SQLite store: schema and migrations, transactions (group commit), and
 * every statement the daemon runs. Everything a rule does goes through here
 * inside the transaction of the event that caused it (SPEC §3). Not the
 * decision of what to write (the engine and the lua_* tables), nor the JSON
 * the socket answers with (tr_views.h): reads hand out rows and structs. */
#ifndef TR_STORE_H
#define TR_STORE_H

#include <stdint.h>
#include "tr_config.h"
#include "tr_event.h"

struct tr_store;


/* Opens (creating and migrating) the database at path in WAL mode with
 * synchronous FULL or NORMAL per durability. *out is owned by the caller
 * (tr_store_close). On failure err says why. */
int tr_store_open(const char *path, enum tr_durability durability, struct tr_store **out,
		  char *err, size_t errlen);
void tr_store_close(struct tr_store *s);

/* The WAL is not checkpointed inside commits (that would stall the event
 * loop): the owner watches tr_store_wal_pages and runs tr_store_checkpoint
 * (its own connection; safe on a worker thread) when it grows. Closing the
 * store checkpoints what is left. */
int64_t tr_store_wal_pages(struct tr_store *s);
/* sync: then write the database's dirty pages out (sync_file_range, no
 * fsync), so that a later pass that completes the WAL, and has to fsync
 * the database, finds little left to write. */
int tr_store_checkpoint(const char *path, int sync, char *err, size_t errlen);
/* The size the WAL file is cut back to when it starts over (SQLite's
 * journal_size_limit; until set, never cut back). The daemon sets it from
 * limits.wal_mb (tr_checkpoint_wal_file_bytes). */
int tr_store_wal_limit(struct tr_store *s, int64_t bytes);
/* SQLite's synchronous setting: full fsyncs the WAL in every commit;
 * otherwise commits only write it, and durability full is kept by
 * flushing it off the loop thread (tr_flusher.h). 0 or TR_ESTORE. */
int tr_store_set_synchronous(struct tr_store *s, int full);
/* A blocking RESTART checkpoint on this connection, for when the
 * background ones cannot catch up with a writer that never pauses. */
int tr_store_checkpoint_now(struct tr_store *s);

/* Transactions. begin/commit/rollback nest nothing; savepoint/release/
 * rollback_to wrap one rule run so a failing rule is undone alone. */
int tr_store_begin(struct tr_store *s);
int tr_store_commit(struct tr_store *s);
int tr_store_rollback(struct tr_store *s);
int tr_store_savepoint(struct tr_store *s);
int tr_store_release(struct tr_store *s);
int tr_store_rollback_to(struct tr_store *s);
int tr_store_in_transaction(struct tr_store *s);
/* The last SQLite error message (static to the connection). */
const char *tr_store_errmsg(struct tr_store *s);

/* SPEC §2 duplicates: inserts ev and sets ev->seq. Returns 0, TR_EDUP when
 * (type, id) was stored before, or TR_ESTORE. */
int tr_store_event_insert(struct tr_store *s, struct tr_event *ev);

/* Records one rule's outcome for an event. effects is a JSON array text or
 * NULL; error/location NULL on success. */
int tr_store_outcome_insert(struct tr_store *s, int64_t event_seq, const char *rule,
			    const char *status, const char *effects, const char *error,
			    const char *location, int64_t duration_us, int64_t now);

/* SPEC §3 retry: outcomes recorded as error, oldest first, with ids above
 * after; rule NULL and seq 0 mean any. Fills up to limit entries of out. */
struct tr_failed_outcome {
	int64_t id;
	int64_t event_seq;
	char rule[256]; /* a longer name is cut, and then not found */
};
int tr_store_failed_outcomes(struct tr_store *s, int64_t after, const char *rule, int64_t seq, int limit,
			     struct tr_failed_outcome *out, int *n);
/* Marks an error outcome as retried: it stays in the event's history but
 * is not retried again. */
int tr_store_outcome_retried(struct tr_store *s, int64_t id);
/* The stored event seq rebuilt as the engine sees it; the caller frees it
 * with tr_event_free on success (nothing to free on failure). Returns 0,
 * -ENOENT, TR_EPARSE or TR_ESTORE with the reason in err. */
int tr_store_event_get(struct tr_store *s, int64_t seq, struct tr_event *ev, char *err, size_t errlen);

/* Poison-pill quarantine (SPEC §3): events whose rules killed the process. */
int tr_store_quarantine_add(struct tr_store *s, const char *type, const char *id,
			    const char *reason, int64_t now);
/* Counts one more death of the process while (type, id)'s rules ran;
 * *count is the total. */
int tr_store_suspect_add(struct tr_store *s, const char *type, const char *id, int64_t now, int64_t *count);
/* 1 if quarantined (reason copied into buf), 0 if not, <0 on error. */
int tr_store_quarantined(struct tr_store *s, const char *type, const char *id, char *buf, size_t len);

/* Tickets. A ticket row as the rules and the protocol see it; strings owned
 * by the struct, freed by tr_ticket_free. */
struct tr_ticket {
	int64_t id;
	char *key, *title, *queue, *priority, *state, *account, *assignee, *close_reason;
	char *tags;    /* JSON array text */
	char *fields;  /* JSON object text */
	char *ladder;  /* JSON of the escalation ladder attached, or NULL (read only here) */
	int64_t level;
	int64_t due_at, created_at, updated_at, closed_at, acked_at; /* 0 = none */
};
void tr_ticket_free(struct tr_ticket *t);

/* Inserts t (id, created_at/updated_at set from now). At most one open
 * ticket holds a key: -EEXIST when another does. 0, -EEXIST, -ENOMEM or
 * TR_ESTORE. */
int tr_store_ticket_insert(struct tr_store *s, struct tr_ticket *t, int64_t now);
/* Loads a ticket: 0 found, -ENOENT not found, TR_ESTORE. */
int tr_store_ticket_get(struct tr_store *s, int64_t id, struct tr_ticket *t);
/* The open ticket with key: its id, 0 when none, <0 on error. Found
 * through a map in memory (tr_open_keys.h), not an index. */
int64_t tr_store_ticket_find_open(struct tr_store *s, const char *key);
/* Writes back every mutable column of t (updated_at = now). stored: the
 * row as read before the change, or NULL when not at hand; when t keeps
 * its state and due_at, their indexes are left alone (a comment or tag is
 * cheaper). Reopening while another open ticket holds the key: -EEXIST. */
int tr_store_ticket_update(struct tr_store *s, struct tr_ticket *t, const struct tr_ticket *stored,
			   int64_t now);
/* Appends to a ticket's history. actor: "rule:NAME", a user name, or "uid:N"; detail may be NULL. */
int tr_store_history_add(struct tr_store *s, int64_t ticket_id, int64_t at, int64_t event_seq,
			 const char *actor, const char *action, const char *detail);

/* Persistent rule state (lua state.*, SPEC §5): one keyspace, where a key
 * holds a value (JSON text; the Lua table writes [v] so scalars round-trip)
 * or a windowed counter. Keys are 1 to TR_STATE_KEY_MAX bytes. */
#define TR_STATE_KEY_MAX 512
/* The key's value: 1 found (malloc'd into *value, the caller frees it), 0
 * absent or a counter (*value NULL), <0 error. */
int tr_store_state_get(struct tr_store *s, const char *key, char **value);
/* Sets a value, replacing a counter of the same name; value NULL deletes
 * the key, value or counter. */
int tr_store_state_set(struct tr_store *s, const char *key, const char *value);
/* Counts n at time t in key's window (seconds; 0 = forever) and returns in
 * *total the count over (t - window, t], exact to 1/24 of the window. The
 * key keeps the window of its latest add: a new one moves its counts, each
 * keeping its time. A key holding the value [whole number] counts on from
 * that number (counted at t); -EINVAL when it holds any other value (nothing
 * changed). A counter whose window has passed is forgotten: each add deletes
 * up to two such keys. 0 or TR_ESTORE. */
int tr_store_counter_add(struct tr_store *s, const char *key, int64_t n, int64_t t,
			 int64_t window, int64_t *total);
/* A key as read: borrowed, its strings live until the callback returns. */
struct tr_state_row {
	const char *key;
	const char *value;     /* a value's JSON text; NULL: a counter */
	int64_t count;         /* a counter's count in its window at the read's time */
	int64_t window_s;      /* a counter's window, 0 forever; -1 not known yet
				* (counted before windows were stored: known at
				* its next add) */
};
/* Reads key as at time t (a counter's window ends at t; one that has
 * passed is absent): 1 found (got called once), 0 absent, TR_ESTORE. */
int tr_store_state_read(struct tr_store *s, const char *key, int64_t t,
			void (*got)(void *ud, const struct tr_state_row *row), void *ud);
/* The keys starting with prefix (NULL or "": all) and above after (NULL:
 * from the first), in byte order, at most limit, as at now; a walk (below). */
int tr_store_state_each(struct tr_store *s, const char *prefix, const char *after, int64_t now, int limit,
			int (*each)(void *ud, const struct tr_state_row *row), void *ud);

/* Reads for the views (tr_views.h) and anyone else who lists what is stored.
 * A walk calls each for every row in order, with the row borrowed: its
 * strings belong to the statement and live until each returns; NULL is SQL
 * NULL. A walk returns 0 when it ends, the first nonzero return of each
 * (which stops it), or TR_ESTORE (logged) when its query cannot be
 * prepared. A read error ends a walk like its last row: the rows before it
 * stand, which is what the socket has always answered with. */

/* Tickets newest first, filtered. Each gets a ticket the store frees after
 * the call; a row that cannot be copied (out of memory) is skipped. */
struct tr_ticket_filter {
	const char *state;     /* "open" (default), "closed", "all" */
	const char *queue, *account, *priority, *text;
	int breached;          /* open and past due */
	int64_t now;
	int limit;             /* default 100 */
};
int tr_store_tickets_each(struct tr_store *s, const struct tr_ticket_filter *f,
			  int (*each)(void *ud, const struct tr_ticket *t), void *ud);
/* A ticket's history lines and its steps that fired or were skipped, in
 * the order they happened. */
struct tr_history_row {
	int64_t at;
	int64_t due_at;        /* a step's: when it was due (0: not a step) */
	const char *actor, *action, *detail;
	int64_t event_seq;
	int has_event_seq;     /* 0: the line names no event */
};
int tr_store_history_each(struct tr_store *s, int64_t ticket_id,
			  int (*each)(void *ud, const struct tr_history_row *h), void *ud);
/* A stored event by (type, id), or by seq when seq > 0: 1 found (got
 * called once), 0 not found, TR_ESTORE. */
struct tr_event_row {
	int64_t seq;
	const char *type, *id, *source, *account, *marketplace;
	int64_t occurred_at, received_at;
	const char *payload;   /* JSON text */
};
int tr_store_event_find(struct tr_store *s, const char *type, const char *id, int64_t seq,
			void (*got)(void *ud, const struct tr_event_row *ev), void *ud);
/* The rules whose `on` took event seq and whose `when` said no, as a JSON
 * array of names (json), kept in the event's row: written once, after its
 * rules ran. _get: *json is heap (caller frees), NULL when none declined or
 * no such event. Both return 0 or TR_ESTORE (-ENOMEM for the copy). */
int tr_store_event_declined(struct tr_store *s, int64_t seq, const char *json);
int tr_store_event_declined_get(struct tr_store *s, int64_t seq, char **json);
/* The outcomes of event seq in the order the rules ran. */
struct tr_outcome_row {
	const char *rule, *status;
	const char *effects;   /* JSON array text */
	const char *error, *location;
	int64_t duration_us;
};
int tr_store_outcomes_each(struct tr_store *s, int64_t seq,
			   int (*each)(void *ud, const struct tr_outcome_row *o), void *ud);
/* A dropped file's progress (SPEC §4), committed with its rows so a
 * restart resumes exactly where the last commit left it. */
struct tr_file {
	int64_t id;
	char name[256];       /* as dropped in incoming/ */
	char work_name[300];  /* its name in work/ (unique) */
	char state[16];       /* work | done | rejected */
	int64_t size, rows_done, rows_ok, rows_bad, duplicates, started_at;
};
int tr_store_file_add(struct tr_store *s, struct tr_file *f, int64_t now);
int tr_store_file_progress(struct tr_store *s, const struct tr_file *f);
/* A bad row, kept until the file's .errors report is written. */
int tr_store_file_error(struct tr_store *s, int64_t file_id, int line, const char *field, const char *message);
int tr_store_file_finish(struct tr_store *s, struct tr_file *f, const char *state, const char *reason,
			 int64_t now);
/* The latest file recorded under work_name: 1 found, 0 not, <0 error. */
int tr_store_file_by_work_name(struct tr_store *s, const char *work_name, struct tr_file *f);
/* Calls each for every bad row of a file in line order; stops at a nonzero return. */
int tr_store_file_errors(struct tr_store *s, int64_t file_id,
			 int (*each)(void *ud, int line, const char *field, const char *message), void *ud);
int tr_store_files_finished_since(struct tr_store *s, int64_t since, int64_t *done, int64_t *rejected);

/* Durable timers (SPEC §3 Time): rows written in the transaction of the
 * event that made them. payload is JSON text. */
struct tr_timer {
	int64_t id, due_at, ticket_id;  /* ticket_id 0 when none */
	char kind[32];                  /* nudge | escalate | due | ack_timeout (steps), schedule, wake */
	char *payload;                  /* malloc'd JSON text; tr_timer_rows_free */
};
/* Adds a timer (ticket_id 0: none) or, for a ticket, a step of its plan
 * (store_steps.c). Returns 0 with *id set (id may be NULL), *id 0 when
 * ticket_id names a ticket that is closed or gone (nothing is added: a
 * closed ticket's steps have ended), or TR_ESTORE. */
int tr_store_timer_add(struct tr_store *s, int64_t due_at, const char *kind, int64_t ticket_id,
		       const char *payload, int64_t event_seq, int64_t *id);
/* The earliest due_at added since the last call (0: none); resets it. */
int64_t tr_store_timer_hint(struct tr_store *s);
/* The earliest pending due_at (schedules and tickets' wakes), 0 when none. */
int tr_store_timer_next(struct tr_store *s, int64_t *due_at);
/* Up to limit timers due at now, earliest first, into out (caller frees
 * payloads with tr_timer_rows_free): schedules, and tickets to wake as
 * kind "wake" (id 0, payload "{}"), whose due steps tr_store_ticket_steps_due
 * then reads. */
int tr_store_timers_due(struct tr_store *s, int64_t now, int limit, struct tr_timer *out, int *n);
void tr_timer_rows_free(struct tr_timer *t, int n);
/* Deletes a schedule: 0, or -ENOENT when it was already gone. */
int tr_store_timer_delete(struct tr_store *s, int64_t due_at, int64_t id);

/* A ticket's steps. Each ticket with pending steps has one wake row, at
 * its earliest; the functions below keep it there. */
/* Deletes a ticket's pending steps (all, or one kind). */
int tr_store_timers_cancel(struct tr_store *s, int64_t ticket_id, const char *kind);
/* Takes ticket_id's wake row at `at` before its due steps are handled:
 * 0, or -ENOENT when it is gone (the ticket closed). Then, once the steps
 * are marked done, tr_store_ticket_rewake puts the row at next, the next
 * pending step's time (0: none; -1: not known, look). */
int tr_store_wake_take(struct tr_store *s, int64_t at, int64_t ticket_id);
int tr_store_ticket_rewake(struct tr_store *s, int64_t ticket_id, int64_t next);
/* Up to limit pending steps of ticket_id due at now, earliest first (kind,
 * payload as added; free with tr_timer_rows_free), and in *next the time of
 * the first one not due yet (0: none; -1: more are due than limit). */
int tr_store_ticket_steps_due(struct tr_store *s, int64_t ticket_id, int64_t now, int limit, struct tr_timer *out,
			      int *n, int64_t *next);
/* Marks step tm done: state "fired" or "skipped", at the time it was
 * handled; action and detail make its line in the ticket's history (action
 * NULL: no line, another wrote it). 0 or -ENOENT (not pending). */
int tr_store_step_done(struct tr_store *s, const struct tr_timer *tm, const char *state, int64_t at,
		       const char *action, const char *detail);
/* Moves pending step tm to at with a new payload (an ack's pause, a
 * calendar's change), and the ticket's wake with it. */
int tr_store_step_move(struct tr_store *s, const struct tr_timer *tm, int64_t at, const char *payload);
/* Where a recount of the waiting tickets has got to: their wakes row's
 * key, {0, 0} before the first. */
struct tr_wake_cursor {
	int64_t at, ticket_id;
};
/* The pending steps whose payload names a calendar ("cal") of the next
 * `tickets` waiting tickets after *after (earliest wake first), by
 * ticket; *after moves past them, *last says no ticket is left after
 * them. *out is the caller's (tr_timer_rows_free, then free). */
int tr_store_steps_calendared(struct tr_store *s, struct tr_wake_cursor *after, int tickets, struct tr_timer **out,
			      int *n, int *last);
/* A pending timer as the walks below hand it out (what a walk returns and
 * how long its row lives: above struct tr_ticket_filter). */
struct tr_timer_row {
	int64_t id, due_at;
	const char *kind;
	int64_t ticket_id;
	int has_ticket;        /* 0: the timer is about no ticket */
	const char *payload;   /* JSON text */
};
/* The first limit pending timers, earliest first. */
int tr_store_timers_each(struct tr_store *s, int limit,
			 int (*each)(void *ud, const struct tr_timer_row *tm), void *ud);
/* A ticket's pending timers, earliest first. */
int tr_store_ticket_timers_each(struct tr_store *s, int64_t ticket_id,
				int (*each)(void *ud, const struct tr_timer_row *tm), void *ud);
/* How many schedules are pending plus how many tickets wait on a step
 * (counting every pending step would read each step a ticket ever had):
 * 0, or TR_ESTORE when the count cannot be prepared (*total is 0 when it
 * cannot be read). */
int tr_store_timers_count(struct tr_store *s, int64_t *total);
int tr_store_ticket_set_ladder(struct tr_store *s, int64_t ticket_id, const char *ladder);

/* The outbox: notifications committed with their event, delivered after. */
struct tr_notification {
	int64_t id;
	char output[64];
	char *payload;  /* malloc'd JSON text; tr_notifications_free */
	int attempts;
	int64_t created_at;
	int64_t since;  /* when its age began: created, or last put back by `outbox retry` */
};
int tr_store_outbox_add(struct tr_store *s, const char *output, const char *payload, int64_t now);
/* 1 if a notification was added since the last call; resets it. */
int tr_store_outbox_hint(struct tr_store *s);
int tr_store_outbox_pending(struct tr_store *s, int64_t now, int limit, struct tr_notification *out, int *n);
void tr_notifications_free(struct tr_notification *x, int n);
/* Marks id delivered at now, and deletes up to two notifications delivered
 * before prune_before: delivered rows are kept a while (what was sent, and
 * when) but not for ever. */
int tr_store_outbox_done(struct tr_store *s, int64_t id, int64_t now, int64_t prune_before);
int tr_store_outbox_retry(struct tr_store *s, int64_t id, int64_t next_at, const char *error);
/* The earliest next_at of an undelivered, unparked notification, 0 when none. */
int tr_store_outbox_next(struct tr_store *s, int64_t *next_at);

/* Parked deliveries, each output's counts, grouping (store_outbox.c). */
/* Parks id (failed_at = now): no more tries until tr_store_outbox_unpark. */
int tr_store_outbox_park(struct tr_store *s, int64_t id, int64_t now, const char *error);
/* Moves id's next try to next_at without counting an attempt (a group waits). */
int tr_store_outbox_defer(struct tr_store *s, int64_t id, int64_t next_at);
/* Puts parked id (0: every parked one) back to pending, due now, its
 * attempts and age restarted, recording who. *n: how many. */
int tr_store_outbox_unpark(struct tr_store *s, int64_t id, int64_t now, const char *who, int64_t *n);
/* Each output with undelivered rows: pending (not parked) and parked
 * counts, the oldest pending created_at (0 none). Strings are the store's,
 * valid during the call. each returns non-zero to stop (returned). */
int tr_store_outbox_counts(struct tr_store *s,
			   int (*each)(void *ud, const char *output, int64_t pending, int64_t parked,
				       int64_t oldest_pending_at),
			   void *ud);
struct tr_outbox_row {
	int64_t id, created_at, next_at, failed_at, retried_at;
	int attempts;
	const char *output, *last_error, *payload, *retried_by; /* NULL when none; valid during the call */
};
/* Undelivered rows by id above after_id (only parked ones when
 * parked_only), at most limit. */
int tr_store_outbox_list(struct tr_store *s, int parked_only, int64_t after_id, int limit,
			 int (*each)(void *ud, const struct tr_outbox_row *r), void *ud);
/* Output's rows due by horizon, oldest first, at most limit, as by
 * tr_store_outbox_pending (the caller frees them: tr_notifications_free). */
int tr_store_outbox_group(struct tr_store *s, const char *output, int64_t horizon, int limit,
			  struct tr_notification *out, int *n);

/* The live stream (store_watch.c, SPEC §6 watch): where a watch pass
 * left off in each table that commits append to. */
struct tr_watch_cursor {
	int64_t history;                       /* ticket_history.id */
	int64_t outbox;                        /* outbox.id */
};
/* A step_log row's key. */
struct tr_step_key {
	int64_t at, ticket_id, id;
};
/* Keys noted at most between two takes: 1.5 MiB, only while watched. */
#define TR_STEP_JOURNAL_MAX 65536
/* on: from now, note the key of every step_log row written (fired or
 * skipped steps), for tr_store_step_journal_take; off: stop and forget.
 * 0, or -ENOMEM (then off). */
int tr_store_step_journal(struct tr_store *s, int on);
/* Moves up to max of the noted keys, oldest first, to out; *lost: how
 * many were not noted since the last take (past TR_STEP_JOURNAL_MAX).
 * Returns how many were moved. */
int tr_store_step_journal_take(struct tr_store *s, struct tr_step_key *out, int max, uint64_t *lost);
enum tr_watch_kind { TR_WATCH_HISTORY, TR_WATCH_STEP, TR_WATCH_NOTIFICATION };
/* One row a commit added; its text is valid during the callback only. */
struct tr_watch_row {
	enum tr_watch_kind kind;
	int64_t id;          /* history line, step or outbox row */
	int64_t ticket_id;   /* 0 for a notification (its payload names one) */
	int64_t at;          /* when it happened (a step: fired; a notification: queued) */
	int64_t due_at;      /* a step's due time */
	const char *actor, *action, *detail;  /* history lines and steps */
	const char *output, *payload;         /* notifications (payload: JSON text) */
};
/* Sets *c at the newest row of each table: a stream starts from now. */
int tr_store_watch_now(struct tr_store *s, struct tr_watch_cursor *c);
/* Calls each for the rows after *c: history lines, then the steps that
 * fired or were skipped since the last call (their keys noted by
 * tr_store_step_journal; not an escalation's: its effect writes a history
 * line), then notifications, at most limit of each, oldest first, moving
 * *c past each row read. *more is set when a table may hold more; *lost
 * adds the steps that could not be noted. Returns 0, TR_ESTORE, or each's
 * nonzero answer (which stops the read; *c is past the row it refused). */
int tr_store_watch_rows(struct tr_store *s, struct tr_watch_cursor *c, int limit,
			int (*each)(void *ud, const struct tr_watch_row *r), void *ud, int *more, uint64_t *lost);

/* Counters for `stats`. */
int tr_store_counts(struct tr_store *s, int64_t *events, int64_t *tickets_open, int64_t *tickets_total);

#endif
