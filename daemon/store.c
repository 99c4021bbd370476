/* The SQLite store's core: opening the database (pragmas, WAL, the
 * checkpoints), the schema with a version and its append-only migrations,
 * the statement table (every fixed query of the store, prepared on first use
 * and kept for the life of the connection), and group-commit transactions
 * with the savepoint each rule runs in. The rows themselves are written and
 * read by one file per table family behind store_internal.h: store_events.c,
 * store_tickets.c, store_timers.c, store_spool.c. Only the store's files
 * speak SQL; none of them builds JSON for an answer (views.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include "store_internal.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_open_keys.h"
#include "tr_wal_vfs.h"

/* Migrations: entry i brings the schema from version i to i + 1. Never edit
 * a shipped entry; append a new one. */
static const char *const migrations[] = {
	"CREATE TABLE events("
	"  seq INTEGER PRIMARY KEY, type TEXT NOT NULL, id TEXT NOT NULL,"
	"  account TEXT, marketplace TEXT, occurred_at INTEGER NOT NULL,"
	"  received_at INTEGER NOT NULL, source TEXT NOT NULL, payload TEXT NOT NULL,"
	"  UNIQUE(type, id));"
	"CREATE TABLE outcomes("
	"  id INTEGER PRIMARY KEY, event_seq INTEGER NOT NULL, rule TEXT NOT NULL,"
	"  status TEXT NOT NULL, effects TEXT, error TEXT, location TEXT,"
	"  duration_us INTEGER NOT NULL, created_at INTEGER NOT NULL);"
	"CREATE INDEX outcomes_event ON outcomes(event_seq);"
	"CREATE INDEX outcomes_status ON outcomes(status) WHERE status = 'error';"
	"CREATE TABLE tickets("
	"  id INTEGER PRIMARY KEY, key TEXT NOT NULL, title TEXT NOT NULL,"
	"  queue TEXT NOT NULL, priority TEXT NOT NULL, state TEXT NOT NULL,"
	"  account TEXT, assignee TEXT, level INTEGER NOT NULL DEFAULT 0,"
	"  due_at INTEGER, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,"
	"  closed_at INTEGER, close_reason TEXT, acked_at INTEGER,"
	"  tags TEXT NOT NULL DEFAULT '[]', fields TEXT NOT NULL DEFAULT '{}');"
	"CREATE UNIQUE INDEX tickets_open_key ON tickets(key) WHERE state = 'open';"
	"CREATE INDEX tickets_state ON tickets(state, due_at);"
	"CREATE TABLE ticket_history("
	"  id INTEGER PRIMARY KEY, ticket_id INTEGER NOT NULL, at INTEGER NOT NULL,"
	"  event_seq INTEGER, actor TEXT NOT NULL, action TEXT NOT NULL, detail TEXT);"
	"CREATE INDEX ticket_history_ticket ON ticket_history(ticket_id);"
	"CREATE TABLE state(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
	"CREATE TABLE counters(key TEXT NOT NULL, bucket INTEGER NOT NULL,"
	"  count INTEGER NOT NULL, PRIMARY KEY(key, bucket)) WITHOUT ROWID;"
	"CREATE TABLE timers("
	"  id INTEGER PRIMARY KEY, due_at INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  ticket_id INTEGER, payload TEXT NOT NULL, event_seq INTEGER);"
	"CREATE INDEX timers_due ON timers(due_at);"
	"CREATE TABLE quarantine(type TEXT NOT NULL, id TEXT NOT NULL,"
	"  reason TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY(type, id)) WITHOUT ROWID;",

	/* 2: dropped files and their progress, committed with their rows. */
	"CREATE TABLE files("
	"  id INTEGER PRIMARY KEY, name TEXT NOT NULL, work_name TEXT NOT NULL,"
	"  size INTEGER NOT NULL, state TEXT NOT NULL,"
	"  rows_done INTEGER NOT NULL DEFAULT 0, rows_ok INTEGER NOT NULL DEFAULT 0,"
	"  rows_bad INTEGER NOT NULL DEFAULT 0, duplicates INTEGER NOT NULL DEFAULT 0,"
	"  started_at INTEGER NOT NULL, finished_at INTEGER, reason TEXT);"
	"CREATE INDEX files_work ON files(work_name, state);"
	"CREATE INDEX files_finished ON files(finished_at);"
	"CREATE TABLE file_errors(file_id INTEGER NOT NULL, line INTEGER NOT NULL,"
	"  field TEXT, message TEXT NOT NULL);"
	"CREATE INDEX file_errors_file ON file_errors(file_id);",

	/* 3: notifications waiting for delivery, committed with their event;
	 * the ladder a ticket escalates on. */
	"CREATE TABLE outbox("
	"  id INTEGER PRIMARY KEY, created_at INTEGER NOT NULL, output TEXT NOT NULL,"
	"  payload TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL,"
	"  delivered_at INTEGER, last_error TEXT);"
	"CREATE INDEX outbox_pending ON outbox(next_at) WHERE delivered_at IS NULL;"
	"ALTER TABLE tickets ADD COLUMN ladder TEXT;"
	"CREATE INDEX timers_ticket ON timers(ticket_id);",

	/* 4: events that were running when the process died, and how often. */
	"CREATE TABLE suspects(type TEXT NOT NULL, id TEXT NOT NULL, count INTEGER NOT NULL,"
	"  at INTEGER NOT NULL, PRIMARY KEY(type, id)) WITHOUT ROWID;",

	/* 5: timer ids are never reused: a fired timer's event is "timer:<id>",
	 * and a reused id would make a later timer's event a duplicate. */
	"CREATE TABLE timers5(id INTEGER PRIMARY KEY AUTOINCREMENT, due_at INTEGER NOT NULL,"
	"  kind TEXT NOT NULL, ticket_id INTEGER, payload TEXT NOT NULL, event_seq INTEGER);"
	"INSERT INTO timers5 SELECT id, due_at, kind, ticket_id, payload, event_seq FROM timers;"
	"DROP TABLE timers;"
	"ALTER TABLE timers5 RENAME TO timers;"
	"CREATE INDEX timers_due ON timers(due_at);"
	"CREATE INDEX timers_ticket ON timers(ticket_id);",

	/* 6: timers kept in due order (firing reads and deletes them in
	 * sequence, not at random), with ids handed out by the store from a
	 * counter saved with each commit instead of AUTOINCREMENT's extra
	 * write per row; ids are still never reused. */
	"CREATE TABLE timers6(due_at INTEGER NOT NULL, id INTEGER NOT NULL, kind TEXT NOT NULL,"
	"  ticket_id INTEGER, payload TEXT NOT NULL, event_seq INTEGER,"
	"  PRIMARY KEY(due_at, id)) WITHOUT ROWID;"
	"INSERT INTO timers6 SELECT due_at, id, kind, ticket_id, payload, event_seq FROM timers;"
	"CREATE TABLE timer_ids(next INTEGER NOT NULL);"
	"INSERT INTO timer_ids SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'timers'), 0),"
	"  coalesce((SELECT max(id) FROM timers), 0)) + 1;"
	"DROP TABLE timers;"
	"ALTER TABLE timers6 RENAME TO timers;"
	"CREATE INDEX timers_ticket ON timers(ticket_id);",

	/* 7: a ticket's timers are found through ticket_timers instead of an
	 * index on timers(ticket_id), so that firing deletes the timer row
	 * alone, in due order, and leaves its entry here (one random page
	 * write less per fire). Cancelling a ticket's timers deletes those
	 * still pending and clears its entries, stale ones included. */
	"CREATE TABLE ticket_timers(ticket_id INTEGER NOT NULL, due_at INTEGER NOT NULL,"
	"  id INTEGER NOT NULL, PRIMARY KEY(ticket_id, due_at, id)) WITHOUT ROWID;"
	"INSERT INTO ticket_timers SELECT ticket_id, due_at, id FROM timers WHERE ticket_id IS NOT NULL;"
	"DROP INDEX timers_ticket;",

	/* 8: ticket counts for `stats` kept by triggers in the writing
	 * transaction (a rolled-back rule takes its change back with it),
	 * instead of a scan of every ticket on the loop thread per request
	 * (166 ms at a million tickets). */
	"CREATE TABLE ticket_counts(total INTEGER NOT NULL, open INTEGER NOT NULL);"
	"INSERT INTO ticket_counts SELECT count(*), coalesce(sum(state = 'open'), 0) FROM tickets;"
	"CREATE TRIGGER ticket_counts_insert AFTER INSERT ON tickets BEGIN"
	"  UPDATE ticket_counts SET total = total + 1, open = open + (NEW.state = 'open'); END;"
	"CREATE TRIGGER ticket_counts_state AFTER UPDATE OF state ON tickets"
	"  WHEN OLD.state IS NOT NEW.state BEGIN"
	"  UPDATE ticket_counts SET open = open + (NEW.state = 'open') - (OLD.state = 'open'); END;"
	"CREATE TRIGGER ticket_counts_delete AFTER DELETE ON tickets BEGIN"
	"  UPDATE ticket_counts SET total = total - 1, open = open - (OLD.state = 'open'); END;",

	/* 9: delivered notifications in the order they were delivered, so
	 * the oldest are pruned without a scan (see tr_store_outbox_done). */
	"CREATE INDEX outbox_delivered ON outbox(delivered_at) WHERE delivered_at IS NOT NULL;",

	/* 10: a fired nudge or breach is logged in timer_log, appended in
	 * firing order and found from its ticket through the ticket_timers
	 * entry (now kept once its timer fired), instead of a ticket_history
	 * row whose ticket_id index took a random page write per fire: at a
	 * million timers that write cost two thirds of the fire rate. Entries
	 * of timers fired before this have their history already: dropped. */
	"CREATE TABLE timer_log(seq INTEGER PRIMARY KEY, due_at INTEGER NOT NULL, id INTEGER NOT NULL,"
	"  ticket_id INTEGER, at INTEGER NOT NULL, action TEXT NOT NULL, detail TEXT,"
	"  after_line INTEGER NOT NULL);"
	"CREATE INDEX timer_log_timer ON timer_log(due_at, id);"
	"DELETE FROM ticket_timers WHERE NOT EXISTS (SELECT 1 FROM timers t"
	"  WHERE t.due_at = ticket_timers.due_at AND t.id = ticket_timers.id);",

	/* 11: no timer waits on a closed ticket (one added after the close
	 * did nothing when it fired; now none is added, and firing no longer
	 * reads the ticket). */
	"DELETE FROM timers WHERE ticket_id IS NOT NULL AND ticket_id NOT IN (SELECT id FROM tickets WHERE state = 'open');"
	"DELETE FROM ticket_timers WHERE ticket_id NOT IN (SELECT id FROM tickets WHERE state = 'open')"
	"  AND NOT EXISTS (SELECT 1 FROM timer_log l WHERE l.due_at = ticket_timers.due_at AND l.id = ticket_timers.id);",

	/* 12: open tickets are found by key through a map in memory
	 * (tr_open_keys.h), rebuilt from this table at start-up: the index on
	 * their random keys took a random page write per new ticket, 42% of
	 * the WAL's pages with the shipped rules. */
	"DROP INDEX IF EXISTS tickets_open_key;",

	/* 13: the rules whose `on` took an event and whose `when` said no,
	 * for `explain` (a JSON array of names, NULL: none): a column of the
	 * event's row, written once per event, not a row per rule. */
	"ALTER TABLE events ADD COLUMN declined TEXT;",

	/* 14: one keyspace for rule state (SPEC §5: `get` reads what `incr`
	 * counted). A key of `state` holds a value, or a counter (value
	 * NULL) with its window (window_s, 0 forever) and the time its newest
	 * bucket leaves the window (expires_at: an add then deletes it, so
	 * keys counted once do not pile up). Counters kept no window before:
	 * one that only counted forever (bucket 0) says so, the others learn
	 * theirs at their next add. Where a value and a counter shared a
	 * name, get read the value: it stays. */
	"CREATE TABLE state14(key TEXT PRIMARY KEY, value TEXT, window_s INTEGER,"
	"  expires_at INTEGER) WITHOUT ROWID;"
	"INSERT INTO state14(key, value) SELECT key, value FROM state;"
	"INSERT INTO state14(key, window_s) SELECT key, CASE WHEN max(bucket) = 0 THEN 0 END"
	"  FROM counters WHERE key NOT IN (SELECT key FROM state) GROUP BY key;"
	"DELETE FROM counters WHERE key IN (SELECT key FROM state);"
	"DROP TABLE state;"
	"ALTER TABLE state14 RENAME TO state;"
	"CREATE INDEX state_expiry ON state(expires_at) WHERE expires_at IS NOT NULL;"
	"CREATE TRIGGER state_counter_deleted AFTER DELETE ON state WHEN OLD.value IS NULL BEGIN"
	"  DELETE FROM counters WHERE key = OLD.key; END;"
	"CREATE TRIGGER state_counter_replaced AFTER UPDATE OF value ON state"
	"  WHEN OLD.value IS NULL AND NEW.value IS NOT NULL BEGIN"
	"  DELETE FROM counters WHERE key = OLD.key; END;",

	/* 15: a ticket's steps (its nudges, escalations and due time) are
	 * kept under the ticket, in one clustered range; the ticket waits in
	 * `wakes` once, at its earliest pending step, instead of one timer
	 * row and one ticket_timers row per step (8 of a buyer message's 17
	 * B-tree writes). A step that fired or was skipped gets a step_log
	 * row, keyed by when it was due: fires come in due order, so the log
	 * is appended, where marking the step would dirty a random page of
	 * the ticket's range per fire. Pending ticket timers and logged fires
	 * move over. */
	"CREATE TABLE steps(ticket_id INTEGER NOT NULL, at INTEGER NOT NULL, id INTEGER NOT NULL,"
	"  kind TEXT NOT NULL, payload TEXT NOT NULL, event_seq INTEGER,"
	"  PRIMARY KEY(ticket_id, at, id)) WITHOUT ROWID;"
	"CREATE TABLE step_log(at INTEGER NOT NULL, ticket_id INTEGER NOT NULL, id INTEGER NOT NULL,"
	"  state TEXT NOT NULL, fired_at INTEGER NOT NULL, action TEXT, detail TEXT, after_line INTEGER NOT NULL,"
	"  PRIMARY KEY(at, ticket_id, id)) WITHOUT ROWID;"
	"CREATE TABLE wakes(at INTEGER NOT NULL, ticket_id INTEGER NOT NULL,"
	"  PRIMARY KEY(at, ticket_id)) WITHOUT ROWID;"
	"INSERT OR IGNORE INTO steps(ticket_id, at, id, kind, payload, event_seq)"
	"  SELECT ticket_id, due_at, id, kind, payload, event_seq FROM timers WHERE ticket_id IS NOT NULL;"
	"INSERT OR IGNORE INTO steps(ticket_id, at, id, kind, payload)"
	"  SELECT ticket_id, due_at, id, action, '{}' FROM timer_log WHERE ticket_id IS NOT NULL;"
	"INSERT OR IGNORE INTO step_log(at, ticket_id, id, state, fired_at, action, detail, after_line)"
	"  SELECT due_at, ticket_id, id, 'fired', at, action, detail, after_line FROM timer_log"
	"  WHERE ticket_id IS NOT NULL;"
	"INSERT INTO wakes SELECT min(at), ticket_id FROM steps WHERE " STEP_PENDING("steps") " GROUP BY ticket_id;"
	"DELETE FROM timers WHERE ticket_id IS NOT NULL;"
	"DROP TABLE ticket_timers;"
	"DROP TABLE timer_log;",

	/* 16: a delivery that failed its output's `attempts` times, or
	 * outlived its `max_age`, is parked (failed_at) and no longer retried
	 * until `outbox retry` puts it back (retried_at, retried_by: who, and
	 * the age clock restarts then). The pending index leaves parked rows
	 * out, so a pass never walks them; outbox_undelivered gives each
	 * output's counts for `status` and a grouped output's waiting rows. */
	"ALTER TABLE outbox ADD COLUMN failed_at INTEGER;"
	"ALTER TABLE outbox ADD COLUMN retried_at INTEGER;"
	"ALTER TABLE outbox ADD COLUMN retried_by TEXT;"
	"DROP INDEX outbox_pending;"
	"CREATE INDEX outbox_pending ON outbox(next_at) WHERE delivered_at IS NULL AND failed_at IS NULL;"
	"CREATE INDEX outbox_undelivered ON outbox(output, created_at) WHERE delivered_at IS NULL;",

	/* 17: silences (SPEC §6 silence, tr_silences.h), kept a while after
	 * they end for `silence list --all`; outbox_held says which silence
	 * holds which notification (whose next_at is then the silence's end).
	 * A table of its own, not a column of outbox: few rows, deleted when
	 * their silence ends. */
	"CREATE TABLE silences(id INTEGER PRIMARY KEY, account TEXT, queue TEXT, output TEXT, priority TEXT,"
	"  starts_at INTEGER NOT NULL, until INTEGER NOT NULL, reason TEXT NOT NULL, created_by TEXT NOT NULL,"
	"  created_at INTEGER NOT NULL, expired_at INTEGER, expired_by TEXT);"
	"CREATE TABLE outbox_held(id INTEGER PRIMARY KEY, silence_id INTEGER NOT NULL);"
	"CREATE INDEX outbox_held_silence ON outbox_held(silence_id);",

	/* 18: a silence may match a marketplace (amazon.de down for a day),
	 * now that a notification's ticket names it. */
	"ALTER TABLE silences ADD COLUMN marketplace TEXT;",
};

