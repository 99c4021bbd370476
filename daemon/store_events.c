/* Events and what the rules made of them: the event rows (SPEC §2
 * duplicates), each rule's outcome and the retry of failed ones (SPEC §3),
 * and the poison-pill quarantine and its suspects. Not what rules keep
 * between events (store_state.c), tickets (store_tickets.c), timers
 * (store_timers.c) nor the JSON an event is explained with (views.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sqlite3.h>
#include <cjson/cJSON.h>
#include "store_internal.h"

int tr_store_event_insert(struct tr_store *s, struct tr_event *ev)
{
	sqlite3_stmt *st = stmt(s, S_EVENT_INSERT);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, ev->type);
	bind_text(st, 2, ev->id);
	bind_text(st, 3, ev->account);
	bind_text(st, 4, ev->marketplace);
	sqlite3_bind_int64(st, 5, ev->occurred_at);
	sqlite3_bind_int64(st, 6, ev->received_at);
	bind_text(st, 7, ev->source);
	bind_text(st, 8, ev->payload_text);
	int rc = run(s, st);
	if (rc)
		return rc;
	if (sqlite3_changes(s->db) == 0)
		return TR_EDUP;
	ev->seq = sqlite3_last_insert_rowid(s->db);
	return 0;
}

int tr_store_outcome_insert(struct tr_store *s, int64_t event_seq, const char *rule,
			    const char *status, const char *effects, const char *error,
			    const char *location, int64_t duration_us, int64_t now)
{
	sqlite3_stmt *st = stmt(s, S_OUTCOME_INSERT);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, event_seq);
	bind_text(st, 2, rule);
	bind_text(st, 3, status);
	bind_text(st, 4, effects);
	bind_text(st, 5, error);
	bind_text(st, 6, location);
	sqlite3_bind_int64(st, 7, duration_us);
	sqlite3_bind_int64(st, 8, now);
	return run(s, st);
}

int tr_store_failed_outcomes(struct tr_store *s, int64_t after, const char *rule, int64_t seq, int limit,
			     struct tr_failed_outcome *out, int *n)
{
	sqlite3_stmt *st = stmt(s, S_FAILED_OUTCOMES);
	*n = 0;
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, after);
	bind_text(st, 2, rule);
	sqlite3_bind_int64(st, 3, seq);
	sqlite3_bind_int(st, 4, limit);
	int step = SQLITE_DONE;
	while (*n < limit && (step = sqlite3_step(st)) == SQLITE_ROW) {
		struct tr_failed_outcome *o = &out[(*n)++];
		o->id = sqlite3_column_int64(st, 0);
		o->event_seq = sqlite3_column_int64(st, 1);
		snprintf(o->rule, sizeof(o->rule), "%s", (const char *)sqlite3_column_text(st, 2));
	}
	int rc = *n == limit || step == SQLITE_DONE ? 0 : TR_ESTORE;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

int tr_store_outcome_retried(struct tr_store *s, int64_t id)
{
	sqlite3_stmt *st = stmt(s, S_OUTCOME_RETRIED);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, id);
	return run(s, st);
}

int tr_store_event_get(struct tr_store *s, int64_t seq, struct tr_event *ev, char *err, size_t errlen)
{
	sqlite3_stmt *st = stmt(s, S_EVENT_BY_SEQ);
	if (!st) {
		snprintf(err, errlen, "database error: %s", sqlite3_errmsg(s->db));
		return TR_ESTORE;
	}
	sqlite3_bind_int64(st, 1, seq);
	int step = sqlite3_step(st), rc;
	if (step == SQLITE_ROW) {
		const char *payload = (const char *)sqlite3_column_text(st, 8);
		cJSON *obj = payload ? cJSON_Parse(payload) : NULL;
		/* Stored payloads are normalised already: this only rebuilds the
		 * struct. Zone NULL: occurred_at carries its offset. */
		rc = obj ? tr_event_init(ev, obj, NULL, (const char *)sqlite3_column_text(st, 3),
					 sqlite3_column_int64(st, 7), err, errlen)
			 : (snprintf(err, errlen, "the stored payload is not JSON"), TR_EPARSE);
		if (rc == 0) {
			ev->seq = sqlite3_column_int64(st, 0);
			ev->received_at = sqlite3_column_int64(st, 7);
		}
	} else {
		rc = step == SQLITE_DONE ? -ENOENT : TR_ESTORE;
		snprintf(err, errlen, "%s", step == SQLITE_DONE ? "no such event" : sqlite3_errmsg(s->db));
	}
	sqlite3_reset(st);
	return rc;
}

