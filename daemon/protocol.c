/* Socket operations of SPEC §6: parse a request line, run the operation,
 * build the response. Ingest runs inside the server's group-commit
 * transaction; everything else runs on committed state. Not the transport
 * (server.c) nor SQL (store.c). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_json.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_metrics.h"
#include "tr_peer.h"
#include "tr_recount.h"
#include "tr_reload.h"
#include "tr_silences.h"
#include "tr_service.h"
#include "tr_protocol.h"
#include "tr_ticket.h"
#include "tr_time.h"
#include "tr_views.h"

cJSON *tr_protocol_error(const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	cJSON *r = cJSON_CreateObject();
	if (!r)
		return NULL;
	cJSON_AddFalseToObject(r, "ok");
	cJSON *e = cJSON_AddObjectToObject(r, "error");
	cJSON_AddStringToObject(e, "code", code);
	cJSON_AddStringToObject(e, "message", msg);
	return r;
}

static cJSON *ok(void)
{
	cJSON *r = cJSON_CreateObject();
	if (r)
		cJSON_AddTrueToObject(r, "ok");
	return r;
}

cJSON *tr_protocol_parse(const char *line, size_t len, cJSON **error)
{
	*error = NULL;
	const char *end = NULL;
	cJSON *req = cJSON_ParseWithLengthOpts(line, len, &end, 0);
	if (!req) {
		size_t at = end && end >= line ? (size_t)(end - line) : 0;
		*error = tr_protocol_error(TR_ERR_BAD_REQUEST, "invalid JSON near byte %zu", at + 1);
		return NULL;
	}
	if (!cJSON_IsObject(req)) {
		cJSON_Delete(req);
		*error = tr_protocol_error(TR_ERR_BAD_REQUEST, "a request must be a JSON object");
		return NULL;
	}
	cJSON *op = cJSON_GetObjectItemCaseSensitive(req, "op");
	if (!cJSON_IsString(op)) {
		*error = tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"op\": required string");
		cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
		if (*error && id)
			cJSON_AddItemToObject(*error, "id", cJSON_Duplicate(id, 1));
		cJSON_Delete(req);
		return NULL;
	}
	return req;
}

int tr_protocol_is_ingest(const cJSON *req, size_t *nevents)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(req, "op");
	if (!cJSON_IsString(op) || strcmp(op->valuestring, "ingest") != 0)
		return 0;
	const cJSON *events = cJSON_GetObjectItemCaseSensitive(req, "events");
	*nevents = cJSON_IsArray(events) ? (size_t)cJSON_GetArraySize(events) : 0;
	return 1;
}

static const char *opt_str(const cJSON *req, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* An integer member: 1 found, 0 absent, -1 present but not an integer. */
static int opt_int(const cJSON *req, const char *name, int64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
	if (!v)
		return 0;
	return cJSON_IsNumber(v) && tr_whole_number(v->valuedouble, out) ? 1 : -1;
}

static cJSON *op_ping(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)req;
	(void)peer;
	cJSON *r = ok();
	cJSON_AddStringToObject(r, "version", TR_VERSION);
	cJSON_AddNumberToObject(r, "uptime_s", (double)(tr_time_now() - d->started_at));
	return r;
}

/* SPEC §6 ingest, first half (any thread): each event validated and
 * normalised; the events are moved out of the request, no copy per event. */