/* A counter's count in its window at time t (a parameter), for a row of
 * state: the buckets above (t - window) / width (store_state.c), all of
 * them for a window of 0 (forever) or not known (counted before windows
 * were stored). */
#define STATE_COUNT(t) "CASE WHEN value IS NULL THEN (SELECT coalesce(sum(c.count), 0) FROM counters c" \
	" WHERE c.key = state.key AND (coalesce(state.window_s, 0) = 0" \
	" OR c.bucket > (" t " - state.window_s) / ((state.window_s + 23) / 24))) END"

static const char *const stmt_sql[S_COUNT] = {
	[S_BEGIN] = "BEGIN IMMEDIATE",
	[S_COMMIT] = "COMMIT",
	[S_ROLLBACK] = "ROLLBACK",
	[S_SAVEPOINT] = "SAVEPOINT rule",
	[S_RELEASE] = "RELEASE rule",
	[S_ROLLBACK_TO] = "ROLLBACK TO rule",
	[S_EVENT_INSERT] = "INSERT INTO events(type, id, account, marketplace, occurred_at,"
			   " received_at, source, payload) VALUES(?,?,?,?,?,?,?,?)"
			   " ON CONFLICT(type, id) DO NOTHING",
	[S_OUTCOME_INSERT] = "INSERT INTO outcomes(event_seq, rule, status, effects, error,"
			     " location, duration_us, created_at) VALUES(?,?,?,?,?,?,?,?)",
	[S_QUARANTINE_ADD] = "INSERT OR REPLACE INTO quarantine(type, id, reason, at) VALUES(?,?,?,?)",
	[S_QUARANTINED] = "SELECT reason FROM quarantine WHERE type = ? AND id = ?",
	[S_TICKET_INSERT] = "INSERT INTO tickets(key, title, queue, priority, state, account,"
			    " assignee, level, due_at, created_at, updated_at, tags, fields)"
			    " VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)",
	[S_TICKET_GET] = "SELECT " TICKET_COLUMNS " FROM tickets WHERE id = ?",
	[S_TICKET_OPEN_KEY] = "SELECT key FROM tickets WHERE id = ? AND state = 'open'",
	[S_TICKET_UPDATE] = "UPDATE tickets SET title = ?, queue = ?, priority = ?, state = ?,"
			    " account = ?, assignee = ?, close_reason = ?, tags = ?, fields = ?,"
			    " level = ?, due_at = ?, closed_at = ?, acked_at = ?, updated_at = ?"
			    " WHERE id = ?",
	/* The same without state and due_at: SQLite rewrites the index
	 * entries of every column an UPDATE names, changed or not. */
	[S_TICKET_UPDATE_BODY] = "UPDATE tickets SET title = ?1, queue = ?2, priority = ?3, account = ?5,"
				 " assignee = ?6, close_reason = ?7, tags = ?8, fields = ?9, level = ?10,"
				 " closed_at = ?12, acked_at = ?13, updated_at = ?14 WHERE id = ?15",
	[S_HISTORY_ADD] = "INSERT INTO ticket_history(ticket_id, at, event_seq, actor, action, detail)"
			  " VALUES(?,?,?,?,?,?)",
	/* SPEC §5 state, one keyspace (store_state.c): a key holds a value,
	 * or a counter (value NULL) whose buckets a trigger deletes with it. */
	[S_STATE_GET] = "SELECT value FROM state WHERE key = ? AND value IS NOT NULL",
	[S_STATE_SET] = "INSERT INTO state(key, value) VALUES(?, ?)"
			" ON CONFLICT(key) DO UPDATE SET value = excluded.value, window_s = NULL, expires_at = NULL",
	[S_STATE_DELETE] = "DELETE FROM state WHERE key = ?",
	[S_STATE_READ] = "SELECT value, window_s, " STATE_COUNT("?2") " FROM state"
			 " WHERE key = ?1 AND (expires_at IS NULL OR expires_at > ?2)",
	[S_STATE_LIST] = "SELECT key, value, window_s, " STATE_COUNT("?4") " FROM state"
			 " WHERE key > ?1 AND key >= ?2 AND (?3 IS NULL OR key < ?3)"
			 " AND (expires_at IS NULL OR expires_at > ?4) ORDER BY key LIMIT ?5",
	/* Through the state_expiry partial index, the longest expired first. */
	[S_STATE_SWEEP] = "DELETE FROM state WHERE key IN (SELECT key FROM state"
			  " WHERE expires_at <= ? ORDER BY expires_at LIMIT 2)",
	[S_COUNTER_ADD] = "INSERT INTO counters(key, bucket, count) VALUES(?, ?, ?)"
			  " ON CONFLICT(key, bucket) DO UPDATE SET count = count + excluded.count",
	[S_COUNTER_SUM] = "SELECT coalesce(sum(count), 0) FROM counters WHERE key = ? AND bucket > ?",
	[S_COUNTER_PRUNE] = "DELETE FROM counters WHERE key = ? AND bucket <= ?",
	/* the key before an add: a value's number when it is [whole number] */
	[S_COUNTER_KEY] = "SELECT value, window_s, CASE WHEN json_valid(value) AND json_type(value, '$[0]') = 'integer'"
			  " THEN json_extract(value, '$[0]') END, expires_at FROM state WHERE key = ?",
	[S_COUNTER_KEY_SET] = "INSERT INTO state(key, value, window_s, expires_at) VALUES(?1, NULL, ?2, ?3)"
			      " ON CONFLICT(key) DO UPDATE SET value = NULL, window_s = ?2, expires_at = ?3",
	[S_COUNTER_BUCKETS] = "SELECT bucket, count FROM counters WHERE key = ?",
	[S_COUNTER_CLEAR] = "DELETE FROM counters WHERE key = ?",
	/* History lines and a ticket's fired or skipped steps in the order
	 * they happened: a step right after the history line that was the
	 * last when it was handled. */
	[S_HISTORY_LIST] = "SELECT at, actor, action, detail, event_seq, due FROM ("
			   " SELECT at, actor, action, detail, event_seq, NULL AS due, id AS k, 0 AS src, 0 AS n"
			   "  FROM ticket_history WHERE ticket_id = ?1"
			   " UNION ALL SELECT l.fired_at, 'timer', l.action, l.detail, NULL, l.at, l.after_line, 1, l.fired_at"
			   "  FROM steps s JOIN step_log l ON l.at = s.at AND l.ticket_id = s.ticket_id AND l.id = s.id"
			   "  WHERE s.ticket_id = ?1 AND l.action IS NOT NULL)"
			   " ORDER BY k, src, n",
	[S_TIMERS_FOR_TICKET] = "SELECT id, at, kind, ticket_id, payload FROM steps"
				" WHERE ticket_id = ? AND " STEP_PENDING("steps") " ORDER BY at, id",
	[S_EVENT_BY_ID] = "SELECT seq, type, id, source, account, marketplace, occurred_at,"
			  " received_at, payload FROM events WHERE type = ? AND id = ?",
	[S_EVENT_BY_SEQ] = "SELECT seq, type, id, source, account, marketplace, occurred_at,"
			   " received_at, payload FROM events WHERE seq = ?",
	[S_OUTCOMES_FOR] = "SELECT rule, status, effects, error, location, duration_us"
			   " FROM outcomes WHERE event_seq = ? ORDER BY id",
	[S_COUNT_EVENTS] = "SELECT coalesce(max(seq), 0) FROM events",
	[S_COUNT_TICKETS] = "SELECT total, open FROM ticket_counts",
	[S_FILE_ADD] = "INSERT INTO files(name, work_name, size, state, started_at) VALUES(?,?,?,'work',?)",
	[S_FILE_PROGRESS] = "UPDATE files SET rows_done = ?, rows_ok = ?, rows_bad = ?, duplicates = ?"
			    " WHERE id = ?",
	[S_FILE_ERROR] = "INSERT INTO file_errors(file_id, line, field, message) VALUES(?,?,?,?)",
	[S_FILE_FINISH] = "UPDATE files SET state = ?, reason = ?, finished_at = ? WHERE id = ?",
	[S_FILE_BY_WORK] = "SELECT id, name, work_name, size, state, rows_done, rows_ok, rows_bad,"
			   " duplicates, started_at FROM files WHERE work_name = ? ORDER BY id DESC LIMIT 1",
	[S_FILE_ERRORS] = "SELECT line, field, message FROM file_errors WHERE file_id = ? ORDER BY line",
	[S_TIMER_ADD] = "INSERT INTO timers(due_at, kind, ticket_id, payload, event_seq, id) VALUES(?,?,?,?,?,?)",
	[S_TIMER_IDS_SAVE] = "UPDATE timer_ids SET next = ?",
	/* The earliest of the schedules and the tickets' wakes. */
	[S_TIMER_NEXT] = "SELECT min(m) FROM (SELECT min(due_at) AS m FROM timers"
			 " UNION ALL SELECT min(at) FROM wakes)",
	/* Both tables in due order, merged (a compound ORDER BY walks the two
	 * primary keys side by side, no sort): a wake reads as kind "wake". */
	[S_TIMERS_DUE] = "SELECT id, due_at, kind, ticket_id, payload FROM timers WHERE due_at <= ?1"
			 " UNION ALL SELECT 0, at, 'wake', ticket_id, NULL FROM wakes WHERE at <= ?1"
			 " ORDER BY 2 LIMIT ?2",
	[S_TIMER_DELETE] = "DELETE FROM timers WHERE due_at = ? AND id = ?",
	[S_TIMERS_LIST] = "SELECT id, due_at, kind, ticket_id, payload FROM timers ORDER BY due_at, id LIMIT ?",
	[S_WAKES_LIST] = "SELECT at, ticket_id FROM wakes ORDER BY at, ticket_id",
	/* Schedules and tickets waiting: a count of pending steps would read
	 * every step a ticket ever had. */
	[S_TIMERS_COUNT] = "SELECT (SELECT count(*) FROM timers) + (SELECT count(*) FROM wakes)",
	/* SPEC §5 a ticket's steps end when it closes: none is added to a
	 * closed ticket, so firing needs no look at the ticket's state. */
	[S_STEP_ADD] = "INSERT INTO steps(ticket_id, at, id, kind, payload, event_seq) VALUES(?1,?2,?3,?4,?5,?6)",
	[S_STEP_ADD_CHECKED] = "INSERT INTO steps(ticket_id, at, id, kind, payload, event_seq)"
			       " SELECT ?1, ?2, ?3, ?4, ?5, ?6"
			       " WHERE EXISTS (SELECT 1 FROM tickets WHERE id = ?1 AND state = 'open')",
	[S_STEP_FIRST] = "SELECT at FROM steps WHERE ticket_id = ? AND " STEP_PENDING("steps") " ORDER BY at LIMIT 1",
	[S_STEPS_CANCEL] = "DELETE FROM steps WHERE ticket_id = ?1 AND " STEP_PENDING("steps")
			   " AND (?2 IS NULL OR kind = ?2)",
	[S_STEPS_DUE] = "SELECT id, at, kind, ticket_id, payload FROM steps"
			" WHERE ticket_id = ? AND " STEP_PENDING("steps") " ORDER BY at, id LIMIT ?",
	/* Only a step still there (not cancelled meanwhile) and not done. */
	[S_STEP_DONE] = "INSERT OR IGNORE INTO step_log(at, ticket_id, id, state, fired_at, action, detail, after_line)"
			" SELECT ?2, ?1, ?3, ?4, ?5, ?6, ?7, (SELECT coalesce(max(id), 0) FROM ticket_history)"
			" WHERE EXISTS (SELECT 1 FROM steps WHERE ticket_id = ?1 AND at = ?2 AND id = ?3)",
	/* The same for a step this fire just read, when no step changed since. */
	[S_STEP_LOG] = "INSERT OR IGNORE INTO step_log(at, ticket_id, id, state, fired_at, action, detail, after_line)"
		       " VALUES(?2, ?1, ?3, ?4, ?5, ?6, ?7, (SELECT coalesce(max(id), 0) FROM ticket_history))",
	[S_STEP_MOVE] = "UPDATE steps SET at = ?4, payload = ?5 WHERE ticket_id = ?1 AND at = ?2 AND id = ?3"
			" AND " STEP_PENDING("steps"),
	/* A recount's slice (SPEC §3 calendars): the tickets still waiting
	 * (each has its wakes row), earliest first, then each one's pending
	 * steps counted in a calendar; never the steps already fired, which
	 * the steps table keeps for ever. */
	[S_WAKES_AFTER] = "SELECT at, ticket_id FROM wakes WHERE (at, ticket_id) > (?1, ?2)"
			  " ORDER BY at, ticket_id LIMIT ?3",
	[S_STEPS_CALENDARED] = "SELECT id, at, kind, ticket_id, payload FROM steps WHERE ticket_id = ?1"
			       " AND payload LIKE '%\"cal\":%' AND " STEP_PENDING("steps") " ORDER BY at, id",
	[S_WAKE_ADD] = "INSERT OR IGNORE INTO wakes(at, ticket_id) VALUES(?, ?)",
	[S_WAKE_DELETE] = "DELETE FROM wakes WHERE at = ? AND ticket_id = ?",
	[S_OUTBOX_ADD] = "INSERT INTO outbox(created_at, output, payload, next_at) VALUES(?,?,?,?)",
	/* In the order of the outbox_pending index: ORDER BY id alone sorted
	 * every pending row to return a batch, O(n log n) per pass. */
	[S_OUTBOX_PENDING] = "SELECT id, output, payload, attempts, created_at, coalesce(retried_at, created_at)"
			     " FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL"
			     " AND next_at <= ? ORDER BY next_at, id LIMIT ?",
	[S_OUTBOX_DONE] = "UPDATE outbox SET delivered_at = ?, attempts = attempts + 1 WHERE id = ?",
	[S_OUTBOX_RETRY] = "UPDATE outbox SET attempts = attempts + 1, next_at = ?, last_error = ? WHERE id = ?",
	[S_OUTBOX_NEXT] = "SELECT min(next_at) FROM outbox WHERE delivered_at IS NULL AND failed_at IS NULL",
	/* Through the outcomes_status partial index, in the order they failed. */
	[S_FAILED_OUTCOMES] = "SELECT id, event_seq, rule FROM outcomes WHERE status = 'error' AND id > ?1"
			      " AND (?2 IS NULL OR rule = ?2) AND (?3 = 0 OR event_seq = ?3) ORDER BY id LIMIT ?4",
	[S_OUTCOME_RETRIED] = "UPDATE outcomes SET status = 'retried' WHERE id = ? AND status = 'error'",
	/* Two for each delivery: pruning keeps pace with deliveries, a little at a time. */
	[S_OUTBOX_PRUNE] = "DELETE FROM outbox WHERE id IN (SELECT id FROM outbox WHERE delivered_at IS NOT NULL"
			   " AND delivered_at < ? ORDER BY delivered_at LIMIT 2)",
	[S_TICKET_LADDER] = "UPDATE tickets SET ladder = ? WHERE id = ?",
	[S_SUSPECT_ADD] = "INSERT INTO suspects(type, id, count, at) VALUES(?, ?, 1, ?)"
			  " ON CONFLICT(type, id) DO UPDATE SET count = count + 1, at = excluded.at",
	[S_SUSPECT_COUNT] = "SELECT count FROM suspects WHERE type = ? AND id = ?",
	[S_FILES_FINISHED_SINCE] = "SELECT coalesce(sum(state = 'done'), 0), coalesce(sum(state = 'rejected'), 0)"
				   " FROM files WHERE finished_at >= ?",
	[S_EVENT_DECLINED_SET] = "UPDATE events SET declined = ? WHERE seq = ?",
	[S_EVENT_DECLINED] = "SELECT declined FROM events WHERE seq = ?",
	/* Parked deliveries and their way back (store_outbox.c). */
	[S_OUTBOX_PARK] = "UPDATE outbox SET attempts = attempts + 1, last_error = ?, failed_at = ? WHERE id = ?",
	[S_OUTBOX_DEFER] = "UPDATE outbox SET next_at = ? WHERE id = ?",
	[S_OUTBOX_UNPARK] = "UPDATE outbox SET failed_at = NULL, attempts = 0, next_at = ?1, retried_at = ?1,"
			    " retried_by = ?2 WHERE failed_at IS NOT NULL AND delivered_at IS NULL"
			    " AND (?3 = 0 OR id = ?3)",
	/* Through outbox_undelivered, one output after the other. */
	[S_OUTBOX_COUNTS] = "SELECT output, coalesce(sum(failed_at IS NULL), 0), coalesce(sum(failed_at IS NOT NULL), 0),"
			    " min(CASE WHEN failed_at IS NULL THEN created_at END) FROM outbox"
			    " WHERE delivered_at IS NULL GROUP BY output",
	/* Through outbox_undelivered, not the rowid: the week of delivered
	 * rows kept outnumbers what waits. */
	[S_OUTBOX_LIST] = "SELECT id, output, created_at, attempts, last_error, next_at, failed_at, payload,"
			  " retried_at, retried_by FROM outbox INDEXED BY outbox_undelivered WHERE delivered_at IS NULL"
			  " AND (?1 = 0 OR failed_at IS NOT NULL) AND id > ?2 ORDER BY id LIMIT ?3",
	/* A grouped output's rows that are due by ?2, oldest first. */
	[S_OUTBOX_GROUP] = "SELECT id, output, payload, attempts, created_at, coalesce(retried_at, created_at)"
			   " FROM outbox WHERE output = ?1 AND delivered_at IS NULL AND failed_at IS NULL"
			   " AND next_at <= ?2 ORDER BY id LIMIT ?3",
	/* Silences and the notifications they hold (store_silences.c). */
	[S_SILENCE_ADD] = "INSERT INTO silences(account, queue, output, priority, starts_at, until, reason,"
			  " created_by, created_at, marketplace) VALUES(?,?,?,?,?,?,?,?,?,?)",
	[S_SILENCE_EXPIRE] = "UPDATE silences SET expired_at = ?2, expired_by = ?3"
			     " WHERE id = ?1 AND expired_at IS NULL AND until > ?2",
	[S_SILENCE_RELEASE] = "UPDATE outbox SET next_at = ?2 WHERE id IN (SELECT id FROM outbox_held WHERE silence_id = ?1)"
			      " AND delivered_at IS NULL",
	[S_SILENCE_UNHOLD] = "DELETE FROM outbox_held WHERE silence_id = ?",
	[S_SILENCE_HOLD_NEXT] = "UPDATE outbox SET next_at = ?2 WHERE id = ?1 AND delivered_at IS NULL",
	[S_SILENCE_HOLD] = "INSERT OR REPLACE INTO outbox_held(id, silence_id) VALUES(?, ?)",
	/* Few rows (TR_SILENCES_MAX running, KEEP_ENDED ended): no index but
	 * the primary key's. */
	[S_SILENCES_LIST] = "SELECT id, account, queue, output, priority, starts_at, until, reason, created_by,"
			    " created_at, expired_at, expired_by, CASE WHEN expired_at IS NULL AND until > ?3 THEN"
			    " (SELECT count(*) FROM outbox_held h JOIN outbox o ON o.id = h.id"
			    " WHERE h.silence_id = silences.id AND o.delivered_at IS NULL) ELSE 0 END, marketplace"
			    " FROM silences WHERE (?1 = 0 OR id = ?1) AND (?2 OR (expired_at IS NULL AND until > ?3))"
			    " ORDER BY id DESC LIMIT ?4",
	[S_SILENCES_HELD] = "SELECT count(*) FROM outbox_held h JOIN silences s ON s.id = h.silence_id"
			    " JOIN outbox o ON o.id = h.id WHERE s.expired_at IS NULL AND s.until > ?1"
			    " AND o.delivered_at IS NULL",
	[S_SILENCES_PRUNE_HELD] = "DELETE FROM outbox_held WHERE silence_id IN (SELECT id FROM silences"
				  " WHERE expired_at IS NOT NULL OR until <= ?1)",
	/* Ended long enough ago, or past the newest ?3 kept. */
	[S_SILENCES_PRUNE] = "DELETE FROM silences WHERE id IN (SELECT id FROM silences"
			     " WHERE (expired_at IS NOT NULL OR until <= ?1) AND (coalesce(expired_at, until) < ?2"
			     " OR id < (SELECT id FROM silences ORDER BY id DESC LIMIT 1 OFFSET ?3)) LIMIT ?4)",
	[S_SILENCE_HELD_ROWS] = "SELECT o.id, o.output, o.payload FROM outbox_held h JOIN outbox o ON o.id = h.id"
				" WHERE h.silence_id = ? AND o.delivered_at IS NULL ORDER BY o.id",
};

