/* The JSON of the `state` op (SPEC §6): what rules keep, one keyspace of
 * values and windowed counters (SPEC §5), as the store reads it
 * (tr_store_state_each). Not SQL, nor the answer's envelope ("ok", "more",
 * errors: protocol.c). */
#include <inttypes.h>
#include <stdio.h>
#include <cjson/cJSON.h>
#include "tr_error.h"
#include "tr_views.h"

/* A window as a rule would write it: "24h", "90m", "7d", "1h30m". Whole
 * days of two or more are days; a day is "24h", the way rules say it. */
static void window_text(int64_t s, char *buf, size_t len)
{
	static const struct { int64_t secs; char unit; } units[] = {
		{86400, 'd'}, {3600, 'h'}, {60, 'm'}, {1, 's'}};
	size_t at = 0;
	buf[0] = 0;
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]) && s > 0 && at < len; i++) {
		if (units[i].unit == 'd' && (s % 86400 != 0 || s == 86400))
			continue;
		int64_t n = s / units[i].secs;
		s %= units[i].secs;
		if (n)
			at += (size_t)snprintf(buf + at, len - at, "%" PRId64 "%c", n, units[i].unit);
	}
}

/* A stored value as the rule set it: values are kept as [v]. */
static cJSON *value_json(const char *text)
{
	cJSON *j = cJSON_Parse(text);
	if (cJSON_IsArray(j) && cJSON_GetArraySize(j) >= 1) {
		cJSON *v = cJSON_DetachItemFromArray(j, 0);
		cJSON_Delete(j);
		return v;
	}
	cJSON_Delete(j);
	return cJSON_CreateString(text); /* not written by a rule: shown as is */
}

struct walk {
	cJSON *list;
	int left;   /* rows still wanted; the one after them only says "more" */
	int more, oom;
};

static int add_row(void *ud, const struct tr_state_row *row)
{
	struct walk *w = ud;
	if (w->left == 0) {
		w->more = 1;
		return 1;
	}
	w->left--;
	cJSON *o = cJSON_CreateObject();
	if (!o || !cJSON_AddItemToArray(w->list, o)) {
		cJSON_Delete(o);
		w->oom = 1;
		return 1;
	}
	cJSON_AddStringToObject(o, "key", row->key);
	if (row->value) {
		cJSON_AddItemToObject(o, "value", value_json(row->value));
		return 0;
	}
	char window[48];
	cJSON_AddNumberToObject(o, "count", (double)row->count);
	if (row->window_s > 0) {
		window_text(row->window_s, window, sizeof(window));
		cJSON_AddStringToObject(o, "window", window);
		cJSON_AddNumberToObject(o, "window_s", (double)row->window_s);
	} else {
		/* 0: counted forever; -1: counted before windows were kept */
		cJSON_AddNullToObject(o, "window");
		if (row->window_s == 0)
			cJSON_AddNumberToObject(o, "window_s", 0);
		else
			cJSON_AddNullToObject(o, "window_s");
	}
	return 0;
}

cJSON *tr_view_state(struct tr_store *s, const char *prefix, const char *after, int limit, int64_t now,
		     int *more)
{
	struct walk w = {.list = cJSON_CreateArray(), .left = limit};
	*more = 0;
	if (!w.list)
		return NULL;
	if (tr_store_state_each(s, prefix, after, now, limit + 1, add_row, &w) == TR_ESTORE || w.oom) {
		cJSON_Delete(w.list);
		return NULL;
	}
	*more = w.more;
	return w.list;
}
