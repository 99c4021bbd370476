/* Timer firing. A due schedule's row is deleted and the event it carries
 * run; a ticket due to wake has its due steps marked fired or skipped
 * (tr_plan_late), each fired one's built-in effect applied (nudge: a
 * history line and a notification; escalate: the ticket's level; due:
 * ticket.breached) and its event dispatched to the rules, all in one
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
#include "tr_plan.h"
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
	int64_t lag_s;        /* how late the last timer fired (tr_timers_lag) */
};

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

/* " (due 10:00:00Z, fired 14:03:10Z)" when step tm fired late, else "". */
static void late_note(const struct tr_timer *tm, int64_t now, char *buf, size_t len)
{
	buf[0] = '\0';
	if (now - tm->due_at > TR_PLAN_LATE_S) {
		char due[40], at[40];
		tr_time_format(tm->due_at, NULL, due, sizeof(due));
		tr_time_format(now, NULL, at, sizeof(at));
		snprintf(buf, len, " (due %s, fired %s)", due, at);
	}
}

/* What a step does when it fires, after its row is logged (and its ticket
 * is open: closing cancels a ticket's steps and none is added to a closed
 * one, so a nudge or a due time needs no read of the ticket). */
typedef int (*on_fire_fn)(struct tr_daemon *d, const struct tr_timer *tm, const cJSON *payload,
			  const struct tr_step_note *p, const char *event, const char *event_id, int64_t now);

static int nudge_fired(struct tr_daemon *d, const struct tr_timer *tm, const cJSON *payload,
		       const struct tr_step_note *p, const char *event, const char *event_id, int64_t now)
{
	(void)payload;
	return notify(d, p->notify, tm->ticket_id, p->note ? p->note : "reminder", event, event_id, now);
}

/* The level goes up, the ladder's top repeats, the output is told. */
static int escalate_fired(struct tr_daemon *d, const struct tr_ticket *t, const struct tr_timer *tm,
			  const struct tr_step_note *p, const char *event, const char *event_id, int64_t now)
{
	char detail[700], err[256], late[100], again[40] = "", resumed[120] = "";
	late_note(tm, now, late, sizeof(late));
	int64_t level = p->level ? p->level : t->level + 1;
	if (p->repeat > 0)
		snprintf(again, sizeof(again), " (repeat %lld)", (long long)p->repeat);
	if (p->paused_at) {
		char ack[40];
		tr_time_format(p->paused_at, NULL, ack, sizeof(ack));
		snprintf(resumed, sizeof(resumed), " [resumed: acknowledged at %s, not closed]", ack);
	}
	snprintf(detail, sizeof(detail), "level %lld%s%s%s%s%s", (long long)level, again, p->note ? ": " : "",
		 p->note ? p->note : "", resumed, late);
	struct tr_ticket_change c = {.action = "escalate", .detail = detail, .level = level};
	int rc = tr_ticket_apply(d->store, t->id, &c, "timer", 0, now, err, sizeof(err));
	/* SPEC §5 ladders repeat: the top level notifies again */
	if (rc == 0 && t->ladder && p->ladder && p->ladder[0])
		rc = tr_plan_ladder_fired(d->store, tr_engine_calendars(d->engine), t->id, t->ladder, p, tm->due_at, now,
					  0);
	/* the title, account and due time come with the line (notify_text.c) */
	char message[800];
	snprintf(message, sizeof(message), "Escalated to %s", detail);
	return rc ? rc : notify(d, p->notify, t->id, message, event, event_id, now);
}

/* A pause made before steps were moved in place (a database from before
 * them): the ladder above the level it was acked at is armed again. */
static int ack_timeout_fired(struct tr_daemon *d, const struct tr_ticket *t, const cJSON *payload, int64_t now)
{
	char err[256];
	int rc = tr_store_history_add(d->store, t->id, now, 0, "timer", "ack timed out", "escalation resumes");
	if (rc == 0 && t->ladder)
		rc = tr_plan_arm_ladder(d->store, tr_engine_calendars(d->engine), t->id, t->ladder,
					tr_json_whole(payload, "after_level", t->level), now, t->due_at, 0, err, sizeof(err));
	if (rc == -EINVAL) {
		log_warnx("ticket %lld: %s", (long long)t->id, err);
		rc = 0;
	}
	return rc;
}