const char *tr_store_errmsg(struct tr_store *s)
{
	return sqlite3_errmsg(s->db);
}

sqlite3_stmt *tr_store_prepare(struct tr_store *s, enum stmt which)
{
	if (sqlite3_prepare_v3(s->db, stmt_sql[which], -1, SQLITE_PREPARE_PERSISTENT,
			       &s->stmts[which], NULL) != SQLITE_OK) {
		log_errx("store: cannot prepare \"%s\": %s", stmt_sql[which], sqlite3_errmsg(s->db));
		return NULL;
	}
	return s->stmts[which];
}

static int exec_simple(struct tr_store *s, enum stmt which)
{
	sqlite3_stmt *st = stmt(s, which);
	return st ? run(s, st) : TR_ESTORE;
}

static int migrate(struct tr_store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int version = 0;
	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			version = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	int latest = (int)(sizeof(migrations) / sizeof(migrations[0]));
	if (version > latest) {
		snprintf(err, errlen, "database schema version %d is newer than this triaged (%d)",
			 version, latest);
		return TR_ESTORE;
	}
	for (; version < latest; version++) {
		char sql[64];
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", version + 1);
		char *msg = NULL;
		if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(s->db, migrations[version], NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK ||
		    sqlite3_exec(s->db, "COMMIT", NULL, NULL, &msg) != SQLITE_OK) {
			snprintf(err, errlen, "migration to schema %d failed: %s", version + 1,
				 msg ? msg : sqlite3_errmsg(s->db));
			sqlite3_free(msg);
			sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
			return TR_ESTORE;
		}
		log_info("store: migrated schema to version %d", version + 1);
	}
	return 0;
}

