/* The store's grouped reads for `metrics` (tr_store_metrics.h). Their
 * statements are prepared per call, not kept in the connection's table:
 * a scrape comes every 15 s or so, and preparing costs microseconds. Open
 * tickets by queue and priority are counted by triggers of this connection
 * (TEMP: not in the database file, no migration, nothing in the WAL) once
 * the first scrape set them up. Not the text (metrics.c). */
#include "store_internal.h"
#include "tr_store_metrics.h"

/* Runs sql (binding now to ?1 when it has one), calling row(ud, st) for
 * each row; stops at row's first non-zero return. */
static int each_row(struct tr_store *s, const char *sql, int64_t now, int (*row)(void *ud, sqlite3_stmt *st),
		    void *ud)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		return TR_ESTORE;
	}
	if (sqlite3_bind_parameter_count(st) > 0)
		sqlite3_bind_int64(st, 1, now);
	int rc = 0, step;
	while (rc == 0 && (step = sqlite3_step(st)) == SQLITE_ROW)
		rc = row(ud, st);
	if (rc == 0 && step != SQLITE_DONE) {
		log_errx("store: %s", sqlite3_errmsg(s->db));
		rc = TR_ESTORE;
	}
	sqlite3_finalize(st);
	return rc;
}

static const char *text(sqlite3_stmt *st, int col)
{
	const char *v = (const char *)sqlite3_column_text(st, col);
	return v ? v : "";
}

static int count_row(void *ud, sqlite3_stmt *st)
{
	*(int64_t *)ud = sqlite3_column_int64(st, 0);
	return 0;
}

struct open_tickets {
	int (*fn)(void *ud, const char *queue, const char *priority, int64_t n);
	void *ud;
};

static int open_row(void *ud, sqlite3_stmt *st)
{
	struct open_tickets *x = ud;
	return x->fn(x->ud, text(st, 0), text(st, 1), sqlite3_column_int64(st, 2));
}

/* Open tickets by (queue, priority), kept by triggers in the writing
 * transaction, so a rolled-back rule takes its change back with it, as
 * ticket_counts does for `stats`. A GROUP BY per scrape read every open
 * ticket's row: 2 s on the loop at half a million open. The triggers cost
 * a write to this small table per ticket opened, closed, reopened, moved
 * or reprioritised; rows that fall to 0 stay (a queue comes back). */
static const char open_counts_sql[] =
	"SAVEPOINT open_counts;"
	"CREATE TEMP TABLE open_counts(queue TEXT NOT NULL, priority TEXT NOT NULL, n INTEGER NOT NULL,"
	"  PRIMARY KEY(queue, priority)) WITHOUT ROWID;"
	"INSERT INTO open_counts SELECT queue, priority, count(*) FROM main.tickets WHERE state = 'open'"
	"  GROUP BY queue, priority;"
	"CREATE TEMP TRIGGER open_counts_insert AFTER INSERT ON main.tickets WHEN NEW.state = 'open' BEGIN"
	"  INSERT INTO open_counts VALUES(NEW.queue, NEW.priority, 1)"
	"  ON CONFLICT(queue, priority) DO UPDATE SET n = n + 1; END;"
	"CREATE TEMP TRIGGER open_counts_delete AFTER DELETE ON main.tickets WHEN OLD.state = 'open' BEGIN"
	"  UPDATE open_counts SET n = n - 1 WHERE queue = OLD.queue AND priority = OLD.priority; END;"
	"CREATE TEMP TRIGGER open_counts_update AFTER UPDATE OF state, queue, priority ON main.tickets"
	"  WHEN (OLD.state = 'open' OR NEW.state = 'open') AND (OLD.state IS NOT NEW.state"
	"  OR OLD.queue IS NOT NEW.queue OR OLD.priority IS NOT NEW.priority) BEGIN"
	"  UPDATE open_counts SET n = n - 1 WHERE OLD.state = 'open' AND queue = OLD.queue AND priority = OLD.priority;"
	"  INSERT INTO open_counts SELECT NEW.queue, NEW.priority, 1 WHERE NEW.state = 'open'"
	"  ON CONFLICT(queue, priority) DO UPDATE SET n = n + 1; END;"
	"RELEASE open_counts;";

/* Sets the counts up when this connection has none yet: at the first
 * scrape, or again after the transaction that made them rolled back. */
static int open_counts_ready(struct tr_store *s)
{
	int64_t have = 0;
	int rc = each_row(s, "SELECT count(*) FROM temp.sqlite_master WHERE name = 'open_counts'", 0, count_row,
			  &have);
	if (rc || have)
		return rc;
	char *msg = NULL;
	if (sqlite3_exec(s->db, open_counts_sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_errx("store: cannot count open tickets by queue: %s", msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_exec(s->db, "ROLLBACK TO open_counts; RELEASE open_counts;", NULL, NULL, NULL);
		return TR_ESTORE;
	}
	return 0;
}

int tr_store_open_tickets_each(struct tr_store *s,
			       int (*fn)(void *ud, const char *queue, const char *priority, int64_t n), void *ud)
{
	struct open_tickets x = {fn, ud};
	int rc = open_counts_ready(s);
	return rc ? rc : each_row(s, "SELECT queue, priority, n FROM temp.open_counts WHERE n > 0", 0, open_row, &x);
}

int tr_store_breached_count(struct tr_store *s, int64_t now, int64_t *n)
{
	*n = 0;
	return each_row(s, "SELECT count(*) FROM tickets WHERE state = 'open' AND due_at IS NOT NULL AND due_at < ?1",
			now, count_row, n);
}

struct pending {
	int (*fn)(void *ud, const char *kind, int64_t n);
	void *ud;
};

static int pending_row(void *ud, sqlite3_stmt *st)
{
	struct pending *x = ud;
	return x->fn(x->ud, text(st, 0), sqlite3_column_int64(st, 1));
}

int tr_store_pending_timers_each(struct tr_store *s, int (*fn)(void *ud, const char *kind, int64_t n), void *ud)
{
	struct pending x = {fn, ud};
	return each_row(s, "SELECT kind, count(*) FROM timers GROUP BY kind"
			   " UNION ALL SELECT 'ticket', count(*) FROM wakes", 0, pending_row, &x);
}
