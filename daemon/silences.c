/* The daemon's silences (tr_silences.h): the list of silences not yet
 * ended, kept in memory (loaded at start, reloaded after each change) so
 * that the delivery pass can ask about each due notification without a
 * query; the hold itself (the notification due again at the silence's end,
 * a line in its ticket's history); adding and ending silences in their
 * own transactions; and the counts for `stats` and the metrics. Not the
 * SQL (store_silences.c), the request's fields (protocol_silence.c), nor
 * delivering (outputs.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_error.h"
#include "tr_log.h"
#include "tr_silences.h"
#include "tr_time.h"
#include "tr_txn.h"

#define KEEP_ENDED_S (30 * 86400) /* an ended silence stays listed (--all) this long */

struct tr_silences {
	struct tr_silence list[TR_SILENCES_MAX]; /* not ended when loaded; owned strings */
	size_t n;
	uint64_t held_total;                     /* notifications held since start */
};

int tr_silence_active(const struct tr_silence *x, int64_t now)
{
	return x->expired_at == 0 && x->starts_at <= now && now < x->until;
}

int tr_silence_matches(const char *matcher, const char *value)
{
	if (!matcher)
		return 1;
	if (!value)
		return 0;
	size_t n = strlen(matcher);
	if (n > 0 && matcher[n - 1] == '*')
		return strncmp(matcher, value, n - 1) == 0;
	return strcmp(matcher, value) == 0;
}

static char *dup_or_null(const char *s, int *oom)
{
	if (!s)
		return NULL;
	char *c = strdup(s);
	if (!c)
		*oom = 1;
	return c;
}

struct loading {
	struct tr_silence *list;
	size_t n;
	int oom;
};

static int load_one(void *ud, const struct tr_silence *x, int64_t held)
{
	(void)held;
	struct loading *l = ud;
	if (l->n == TR_SILENCES_MAX)
		return 0; /* more cannot be added (tr_silences_add): never here */
	struct tr_silence *c = &l->list[l->n++];
	*c = *x;
	c->account = dup_or_null(x->account, &l->oom);
	c->queue = dup_or_null(x->queue, &l->oom);
	c->output = dup_or_null(x->output, &l->oom);
	c->priority = dup_or_null(x->priority, &l->oom);
	c->marketplace = dup_or_null(x->marketplace, &l->oom);
	c->reason = dup_or_null(x->reason, &l->oom);
	c->created_by = dup_or_null(x->created_by, &l->oom);
	c->expired_by = dup_or_null(x->expired_by, &l->oom);
	return 0;
}

static void clear(struct tr_silence *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		tr_silence_free(&list[i]);
}

/* Reads the silences not ended at now into the list, replacing it only
 * when the whole read worked: a failed read keeps the list as it was. */
