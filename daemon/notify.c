/* Queuing notifications into the outbox, with the ticket they are about. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_json.h"
#include "tr_error.h"
#include "tr_notify.h"
#include "tr_time.h"
#include "tr_views.h"

int tr_notify_output_known(const struct tr_config *cfg, const char *name)
{
	if (strcmp(name, "journal") == 0 || strcmp(name, "watch") == 0)
		return 1;
	return tr_config_output(cfg, name) != NULL;
}

int tr_notify(struct tr_store *s, const struct tr_config *cfg, const char *output, int64_t ticket_id,
	      const char *message, const char *event_type, const char *event_id, const char *actor,
	      int64_t now, char *err, size_t errlen)
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
	char at[40];
	tr_time_format(now, NULL, at, sizeof(at));
	cJSON_AddStringToObject(o, "output", output);
	cJSON_AddStringToObject(o, "message", message ? message : "");
	cJSON_AddStringToObject(o, "at", at);
	if (actor)
		cJSON_AddStringToObject(o, "by", actor);
	if (event_type && event_id) {
		cJSON *ev = cJSON_AddObjectToObject(o, "event");
		cJSON_AddStringToObject(ev, "type", event_type);
		cJSON_AddStringToObject(ev, "id", event_id);
	}
	if (ticket_id > 0) {
		struct tr_ticket t;
		if (tr_store_ticket_get(s, ticket_id, &t) == 0) {
			cJSON_AddItemToObject(o, "ticket", tr_view_ticket(&t));
			tr_ticket_free(&t);
		}
	}
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
