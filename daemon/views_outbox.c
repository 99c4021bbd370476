/* The JSON of the outbox for people and scripts: each output's deliveries
 * in `stats` (and `status`, which reads it) with the health they imply,
 * and the page of undelivered notifications the `outbox` op lists. Built
 * from what outputs.c counts and the store reads; not the counting, the
 * parking nor the op's checks (protocol_outbox.c). Every cJSON returned is
 * the caller's to cJSON_Delete. */
#include <stdio.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_outputs.h"
#include "tr_time.h"
#include "tr_views.h"

struct stats_ctx {
	cJSON *outputs;
	int64_t now;
	char reason[400]; /* the first degraded output's, "" none */
};

static int add_output(void *ud, const struct tr_output_stats *st)
{
	struct stats_ctx *x = ud;
	cJSON *o = cJSON_AddObjectToObject(x->outputs, st->name);
	if (!o)
		return 0;
	cJSON_AddStringToObject(o, "state", st->parked_now > 0 || st->failing ? "degraded" : "ok");
	cJSON_AddNumberToObject(o, "delivered", (double)st->delivered);
	cJSON_AddNumberToObject(o, "failed", (double)st->parked_now);
	cJSON_AddNumberToObject(o, "pending", (double)st->pending);
	cJSON_AddNumberToObject(o, "oldest_pending_s",
				st->oldest_pending_at ? (double)(x->now - st->oldest_pending_at) : 0);
	cJSON_AddStringToObject(o, "last_error", st->last_error);
	cJSON_AddNumberToObject(o, "failed_attempts", (double)st->failed_attempts);
	cJSON_AddNumberToObject(o, "parked", (double)st->parked);
	if (!x->reason[0])
		tr_output_degraded(st, x->reason, sizeof(x->reason)); /* the first one names the health's reason */
	return 0;
}

/* SPEC §6 stats: "outputs": {name: {state, delivered, failed, pending,
 * oldest_pending_s, last_error, failed_attempts, parked}}, where failed is
 * what the outbox holds parked now and pending what waits (both survive a
 * restart), and delivered, failed_attempts and parked count since start.
 * An output with parked deliveries or failing makes the health degraded,
 * unless something worse (failing commits) already did. */
void tr_view_outputs_stats(struct tr_outputs *o, cJSON *stats)
{
	/* one read of the outbox for the counts and the health both */
	struct stats_ctx x = {.outputs = cJSON_AddObjectToObject(stats, "outputs"), .now = tr_time_now()};
	if (!x.outputs || tr_outputs_stats_each(o, add_output, &x) != 0)
		return;
	const cJSON *health = cJSON_GetObjectItemCaseSensitive(stats, "health");
	if (!x.reason[0] || (cJSON_IsString(health) && strcmp(health->valuestring, "ok") != 0))
		return;
	cJSON_DeleteItemFromObjectCaseSensitive(stats, "health");
	cJSON_AddStringToObject(stats, "health", "degraded");
	cJSON_AddStringToObject(stats, "health_reason", x.reason);
}

struct list_ctx {
	cJSON *list;
	int limit, n;
	int64_t last_id;
};

static int add_row(void *ud, const struct tr_outbox_row *r)
{
	struct list_ctx *x = ud;
	if (x->n == x->limit) {
		x->n++; /* one more than asked: there are more */
		return 1;
	}
	cJSON *o = cJSON_CreateObject(), *p = r->payload ? cJSON_Parse(r->payload) : NULL;
	if (!o) {
		cJSON_Delete(p);
		return -1;
	}
	cJSON_AddItemToArray(x->list, o);
	x->n++;
	x->last_id = r->id;
	cJSON_AddNumberToObject(o, "id", (double)r->id);
	tr_view_add_text(o, "output", r->output);
	cJSON_AddStringToObject(o, "state", r->failed_at ? "failed" : "pending");
	tr_view_add_time(o, "created_at", r->created_at);
	cJSON_AddNumberToObject(o, "attempts", r->attempts);
	tr_view_add_text(o, "last_error", r->last_error);
	tr_view_add_time(o, "next_at", r->failed_at ? 0 : r->next_at);
	tr_view_add_time(o, "failed_at", r->failed_at);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "ticket"), "id");
	if (cJSON_IsNumber(t))
		cJSON_AddNumberToObject(o, "ticket", t->valuedouble);
	else
		cJSON_AddNullToObject(o, "ticket");
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "message");
	tr_view_add_text(o, "message", cJSON_IsString(m) ? m->valuestring : NULL);
	if (r->retried_at) {
		tr_view_add_time(o, "retried_at", r->retried_at);
		tr_view_add_text(o, "retried_by", r->retried_by);
	}
	cJSON_Delete(p);
	return 0;
}

cJSON *tr_view_outbox(struct tr_store *s, int failed_only, int64_t after_id, int limit, int *more)
{
	struct list_ctx x = {.list = cJSON_CreateArray(), .limit = limit};
	*more = 0;
	if (!x.list)
		return NULL;
	int rc = tr_store_outbox_list(s, failed_only, after_id, limit + 1, add_row, &x);
	if (rc < 0) {
		cJSON_Delete(x.list);
		return NULL;
	}
	*more = x.n > limit;
	return x.list;
}