/* Replaces SQLite's automatic checkpoint, which would run inside a commit
 * on the event loop: the daemon checkpoints on a worker thread instead. */
static int wal_hook(void *ud, sqlite3 *db, const char *name, int pages)
{
	(void)db;
	(void)name;
	((struct tr_store *)ud)->wal_pages = pages;
	return SQLITE_OK;
}

int64_t tr_store_wal_pages(struct tr_store *s)
{
	return s->wal_pages;
}

/* Sets one PRAGMA to value: 0 or TR_ESTORE. */
static int set_pragma(struct tr_store *s, const char *name, const char *value)
{
	char sql[96];
	snprintf(sql, sizeof(sql), "PRAGMA %s = %s", name, value);
	return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : TR_ESTORE;
}

int tr_store_wal_limit(struct tr_store *s, int64_t bytes)
{
	char value[24];
	snprintf(value, sizeof(value), "%lld", (long long)bytes);
	return set_pragma(s, "journal_size_limit", value);
}

int tr_store_set_synchronous(struct tr_store *s, int full)
{
	return set_pragma(s, "synchronous", full ? "FULL" : "NORMAL");
}

int tr_store_checkpoint_now(struct tr_store *s)
{
	int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_RESTART, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		log_errx("store: checkpoint: %s", sqlite3_errmsg(s->db));
		return TR_ESTORE;
	}
	s->wal_pages = 0;
	return 0;
}