static int prepare_ingest(struct tr_prepared *p, int64_t event_bytes)
{
	cJSON *list = cJSON_GetObjectItemCaseSensitive(p->req, "events");
	if (!cJSON_IsArray(list))
		return 0; /* op_ingest answers the missing list */
	p->rejected = cJSON_CreateArray();
	p->events = p->nevents ? calloc(p->nevents, sizeof(*p->events)) : NULL;
	if (!p->rejected || (p->nevents && !p->events))
		return -ENOMEM;
	int64_t now = tr_time_now();
	int index = 0;
	for (cJSON *item = list->child, *next; item; item = next, index++) {
		next = item->next;
		char err[256] = "";
		cJSON_DetachItemViaPointer(list, item);
		struct tr_event *ev = &p->events[p->nvalid];
		int rc = tr_event_init(ev, item, NULL, "socket", now, err, sizeof(err));
		size_t size = rc == 0 ? strlen(ev->payload_text) : 0;
		if (size > (size_t)event_bytes) {
			/* measured as stored: the normalised text */
			tr_event_free(ev);
			snprintf(err, sizeof(err), "event is %zu bytes, more than limits.event_bytes (%lld)",
				 size, (long long)event_bytes);
			rc = TR_EPARSE;
		}
		if (rc == 0) {
			p->nvalid++;
			continue;
		}
		cJSON *rej = cJSON_CreateObject();
		if (!rej)
			return -ENOMEM;
		cJSON_AddNumberToObject(rej, "index", index);
		cJSON_AddStringToObject(rej, "error", err[0] ? err : tr_strerror(rc));
		cJSON_AddItemToArray(p->rejected, rej);
	}
	return 0;
}

void tr_protocol_prepare(struct tr_prepared *p, const char *line, size_t len, int64_t event_bytes)
{
	memset(p, 0, sizeof(*p));
	p->req = tr_protocol_parse(line, len, &p->answer);
	if (!p->req)
		return;
	p->ingest = tr_protocol_is_ingest(p->req, &p->nevents);
	if (p->ingest && prepare_ingest(p, event_bytes) != 0) {
		tr_prepared_free(p);
		p->answer = tr_protocol_error(TR_ERR_INTERNAL, "out of memory");
	}
}

void tr_prepared_free(struct tr_prepared *p)
{
	for (size_t i = 0; i < p->nvalid; i++)
		tr_event_free(&p->events[i]);
	free(p->events);
	cJSON_Delete(p->rejected);
	cJSON_Delete(p->req);
	cJSON_Delete(p->answer);
	memset(p, 0, sizeof(*p));
}

/* SPEC §6 ingest, second half (loop thread): the valid events stored and
 * run in the open transaction; the answer goes out after the commit
 * (server.c). */
static cJSON *op_ingest(struct tr_daemon *d, struct tr_prepared *p)
{
	if (!p->rejected)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"events\": required array of event objects");
	int64_t now = tr_time_now();
	int accepted = 0, duplicates = 0;
	for (size_t i = 0; i < p->nvalid; i++) {
		int rc = tr_ingest_event(&d->ingest, &p->events[i], now);
		if (rc == 0) {
			accepted++;
		} else if (rc == TR_EDUP) {
			duplicates++;
		} else {
			/* A store failure dooms the whole transaction. */
			return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
		}
	}
	d->rejected_events += (uint64_t)cJSON_GetArraySize(p->rejected);
	cJSON *r = ok();
	cJSON_AddNumberToObject(r, "accepted", accepted);
	cJSON_AddNumberToObject(r, "duplicates", duplicates);
	cJSON_AddItemToObject(r, "rejected", p->rejected);
	p->rejected = NULL;
	return r;
}

static cJSON *op_tickets(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)peer;
	struct tr_ticket_filter f = {
		.state = opt_str(req, "state"), .queue = opt_str(req, "queue"),
		.account = opt_str(req, "account"), .priority = opt_str(req, "priority"),
		.text = opt_str(req, "text"), .now = tr_time_now(), .limit = 100,
	};
	if (f.state && strcmp(f.state, "open") && strcmp(f.state, "closed") && strcmp(f.state, "all"))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"state\": open, closed or all");
	if (f.priority && !tr_ticket_priority_valid(f.priority))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"priority\": low, normal, high or urgent");
	f.breached = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(req, "breached"));
	int64_t limit;
	int has = opt_int(req, "limit", &limit);
	if (has < 0 || (has && (limit < 1 || limit > 100000)))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"limit\": a whole number from 1 to 100000");
	if (has)
		f.limit = (int)limit;
	cJSON *list = tr_view_tickets(d->store, &f);
	if (!list)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	cJSON *r = ok();
	cJSON_AddItemToObject(r, "tickets", list);
	return r;
}

