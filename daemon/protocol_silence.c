/* The `silence` op (SPEC §6): "add" a silence, "list" them, "expire" one.
 * This file checks the request's fields (every malformed one is a
 * bad_request that names it: a typo in a matcher would silence the wrong
 * notifications, so unknown fields are refused too) and builds the answer's
 * JSON. Not what a silence does (silences.c) nor the SQL
 * (store_silences.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_error.h"
#include "tr_log.h"
#include "tr_notify.h"
#include "tr_outputs.h"
#include "tr_peer.h"
#include "tr_silences.h"
#include "tr_ticket.h"
#include "tr_time.h"
#include "tr_views.h"

#define LIST_MAX 1000 /* silences in a `list --all` answer, newest first */

static const char *const matchers[] = {"account", "queue", "output", "priority", "marketplace"};
#define NMATCHERS (sizeof(matchers) / sizeof(matchers[0]))

/* The members each action takes, besides "op", "action" and "id". */
static const char *const add_fields[] = {"account", "queue", "output", "priority", "marketplace", "starts", "until",
					 "reason", NULL};
static const char *const list_fields[] = {"all", NULL};
static const char *const expire_fields[] = {NULL};

/* "waiting" (starts later), "active", "expired" (ended early) or "ended". */
static const char *state_of(const struct tr_silence *x, int64_t now)
{
	if (x->expired_at)
		return "expired";
	if (now >= x->until)
		return "ended";
	return now < x->starts_at ? "waiting" : "active";
}

static cJSON *view_silence(const struct tr_silence *x, int64_t held, int64_t now)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)x->id);
	cJSON_AddStringToObject(o, "state", state_of(x, now));
	tr_view_add_text(o, "account", x->account);
	tr_view_add_text(o, "queue", x->queue);
	tr_view_add_text(o, "output", x->output);
	tr_view_add_text(o, "priority", x->priority);
	tr_view_add_text(o, "marketplace", x->marketplace);
	tr_view_add_time(o, "starts_at", x->starts_at);
	tr_view_add_time(o, "until", x->until);
	tr_view_add_text(o, "reason", x->reason);
	tr_view_add_text(o, "created_by", x->created_by);
	tr_view_add_time(o, "created_at", x->created_at);
	tr_view_add_time(o, "expired_at", x->expired_at);
	tr_view_add_text(o, "expired_by", x->expired_by);
	cJSON_AddNumberToObject(o, "held", (double)held);
	return o;
}

struct listing {
	cJSON *list;
	int64_t now;
	int oom;
};

static int list_one(void *ud, const struct tr_silence *x, int64_t held)
{
	struct listing *l = ud;
	cJSON *o = view_silence(x, held, l->now);
	if (!o || !cJSON_AddItemToArray(l->list, o)) {
		cJSON_Delete(o);
		l->oom = 1;
		return 1;
	}
	return 0;
}

static cJSON *ok(void)
{
	cJSON *r = cJSON_CreateObject();
	if (r)
		cJSON_AddTrueToObject(r, "ok");
	return r;
}

/* The answer {"ok":true,key:[silences]} for id (0: all that all selects). */
static cJSON *answer_list(struct tr_daemon *d, int64_t id, int all, const char *key)
{
	cJSON *r = ok();
	struct listing l = {.list = cJSON_AddArrayToObject(r, key), .now = tr_time_now()};
	if (!l.list) {
		cJSON_Delete(r);
		return NULL;
	}
	int rc = tr_store_silences_each(d->store, id, all, l.now, LIST_MAX, list_one, &l);
	if (rc == TR_ESTORE) {
		cJSON_Delete(r);
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	}
	if (l.oom) {
		cJSON_Delete(r);
		return tr_protocol_error(TR_ERR_INTERNAL, "out of memory");
	}
	return r;
}

/* NULL when every member of req is op, action, id or one of fields; else
 * the error naming the first other. */
static cJSON *unknown_field(const cJSON *req, const char *action, const char *const *fields)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, req) {
		const char *name = m->string ? m->string : "";
		int known = strcmp(name, "op") == 0 || strcmp(name, "action") == 0 || strcmp(name, "id") == 0;
		for (size_t i = 0; !known && fields[i]; i++)
			known = strcmp(name, fields[i]) == 0;
		if (!known)
			return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"%s\": not a field of silence %s", name,
						 action);
	}
	return NULL;
}

/* A time field: RFC 3339, "YYYY-MM-DD HH:MM" (in zone: the config's
 * display_timezone, NULL for UTC) or a duration from now ("2h", "3d"). 1
 * found, 0 absent, or -1 with *error set. */