/* Writes out the file's dirty pages and waits for them, without the
 * journal commit an fsync forces: under durability full the loop's own
 * commit fsyncs would queue behind it (p50 1.6 -> 3.5 ms with fdatasync
 * here). Durability is still the job of the fsyncs SQLite makes; this
 * only leaves them less to write. 0 or a negative errno. */
static int write_out_file(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	int rc = sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
					   SYNC_FILE_RANGE_WAIT_AFTER) == 0 ? 0 : -errno;
	close(fd);
	return rc;
}

int tr_store_checkpoint(const char *path, int sync, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc == SQLITE_OK)
		sqlite3_busy_timeout(db, 1000);
	/* A connection that has not read the database yet has not opened the
	 * WAL: its checkpoint would quietly do nothing. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "SELECT 1 FROM sqlite_schema LIMIT 1", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_wal_checkpoint_v2(db, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK)
		snprintf(err, errlen, "%s", db ? sqlite3_errmsg(db) : "out of memory");
	sqlite3_close(db);
	if (rc != SQLITE_OK)
		return TR_ESTORE;
	if (sync) {
		int src = write_out_file(path);
		if (src) {
			snprintf(err, errlen, "sync_file_range: %s", strerror(-src));
			return src;
		}
	}
	return 0;
}

int tr_store_connect(const char *path, enum tr_durability durability, struct tr_store **out,
		     char *err, size_t errlen)
{
	/* No global memory statistics: they take a mutex on every allocation,
	 * and the checkpoint thread makes that mutex contended. Only has an
	 * effect before SQLite initialises, i.e. on the first open. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	/* Each rule runs in a savepoint, whose sub-journal keeps a copy of the
	 * pages the rule touches. In memory up to 1 MiB, in one block (with
	 * temp_store = MEMORY it grew 1 KiB at a time: ~27 mallocs an event);
	 * past that it spills to a temporary file. */
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 1 << 20);
	struct tr_store *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* After the sqlite3_config calls: finding the default VFS initialises
	 * SQLite. Commits' WAL frames go out in one write (tr_wal_vfs.h). */
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
			    SQLITE_OPEN_NOMUTEX, tr_wal_vfs()) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		tr_store_close(s);
		return TR_ESTORE;
	}
	/* SPEC §3: full survives power loss (fsync at every commit); normal
	 * survives a crash of the process (WAL synced at checkpoints). */
	char pragmas[256];
	snprintf(pragmas, sizeof(pragmas),
		 "PRAGMA journal_mode = WAL; PRAGMA synchronous = %s; PRAGMA busy_timeout = 5000;"
		 "PRAGMA foreign_keys = OFF; PRAGMA cache_size = -16000; PRAGMA temp_store = FILE;",
		 durability == TR_DURABILITY_FULL ? "FULL" : "NORMAL");
	char *msg = NULL;
	if (sqlite3_exec(s->db, pragmas, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "cannot set up database %s: %s", path, msg ? msg : "?");
		sqlite3_free(msg);
		tr_store_close(s);
		return TR_ESTORE;
	}
	if (migrate(s, err, errlen)) {
		tr_store_close(s);
		return TR_ESTORE;
	}
	sqlite3_wal_hook(s->db, wal_hook, s);
	*out = s;
	return 0;
}