static int ticket_id(const cJSON *req, int64_t *id, cJSON **error)
{
	if (opt_int(req, "id", id) != 1 || *id < 1) {
		*error = tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"id\": the ticket's number");
		return -1;
	}
	return 0;
}

static cJSON *op_ticket(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)peer;
	int64_t id;
	cJSON *error;
	if (ticket_id(req, &id, &error))
		return error;
	int found;
	cJSON *t = tr_view_ticket_by_id(d->store, id, 1, &found);
	if (!found)
		return tr_protocol_error(TR_ERR_NOT_FOUND, "no ticket %lld", (long long)id);
	if (!t)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	cJSON *r = ok();
	cJSON_AddItemToObject(r, "ticket", t);
	return r;
}

/* A ticket.update's change, applied inside the loop's transaction; stage
 * tells which step an error came from, for the answer. */
enum { UPDATE_BEGIN, UPDATE_APPLYING, UPDATE_APPLIED };
struct ticket_update {
	struct tr_store *store;
	int64_t id, now;
	const struct tr_ticket_change *c;
	char actor[TR_PEER_ACTOR_MAX];
	int stage;
	char err[256]; /* the change's reason when it does not apply */
};

static int update_ticket(void *ud)
{
	struct ticket_update *u = ud;
	u->stage = UPDATE_APPLYING;
	int rc = tr_ticket_apply(u->store, u->id, u->c, u->actor, 0, u->now, u->err, sizeof(u->err));
	if (rc == 0)
		u->stage = UPDATE_APPLIED;
	return rc;
}

/* ticket.update: a person acts on a ticket; recorded with their user name. */
static cJSON *op_ticket_update(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	int64_t id;
	cJSON *error;
	if (ticket_id(req, &id, &error))
		return error;
	const char *action = opt_str(req, "action");
	const char *field = tr_ticket_action_field(action);
	if (!field)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"action\": ack, assign, comment, close or reopen%s%s%s",
					 action ? ", not \"" : "", action ? action : "", action ? "\"" : "");
	struct tr_ticket_change c;
	if (tr_ticket_action(action, *field ? opt_str(req, field) : NULL, d->cfg.ack_timeout, &c))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"%s\": required for %s", field, action);
	struct ticket_update u = {.store = d->store, .id = id, .c = &c, .now = tr_time_now()};
	tr_peer_actor(peer, u.actor, sizeof(u.actor));
	int rc = tr_txn_run(&d->ingest.txn, update_ticket, &u);
	if (rc && u.stage != UPDATE_APPLYING) /* the begin failed, or the commit */
		snprintf(u.err, sizeof(u.err), "%s: %s", u.stage == UPDATE_APPLIED ? "commit failed" : "database error",
			 tr_store_errmsg(d->store));
	if (rc == -ENOENT)
		return tr_protocol_error(TR_ERR_NOT_FOUND, "%s", u.err);
	if (rc == -EINVAL)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "%s", u.err);
	if (rc)
		return tr_protocol_error(TR_ERR_INTERNAL, "%s", u.err);
	log_info("ticket %lld: %s by %s", (long long)id, action, u.actor);
	int found;
	cJSON *t = tr_view_ticket_by_id(d->store, id, 0, &found);
	cJSON *r = ok();
	cJSON_AddItemToObject(r, "ticket", t ? t : cJSON_CreateNull());
	return r;
}

#define RETRY_DEFAULT 100 /* outcomes per request: each is a rule run on the loop */
#define RETRY_MAX 1000
#define RETRY_MS 20       /* and at most this long, so others are served in between */

/* The outcomes of one retry request, re-run inside the loop's transaction
 * until the list or the deadline ends (n and more then say where). */
