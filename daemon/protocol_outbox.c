/* The `outbox` op (SPEC §6): the notifications not delivered yet, pending
 * or parked as failed, a page at a time, and putting parked ones back
 * ("retry": an id, or "retry_all": true), recorded with the caller's name.
 * This file checks the request's fields (a malformed or unknown one is a
 * bad_request naming it: a typo in "retry_all" must not list instead of
 * resending) and builds the answer. Not when a delivery is parked
 * (outputs.c), the rows' JSON (views_outbox.c) nor the SQL
 * (store_outbox.c). */
#include <stdio.h>
#include <string.h>
#include "tr_error.h"
#include "tr_log.h"
#include "tr_outputs.h"
#include "tr_peer.h"
#include "tr_protocol.h"
#include "tr_time.h"
#include "tr_txn.h"
#include "tr_views.h"

#define LIST_DEFAULT 100
#define LIST_MAX 1000 /* rows per answer: each is read and printed on the loop thread */

static const char *const fields[] = {"op", "id", "failed", "limit", "after", "retry", "retry_all", NULL};

static int known_field(const char *name)
{
	for (size_t i = 0; fields[i]; i++)
		if (strcmp(fields[i], name) == 0)
			return 1;
	return 0;
}

/* A whole number member: 1 found (in *out), 0 absent, -1 not a whole number. */
static int whole(const cJSON *req, const char *name, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v) || v->valuedouble != (double)(int64_t)v->valuedouble)
		return -1;
	*out = (int64_t)v->valuedouble;
	return 1;
}

/* A boolean member: 1 true, 0 false or absent, -1 not a boolean. */
static int flag(const cJSON *req, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
	if (!v)
		return 0;
	return cJSON_IsBool(v) ? cJSON_IsTrue(v) : -1;
}

struct unpark {
	struct tr_store *store;
	int64_t id, now, n;
	const char *who;
};

static int unpark(void *ud)
{
	struct unpark *x = ud;
	return tr_store_outbox_unpark(x->store, x->id, x->now, x->who, &x->n);
}

static cJSON *retry(struct tr_daemon *d, int64_t id, const struct tr_peer *peer)
{
	char who[TR_PEER_ACTOR_MAX];
	tr_peer_actor(peer, who, sizeof(who));
	struct unpark x = {.store = d->store, .id = id, .now = tr_time_now(), .who = who};
	if (tr_txn_run(&d->ingest.txn, unpark, &x) != 0)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s; nothing was sent again",
					 tr_store_errmsg(d->store));
	if (id && x.n == 0)
		return tr_protocol_error(TR_ERR_NOT_FOUND,
					 "field \"retry\": notification %lld is not parked as failed (see `outbox --failed`)",
					 (long long)id);
	if (x.n)
		log_info("outbox: %lld parked notification%s put back by %s (%s)", (long long)x.n,
			 x.n == 1 ? "" : "s", who, id ? "one" : "all");
	tr_outputs_poke(d->outputs); /* due now: the next pass sends them */
	cJSON *r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "ok", 1);
	cJSON_AddNumberToObject(r, "retried", (double)x.n);
	return r;
}

cJSON *tr_protocol_outbox(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, req)
		if (!known_field(it->string))
			return tr_protocol_error(TR_ERR_BAD_REQUEST,
						 "field \"%s\": unknown (outbox takes failed, limit, after, retry, retry_all)",
						 it->string);
	int64_t id = 0, limit = LIST_DEFAULT, after = 0;
	int has_retry = whole(req, "retry", &id), all = flag(req, "retry_all"), failed = flag(req, "failed");
	if (has_retry < 0 || (has_retry && id < 1))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"retry\": a notification id (a whole number from 1)");
	if (all < 0)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"retry_all\": true or false");
	if (failed < 0)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"failed\": true or false");
	if (has_retry && all)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"retry_all\": give retry (an id) or retry_all, not both");
	if (has_retry || all)
		return retry(d, has_retry ? id : 0, peer);
	if (whole(req, "limit", &limit) < 0 || limit < 1 || limit > LIST_MAX)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"limit\": a whole number from 1 to %d", LIST_MAX);
	if (whole(req, "after", &after) < 0 || after < 0)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"after\": a notification id (the last of a page)");
	int more = 0;
	cJSON *list = tr_view_outbox(d->store, failed, after, (int)limit, &more);
	if (!list)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	cJSON *r = cJSON_CreateObject();
	cJSON_AddBoolToObject(r, "ok", 1);
	cJSON_AddItemToObject(r, "outbox", list);
	cJSON_AddBoolToObject(r, "more", more);
	return r;
}