void tr_store_close(struct tr_store *s)
{
	if (!s)
		return;
	for (int i = 0; i < S_COUNT; i++)
		sqlite3_finalize(s->stmts[i]);
	tr_open_keys_free(s->open_keys);
	free(s->journal);
	if (s->db && sqlite3_close(s->db) != SQLITE_OK)
		log_errx("store: close: %s", sqlite3_errmsg(s->db));
	free(s);
}

int tr_store_begin(struct tr_store *s) { return exec_simple(s, S_BEGIN); }
int tr_store_commit(struct tr_store *s)
{
	if (s->next_timer_id != s->saved_timer_id && !sqlite3_get_autocommit(s->db)) {
		sqlite3_stmt *st = stmt(s, S_TIMER_IDS_SAVE);
		if (!st)
			return TR_ESTORE;
		sqlite3_bind_int64(st, 1, s->next_timer_id);
		int rc = run(s, st);
		if (rc)
			return rc;
	}
	s->fresh_ticket = 0;
	tr_store_wake_forget(s);
	int rc = exec_simple(s, S_COMMIT);
	if (rc == 0) {
		s->saved_timer_id = s->next_timer_id;
		tr_open_keys_commit(s->open_keys);
	}
	return rc;
}
/* The map of open keys follows every way a transaction ends, including
 * one SQLite already rolled back by itself (a failed COMMIT, a full disk):
 * then there is no ROLLBACK to run, but the map's changes are undone all
 * the same. */
int tr_store_rollback(struct tr_store *s)
{
	s->fresh_ticket = 0;
	tr_store_wake_forget(s);
	tr_open_keys_rollback(s->open_keys);
	return tr_store_in_transaction(s) ? exec_simple(s, S_ROLLBACK) : 0;
}
int tr_store_savepoint(struct tr_store *s)
{
	if (tr_open_keys_savepoint(s->open_keys))
		return -ENOMEM;
	int rc = exec_simple(s, S_SAVEPOINT);
	if (rc)
		tr_open_keys_release(s->open_keys);
	return rc;
}
int tr_store_release(struct tr_store *s)
{
	int rc = exec_simple(s, S_RELEASE);
	if (rc == 0)
		tr_open_keys_release(s->open_keys);
	return rc;
}
int tr_store_rollback_to(struct tr_store *s)
{
	s->fresh_ticket = 0;
	tr_store_wake_forget(s);
	int rc = exec_simple(s, S_ROLLBACK_TO);
	if (rc == 0)
		tr_open_keys_rollback_to(s->open_keys);
	return rc;
}
int tr_store_in_transaction(struct tr_store *s) { return !sqlite3_get_autocommit(s->db); }