/* Escalations and ack resumes read their ticket: nothing happens to one
 * that is gone or closed (*emitted 0). */
static int ticket_step_fired(struct tr_daemon *d, const struct tr_timer *tm, const cJSON *payload,
			     const struct tr_step_note *p, const char *event, const char *event_id, int64_t now)
{
	struct tr_ticket t;
	int rc = tr_store_ticket_get(d->store, tm->ticket_id, &t);
	if (rc)
		return rc == -ENOENT ? -ESRCH : rc;
	if (strcmp(t.state, "open") != 0)
		rc = -ESRCH;
	else if (strcmp(tm->kind, "escalate") == 0)
		rc = escalate_fired(d, &t, tm, p, event, event_id, now);
	else
		rc = ack_timeout_fired(d, &t, payload, now);
	tr_ticket_free(&t);
	return rc;
}

/* The kinds of step: the history line each leaves when it fires (NULL:
 * its effect writes one), the event it emits, and its effect. */
static const struct step_kind {
	const char *kind, *action, *event;
	on_fire_fn on_fire;
} step_kinds[] = {
	{"nudge", "nudge", "timer.nudge", nudge_fired},
	{"due", "breached", "ticket.breached", NULL},
	{"escalate", NULL, "ticket.escalated", ticket_step_fired},
	{"ack_timeout", NULL, "timer.ack_timeout", ticket_step_fired},
};

static const struct step_kind *kind_of(const struct tr_timer *tm)
{
	for (size_t i = 0; i < sizeof(step_kinds) / sizeof(step_kinds[0]); i++)
		if (strcmp(tm->kind, step_kinds[i].kind) == 0)
			return &step_kinds[i];
	return NULL;
}

/* Runs ev (owned, an object) as the event of timer or step tm. */
static int run_event(struct tr_daemon *d, const struct tr_timer *tm, cJSON *ev, int64_t now)
{
	char id[64], at[40];
	snprintf(id, sizeof(id), "timer:%lld", (long long)tm->id);
	tr_time_format(tm->due_at, NULL, at, sizeof(at));
	if (!cJSON_GetObjectItemCaseSensitive(ev, "id"))
		cJSON_AddStringToObject(ev, "id", id);
	if (!cJSON_GetObjectItemCaseSensitive(ev, "occurred_at"))
		cJSON_AddStringToObject(ev, "occurred_at", at);
	struct tr_event event;
	char err[256];
	int rc = tr_event_init(&event, ev, NULL, id, now, err, sizeof(err)); /* takes ev */
	if (rc) {
		log_warnx("timer %lld: its event is not valid (%s); skipped", (long long)tm->id, err);
		return 0;
	}
	rc = tr_ingest_event(&d->ingest, &event, now);
	tr_event_free(&event);
	return rc == TR_EDUP ? 0 : rc;
}

/* A schedule{} timer (its row already deleted): the event it carries. */
static int fire_schedule(struct tr_daemon *d, const struct tr_timer *tm, int64_t now)
{
	cJSON *payload = cJSON_Parse(tm->payload);
	cJSON *ev = cJSON_IsObject(payload) ? cJSON_DetachItemFromObject(payload, "event") : NULL;
	cJSON_Delete(payload);
	if (!cJSON_IsObject(ev)) {
		cJSON_Delete(ev);
		return 0;
	}
	return run_event(d, tm, ev, now);
}

/* A step that fires, with its payload (the caller's): its effect, then
 * its event when a rule wants it (the effect is in the ticket's history
 * either way). A step of an unknown kind (a newer daemon's) does nothing. */
static int fire_step(struct tr_daemon *d, const struct tr_timer *tm, cJSON *payload, int64_t now)
{
	const struct step_kind *k = kind_of(tm);
	if (!k)
		return 0;
	char id[64];
	snprintf(id, sizeof(id), "timer:%lld", (long long)tm->id);
	struct tr_step_note p;
	tr_plan_payload_read(payload, &p);
	int rc = k->on_fire ? k->on_fire(d, tm, payload, &p, k->event, id, now) : 0;
	if (rc == -ESRCH) /* the ticket is gone or closed */
		return 0;
	if (rc || !tr_engine_handles(d->engine, k->event))
		return rc;
	cJSON *ev = cJSON_Duplicate(payload, 1);
	if (!ev)
		return -ENOMEM;
	cJSON_DeleteItemFromObject(ev, "type");
	cJSON_DeleteItemFromObject(ev, "id");
	cJSON_AddStringToObject(ev, "type", k->event);
	cJSON_AddNumberToObject(ev, "ticket_id", (double)tm->ticket_id);
	if (now - tm->due_at > TR_PLAN_LATE_S)
		cJSON_AddNumberToObject(ev, "late_s", (double)(now - tm->due_at));
	return run_event(d, tm, ev, now);
}

