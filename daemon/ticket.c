/* Ticket changes shared by rules (lua_ticket.c) and people (protocol.c):
 * load, change, write back, append history, in the caller's transaction. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_error.h"
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
	char *out = arr ? cJSON_PrintUnformatted(arr) : NULL;
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
	char *out = cur ? cJSON_PrintUnformatted(cur) : NULL;
	cJSON_Delete(cur);
	cJSON_Delete(add);
	return out;
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
	} else if (c->reopen && tr_store_ticket_find_open(s, t.key) != 0) {
		snprintf(err, errlen, "another open ticket has the key %s", t.key);
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
		rc = tr_store_ticket_update(s, &w, now);
		if (rc == 0)
			rc = tr_store_history_add(s, id, now, event_seq, actor, c->action, c->detail);
		if (rc)
			snprintf(err, errlen, "database error: %s", tr_store_errmsg(s));
	} else if (rc == -ENOMEM) {
		snprintf(err, errlen, "out of memory");
	}
	free(tags);
	free(fields);
	tr_ticket_free(&t);
	return rc;
}
