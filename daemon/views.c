/* The JSON views of what is stored (tr_views.h): a ticket, a ticket with its
 * history and timers, the tickets a filter selects, an event explained, the
 * pending timers. The socket answers with them today; the web board and the
 * metrics will tomorrow. Rows come from the store's reads; this file turns
 * them into the answer's bytes, and is the one place those bytes are decided.
 * Not SQL (store*.c), not the envelope of an answer (protocol.c). */
#include <stdint.h>
#include <stdlib.h>
#include <cjson/cJSON.h>
#include "tr_error.h"
#include "tr_plan.h"
#include "tr_store.h"
#include "tr_time.h"
#include "tr_views.h"

void tr_view_add_time(cJSON *o, const char *name, int64_t t)
{
	char buf[40];
	if (t && tr_time_format(t, NULL, buf, sizeof(buf)) == 0)
		cJSON_AddStringToObject(o, name, buf);
	else
		cJSON_AddNullToObject(o, name);
}

void tr_view_add_text(cJSON *o, const char *name, const char *v)
{
	if (v)
		cJSON_AddStringToObject(o, name, v);
	else
		cJSON_AddNullToObject(o, name);
}

/* Adds parsed JSON text, or the fallback when it does not parse. */
static void add_json(cJSON *o, const char *name, const char *text, cJSON *fallback)
{
	cJSON *v = text ? cJSON_Parse(text) : NULL;
	if (v) {
		cJSON_Delete(fallback);
		cJSON_AddItemToObject(o, name, v);
	} else {
		cJSON_AddItemToObject(o, name, fallback);
	}
}

cJSON *tr_view_ticket(const struct tr_ticket *t)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)t->id);
	tr_view_add_text(o, "key", t->key);
	tr_view_add_text(o, "title", t->title);
	tr_view_add_text(o, "queue", t->queue);
	tr_view_add_text(o, "priority", t->priority);
	tr_view_add_text(o, "state", t->state);
	tr_view_add_text(o, "account", t->account);
	tr_view_add_text(o, "assignee", t->assignee);
	cJSON_AddNumberToObject(o, "level", (double)t->level);
	tr_view_add_time(o, "due_at", t->due_at);
	tr_view_add_time(o, "created_at", t->created_at);
	tr_view_add_time(o, "updated_at", t->updated_at);
	tr_view_add_time(o, "closed_at", t->closed_at);
	tr_view_add_text(o, "close_reason", t->close_reason);
	tr_view_add_time(o, "acked_at", t->acked_at);
	add_json(o, "tags", t->tags, cJSON_CreateArray());
	add_json(o, "fields", t->fields, cJSON_CreateObject());
	return o;
}

static int add_ticket(void *ud, const struct tr_ticket *t)
{
	cJSON_AddItemToArray(ud, tr_view_ticket(t));
	return 0;
}

cJSON *tr_view_tickets(struct tr_store *s, const struct tr_ticket_filter *f)
{
	cJSON *list = cJSON_CreateArray();
	if (list && tr_store_tickets_each(s, f, add_ticket, list) == TR_ESTORE) {
		cJSON_Delete(list);
		return NULL;
	}
	return list;
}

static int add_history_line(void *ud, const struct tr_history_row *row)
{
	cJSON *h = cJSON_CreateObject();
	tr_view_add_time(h, "at", row->at);
	tr_view_add_text(h, "actor", row->actor);
	tr_view_add_text(h, "action", row->action);
	tr_view_add_text(h, "detail", row->detail);
	if (!row->has_event_seq)
		cJSON_AddNullToObject(h, "event_seq");
	else
		cJSON_AddNumberToObject(h, "event_seq", (double)row->event_seq);
	if (row->due_at) { /* a step: when it was due, and how late it fired */
		tr_view_add_time(h, "due_at", row->due_at);
		if (row->at - row->due_at > TR_PLAN_LATE_S)
			cJSON_AddNumberToObject(h, "late_s", (double)(row->at - row->due_at));
	}
	cJSON_AddItemToArray(ud, h);
	return 0;
}

static int add_timer(void *ud, const struct tr_timer_row *row)
{
	cJSON *tm = cJSON_CreateObject();
	cJSON_AddNumberToObject(tm, "id", (double)row->id);
	tr_view_add_time(tm, "due_at", row->due_at);
	tr_view_add_text(tm, "kind", row->kind);
	if (!row->has_ticket)
		cJSON_AddNullToObject(tm, "ticket");
	else
		cJSON_AddNumberToObject(tm, "ticket", (double)row->ticket_id);
	/* What the step says, by name: the payload is kept for scripts that
	 * read it, but nobody should have to. */
	cJSON *payload = row->payload ? cJSON_Parse(row->payload) : NULL;
	if (payload && row->has_ticket) {
		struct tr_step_note p;
		tr_plan_payload_read(payload, &p);
		if (p.note)
			cJSON_AddStringToObject(tm, "note", p.note);
		if (p.notify)
			cJSON_AddStringToObject(tm, "notify", p.notify);
		if (p.level)
			cJSON_AddNumberToObject(tm, "level", (double)p.level);
		if (p.ladder)
			cJSON_AddStringToObject(tm, "ladder", p.ladder);
		if (p.cal)
			cJSON_AddStringToObject(tm, "calendar", p.cal);
		if (p.before_due)
			cJSON_AddNumberToObject(tm, "before_due_s", (double)p.before_due);
		if (p.paused_at) { /* SPEC §5: an ack paused it; it resumes at due_at */
			cJSON_AddBoolToObject(tm, "paused", 1);
			tr_view_add_time(tm, "scheduled_at", p.paused_from);
			tr_view_add_time(tm, "acked_at", p.paused_at);
		}
	}
	if (payload)
		cJSON_AddItemToObject(tm, "payload", payload);
	else
		cJSON_AddItemToObject(tm, "payload", cJSON_CreateObject());
	cJSON_AddItemToArray(ud, tm);
	return 0;
}