struct retry_batch {
	struct tr_daemon *d;
	const struct tr_failed_outcome *list;
	int n, more;
	int64_t now;
	uint64_t deadline;
	int counts[4]; /* by kinds[] */
	cJSON *results;
};

static const char *const kinds[] = {"ok", "error", "skipped", "not_retried"};

static int retry_outcomes(void *ud)
{
	struct retry_batch *x = ud;
	int rc = 0;
	for (int i = 0; i < x->n && rc == 0; i++) {
		if (i > 0 && tr_mono_ms() >= x->deadline) {
			x->n = i; /* the rest in the next request */
			x->more = 1;
			break;
		}
		const struct tr_failed_outcome *o = &x->list[i];
		const char *result;
		char err[256];
		rc = tr_ingest_retry(&x->d->ingest, o, x->now, &result, err, sizeof(err));
		for (int k = 0; k < 4; k++)
			x->counts[k] += strcmp(result, kinds[k]) == 0;
		cJSON *j = cJSON_CreateObject();
		cJSON_AddNumberToObject(j, "outcome", (double)o->id);
		cJSON_AddNumberToObject(j, "seq", (double)o->event_seq);
		cJSON_AddStringToObject(j, "rule", o->rule);
		cJSON_AddStringToObject(j, "result", result);
		if (err[0])
			cJSON_AddStringToObject(j, "reason", err);
		cJSON_AddItemToArray(x->results, j);
	}
	return rc;
}

/* SPEC §3 retry: failed outcomes, oldest first, re-run through the rules
 * loaded now, in one transaction of at most limit outcomes or RETRY_MS;
 * "more" says whether others wait after "last" (the client asks again with
 * "after"). */
static cJSON *op_retry(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	int64_t seq = 0, after = 0, limit = RETRY_DEFAULT;
	const cJSON *rule = cJSON_GetObjectItemCaseSensitive(req, "rule");
	if (rule && !cJSON_IsString(rule))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"rule\": a rule name");
	if (opt_int(req, "seq", &seq) < 0 || seq < 0)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"seq\": an event's sequence number");
	if (opt_int(req, "after", &after) < 0 || after < 0)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"after\": an outcome id");
	if (opt_int(req, "limit", &limit) < 0 || limit < 1 || limit > RETRY_MAX)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"limit\": a whole number from 1 to %d", RETRY_MAX);
	/* one more than asked, to know whether more wait */
	struct tr_failed_outcome *list = calloc((size_t)limit + 1, sizeof(*list));
	if (!list)
		return tr_protocol_error(TR_ERR_INTERNAL, "out of memory");
	int n = 0;
	if (tr_store_failed_outcomes(d->store, after, rule ? rule->valuestring : NULL, seq, (int)limit + 1, list, &n)) {
		free(list);
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	}
	struct retry_batch x = {.d = d, .list = list, .n = n, .more = n > limit, .now = tr_time_now()};
	if (x.more)
		x.n = (int)limit;
	static const char *const totals[] = {"succeeded", "failed_again", "skipped", "not_retried"};
	cJSON *r = ok();
	x.results = cJSON_AddArrayToObject(r, "results");
	x.deadline = tr_mono_ms() + RETRY_MS;
	/* nothing to retry opens no transaction */
	int rc = x.n ? tr_txn_run(&d->ingest.txn, retry_outcomes, &x) : 0;
	n = x.n;
	if (rc == 0) {
		for (int k = 0; k < 4; k++)
			cJSON_AddNumberToObject(r, totals[k], x.counts[k]);
		cJSON_AddNumberToObject(r, "last", n ? (double)list[n - 1].id : (double)after);
		cJSON_AddBoolToObject(r, "more", x.more);
	} else {
		cJSON_Delete(r);
		r = tr_protocol_error(TR_ERR_INTERNAL, "database error: %s; nothing was retried",
				      tr_store_errmsg(d->store));
	}
	if (n && rc == 0) {
		char actor[TR_PEER_ACTOR_MAX];
		tr_peer_actor(peer, actor, sizeof(actor));
		log_info("retry by %s: %d ok, %d failed again, %d skipped, %d not retried", actor,
			 x.counts[0], x.counts[1], x.counts[2], x.counts[3]);
	}
	free(list);
	return r;
}

