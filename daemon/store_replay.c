/* The reads and writes of `triagectl replay` (tr_store_replay.h): a
 * read-only connection to the live database that hands out its stored
 * events in order, and the few statements that sum up a scratch database
 * a replay ran into (what became of each ticket, what was notified). Not
 * the daemon's store (store.c and its families), which this never opens
 * for writing: the daemon's database is only ever read here. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>
#include "store_internal.h"
#include "tr_store_replay.h"

struct tr_store_reader {
	sqlite3 *db;
	sqlite3_stmt *events, *tickets;
};

int tr_store_reader_open(const char *path, struct tr_store_reader **out, char *err, size_t errlen)
{
	*out = NULL;
	if (access(path, F_OK) != 0) {
		int rc = -errno;
		snprintf(err, errlen, "no database at %s: %s", path, strerror(errno));
		return rc == -ENOENT ? -ENOENT : TR_ESTORE;
	}
	/* The first connection of the process initialises SQLite: the same
	 * settings as the store's (tr_store_connect, which explains them), or
	 * they would not hold for the scratch stores opened after this one. */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	sqlite3_config(SQLITE_CONFIG_STMTJRNL_SPILL, 1 << 20);
	struct tr_store_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	/* Read-only: SQLite refuses every write on this connection, so
	 * nothing a replay does can reach the live database. */
	if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK ||
	    sqlite3_exec(r->db, "PRAGMA busy_timeout = 5000; PRAGMA query_only = 1", NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open database %s: %s", path, r->db ? sqlite3_errmsg(r->db) : "out of memory");
		tr_store_reader_close(r);
		return TR_ESTORE;
	}
	*out = r;
	return 0;
}

void tr_store_reader_close(struct tr_store_reader *r)
{
	if (!r)
		return;
	sqlite3_finalize(r->events);
	sqlite3_finalize(r->tickets);
	sqlite3_close(r->db);
	free(r);
}

/* One value of a one-row query; 0 or TR_ESTORE. */
static int one_int(sqlite3 *db, const char *sql, int64_t *v)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return TR_ESTORE;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW)
		*v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return step == SQLITE_ROW ? 0 : TR_ESTORE;
}

int tr_store_reader_last_seq(struct tr_store_reader *r, int64_t *seq)
{
	return one_int(r->db, "SELECT coalesce(max(seq), 0) FROM events", seq);
}

int tr_store_reader_events(struct tr_store_reader *r, const struct tr_replay_range *range, int limit,
			   struct tr_event *out, int *n, int *more, int64_t *last, int64_t *skipped, char *err,
			   size_t errlen)
{
	*n = 0;
	if (!r->events &&
	    sqlite3_prepare_v2(r->db,
			       "SELECT seq, source, received_at, payload FROM events"
			       " WHERE seq > ?1 AND seq <= ?2 AND received_at >= ?3 AND received_at < ?4"
			       " AND source NOT LIKE 'timer:%' ORDER BY seq LIMIT ?5",
			       -1, &r->events, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read the events: %s", sqlite3_errmsg(r->db));
		return TR_ESTORE;
	}
	sqlite3_stmt *st = r->events;
	sqlite3_bind_int64(st, 1, range->after);
	sqlite3_bind_int64(st, 2, range->upto);
	sqlite3_bind_int64(st, 3, range->since);
	sqlite3_bind_int64(st, 4, range->until > 0 ? range->until : INT64_MAX);
	sqlite3_bind_int(st, 5, limit);
	int step, rows = 0;
	while ((step = sqlite3_step(st)) == SQLITE_ROW) {
		rows++;
		*last = sqlite3_column_int64(st, 0);
		const char *payload = (const char *)sqlite3_column_text(st, 3);
		int64_t received_at = sqlite3_column_int64(st, 2);
		cJSON *obj = payload ? cJSON_Parse(payload) : NULL;
		char why[256];
		/* Stored payloads are normalised: this only rebuilds the struct,
		 * as tr_store_event_get does. Zone NULL: occurred_at has its offset. */
		if (!obj || tr_event_init(&out[*n], obj, NULL, (const char *)sqlite3_column_text(st, 1), received_at,
					  why, sizeof(why))) {
			(*skipped)++;
			continue;
		}
		out[*n].received_at = received_at;
		(*n)++;
	}
	int rc = step == SQLITE_DONE ? 0 : TR_ESTORE;
	if (rc) {
		snprintf(err, errlen, "cannot read the events: %s", sqlite3_errmsg(r->db));
		for (int i = 0; i < *n; i++)
			tr_event_free(&out[i]);
		*n = 0;
	}
	*more = rc == 0 && rows == limit; /* skipped rows count: a batch of them is not the end */
	sqlite3_reset(st);
	return rc;
}

int tr_store_replay_scratch(struct tr_store *s)
{
	/* The WAL the store opens with needs checkpoints nobody runs here;
	 * a journal in memory keeps each batch's savepoints working. */
	return sqlite3_exec(s->db, "PRAGMA locking_mode = EXCLUSIVE; PRAGMA journal_mode = MEMORY;"
			    " PRAGMA synchronous = OFF", NULL, NULL, NULL) == SQLITE_OK ? 0 : TR_ESTORE;
}

int tr_store_replay_finish(struct tr_store *s, const struct tr_replay_counts *c)
{
	char sql[512];
	snprintf(sql, sizeof(sql),
		 "BEGIN;"
		 "CREATE TABLE replay_notified(ticket_id INTEGER, output TEXT NOT NULL, n INTEGER NOT NULL);"
		 "INSERT INTO replay_notified SELECT json_extract(payload, '$.ticket.id'), output, count(*)"
		 "  FROM outbox GROUP BY 1, 2;"
		 "CREATE INDEX replay_notified_ticket ON replay_notified(ticket_id, output);"
		 "CREATE TABLE replay_counts(events, rule_errors, skipped, last_at);"
		 "INSERT INTO replay_counts VALUES(%lld, %lld, %lld, %lld);"
		 "COMMIT;",
		 (long long)c->events, (long long)c->rule_errors, (long long)c->skipped, (long long)c->last_at);
	char *msg = NULL;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_errx("replay: cannot sum up the scratch database: %s", msg ? msg : "?");
		sqlite3_free(msg);
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
		return TR_ESTORE;
	}
	return 0;
}

