/* Timer firing. Each due row is deleted, its built-in effect applied
 * (nudge: a history line and a notification; escalate: the ticket's level;
 * due: ticket.breached; ack_timeout: the ladder re-armed; schedule: the
 * event it carries) and its event dispatched to the rules, all in one
 * transaction: SPEC §3 exactly-once effects for time, too. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_error.h"
#include "tr_event.h"
#include "tr_log.h"
#include "tr_slice.h"
#include "tr_notify.h"
#include "tr_spool.h"
#include "tr_ticket.h"
#include "tr_time.h"
#include "tr_timers.h"

#define FIRE_BATCH 1000   /* timers per transaction at the most */
#define FIRE_CHUNK 32     /* timers read at a time */
#define FIRE_MS 5         /* then the loop breathes (sooner when a client waits) */
#define FIRE_MS_SHARED 2  /* while a file is read, whose steps take 2 ms of each pass too */

struct tr_timers {
	struct tr_daemon *d;
	uv_timer_t timer;
	uv_idle_t more;       /* continues a backlog after the loop has served I/O */
	int64_t armed_for;    /* due_at the libuv timer is set for; 0 = none */
	int deferred;         /* the last pass's slice waited for a client (tr_slice_io_first) */
	int closing;
};

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int notify(struct tr_daemon *d, const char *output, int64_t ticket_id, const char *message,
		  const char *type, const char *id, int64_t now)
{
	if (!output)
		return 0;
	char err[256];
	int rc = tr_notify(d->store, &d->cfg, output, ticket_id, message, type, id, "timer", now, err, sizeof(err));
	if (rc == -ENOENT) {
		log_warnx("timer: %s; notification dropped", err); /* the output was removed from the config */
		return 0;
	}
	return rc;
}

/* The built-in effect of a ticket timer; *type is the event it emits, or
 * NULL when the ticket is gone or closed (then nothing happens). */
static int ticket_effect(struct tr_daemon *d, const struct tr_timer *tm, cJSON *payload, const char **type,
			 int64_t now, const char *event_id)
{
	*type = NULL;
	/* Most timers are nudges and due times, and their ticket is open:
	 * closing cancels a ticket's timers and none is added to a closed one
	 * (tr_store_timer_add), so they need no read of the ticket. */
	int simple = strcmp(tm->kind, "nudge") == 0 || strcmp(tm->kind, "due") == 0;
	if (simple) {
		const char *note = str(payload, "note");
		if (strcmp(tm->kind, "due") == 0) {
			*type = "ticket.breached";
			return tr_store_timer_log(d->store, tm, now, "breached", "the due time passed");
		}
		*type = "timer.nudge";
		int rc = tr_store_timer_log(d->store, tm, now, "nudge", note ? note : "reminder");
		return rc ? rc : notify(d, str(payload, "notify"), tm->ticket_id, note ? note : "reminder", *type, event_id, now);
	}
	struct tr_ticket t;
	int rc = tr_store_ticket_get(d->store, tm->ticket_id, &t);
	if (rc == -ENOENT)
		return 0;
	if (rc)
		return rc;
	if (strcmp(t.state, "open") != 0) {
		tr_ticket_free(&t);
		return 0;
	}
	char detail[600], err[256];
	const char *note = str(payload, "note");
	if (strcmp(tm->kind, "escalate") == 0) {
		*type = "ticket.escalated";
		int64_t level = tr_json_whole(payload, "level", t.level + 1);
		int64_t repeat = tr_json_whole(payload, "repeat", 0);
		char again[40] = "";
		if (repeat > 0)
			snprintf(again, sizeof(again), " (repeat %lld)", (long long)repeat);
		snprintf(detail, sizeof(detail), "level %lld%s%s%s", (long long)level, again, note ? ": " : "",
			 note ? note : "");
		struct tr_ticket_change c = {.action = "escalate", .detail = detail, .level = level};
		rc = tr_ticket_apply(d->store, t.id, &c, "timer", 0, now, err, sizeof(err));
		/* SPEC §5 ladders repeat: the top level notifies again until acked */
		const char *ladder = str(payload, "ladder");
		if (rc == 0 && t.ladder && ladder && ladder[0])
			rc = tr_ticket_ladder_fired(d->store, tr_engine_calendars(d->engine), t.id, t.ladder, level,
						    repeat, now, 0);
		char message[700];
		snprintf(message, sizeof(message), "Escalated to %s: %s", detail, t.title);
		if (rc == 0)
			rc = notify(d, str(payload, "notify"), t.id, message, *type, event_id, now);
	} else if (strcmp(tm->kind, "ack_timeout") == 0) {
		*type = "timer.ack_timeout";
		int64_t after_level = tr_json_whole(payload, "after_level", t.level);
		rc = tr_store_history_add(d->store, t.id, now, 0, "timer", "ack timed out", "escalation resumes");
		if (rc == 0 && t.ladder)
			rc = tr_ticket_arm_ladder(d->store, tr_engine_calendars(d->engine), t.id, t.ladder,
						  after_level, now, 0);
	}
	tr_ticket_free(&t);
	return rc;
}