static int time_field(const cJSON *req, const char *name, const char *zone, int64_t now, int64_t *out,
		      cJSON **error)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
	if (!v)
		return 0;
	int64_t secs;
	if (cJSON_IsString(v) && tr_duration_parse(v->valuestring, &secs) == 0) {
		*out = now + secs;
		return 1;
	}
	if (cJSON_IsString(v) && tr_time_parse(v->valuestring, zone, out) == 0)
		return 1;
	*error = tr_protocol_error(TR_ERR_BAD_REQUEST,
				   "field \"%s\": an RFC 3339 time (2026-12-24T18:00:00+08:00) or a duration from now"
				   " (2h, 3d, 1h30m)",
				   name);
	return -1;
}

/* Fills x's matchers from req: 0, or -1 with *error set. */
static int read_matchers(struct tr_daemon *d, const cJSON *req, struct tr_silence *x, cJSON **error)
{
	char **slot[NMATCHERS] = {&x->account, &x->queue, &x->output, &x->priority, &x->marketplace};
	int given = 0;
	for (size_t i = 0; i < NMATCHERS; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, matchers[i]);
		if (!v || cJSON_IsNull(v))
			continue;
		const char *s = cJSON_IsString(v) ? v->valuestring : NULL;
		size_t n = s ? strlen(s) : 0;
		const char *star = s ? strchr(s, '*') : NULL;
		if (!s || n == 0 || n > TR_SILENCE_MATCH_MAX) {
			*error = tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"%s\": a string of 1 to %d bytes",
						   matchers[i], TR_SILENCE_MATCH_MAX);
			return -1;
		}
		if (star && star != s + n - 1) {
			*error = tr_protocol_error(TR_ERR_BAD_REQUEST,
						   "field \"%s\": '*' may only end the text (\"acme-*\": every %s"
						   " that starts with acme-), not \"%s\"",
						   matchers[i], matchers[i], s);
			return -1;
		}
		if (strcmp(matchers[i], "priority") == 0 && !star && !tr_ticket_priority_valid(s)) {
			*error = tr_protocol_error(TR_ERR_BAD_REQUEST,
						   "field \"priority\": low, normal, high or urgent, not \"%s\"", s);
			return -1;
		}
		if (strcmp(matchers[i], "output") == 0 && !star && !tr_notify_output_known(&d->cfg, s)) {
			char known[512];
			size_t k = (size_t)snprintf(known, sizeof(known), "journal, watch");
			for (size_t j = 0; j < d->cfg.noutputs && k < sizeof(known); j++)
				k += (size_t)snprintf(known + k, sizeof(known) - k, ", %s", d->cfg.outputs[j].name);
			*error = tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"output\": no output \"%s\" (known: %s)",
						   s, known);
			return -1;
		}
		*slot[i] = (char *)s; /* borrowed from req for the add */
		given++;
	}
	if (!given) {
		*error = tr_protocol_error(TR_ERR_BAD_REQUEST,
					   "field \"account\", \"queue\", \"output\", \"priority\" or \"marketplace\": a"
					   " silence needs at least one, or it would hold every notification");
		return -1;
	}
	return 0;
}

static cJSON *silence_add(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	cJSON *error = unknown_field(req, "add", add_fields);
	if (error)
		return error;
	struct tr_silence x = {0};
	int64_t now = tr_time_now();
	if (read_matchers(d, req, &x, &error))
		return error;
	const char *zone = d->cfg.display_timezone; /* SPEC §1: the zone people read times in */
	int has = time_field(req, "until", zone, now, &x.until, &error);
	if (has < 0)
		return error;
	if (!has)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"until\": required: when the silence ends (an RFC 3339"
					 " time, or a duration from now such as 2h)");
	if ((has = time_field(req, "starts", zone, now, &x.starts_at, &error)) < 0)
		return error;
	if (!has)
		x.starts_at = now;
	char at[40] = "?";
	tr_time_format(x.until, NULL, at, sizeof(at));
	if (x.until <= now)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"until\": %s is in the past", at);
	if (x.until > now + TR_SILENCE_LONGEST)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"until\": %s is more than a year away", at);
	if (x.starts_at >= x.until)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"starts\": must come before \"until\" (%s)", at);
	if (x.starts_at < now)
		x.starts_at = now; /* a start in the past is now: nothing before it is held again */
	const cJSON *reason = cJSON_GetObjectItemCaseSensitive(req, "reason");
	if (!cJSON_IsString(reason) || !reason->valuestring[0] || strlen(reason->valuestring) > TR_SILENCE_REASON_MAX)
		return tr_protocol_error(TR_ERR_BAD_REQUEST,
					 "field \"reason\": required: why (\"holiday\", \"ERP outage\"), 1 to %d bytes",
					 TR_SILENCE_REASON_MAX);
	x.reason = reason->valuestring;
	char actor[TR_PEER_ACTOR_MAX];
	tr_peer_actor(peer, actor, sizeof(actor));
	x.created_by = actor;
	x.created_at = now;
	int rc = tr_silences_add(d, &x);
	if (rc == -ENOSPC)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "%d silences are running or waiting, the most there can be:"
					 " expire one first", TR_SILENCES_MAX);
	if (rc)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s; no silence was added",
					 rc == TR_ESTORE ? tr_store_errmsg(d->store) : tr_strerror(rc));
	log_info("silence %lld added by %s until %s: %s", (long long)x.id, actor, at, x.reason);
	cJSON *r = answer_list(d, x.id, 1, "silences");
	cJSON *list = r ? cJSON_GetObjectItemCaseSensitive(r, "silences") : NULL;
	if (list && cJSON_GetArraySize(list) == 1) /* one silence: the answer names it as such */
		cJSON_AddItemToObject(r, "silence", cJSON_DetachItemFromArray(list, 0));
	cJSON_DeleteItemFromObjectCaseSensitive(r, "silences");
	return r;
}