int tr_store_reader_counts(struct tr_store_reader *r, struct tr_replay_counts *c)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, "SELECT events, rule_errors, skipped, last_at FROM replay_counts", -1, &st,
			       NULL) != SQLITE_OK)
		return TR_ESTORE;
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		c->events = sqlite3_column_int64(st, 0);
		c->rule_errors = sqlite3_column_int64(st, 1);
		c->skipped = sqlite3_column_int64(st, 2);
		c->last_at = sqlite3_column_int64(st, 3);
	}
	sqlite3_finalize(st);
	return step == SQLITE_ROW ? 0 : TR_ESTORE;
}

static const char *text_or(sqlite3_stmt *st, int i, const char *def)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	return s ? s : def;
}

int tr_store_reader_ticket_next(struct tr_store_reader *r, struct tr_replay_ticket *t)
{
	if (!r->tickets &&
	    sqlite3_prepare_v2(r->db,
			       "SELECT t.id, t.key, t.title, t.state, t.close_reason, t.priority, t.queue,"
			       " coalesce(t.due_at, 0), t.level,"
			       " (SELECT count(*) FROM ticket_history h WHERE h.ticket_id = t.id"
			       "   AND h.action = 'escalate'),"
			       " (SELECT group_concat(output || ' ' || n, ', ') FROM"
			       "   (SELECT output, n FROM replay_notified x WHERE x.ticket_id = t.id ORDER BY output))"
			       " FROM tickets t ORDER BY t.key, t.id",
			       -1, &r->tickets, NULL) != SQLITE_OK) {
		log_errx("replay: cannot read the tickets: %s", sqlite3_errmsg(r->db));
		return TR_ESTORE;
	}
	sqlite3_stmt *st = r->tickets;
	int step = sqlite3_step(st);
	if (step == SQLITE_DONE)
		return 0;
	if (step != SQLITE_ROW) {
		log_errx("replay: cannot read the tickets: %s", sqlite3_errmsg(r->db));
		return TR_ESTORE;
	}
	t->id = sqlite3_column_int64(st, 0);
	t->key = text_or(st, 1, "");
	t->title = text_or(st, 2, "");
	t->state = text_or(st, 3, "");
	t->close_reason = text_or(st, 4, "");
	t->priority = text_or(st, 5, "");
	t->queue = text_or(st, 6, "");
	t->due_at = sqlite3_column_int64(st, 7);
	t->level = sqlite3_column_int64(st, 8);
	t->escalations = sqlite3_column_int64(st, 9);
	t->notified = text_or(st, 10, "");
	return 1;
}

int tr_store_reader_notified(struct tr_store_reader *r,
			     void (*each)(void *ud, const char *output, int64_t n), void *ud)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(r->db, "SELECT output, sum(n) FROM replay_notified GROUP BY output ORDER BY output",
			       -1, &st, NULL) != SQLITE_OK)
		return TR_ESTORE;
	int step;
	while ((step = sqlite3_step(st)) == SQLITE_ROW)
		each(ud, text_or(st, 0, ""), sqlite3_column_int64(st, 1));
	sqlite3_finalize(st);
	return step == SQLITE_DONE ? 0 : TR_ESTORE;
}
