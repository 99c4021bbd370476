/* Ticket changes shared by rules (lua_ticket.c) and people (protocol.c):
 * load, change, write back, append history, in the caller's transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_json.h"
#include "tr_calendar.h"
#include "tr_error.h"
#include "tr_event.h"
#include "tr_ticket.h"

int tr_ticket_priority_valid(const char *p)
{
	static const char *const names[] = {"low", "normal", "high", "urgent"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(p, names[i]) == 0)
			return 1;
	return 0;
}

/* tags with tag added once; malloc'd JSON text or NULL. */
static char *add_tag(const char *tags, const char *tag)
{
	cJSON *arr = cJSON_Parse(tags);
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		arr = cJSON_CreateArray();
	}
	int present = 0;
	for (cJSON *x = arr ? arr->child : NULL; x; x = x->next)
		present |= cJSON_IsString(x) && strcmp(x->valuestring, tag) == 0;
	if (arr && !present)
		cJSON_AddItemToArray(arr, cJSON_CreateString(tag));
	char *out = arr ? tr_json_print(arr) : NULL;
	cJSON_Delete(arr);
	return out;
}

/* fields with the members of add merged in; malloc'd JSON text or NULL. */
static char *merge_fields(const char *fields, const char *add_json)
{
	cJSON *cur = cJSON_Parse(fields), *add = cJSON_Parse(add_json);
	if (!cJSON_IsObject(cur)) {
		cJSON_Delete(cur);
		cur = cJSON_CreateObject();
	}
	for (cJSON *x = add ? add->child : NULL; x && cur; x = x->next) {
		cJSON_DeleteItemFromObjectCaseSensitive(cur, x->string);
		if (!cJSON_IsNull(x))
			cJSON_AddItemToObject(cur, x->string, cJSON_Duplicate(x, 1));
	}
	char *out = cur ? tr_json_print(cur) : NULL;
	cJSON_Delete(cur);
	cJSON_Delete(add);
	return out;
}

/* Replaces the ticket's "due" timer (SPEC §3 Time): when due_at passes
 * with the ticket open, the engine emits ticket.breached. */
static int set_due_timer(struct tr_store *s, int64_t id, int64_t due_at, int64_t event_seq)
{
	int rc = tr_store_timers_cancel(s, id, "due");
	return rc ? rc : tr_store_timer_add(s, due_at, "due", id, NULL, event_seq, NULL);
}

/* Opens member key (a plain literal: nothing to escape) of a JSON object,
 * with a comma before all but the first (*n counts them). */
static void member(struct tr_buf *b, int *n, const char *key)
{
	if ((*n)++)
		tr_buf_add(b, ",", 1);
	tr_buf_add(b, "\"", 1);
	tr_buf_add(b, key, strlen(key));
	tr_buf_add(b, "\":", 2);
}

/* Member key = v, left out when v is NULL. */
static void add_str(struct tr_buf *b, int *n, const char *key, const char *v)
{
	if (v) {
		member(b, n, key);
		tr_json_add_string(b, v);
	}
}

/* Member key = v, left out when v is 0. */
static void add_int(struct tr_buf *b, int *n, const char *key, int64_t v)
{
	if (v) {
		member(b, n, key);
		tr_json_add_int(b, v);
	}
}

void tr_ticket_timer_payload(struct tr_buf *b, const char *note, const char *notify, int64_t level,
			     const char *ladder, int64_t repeat)
{
	int n = 0;
	tr_buf_add(b, "{", 1);
	add_str(b, &n, "note", note);
	add_str(b, &n, "notify", notify);
	add_str(b, &n, "ladder", ladder);
	add_int(b, &n, "level", level);
	add_int(b, &n, "repeat", repeat);
	tr_buf_add(b, "}", 1);
}

/* An "escalate" timer for level l of ladder at t; repeat: which repeat of
 * the top level it is (0: the level itself). */