static int reload(struct tr_daemon *d)
{
	struct tr_silences *x = d->silences;
	struct tr_silence *fresh = calloc(TR_SILENCES_MAX, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	struct loading l = {.list = fresh};
	int rc = tr_store_silences_each(d->store, 0, 0, tr_time_now(), TR_SILENCES_MAX, load_one, &l);
	if (rc == 0 && l.oom)
		rc = -ENOMEM;
	if (rc == 0) {
		clear(x->list, x->n);
		memcpy(x->list, fresh, l.n * sizeof(*fresh));
		x->n = l.n;
	} else {
		clear(fresh, l.n);
	}
	free(fresh);
	return rc;
}

int tr_silences_start(struct tr_daemon *d, struct tr_errors *errs)
{
	d->silences = calloc(1, sizeof(*d->silences));
	if (!d->silences) {
		tr_errors_add(errs, d->cfg.db_path, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	int rc = reload(d);
	if (rc) {
		tr_errors_add(errs, d->cfg.db_path, 0, 0, NULL, "cannot read the silences: %s",
			      rc == TR_ESTORE ? tr_store_errmsg(d->store) : tr_strerror(rc));
		return rc;
	}
	if (d->silences->n)
		log_info("silences: %zu running or waiting to start", d->silences->n);
	return 0;
}

void tr_silences_free(struct tr_daemon *d)
{
	if (!d->silences)
		return;
	clear(d->silences->list, d->silences->n);
	free(d->silences);
	d->silences = NULL;
}

void tr_silences_counts(struct tr_daemon *d, int64_t now, struct tr_silence_counts *out)
{
	memset(out, 0, sizeof(*out));
	if (!d->silences)
		return;
	for (size_t i = 0; i < d->silences->n; i++)
		out->active += tr_silence_active(&d->silences->list[i], now) != 0;
	out->held_total = d->silences->held_total;
	int64_t held = 0;
	if (out->active && tr_store_silences_held(d->store, now, &held) == 0 && held > 0)
		out->held_now = (uint64_t)held;
}

void tr_silences_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer)
{
	(void)answer;
	struct tr_silence_counts c;
	tr_silences_counts(d, tr_time_now(), &c);
	cJSON_AddNumberToObject(stats, "silences_active", (double)c.active);
	cJSON_AddNumberToObject(stats, "notifications_held", (double)c.held_now);
	cJSON_AddNumberToObject(stats, "notifications_held_total", (double)c.held_total);
}

/* ---- holding -------------------------------------------------------------- */

/* What a notification is matched on: its output, and the ticket it is
 * about as its payload shows it (notify.c): borrowed from p. */
struct about {
	const char *output;
	int64_t ticket_id;
	const char *account, *queue, *priority, *marketplace;
};

static const char *member_str(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int matches(const struct tr_silence *s, const struct about *a)
{
	return tr_silence_matches(s->output, a->output) && tr_silence_matches(s->account, a->account) &&
	       tr_silence_matches(s->queue, a->queue) && tr_silence_matches(s->priority, a->priority) &&
	       tr_silence_matches(s->marketplace, a->marketplace);
}

struct hold_write {
	struct tr_store *store;
	const struct tr_notification *x;
	const struct tr_silence *s;
	int64_t ticket_id, now;
};

static int write_hold(void *ud)
{
	const struct hold_write *h = ud;
	int rc = tr_store_silence_hold(h->store, h->x->id, h->s->id, h->s->until);
	if (rc || h->ticket_id <= 0)
		return rc;
	char until[40] = "?", detail[TR_SILENCE_REASON_MAX + 256];
	tr_time_format(h->s->until, NULL, until, sizeof(until));
	snprintf(detail, sizeof(detail), "notification to %s held by silence %lld (%s) until %s", h->x->output,
		 (long long)h->s->id, h->s->reason ? h->s->reason : "", until);
	return tr_store_history_add(h->store, h->ticket_id, h->now, 0, "silence", "held", detail);
}

int tr_silences_hold(struct tr_daemon *d, const struct tr_notification *x, int64_t now)
{
	struct tr_silences *sl = d->silences;
	const struct tr_silence *best = NULL;
	size_t i;
	for (i = 0; sl && i < sl->n; i++)
		if (tr_silence_active(&sl->list[i], now))
			break;
	if (!sl || i == sl->n)
		return 0; /* nothing running: no payload to parse */
	cJSON *p = cJSON_Parse(x->payload);
	const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "ticket");
	const cJSON *tid = cJSON_GetObjectItemCaseSensitive(t, "id");
	struct about a = {
		.output = x->output,
		.ticket_id = cJSON_IsNumber(tid) ? (int64_t)tid->valuedouble : 0,
		.account = member_str(t, "account"), .queue = member_str(t, "queue"),
		.priority = member_str(t, "priority"), .marketplace = member_str(t, "marketplace"),
	};
	/* the silence that ends last: held once, not again at each end */
	for (; i < sl->n; i++) {
		const struct tr_silence *s = &sl->list[i];
		if (tr_silence_active(s, now) && matches(s, &a) && (!best || s->until > best->until))
			best = s;
	}
	int held = 0;
	if (best) {
		struct tr_txn *txn = &d->ingest.txn;
		struct hold_write h = {.store = d->store, .x = x, .s = best, .ticket_id = a.ticket_id, .now = now};
		held = 1;
		/* never commit someone else's half-done work: skip it this pass */
		int rc = TR_FAILS(!txn->open) ? TR_ESTORE : tr_txn_run(txn, write_hold, &h);
		if (rc)
			log_errx("silences: cannot hold notification %lld (%s); it is looked at again",
				 (long long)x->id, tr_strerror(rc));
		else {
			sl->held_total++;
			log_debug("notify %s: notification %lld held by silence %lld", x->output, (long long)x->id,
				 (long long)best->id);
		}
	}
	cJSON_Delete(p);
	return held;
}

/* ---- adding and ending ---------------------------------------------------- */

struct change {
	struct tr_daemon *d;
	struct tr_silence *x;   /* add */
	int64_t id;             /* expire */
	const char *reason;     /* the expired silence's, when the list has it */
	const char *actor;
	int64_t now, released;
};

static int write_add(void *ud)
{
	struct change *c = ud;
	int rc = tr_store_silences_prune(c->d->store, c->now, KEEP_ENDED_S);
	return rc ? rc : tr_store_silence_add(c->d->store, c->x, &c->x->id);
}

static int running_or_waiting(const struct tr_silences *sl, int64_t now)
{
	int n = 0;
	for (size_t i = 0; i < sl->n; i++)
		n += sl->list[i].expired_at == 0 && now < sl->list[i].until;
	return n;
}

int tr_silences_add(struct tr_daemon *d, struct tr_silence *x)
{
	int64_t now = tr_time_now();
	if (!d->silences)
		return TR_ESTORE;
	if (running_or_waiting(d->silences, now) >= TR_SILENCES_MAX)
		return -ENOSPC;
	struct change c = {.d = d, .x = x, .now = now};
	int rc = tr_txn_run(&d->ingest.txn, write_add, &c);
	if (rc)
		return rc;
	if ((rc = reload(d)) != 0)
		log_errx("silences: silence %lld is stored but the list in memory could not be read again (%s);"
			 " it holds from the next change or restart", (long long)x->id, tr_strerror(rc));
	return 0;
}

/* A released notification's line in its ticket's history, so that one
 * held "until" a time and delivered before it says why. */
static int released_line(void *ud, const struct tr_notification *x)
{
	const struct change *c = ud;
	cJSON *p = cJSON_Parse(x->payload);
	const cJSON *tid = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(p, "ticket"), "id");
	int64_t ticket_id = cJSON_IsNumber(tid) ? (int64_t)tid->valuedouble : 0;
	cJSON_Delete(p);
	if (ticket_id <= 0)
		return 0;
	char detail[TR_SILENCE_REASON_MAX + 256];
	snprintf(detail, sizeof(detail), "notification to %s released: silence %lld%s%s%s expired by %s", x->output,
		 (long long)c->id, c->reason ? " (" : "", c->reason ? c->reason : "", c->reason ? ")" : "", c->actor);
	return tr_store_history_add(c->d->store, ticket_id, c->now, 0, "silence", "released", detail);
}

static int write_expire(void *ud)
{
	struct change *c = ud;
	int rc = tr_store_silence_held_each(c->d->store, c->id, released_line, c);
	if (rc == 0)
		rc = tr_store_silence_expire(c->d->store, c->id, c->now, c->actor, &c->released);
	if (rc == 0)
		rc = tr_store_silences_prune(c->d->store, c->now, KEEP_ENDED_S);
	return rc;
}

int tr_silences_expire(struct tr_daemon *d, int64_t id, const char *actor, int64_t *released)
{
	*released = 0;
	if (!d->silences)
		return TR_ESTORE;
	struct change c = {.d = d, .id = id, .actor = actor, .now = tr_time_now()};
	for (size_t i = 0; i < d->silences->n; i++)
		if (d->silences->list[i].id == id)
			c.reason = d->silences->list[i].reason;
	int rc = tr_txn_run(&d->ingest.txn, write_expire, &c);
	if (rc)
		return rc;
	*released = c.released;
	/* the list follows the table; until it does, its copy must not hold */
	for (size_t i = 0; i < d->silences->n; i++)
		if (d->silences->list[i].id == id)
			d->silences->list[i].expired_at = c.now;
	if ((rc = reload(d)) != 0)
		log_errx("silences: cannot read the list again after expiring %lld: %s", (long long)id,
			 tr_strerror(rc));
	return 0;
}