static cJSON *op_explain(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)peer;
	int64_t seq = 0;
	const char *type = opt_str(req, "type"), *id = opt_str(req, "event_id");
	if (opt_int(req, "seq", &seq) < 0 || (seq <= 0 && (!type || !id)))
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "give \"type\" and \"event_id\", or \"seq\"");
	int found;
	cJSON *r = tr_view_explain(d->store, type, id, seq, &found);
	if (!found)
		return seq > 0 ? tr_protocol_error(TR_ERR_NOT_FOUND, "no event with seq %lld", (long long)seq)
			       : tr_protocol_error(TR_ERR_NOT_FOUND, "no event %s %s", type, id);
	if (!r)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	cJSON_AddTrueToObject(r, "ok");
	return r;
}

static cJSON *op_rules(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)req;
	(void)peer;
	cJSON *r = ok();
	cJSON_AddItemToObject(r, "rules", tr_engine_rules_json(d->engine));
	cJSON_AddStringToObject(r, "rules_dir", d->cfg.rules_dir);
	return r;
}

/* SPEC §8 reload: the rules folder is built afresh and swapped in whole;
 * when it does not compile the old rules keep running and the answer says
 * why, with every problem's file and line. */
static cJSON *op_reload(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)req;
	struct tr_errors errs = {0};
	int moved = 0;
	int rc = tr_service_reload(d, &errs, &moved); /* SPEC §8: systemd sees it as a SIGHUP's */
	cJSON *r;
	if (rc) {
		char first[512] = "";
		if (errs.n)
			tr_error_format(&errs.items[0], first, sizeof(first));
		r = tr_protocol_error(TR_ERR_BAD_REQUEST, "the rules do not compile, the old rules keep running: %s%s",
				      first, errs.n > 1 ? " (and more: see \"problems\")" : "");
		cJSON *list = cJSON_AddArrayToObject(cJSON_GetObjectItemCaseSensitive(r, "error"), "problems");
		for (size_t i = 0; i < errs.n; i++) {
			char line[512];
			tr_error_format(&errs.items[i], line, sizeof(line));
			cJSON_AddItemToArray(list, cJSON_CreateString(line));
		}
	} else {
		char actor[TR_PEER_ACTOR_MAX];
		tr_peer_actor(peer, actor, sizeof(actor));
		log_info("reload by %s", actor);
		r = ok();
		cJSON_AddNumberToObject(r, "rules", tr_engine_rule_count(d->engine));
		cJSON_AddNumberToObject(r, "moved", moved); /* SPEC §3: steps a calendar's change moved */
		if (tr_recount_pending(d)) /* the rest of a big recount goes on after the answer */
			cJSON_AddTrueToObject(r, "recounting");
		/* SPEC §3: what the new rules fall back from, and config names no rule uses */
		const struct tr_errors *w = tr_engine_warnings(d->engine);
		cJSON *list = cJSON_AddArrayToObject(r, "warnings");
		for (size_t i = 0; i < w->n; i++) {
			char line[512];
			tr_error_format(&w->items[i], line, sizeof(line));
			cJSON_AddItemToArray(list, cJSON_CreateString(line));
		}
	}
	tr_errors_free(&errs);
	return r;
}

static cJSON *op_timers(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)peer;
	int64_t limit = 100, total = 0;
	if (opt_int(req, "limit", &limit) < 0 || limit < 1 || limit > 100000)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"limit\": a whole number from 1 to 100000");
	cJSON *list = tr_view_timers(d->store, (int)limit, &total);
	if (!list)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	cJSON *r = ok();
	cJSON_AddItemToObject(r, "timers", list);
	cJSON_AddNumberToObject(r, "total", (double)total);
	return r;
}