static int add_level_timer(struct tr_store *s, int64_t id, const cJSON *ladder, const cJSON *l, int64_t repeat,
			   int64_t t, int64_t event_seq)
{
	const cJSON *name = cJSON_GetObjectItemCaseSensitive(ladder, "name");
	const cJSON *notify = cJSON_GetObjectItemCaseSensitive(l, "notify");
	const cJSON *note = cJSON_GetObjectItemCaseSensitive(l, "note");
	struct tr_buf b = {0};
	tr_ticket_timer_payload(&b, cJSON_IsString(note) ? note->valuestring : NULL,
				cJSON_IsString(notify) ? notify->valuestring : NULL, tr_json_whole(l, "level", 0),
				cJSON_IsString(name) ? name->valuestring : "", repeat);
	int rc = b.oom ? -ENOMEM : tr_store_timer_add(s, t, "escalate", id, b.p, event_seq, NULL);
	tr_buf_free(&b);
	return rc;
}

/* The ladder's last level, or NULL. */
static const cJSON *top_level(const cJSON *ladder)
{
	const cJSON *levels = cJSON_GetObjectItemCaseSensitive(ladder, "levels"), *l = NULL;
	for (const cJSON *x = levels ? levels->child : NULL; x; x = x->next)
		l = x;
	return l;
}

/* Repeat number `repeat` of the top level, `repeat` after base, when the
 * ladder repeats that often. */
static int arm_repeat(struct tr_store *s, const struct tr_calendars *cals, int64_t id, const cJSON *ladder,
		      int64_t repeat, int64_t base, int64_t event_seq)
{
	const cJSON *cal = cJSON_GetObjectItemCaseSensitive(ladder, "calendar");
	int64_t every = tr_json_whole(ladder, "repeat", 0), t;
	int64_t times = tr_json_whole(ladder, "repeat_times", 0);
	const cJSON *top = top_level(ladder);
	if (every <= 0 || !top || (times > 0 && repeat > times))
		return 0;
	int rc = tr_calendars_add(cals, cJSON_IsString(cal) ? cal->valuestring : NULL, base, every, &t);
	return rc ? rc : add_level_timer(s, id, ladder, top, repeat, t, event_seq);
}

int tr_ticket_arm_ladder(struct tr_store *s, const struct tr_calendars *cals, int64_t id,
			 const char *ladder_json, int64_t after_level, int64_t base, int64_t event_seq)
{
	cJSON *ladder = cJSON_Parse(ladder_json);
	if (!ladder)
		return -EINVAL;
	const cJSON *cal = cJSON_GetObjectItemCaseSensitive(ladder, "calendar");
	const cJSON *levels = cJSON_GetObjectItemCaseSensitive(ladder, "levels");
	int64_t t = base;
	int rc = 0, armed = 0;
	for (const cJSON *l = levels ? levels->child : NULL; l && rc == 0; l = l->next) {
		int64_t level = tr_json_whole(l, "level", 0), after = tr_json_whole(l, "after", 0);
		if (level <= after_level)
			continue;
		rc = tr_calendars_add(cals, cJSON_IsString(cal) ? cal->valuestring : NULL, t, after, &t);
		if (rc == 0)
			rc = add_level_timer(s, id, ladder, l, 0, t, event_seq);
		armed++;
	}
	/* Re-armed at the top (an ack timed out there): the repeats go on. */
	if (rc == 0 && !armed && after_level > 0)
		rc = arm_repeat(s, cals, id, ladder, 1, base, event_seq);
	cJSON_Delete(ladder);
	return rc;
}

int tr_ticket_ladder_fired(struct tr_store *s, const struct tr_calendars *cals, int64_t id, const char *ladder_json,
			   int64_t level, int64_t repeat, int64_t now, int64_t event_seq)
{
	cJSON *ladder = cJSON_Parse(ladder_json);
	if (!ladder)
		return -EINVAL;
	const cJSON *top = top_level(ladder);
	int rc = 0;
	if (top && tr_json_whole(top, "level", 0) == level)
		rc = arm_repeat(s, cals, id, ladder, repeat + 1, now, event_seq);
	cJSON_Delete(ladder);
	return rc;
}

/* Ack: the pending escalations stop; if the ladder has an ack_timeout, an
 * "ack_timeout" timer re-arms the levels above the current one then. */