/* Builds and runs the timer's event; the row is already deleted. */
static int fire_one(struct tr_daemon *d, const struct tr_timer *tm, int64_t now)
{
	cJSON *payload = cJSON_Parse(tm->payload);
	if (!cJSON_IsObject(payload)) {
		cJSON_Delete(payload);
		payload = cJSON_CreateObject();
	}
	char id[64], at[40], source[64];
	snprintf(id, sizeof(id), "timer:%lld", (long long)tm->id);
	snprintf(source, sizeof(source), "timer:%lld", (long long)tm->id);
	tr_time_format(tm->due_at, NULL, at, sizeof(at));

	cJSON *ev = NULL;
	int rc = 0;
	if (strcmp(tm->kind, "schedule") == 0) {
		ev = cJSON_DetachItemFromObject(payload, "event");
		if (!cJSON_IsObject(ev)) {
			cJSON_Delete(ev);
			ev = NULL;
		} else if (!cJSON_GetObjectItemCaseSensitive(ev, "id")) {
			cJSON_AddStringToObject(ev, "id", id);
		}
	} else {
		const char *type = NULL;
		rc = ticket_effect(d, tm, payload, &type, now, id);
		/* The effect is in the ticket's history; the event itself is only
		 * worth storing when a rule wants it. */
		if (rc == 0 && type && tr_engine_handles(d->engine, type)) {
			ev = cJSON_Duplicate(payload, 1);
			cJSON_DeleteItemFromObject(ev, "type");
			cJSON_DeleteItemFromObject(ev, "id");
			cJSON_AddStringToObject(ev, "type", type);
			cJSON_AddStringToObject(ev, "id", id);
			cJSON_AddNumberToObject(ev, "ticket_id", (double)tm->ticket_id);
		}
	}
	cJSON_Delete(payload);
	if (rc || !ev) {
		cJSON_Delete(ev);
		return rc;
	}
	if (!cJSON_GetObjectItemCaseSensitive(ev, "occurred_at"))
		cJSON_AddStringToObject(ev, "occurred_at", at);
	struct tr_event event;
	char err[256];
	if (tr_event_init(&event, ev, NULL, source, now, err, sizeof(err))) {
		log_warnx("timer %lld: its event is not valid (%s); skipped", (long long)tm->id, err);
		return 0;
	}
	rc = tr_ingest_event(&d->ingest, &event, now);
	tr_event_free(&event);
	return rc == TR_EDUP ? 0 : rc;
}

static void arm(struct tr_timers *t);
static void on_more(uv_idle_t *h);

/* One slice's fires, inside its transaction (tr_timers_fire). */
struct fire_slice {
	struct tr_daemon *d;
	int64_t now;
	struct tr_slice slice;
	int more;
};