/* "health": "ok", or "degraded" with "health_reason" while commits fail
 * (a full disk, I/O errors): an operator asking `status` learns it then,
 * not from the log afterwards. The last failure stays under commit_failures
 * once commits succeed again. */
static void add_health(cJSON *s, const struct tr_commit_health *h)
{
	char since[40] = "", last[40] = "";
	if (h->failing && tr_time_format(h->failing_since, NULL, since, sizeof(since)) != 0)
		since[0] = 0;
	if (h->failures && tr_time_format(h->last_failed_at, NULL, last, sizeof(last)) != 0)
		last[0] = 0;
	cJSON_AddStringToObject(s, "health", h->failing ? "degraded" : "ok");
	if (h->failing) {
		char reason[400];
		snprintf(reason, sizeof(reason), "commits are failing: %s (%llu in a row since %s)",
			 h->last_error, (unsigned long long)h->failing, since);
		cJSON_AddStringToObject(s, "health_reason", reason);
	}
	if (h->failures) {
		cJSON *f = cJSON_AddObjectToObject(s, "commit_failures");
		cJSON_AddNumberToObject(f, "in_a_row", (double)h->failing);
		cJSON_AddNumberToObject(f, "total", (double)h->failures);
		cJSON_AddStringToObject(f, "last_at", last);
		cJSON_AddStringToObject(f, "last_error", h->last_error);
	}
}

static cJSON *op_stats(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)req;
	(void)peer;
	int64_t events = 0, open = 0, total = 0;
	tr_store_counts(d->store, &events, &open, &total);
	cJSON *r = ok();
	cJSON *s = cJSON_AddObjectToObject(r, "stats");
	add_health(s, &d->ingest.txn.health);
	cJSON_AddStringToObject(s, "version", TR_VERSION);
	cJSON_AddNumberToObject(s, "uptime_s", (double)(tr_time_now() - d->started_at));
	cJSON_AddNumberToObject(s, "events_stored", (double)events);
	cJSON_AddNumberToObject(s, "events_accepted", (double)d->ingest.accepted);
	cJSON_AddNumberToObject(s, "duplicates", (double)d->ingest.duplicates);
	cJSON_AddNumberToObject(s, "rejected", (double)d->rejected_events);
	cJSON_AddNumberToObject(s, "rule_errors", (double)d->ingest.rule_errors);
	cJSON_AddNumberToObject(s, "quarantined", (double)d->ingest.quarantined);
	cJSON_AddNumberToObject(s, "tickets_open", (double)open);
	cJSON_AddNumberToObject(s, "tickets_total", (double)total);
	cJSON_AddNumberToObject(s, "rules", tr_engine_rule_count(d->engine));
	cJSON_AddNumberToObject(s, "requests", (double)d->requests);
	cJSON_AddStringToObject(s, "durability", d->cfg.durability == TR_DURABILITY_FULL ? "full" : "normal");
	/* the socket's clients and answer times, the WAL flushes, the spool */
	tr_parts_stats(d, s, r);
	return r;
}

#define STATE_LIMIT_DEFAULT 100
#define STATE_LIMIT_MAX 1000 /* keys per answer: each is read on the loop thread */

/* A string member no longer than a state key: 1 found, 0 absent, -1 bad. */
static int opt_key_text(const cJSON *req, const char *name, const char **out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(req, name);
	*out = NULL;
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || strlen(v->valuestring) > TR_STATE_KEY_MAX)
		return -1;
	*out = v->valuestring;
	return 1;
}

/* SPEC §6 state: what rules keep (values and counters, one keyspace), a
 * page of keys in order; "after" (the last key of a page) asks for the next. */