void tr_store_quarantine_load(struct tr_store *s)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM quarantine", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			s->quarantined = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
}

int tr_store_quarantine_add(struct tr_store *s, const char *type, const char *id,
			    const char *reason, int64_t now)
{
	sqlite3_stmt *st = stmt(s, S_QUARANTINE_ADD);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, type);
	bind_text(st, 2, id);
	bind_text(st, 3, reason);
	sqlite3_bind_int64(st, 4, now);
	int rc = run(s, st);
	if (rc == 0)
		s->quarantined++;
	return rc;
}

int tr_store_quarantined(struct tr_store *s, const char *type, const char *id, char *buf, size_t len)
{
	if (s->quarantined == 0)
		return 0;
	sqlite3_stmt *st = stmt(s, S_QUARANTINED);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, type);
	bind_text(st, 2, id);
	int found = 0, rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		found = 1;
		snprintf(buf, len, "%s", (const char *)sqlite3_column_text(st, 0));
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : TR_ESTORE;
}

int tr_store_suspect_add(struct tr_store *s, const char *type, const char *id, int64_t now, int64_t *count)
{
	sqlite3_stmt *st = stmt(s, S_SUSPECT_ADD);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, type);
	bind_text(st, 2, id);
	sqlite3_bind_int64(st, 3, now);
	int rc = run(s, st);
	if (rc || !(st = stmt(s, S_SUSPECT_COUNT)))
		return rc ? rc : TR_ESTORE;
	bind_text(st, 1, type);
	bind_text(st, 2, id);
	*count = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 1;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return 0;
}

int tr_store_event_find(struct tr_store *s, const char *type, const char *id, int64_t seq,
			void (*got)(void *ud, const struct tr_event_row *ev), void *ud)
{
	sqlite3_stmt *st = stmt(s, seq > 0 ? S_EVENT_BY_SEQ : S_EVENT_BY_ID);
	if (!st)
		return TR_ESTORE;
	if (seq > 0) {
		sqlite3_bind_int64(st, 1, seq);
	} else {
		bind_text(st, 1, type);
		bind_text(st, 2, id);
	}
	int step = sqlite3_step(st), found = 0;
	if (step == SQLITE_ROW) {
		found = 1;
		struct tr_event_row ev = {
			.seq = sqlite3_column_int64(st, 0),
			.type = (const char *)sqlite3_column_text(st, 1),
			.id = (const char *)sqlite3_column_text(st, 2),
			.source = (const char *)sqlite3_column_text(st, 3),
			.account = (const char *)sqlite3_column_text(st, 4),
			.marketplace = (const char *)sqlite3_column_text(st, 5),
			.occurred_at = sqlite3_column_int64(st, 6),
			.received_at = sqlite3_column_int64(st, 7),
			.payload = (const char *)sqlite3_column_text(st, 8),
		};
		got(ud, &ev);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return step == SQLITE_ROW || step == SQLITE_DONE ? found : TR_ESTORE;
}

int tr_store_event_declined(struct tr_store *s, int64_t seq, const char *json)
{
	sqlite3_stmt *st = stmt(s, S_EVENT_DECLINED_SET);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, json);
	sqlite3_bind_int64(st, 2, seq);
	return run(s, st);
}

int tr_store_event_declined_get(struct tr_store *s, int64_t seq, char **json)
{
	*json = NULL;
	sqlite3_stmt *st = stmt(s, S_EVENT_DECLINED);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, seq);
	int step = sqlite3_step(st), rc = 0;
	if (step == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL && !(*json = column_strdup(st, 0)))
		rc = -ENOMEM;
	else if (step != SQLITE_ROW && step != SQLITE_DONE)
		rc = TR_ESTORE;
	sqlite3_reset(st);
	return rc;
}

int tr_store_outcomes_each(struct tr_store *s, int64_t seq,
			   int (*each)(void *ud, const struct tr_outcome_row *o), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_OUTCOMES_FOR);
	if (!st)
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, seq);
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct tr_outcome_row o = {
			.rule = (const char *)sqlite3_column_text(st, 0),
			.status = (const char *)sqlite3_column_text(st, 1),
			.effects = (const char *)sqlite3_column_text(st, 2),
			.error = (const char *)sqlite3_column_text(st, 3),
			.location = (const char *)sqlite3_column_text(st, 4),
			.duration_us = sqlite3_column_int64(st, 5),
		};
		rc = each(ud, &o);
	}
	sqlite3_reset(st);
	return rc;
}