static cJSON *silence_list(struct tr_daemon *d, const cJSON *req)
{
	cJSON *error = unknown_field(req, "list", list_fields);
	if (error)
		return error;
	const cJSON *all = cJSON_GetObjectItemCaseSensitive(req, "all");
	if (all && !cJSON_IsBool(all))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"all\": true (ended silences too) or false");
	return answer_list(d, 0, cJSON_IsTrue(all), "silences");
}

static cJSON *silence_expire(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	cJSON *error = unknown_field(req, "expire", expire_fields);
	if (error)
		return error;
	/* "id" is the request's echo elsewhere; here it must name a silence */
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, "id");
	int64_t id;
	if (!cJSON_IsNumber(v) || !tr_whole_number(v->valuedouble, &id) || id < 1)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"id\": the silence's number (silence list shows it)");
	char actor[TR_PEER_ACTOR_MAX];
	tr_peer_actor(peer, actor, sizeof(actor));
	int64_t released = 0;
	int rc = tr_silences_expire(d, id, actor, &released);
	if (rc == -ENOENT) {
		cJSON *r = answer_list(d, id, 1, "silences");
		cJSON *list = r ? cJSON_GetObjectItemCaseSensitive(r, "silences") : NULL;
		const cJSON *x = list ? cJSON_GetArrayItem(list, 0) : NULL;
		cJSON *e = x ? tr_protocol_error(TR_ERR_BAD_REQUEST, "silence %lld has already %s", (long long)id,
						 strcmp(cJSON_GetObjectItemCaseSensitive(x, "state")->valuestring,
							"expired") == 0 ? "been expired" : "ended")
			     : tr_protocol_error(TR_ERR_NOT_FOUND, "no silence %lld", (long long)id);
		cJSON_Delete(r);
		return e;
	}
	if (rc)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s; the silence still holds",
					 rc == TR_ESTORE ? tr_store_errmsg(d->store) : tr_strerror(rc));
	tr_outputs_resume(d->outputs); /* SPEC §6: what it held goes now */
	log_info("silence %lld expired by %s: %lld held notifications released", (long long)id, actor,
		 (long long)released);
	cJSON *r = answer_list(d, id, 1, "silences");
	cJSON *list = r ? cJSON_GetObjectItemCaseSensitive(r, "silences") : NULL;
	if (list && cJSON_GetArraySize(list) == 1)
		cJSON_AddItemToObject(r, "silence", cJSON_DetachItemFromArray(list, 0));
	cJSON_DeleteItemFromObjectCaseSensitive(r, "silences");
	if (r && cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "ok")))
		cJSON_AddNumberToObject(r, "released", (double)released);
	return r;
}

cJSON *tr_protocol_silence(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	const cJSON *action = cJSON_GetObjectItemCaseSensitive(req, "action");
	const char *a = cJSON_IsString(action) ? action->valuestring : NULL;
	if (a && strcmp(a, "add") == 0)
		return silence_add(d, req, peer);
	if (a && strcmp(a, "list") == 0)
		return silence_list(d, req);
	if (a && strcmp(a, "expire") == 0)
		return silence_expire(d, req, peer);
	return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"action\": add, list or expire%s%s%s", a ? ", not \"" : "",
				 a ? a : "", a ? "\"" : "");
}