static int pause_ladder(struct tr_store *s, const struct tr_ticket *t, int64_t now, int64_t event_seq)
{
	int rc = tr_store_timers_cancel(s, t->id, "escalate");
	if (rc == 0)
		rc = tr_store_timers_cancel(s, t->id, "ack_timeout");
	cJSON *ladder = t->ladder ? cJSON_Parse(t->ladder) : NULL;
	int64_t timeout = tr_json_whole(ladder, "ack_timeout", 0);
	cJSON_Delete(ladder);
	if (rc == 0 && timeout > 0) {
		char payload[64];
		snprintf(payload, sizeof(payload), "{\"after_level\":%lld}", (long long)t->level);
		rc = tr_store_timer_add(s, now + timeout, "ack_timeout", t->id, payload, event_seq, NULL);
	}
	return rc;
}

int tr_ticket_apply(struct tr_store *s, int64_t id, const struct tr_ticket_change *c,
		    const char *actor, int64_t event_seq, int64_t now, char *err, size_t errlen)
{
	struct tr_ticket t;
	int rc = tr_store_ticket_get(s, id, &t);
	if (rc) {
		snprintf(err, errlen, rc == -ENOENT ? "no ticket %lld" : "cannot read ticket %lld", (long long)id);
		return rc;
	}
	int open = strcmp(t.state, "open") == 0;
	if (c->close && !open) {
		snprintf(err, errlen, "ticket %lld is already closed", (long long)id);
		rc = -EINVAL;
	} else if (c->reopen && open) {
		snprintf(err, errlen, "ticket %lld is already open", (long long)id);
		rc = -EINVAL;
	}
	char *tags = NULL, *fields = NULL;
	if (rc == 0 && c->tag && !(tags = add_tag(t.tags, c->tag)))
		rc = -ENOMEM;
	if (rc == 0 && c->fields_json && !(fields = merge_fields(t.fields, c->fields_json)))
		rc = -ENOMEM;
	if (rc == 0) {
		/* Borrowed values are written through a shallow copy, so t still
		 * owns exactly what it allocated. */
		struct tr_ticket w = t;
		if (c->priority) w.priority = (char *)c->priority;
		if (c->title) w.title = (char *)c->title;
		if (c->queue) w.queue = (char *)c->queue;
		if (c->assignee) w.assignee = (char *)c->assignee;
		if (tags) w.tags = tags;
		if (fields) w.fields = fields;
		if (c->due_at) w.due_at = c->due_at;
		if (c->level) w.level = c->level;
		if (c->ack) w.acked_at = now;
		if (c->close) {
			w.state = "closed";
			w.closed_at = now;
			w.close_reason = (char *)c->reason;
		}
		if (c->reopen) {
			w.state = "open";
			w.closed_at = 0;
			w.close_reason = NULL;
		}
		rc = tr_store_ticket_update(s, &w, &t, now);
		if (rc == 0)
			rc = tr_store_history_add(s, id, now, event_seq, actor, c->action, c->detail);
		/* SPEC §5: closing cancels what is pending; a new due time
		 * replaces the old breach timer; ack pauses the ladder. */
		if (rc == 0 && c->close)
			rc = tr_store_timers_cancel(s, id, NULL);
		if (rc == 0 && c->due_at && strcmp(w.state, "open") == 0)
			rc = set_due_timer(s, id, c->due_at, event_seq);
		if (rc == 0 && c->reopen && w.due_at > now)
			rc = set_due_timer(s, id, w.due_at, event_seq);
		if (rc == 0 && c->ack && open)
			rc = pause_ladder(s, &t, now, event_seq);
		if (rc == -EEXIST) { /* reopening: the store refuses a second open ticket with the key */
			snprintf(err, errlen, "another open ticket has the key %s", t.key);
			rc = -EINVAL;
		} else if (rc && rc != -ENOMEM) {
			snprintf(err, errlen, "database error: %s", tr_store_errmsg(s));
		}
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	free(tags);
	free(fields);
	tr_ticket_free(&t);
	return rc;
}
