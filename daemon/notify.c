/* Queuing notifications into the outbox, with the ticket they are about:
 * the payload around the line a person reads (notify_text.c). Not their
 * delivery (outputs.c). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_json.h"
#include "tr_error.h"
#include "tr_event.h"
#include "tr_notify.h"
#include "tr_time.h"
#include "tr_views.h"

int tr_notify_output_known(const struct tr_config *cfg, const char *name)
{
	if (strcmp(name, "journal") == 0 || strcmp(name, "watch") == 0)
		return 1;
	return tr_config_output(cfg, name) != NULL;
}

/* The ticket's part of the payload, and the line a person reads in *line
 * (malloc'd, the caller frees; NULL when the ticket cannot be read, and
 * then the note goes out as it is). */
static cJSON *about_ticket(struct tr_store *s, const struct tr_config *cfg, int64_t ticket_id, const char *note,
			   const char *marketplace, int64_t now, char **line)
{
	*line = NULL;
	struct tr_ticket t;
	if (tr_store_ticket_get(s, ticket_id, &t) != 0)
		return NULL;
	cJSON *o = tr_view_ticket(&t);
	struct tr_notify_about a;
	const char *zone = tr_notify_ticket_zone(s, cfg, ticket_id);
	tr_notify_about_fill(&a, &t, marketplace, zone, now);
	/* issue 20: exec scripts format their own from the parts */
	static const struct { const char *name; size_t at; } PARTS[] = {
		{"marketplace", offsetof(struct tr_notify_about, marketplace)},
		{"order_id", offsetof(struct tr_notify_about, order_id)},
		{"case_id", offsetof(struct tr_notify_about, case_id)},
		{"buyer", offsetof(struct tr_notify_about, buyer)},
	};
	for (size_t i = 0; o && i < sizeof(PARTS) / sizeof(PARTS[0]); i++) {
		const char *v = (const char *)&a + PARTS[i].at;
		if (*v)
			cJSON_AddStringToObject(o, PARTS[i].name, v);
		else
			cJSON_AddNullToObject(o, PARTS[i].name);
	}
	if (o) {
		cJSON_AddStringToObject(o, "zone", zone ? zone : "UTC");
		if (a.due_local[0]) {
			cJSON_AddStringToObject(o, "due_local", a.due_local);
			cJSON_AddNumberToObject(o, "time_left_s", (double)a.time_left);
		}
	}
	struct tr_buf b = {0};
	tr_notify_line(&b, &a, note);
	tr_ticket_free(&t);
	if (b.oom || !o) {
		tr_buf_free(&b);
		cJSON_Delete(o);
		return NULL;
	}
	*line = b.p;
	return o;
}

static int queue_notification(struct tr_store *s, const struct tr_config *cfg, const char *output,
			      int64_t ticket_id, const char *message, const char *event_type, const char *event_id,
			      const char *marketplace, const char *actor, int64_t now, char *err, size_t errlen)
{
	if (!tr_notify_output_known(cfg, output)) {
		size_t n = (size_t)snprintf(err, errlen, "unknown output '%s' (known: journal, watch", output);
		for (size_t i = 0; cfg && i < cfg->noutputs && n < errlen; i++)
			n += (size_t)snprintf(err + n, errlen - n, ", %s", cfg->outputs[i].name);
		if (n < errlen)
			snprintf(err + n, errlen - n, ")");
		return -ENOENT;
	}
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	char at[40], *line = NULL;
	const char *note = message ? message : "";
	cJSON *ticket = ticket_id > 0 ? about_ticket(s, cfg, ticket_id, note, marketplace, now, &line) : NULL;
	tr_time_format(now, NULL, at, sizeof(at));
	cJSON_AddStringToObject(o, "output", output);
	/* issue 20: about a ticket, the line names it; the note alone never goes out */
	cJSON_AddStringToObject(o, "message", line ? line : note);
	cJSON_AddStringToObject(o, "note", note);
	cJSON_AddStringToObject(o, "at", at);
	if (actor)
		cJSON_AddStringToObject(o, "by", actor);
	if (event_type && event_id) {
		cJSON *ev = cJSON_AddObjectToObject(o, "event");
		cJSON_AddStringToObject(ev, "type", event_type);
		cJSON_AddStringToObject(ev, "id", event_id);
	}
	if (ticket)
		cJSON_AddItemToObject(o, "ticket", ticket);
	free(line);
	char *text = tr_json_print(o);
	cJSON_Delete(o);
	if (!text)
		return -ENOMEM;
	int rc = tr_store_outbox_add(s, output, text, now);
	free(text);
	if (rc)
		snprintf(err, errlen, "database error: %s", tr_store_errmsg(s));
	return rc;
}

int tr_notify(struct tr_store *s, const struct tr_config *cfg, const char *output, int64_t ticket_id,
	      const char *message, const char *event_type, const char *event_id, const char *actor,
	      int64_t now, char *err, size_t errlen)
{
	return queue_notification(s, cfg, output, ticket_id, message, event_type, event_id, NULL, actor, now, err,
				  errlen);
}

int tr_notify_ev(struct tr_store *s, const struct tr_config *cfg, const char *output, int64_t ticket_id,
		 const char *message, const struct tr_event *ev, const char *actor, int64_t now, char *err,
		 size_t errlen)
{
	return queue_notification(s, cfg, output, ticket_id, message, ev ? ev->type : NULL, ev ? ev->id : NULL,
				  ev ? ev->marketplace : NULL, actor, now, err, errlen);
}
