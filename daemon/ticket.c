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
#include "tr_plan.h"
#include "tr_ticket.h"

const char *tr_ticket_action_field(const char *action)
{
	static const char *const fields[][2] = {
		{"ack", ""}, {"assign", "assignee"}, {"comment", "text"}, {"close", "reason"}, {"reopen", "reason"}};
	for (size_t i = 0; action && i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(action, fields[i][0]) == 0)
			return fields[i][1];
	return NULL;
}

int tr_ticket_action(const char *action, const char *arg, int64_t ack_timeout, struct tr_ticket_change *c)
{
	*c = (struct tr_ticket_change){.action = action};
	if (strcmp(action, "ack") == 0) {
		c->ack = 1;
		c->ack_timeout = ack_timeout;
	} else if (strcmp(action, "assign") == 0 || strcmp(action, "comment") == 0) {
		if (!arg || !*arg)
			return -EINVAL;
		c->detail = arg;
		if (action[0] == 'a')
			c->assignee = arg;
	} else if (strcmp(action, "close") == 0) {
		c->close = 1;
		c->reason = c->detail = arg ? arg : "closed by hand";
	} else if (strcmp(action, "reopen") == 0) {
		c->reopen = 1;
		c->detail = arg;
	} else {
		return -EINVAL;
	}
	return 0;
}

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

/* Replaces the ticket's due-time step (SPEC §3 Time): when due_at passes
 * with the ticket open, the engine emits ticket.breached. Steps anchored
 * to the due time follow it. */
static int set_due_step(struct tr_store *s, int64_t id, const struct tr_ticket_change *c, int64_t due_at,
			int64_t event_seq)
{
	int rc = tr_store_timers_cancel(s, id, "due");
	struct tr_step_note p = {.cal = c->due_calendar, .base = c->due_base, .off = c->due_off};
	struct tr_buf b = {0};
	tr_plan_payload(&b, &p);
	if (rc == 0)
		rc = b.oom ? -ENOMEM : tr_store_timer_add(s, due_at, "due", id, b.p, event_seq, NULL);
	tr_buf_free(&b);
	return rc ? rc : tr_plan_due_moved(s, id, due_at);
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
			rc = set_due_step(s, id, c, c->due_at, event_seq);
		if (rc == 0 && c->reopen && w.due_at > now)
			rc = set_due_step(s, id, c, w.due_at, event_seq);
		int paused = 0;
		if (rc == 0 && c->ack && open)
			rc = tr_plan_pause(s, &w, c->ack_timeout > 0 ? c->ack_timeout : TR_ACK_TIMEOUT_DEFAULT, now,
					   &paused);
		if (rc == 0 && paused) {
			char line[80];
			snprintf(line, sizeof(line), "%d escalation%s paused", paused, paused == 1 ? "" : "s");
			rc = tr_store_history_add(s, id, now, event_seq, actor, "paused", line);
		}
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
