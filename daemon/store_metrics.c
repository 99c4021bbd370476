/* The store's grouped reads for `metrics` (tr_store_metrics.h). Their
 * statements are prepared per call, not kept in the connection's table:
 * a scrape comes every 15 s or so, and preparing costs microseconds. Not
 * the text (metrics.c). */
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

struct open_tickets {
	int (*fn)(void *ud, const char *queue, const char *priority, int64_t n);
	void *ud;
};

static int open_row(void *ud, sqlite3_stmt *st)
{
	struct open_tickets *x = ud;
	return x->fn(x->ud, text(st, 0), text(st, 1), sqlite3_column_int64(st, 2));
}

int tr_store_open_tickets_each(struct tr_store *s,
			       int (*fn)(void *ud, const char *queue, const char *priority, int64_t n), void *ud)
{
	struct open_tickets x = {fn, ud};
	return each_row(s, "SELECT queue, priority, count(*) FROM tickets WHERE state = 'open'"
			   " GROUP BY queue, priority", 0, open_row, &x);
}

static int count_row(void *ud, sqlite3_stmt *st)
{
	*(int64_t *)ud = sqlite3_column_int64(st, 0);
	return 0;
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