static int fire_due(void *ud)
{
	struct fire_slice *x = ud;
	struct tr_daemon *d = x->d;
	struct tr_timer due[FIRE_CHUNK];
	int fired = 0, late = 0, rc = 0;
	/* One transaction per slice, read a chunk at a time: a slice that ends
	 * early re-reads at most a chunk, not a whole batch. The clock is read
	 * per timer: a chunk of fires can take longer than the whole budget. */
	while (rc == 0 && x->more && !late && fired < FIRE_BATCH) {
		int n = 0;
		rc = tr_store_timers_due(d->store, x->now, FIRE_CHUNK, due, &n);
		x->more = n == FIRE_CHUNK;
		for (int i = 0; rc == 0 && i < n; i++, fired++) {
			if (fired && tr_slice_over(&x->slice)) {
				x->more = late = 1;
				break;
			}
			/* A timer an earlier one cancelled (its ticket closed) is
			 * gone: skip it. Deleting is what makes it fire once. */
			rc = tr_store_timer_delete(d->store, due[i].due_at, due[i].id);
			if (rc == 0)
				rc = fire_one(d, &due[i], x->now);
			else if (rc == -ENOENT)
				rc = 0;
		}
		tr_timer_rows_free(due, n);
	}
	return rc;
}

int tr_timers_fire(struct tr_daemon *d, int64_t now, uint64_t budget_ms, int *more_out)
{
	struct fire_slice x = {.d = d, .now = now, .more = 1};
	tr_slice_start(&x.slice, d, budget_ms * 1000u);
	int rc = tr_txn_run(&d->ingest.txn, fire_due, &x);
	*more_out = x.more;
	return rc;
}

/* Fires what is due, in bounded transactions, then re-arms. */
static void on_timer(uv_timer_t *h)
{
	struct tr_timers *t = h->data;
	t->armed_for = 0;
	if (t->d->writes_paused)
		return; /* tr_timers_resume arms it again */
	int more = 0;
	int rc = tr_timers_fire(t->d, tr_time_now(), tr_spool_reading(t->d->spool) ? FIRE_MS_SHARED : FIRE_MS,
				&more);
	if (rc) {
		log_errx("timers: firing failed (%s); retrying in 1 s", tr_strerror(rc));
		uv_timer_start(&t->timer, on_timer, 1000, 0);
		return;
	}
	if (more) {
		/* The rest after the loop breathes. Not a 0 ms timer: libuv 1.44
		 * would run it again in the same pass, never reaching the socket. */
		uv_idle_start(&t->more, on_more);
		return;
	}
	arm(t);
}

static void on_more(uv_idle_t *h)
{
	struct tr_timers *t = h->data;
	if (tr_slice_io_first(t->d, &t->deferred))
		return; /* the next pass fires */
	uv_idle_stop(h);
	on_timer(&t->timer);
}

static void arm_at(struct tr_timers *t, int64_t due_at)
{
	if (t->closing || due_at <= 0)
		return;
	if (t->armed_for && t->armed_for <= due_at)
		return;
	int64_t now = tr_time_now();
	uint64_t ms = due_at > now ? (uint64_t)(due_at - now) * 1000 : 1; /* >= 1: see on_more */
	t->armed_for = due_at;
	uv_timer_start(&t->timer, on_timer, ms, 0);
}

static void arm(struct tr_timers *t)
{
	int64_t next = 0;
	tr_store_timer_hint(t->d->store); /* superseded by the query */
	if (tr_store_timer_next(t->d->store, &next) == 0)
		arm_at(t, next);
}

void tr_timers_resume(struct tr_timers *t)
{
	if (t && !t->closing)
		arm(t);
}

void tr_timers_poke(struct tr_timers *t)
{
	if (t)
		arm_at(t, tr_store_timer_hint(t->d->store));
}

int tr_timers_start(struct tr_daemon *d, struct tr_timers **out)
{
	struct tr_timers *t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->d = d;
	uv_timer_init(d->loop, &t->timer);
	t->timer.data = t;
	uv_idle_init(d->loop, &t->more);
	t->more.data = t;
	arm(t); /* SPEC §3: what fell due while the daemon was down fires now, once */
	*out = t;
	return 0;
}

void tr_timers_close(struct tr_timers *t)
{
	if (!t)
		return;
	t->closing = 1;
	uv_close((uv_handle_t *)&t->timer, NULL);
	uv_close((uv_handle_t *)&t->more, NULL);
}

void tr_timers_free(struct tr_timers *t)
{
	free(t);
}