/* A history or timer list that cannot be read stays empty: the ticket
 * itself was read, and is still worth showing. */
cJSON *tr_view_ticket_by_id(struct tr_store *s, int64_t id, int with_history, int *found)
{
	struct tr_ticket t;
	int rc = tr_store_ticket_get(s, id, &t);
	*found = rc == 0;
	if (rc)
		return NULL;
	cJSON *o = tr_view_ticket(&t);
	tr_ticket_free(&t);
	if (!o || !with_history)
		return o;

	cJSON *history = cJSON_AddArrayToObject(o, "history");
	if (history)
		tr_store_history_each(s, id, add_history_line, history);
	cJSON *timers = cJSON_AddArrayToObject(o, "timers");
	if (timers)
		tr_store_ticket_timers_each(s, id, add_timer, timers);
	return o;
}

struct explained {
	cJSON *o;
	int64_t seq;
};

static void explain_event(void *ud, const struct tr_event_row *row)
{
	struct explained *x = ud;
	x->seq = row->seq;
	x->o = cJSON_CreateObject();
	cJSON *ev = cJSON_AddObjectToObject(x->o, "event");
	cJSON_AddNumberToObject(ev, "seq", (double)row->seq);
	tr_view_add_text(ev, "type", row->type);
	tr_view_add_text(ev, "id", row->id);
	tr_view_add_text(ev, "source", row->source);
	tr_view_add_text(ev, "account", row->account);
	tr_view_add_text(ev, "marketplace", row->marketplace);
	tr_view_add_time(ev, "occurred_at", row->occurred_at);
	tr_view_add_time(ev, "received_at", row->received_at);
	add_json(ev, "payload", row->payload, cJSON_CreateNull());
}

static int add_outcome(void *ud, const struct tr_outcome_row *row)
{
	cJSON *oc = cJSON_CreateObject();
	tr_view_add_text(oc, "rule", row->rule);
	tr_view_add_text(oc, "status", row->status);
	add_json(oc, "effects", row->effects, cJSON_CreateArray());
	tr_view_add_text(oc, "error", row->error);
	tr_view_add_text(oc, "location", row->location);
	cJSON_AddNumberToObject(oc, "duration_us", (double)row->duration_us);
	cJSON_AddItemToArray(ud, oc);
	return 0;
}

/* "declined": [{"rule": name}] for each rule whose `on` took the event
 * and whose `when` said no, in the order they ran; an object each, so a
 * detail can join the name later. Unreadable: the list stays empty. */
static void add_declined(struct tr_store *s, int64_t seq, cJSON *list)
{
	char *text = NULL;
	if (!list || tr_store_event_declined_get(s, seq, &text) || !text)
		return;
	cJSON *names = cJSON_Parse(text), *it;
	cJSON_ArrayForEach(it, names) {
		cJSON *o = cJSON_CreateObject();
		if (cJSON_IsString(it))
			cJSON_AddStringToObject(o, "rule", it->valuestring);
		cJSON_AddItemToArray(list, o);
	}
	cJSON_Delete(names);
	free(text);
}

/* Outcomes that cannot be read leave the list short, as for a ticket's
 * history. */
cJSON *tr_view_explain(struct tr_store *s, const char *type, const char *id, int64_t seq, int *found)
{
	struct explained x = {0};
	*found = tr_store_event_find(s, type, id, seq, explain_event, &x) == 1;
	if (!x.o)
		return NULL;
	cJSON *outcomes = cJSON_AddArrayToObject(x.o, "outcomes");
	if (outcomes)
		tr_store_outcomes_each(s, x.seq, add_outcome, outcomes);
	add_declined(s, x.seq, cJSON_AddArrayToObject(x.o, "declined"));
	return x.o;
}

cJSON *tr_view_timers(struct tr_store *s, int limit, int64_t *total)
{
	if (tr_store_timers_count(s, total))
		return NULL;
	cJSON *list = cJSON_CreateArray();
	if (list && tr_store_timers_each(s, limit, add_timer, list) == TR_ESTORE) {
		cJSON_Delete(list);
		return NULL;
	}
	return list;
}