#define WAKE_STEPS 64 /* a ticket's steps handled per wake; more wake it again */

/* Ticket T's wake row at `at` is due: its due steps are marked fired or
 * skipped (SPEC §3: of several late ones only the latest that still means
 * something fires), the fired ones run, and the ticket waits again at its
 * next step. */
static int fire_wake(struct tr_daemon *d, int64_t at, int64_t ticket_id, int64_t now)
{
	int rc = tr_store_wake_take(d->store, at, ticket_id);
	if (rc == -ENOENT)
		return 0; /* the ticket closed or its steps moved since the read */
	struct tr_timer due[WAKE_STEPS];
	int skip[WAKE_STEPS], n = 0;
	int64_t next = 0;
	if (rc == 0)
		rc = tr_store_ticket_steps_due(d->store, ticket_id, now, WAKE_STEPS, due, &n, &next);
	if (rc)
		return rc;
	tr_plan_late(due, n, now, skip);
	/* Each marked as it is handled: one a rule cancelled meanwhile (the
	 * ticket closed on an earlier step's event) is gone, and skipped. */
	for (int i = 0; rc == 0 && i < n; i++) {
		char detail[700], late[100];
		cJSON *payload = cJSON_Parse(due[i].payload);
		if (!cJSON_IsObject(payload)) {
			cJSON_Delete(payload);
			if (!(payload = cJSON_CreateObject())) {
				rc = -ENOMEM;
				break;
			}
		}
		struct tr_step_note p;
		tr_plan_payload_read(payload, &p);
		if (skip[i]) {
			const struct tr_timer *by = &due[skip[i] - 1];
			char when[40], by_when[40];
			tr_time_format(due[i].due_at, NULL, when, sizeof(when));
			tr_time_format(by->due_at, NULL, by_when, sizeof(by_when));
			snprintf(detail, sizeof(detail), "%s due %s%s%s: not sent, the %s due %s came too", due[i].kind,
				 when, p.note ? ": " : "", p.note ? p.note : "",
				 strcmp(by->kind, "due") == 0 ? "deadline" : by->kind, by_when);
			rc = tr_store_step_done(d->store, &due[i], "skipped", now, "skipped", detail);
		} else {
			late_note(&due[i], now, late, sizeof(late));
			snprintf(detail, sizeof(detail), "%s%s",
				 strcmp(due[i].kind, "due") == 0 ? "the due time passed" : p.note ? p.note : "reminder",
				 late);
			const struct step_kind *k = kind_of(&due[i]);
			rc = tr_store_step_done(d->store, &due[i], "fired", now, k ? k->action : NULL, detail);
			if (rc == 0)
				rc = fire_step(d, &due[i], payload, now);
		}
		cJSON_Delete(payload);
		if (rc == -ENOENT)
			rc = 0;
	}
	tr_timer_rows_free(due, n);
	return rc ? rc : tr_store_ticket_rewake(d->store, ticket_id, next);
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
			if (d->timers) /* NULL in offline rule tests */
				d->timers->lag_s = x->now > due[i].due_at ? x->now - due[i].due_at : 0;
			/* A timer an earlier one cancelled (its ticket closed) is
			 * gone: skip it. Deleting is what makes it fire once. */
			if (strcmp(due[i].kind, "wake") == 0) {
				rc = fire_wake(d, due[i].due_at, due[i].ticket_id, x->now);
				continue;
			}
			rc = tr_store_timer_delete(d->store, due[i].due_at, due[i].id);
			if (rc == 0)
				rc = fire_schedule(d, &due[i], x->now);
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

int64_t tr_timers_lag(const struct tr_timers *t)
{
	return t ? t->lag_s : 0;
}

void tr_timers_free(struct tr_timers *t)
{
	free(t);
}