static cJSON *op_state(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)peer;
	const char *prefix, *after;
	int64_t limit = STATE_LIMIT_DEFAULT;
	if (opt_key_text(req, "prefix", &prefix) < 0)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"prefix\": a string of at most %d bytes",
					 TR_STATE_KEY_MAX);
	if (opt_key_text(req, "after", &after) < 0)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"after\": a key (a string of at most %d bytes)",
					 TR_STATE_KEY_MAX);
	if (opt_int(req, "limit", &limit) < 0 || limit < 1 || limit > STATE_LIMIT_MAX)
		return tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"limit\": a whole number from 1 to %d",
					 STATE_LIMIT_MAX);
	int more;
	cJSON *list = tr_view_state(d->store, prefix, after, (int)limit, tr_time_now(), &more);
	if (!list)
		return tr_protocol_error(TR_ERR_INTERNAL, "database error: %s", tr_store_errmsg(d->store));
	cJSON *r = ok();
	cJSON_AddItemToObject(r, "state", list);
	cJSON_AddBoolToObject(r, "more", more);
	return r;
}

/* SPEC §6 metrics: the Prometheus text (tr_metrics.h), as one string. */
static cJSON *op_metrics(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer)
{
	(void)req;
	(void)peer;
	char *text;
	int rc = tr_metrics_text(d, &text);
	if (rc)
		return tr_protocol_error(TR_ERR_INTERNAL, "%s",
					 rc == TR_ESTORE ? tr_store_errmsg(d->store) : tr_strerror(rc));
	cJSON *r = ok();
	cJSON_AddStringToObject(r, "metrics", text);
	free(text);
	return r;
}

typedef cJSON *(*op_fn)(struct tr_daemon *, const cJSON *, const struct tr_peer *);

/* changes_state: running the op changes what the daemon keeps, so it runs
 * even for a client that has gone (tr_protocol_changes_state). */
static const struct {
	const char *name;
	op_fn fn;
	int changes_state;
} ops[] = {
	{"ping", op_ping, 0},
	{"ingest", NULL, 1},  /* prepared: op_ingest */
	{"watch", NULL, 0},   /* server_queue.c: its connection streams (tr_watch.h) */
	{"tickets", op_tickets, 0},
	{"ticket", op_ticket, 0},
	{"ticket.update", op_ticket_update, 1},
	{"explain", op_explain, 0},
	{"rules", op_rules, 0},
	{"stats", op_stats, 0},
	{"timers", op_timers, 0},
	{"state", op_state, 0},
	{"metrics", op_metrics, 0},
	{"reload", op_reload, 1},
	{"retry", op_retry, 1},
	{"silence", tr_protocol_silence, 1}, /* protocol_silence.c */
	{"outbox", tr_protocol_outbox, 1}, /* protocol_outbox.c; its retry changes state */
};

int tr_protocol_changes_state(const cJSON *req)
{
	const char *name = opt_str(req, "op");
	for (size_t i = 0; name && i < sizeof(ops) / sizeof(ops[0]); i++)
		if (strcmp(name, ops[i].name) == 0)
			return ops[i].changes_state;
	return 0;
}

cJSON *tr_protocol_handle(struct tr_daemon *d, struct tr_prepared *p, const struct tr_peer *peer)
{
	const cJSON *req = p->req;
	const char *name = opt_str(req, "op");
	cJSON *r = NULL;
	int found = p->ingest;
	d->requests++;
	if (p->ingest)
		r = op_ingest(d, p);
	for (size_t i = 0; !found && name && i < sizeof(ops) / sizeof(ops[0]); i++) {
		if (ops[i].fn && strcmp(name, ops[i].name) == 0) {
			found = 1;
			r = ops[i].fn(d, req, peer);
		}
	}
	if (!found && name) {
		char known[256] = "";
		for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
			snprintf(known + strlen(known), sizeof(known) - strlen(known), "%s%s", i ? ", " : "", ops[i].name);
		r = tr_protocol_error(TR_ERR_BAD_REQUEST, "unknown op \"%s\" (known: %s)", name, known);
	}
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(req, "id");
	if (r && id && !cJSON_GetObjectItemCaseSensitive(r, "id"))
		cJSON_AddItemToObject(r, "id", cJSON_Duplicate(id, 1));
	return r;
}
