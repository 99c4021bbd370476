/* A ticket's plan: its steps and what acks, due times, calendars and
 * lateness do to them (tr_plan.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_calendar.h"
#include "tr_event.h"
#include "tr_json.h"
#include "tr_log.h"
#include "tr_plan.h"
#include "tr_time.h"

static const char *str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Member key (a plain literal) of a JSON object; *n counts the members. */
static void member(struct tr_buf *b, int *n, const char *key)
{
	tr_buf_add(b, *n ? ",\"" : "\"", *n ? 2 : 1);
	(*n)++;
	tr_buf_add(b, key, strlen(key));
	tr_buf_add(b, "\":", 2);
}

static void add_str(struct tr_buf *b, int *n, const char *key, const char *v)
{
	if (v) {
		member(b, n, key);
		tr_json_add_string(b, v);
	}
}

static void add_int(struct tr_buf *b, int *n, const char *key, int64_t v)
{
	if (v) {
		member(b, n, key);
		tr_json_add_int(b, v);
	}
}

void tr_plan_payload(struct tr_buf *b, const struct tr_step_note *p)
{
	int n = 0;
	tr_buf_add(b, "{", 1);
	add_str(b, &n, "note", p->note);
	add_str(b, &n, "notify", p->notify);
	add_str(b, &n, "ladder", p->ladder);
	add_int(b, &n, "level", p->level);
	add_int(b, &n, "repeat", p->repeat);
	add_str(b, &n, "cal", p->cal);
	if (p->cal) {
		add_int(b, &n, "base", p->base);
		add_int(b, &n, "off", p->off);
	}
	add_int(b, &n, "before_due", p->before_due);
	add_int(b, &n, "paused_from", p->paused_from);
	add_int(b, &n, "paused_at", p->paused_at);
	tr_buf_add(b, "}", 1);
}

void tr_plan_payload_read(const cJSON *j, struct tr_step_note *p)
{
	*p = (struct tr_step_note){
		.note = str(j, "note"), .notify = str(j, "notify"), .ladder = str(j, "ladder"), .cal = str(j, "cal"),
		.base = tr_json_whole(j, "base", 0), .off = tr_json_whole(j, "off", 0),
		.level = tr_json_whole(j, "level", 0), .repeat = tr_json_whole(j, "repeat", 0),
		.before_due = tr_json_whole(j, "before_due", 0),
		.paused_from = tr_json_whole(j, "paused_from", 0), .paused_at = tr_json_whole(j, "paused_at", 0),
	};
}

/* Adds a step with payload p. */
static int add_step(struct tr_store *s, int64_t ticket_id, const char *kind, int64_t at, const struct tr_step_note *p,
		    int64_t event_seq)
{
	struct tr_buf b = {0};
	tr_plan_payload(&b, p);
	int rc = b.oom ? -ENOMEM : tr_store_timer_add(s, at, kind, ticket_id, b.p, event_seq, NULL);
	tr_buf_free(&b);
	return rc;
}

/* Moves step tm to at with payload p. */
static int move_step(struct tr_store *s, const struct tr_timer *tm, int64_t at, const struct tr_step_note *p)
{
	struct tr_buf b = {0};
	tr_plan_payload(&b, p);
	int rc = b.oom ? -ENOMEM : tr_store_step_move(s, tm, at, b.p);
	tr_buf_free(&b);
	return rc;
}

static int is(const struct tr_timer *t, const char *kind)
{
	return strcmp(t->kind, kind) == 0;
}

void tr_plan_late(const struct tr_timer *due, int n, int64_t now, int *skip)
{
	int deadline = -1; /* the latest due-time step among them */
	for (int i = 0; i < n; i++)
		if (is(&due[i], "due"))
			deadline = i;
	for (int i = 0; i < n; i++) {
		skip[i] = 0;
		/* the due time itself and a legacy ack resume always happen */
		if (is(&due[i], "due") || is(&due[i], "ack_timeout"))
			continue;
		if (deadline >= 0 && due[i].due_at < due[deadline].due_at) {
			skip[i] = deadline + 1;
			continue;
		}
		if (now - due[i].due_at <= TR_PLAN_LATE_S)
			continue;
		for (int j = n - 1; j > i; j--)
			if (due[j].due_at > due[i].due_at && !is(&due[j], "ack_timeout")) {
				skip[i] = j + 1;
				break;
			}
	}
}

/* The ladder's last level, or NULL. */
static const cJSON *top_level(const cJSON *ladder)
{
	const cJSON *levels = cJSON_GetObjectItemCaseSensitive(ladder, "levels"), *l = NULL;
	for (const cJSON *x = levels ? levels->child : NULL; x; x = x->next)
		l = x;
	return l;
}

/* The step of level l of ladder: what it says and where it is counted. */
static struct tr_step_note level_note(const cJSON *ladder, const cJSON *l, int64_t repeat)
{
	const char *cal = str(ladder, "calendar");
	return (struct tr_step_note){
		.note = str(l, "note"), .notify = str(l, "notify"), .ladder = str(ladder, "name"),
		.level = tr_json_whole(l, "level", 0), .repeat = repeat, .cal = cal,
	};
}

int tr_plan_arm_ladder(struct tr_store *s, const struct tr_calendars *cals, int64_t ticket_id, const char *ladder_json,
		       int64_t after_level, int64_t base, int64_t due_at, int64_t event_seq, char *err, size_t errlen)
{
	cJSON *ladder = cJSON_Parse(ladder_json);
	if (!ladder)
		return -ENOMEM;
	const cJSON *levels = cJSON_GetObjectItemCaseSensitive(ladder, "levels");
	/* `after` levels chain: base and the open time counted from it, so a
	 * calendar's change recounts the whole chain from the same base. */
	int64_t off = 0, t = base;
	int rc = 0;
	for (const cJSON *l = levels ? levels->child : NULL; l && rc == 0; l = l->next) {
		struct tr_step_note p = level_note(ladder, l, 0);
		int64_t before = tr_json_whole(l, "before_due", 0);
		if (before > 0) {
			if (!due_at) {
				snprintf(err, errlen, "ladder '%s': level %lld is set before the due time, and the ticket has none",
					 p.ladder ? p.ladder : "?", (long long)p.level);
				rc = -EINVAL;
				break;
			}
			t = due_at - before;
			p.cal = NULL;
			p.before_due = before;
			/* the next `after` level counts from here */
			base = t;
			off = 0;
		} else {
			off += tr_json_whole(l, "after", 0);
			rc = tr_calendars_add(cals, p.cal, base, off, &t);
			if (rc) {
				snprintf(err, errlen, "ladder '%s': calendar '%s' has no open time", p.ladder ? p.ladder : "?",
					 p.cal ? p.cal : "24x7");
				break;
			}
			p.base = base;
			p.off = off;
		}
		if (p.level > after_level)
			rc = add_step(s, ticket_id, "escalate", t, &p, event_seq);
	}
	cJSON_Delete(ladder);
	return rc;
}

int tr_plan_ladder_fired(struct tr_store *s, const struct tr_calendars *cals, int64_t ticket_id,
			 const char *ladder_json, const struct tr_step_note *fired, int64_t fired_due, int64_t now,
			 int64_t event_seq)
{
	cJSON *ladder = cJSON_Parse(ladder_json);
	if (!ladder)
		return -ENOMEM;
	const cJSON *top = top_level(ladder);
	int64_t every = tr_json_whole(ladder, "repeat", 0), times = tr_json_whole(ladder, "repeat_times", 0);
	int rc = 0;
	if (top && tr_json_whole(top, "level", 0) == fired->level && every > 0 &&
	    (times == 0 || fired->repeat < times)) {
		struct tr_step_note p = level_note(ladder, top, fired->repeat + 1);
		int64_t t;
		/* A due-anchored top repeats on the clock, like its level; repeats
		 * already past when it fired late are not made, only the next. */
		if (fired->before_due) {
			p.cal = NULL;
			p.before_due = fired->before_due - every;
			t = fired_due + every;
			while (t <= now && p.before_due > every && (times == 0 || p.repeat < times)) {
				t += every;
				p.before_due -= every;
				p.repeat++;
			}
			if (p.before_due <= 0)
				goto out; /* past the deadline: the breach speaks now */
		} else {
			p.base = now;
			p.off = every;
			rc = tr_calendars_add(cals, p.cal, now, every, &t);
		}
		if (rc == 0)
			rc = add_step(s, ticket_id, "escalate", t, &p, event_seq);
	}
out:
	cJSON_Delete(ladder);
	return rc;
}

/* Collects a walk's rows (tr_store_ticket_timers_each) as owned timers. */
struct rows {
	struct tr_timer *v;
	int n, cap, oom;
};

static int collect(void *ud, const struct tr_timer_row *tm)
{
	struct rows *r = ud;
	if (r->n == r->cap) {
		struct tr_timer *p = realloc(r->v, (size_t)(r->cap = r->cap ? r->cap * 2 : 8) * sizeof(*p));
		if (!p) {
			r->oom = 1;
			return -ENOMEM;
		}
		r->v = p;
	}
	struct tr_timer *t = &r->v[r->n];
	t->id = tm->id;
	t->due_at = tm->due_at;
	t->ticket_id = tm->ticket_id;
	snprintf(t->kind, sizeof(t->kind), "%s", tm->kind ? tm->kind : "");
	if (!(t->payload = strdup(tm->payload ? tm->payload : "{}"))) {
		r->oom = 1;
		return -ENOMEM;
	}
	r->n++;
	return 0;
}

static void rows_free(struct rows *r)
{
	tr_timer_rows_free(r->v, r->n);
	free(r->v);
}

static int pending_steps(struct tr_store *s, int64_t ticket_id, struct rows *r)
{
	*r = (struct rows){0};
	int rc = tr_store_ticket_timers_each(s, ticket_id, collect, r);
	return r->oom ? -ENOMEM : rc;
}

int tr_plan_pause(struct tr_store *s, const struct tr_ticket *t, int64_t default_timeout, int64_t now,
		  int *paused)
{
	cJSON *ladder = t->ladder ? cJSON_Parse(t->ladder) : NULL;
	int64_t ladder_timeout = tr_json_whole(ladder, "ack_timeout", 0);
	cJSON_Delete(ladder);
	struct rows r;
	int rc = pending_steps(s, t->id, &r);
	*paused = 0;
	for (int i = 0; rc == 0 && i < r.n; i++) {
		struct tr_timer *tm = &r.v[i];
		if (!is(tm, "escalate"))
			continue;
		cJSON *j = cJSON_Parse(tm->payload);
		struct tr_step_note p;
		tr_plan_payload_read(j, &p);
		int64_t timeout = p.ladder && ladder_timeout > 0 ? ladder_timeout : default_timeout;
		int64_t at = now + timeout;
		/* The deadline guard: whatever an ack pauses still comes first. */
		if (t->due_at && at >= t->due_at)
			at = now + (t->due_at - now) / 2;
		if (!p.before_due && at > tm->due_at) {
			if (!p.paused_from)
				p.paused_from = tm->due_at;
			p.paused_at = now;
			rc = move_step(s, tm, at, &p);
			(*paused)++;
		}
		cJSON_Delete(j);
	}
	rows_free(&r);
	return rc;
}

int tr_plan_due_moved(struct tr_store *s, int64_t ticket_id, int64_t due_at)
{
	struct rows r;
	int rc = pending_steps(s, ticket_id, &r);
	for (int i = 0; rc == 0 && i < r.n; i++) {
		cJSON *j = cJSON_Parse(r.v[i].payload);
		struct tr_step_note p;
		tr_plan_payload_read(j, &p);
		if (p.before_due && due_at - p.before_due != r.v[i].due_at)
			rc = move_step(s, &r.v[i], due_at - p.before_due, &p);
		cJSON_Delete(j);
	}
	rows_free(&r);
	return rc;
}

/* Moves a due-time step and the ticket's due time with it. */
static int move_due(struct tr_store *s, const struct tr_timer *tm, int64_t at, const struct tr_step_note *p)
{
	struct tr_ticket t;
	int rc = tr_store_ticket_get(s, tm->ticket_id, &t);
	if (rc)
		return rc == -ENOENT ? 0 : rc;
	struct tr_ticket w = t;
	w.due_at = at;
	rc = tr_store_ticket_update(s, &w, &t, t.updated_at);
	tr_ticket_free(&t);
	if (rc == 0)
		rc = move_step(s, tm, at, p);
	return rc ? rc : tr_plan_due_moved(s, tm->ticket_id, at);
}

/* Recounts one pending step in its calendar's open time; *moved is 1
 * when its time changed (then its ticket's history says so). */
static int recount_step(struct tr_store *s, const struct tr_calendars *cals, const struct tr_timer *tm, int64_t now,
			int *moved)
{
	*moved = 0;
	cJSON *j = cJSON_Parse(tm->payload);
	struct tr_step_note p;
	tr_plan_payload_read(j, &p);
	int64_t at;
	if (!p.cal || !tr_calendars_find(cals, p.cal) || tr_calendars_add(cals, p.cal, p.base, p.off, &at)) {
		/* The calendar is gone: the step keeps its time, and says so. */
		log_warnx("ticket %lld: %s step counted in calendar '%s', which is no longer configured, keeps its time",
			  (long long)tm->ticket_id, tm->kind, p.cal ? p.cal : "?");
		cJSON_Delete(j);
		return 0;
	}
	/* A paused step keeps its pause: what moves is where it was, and the
	 * step itself only when that is now later than the pause. */
	int64_t was = p.paused_from, to = at;
	if (was) {
		p.paused_from = at;
		to = at > tm->due_at ? at : tm->due_at;
	}
	int rc = 0;
	if (to != tm->due_at || (was && at != was))
		rc = is(tm, "due") ? move_due(s, tm, to, &p) : move_step(s, tm, to, &p);
	if (rc == 0 && to != tm->due_at) {
		char a[40], b[40], detail[400];
		tr_time_format(tm->due_at, NULL, a, sizeof(a));
		tr_time_format(to, NULL, b, sizeof(b));
		snprintf(detail, sizeof(detail), "%s step moved from %s to %s: calendar '%s' changed", tm->kind, a, b, p.cal);
		rc = tr_store_history_add(s, tm->ticket_id, now, 0, "config", "moved", detail);
		*moved = rc == 0;
	}
	cJSON_Delete(j);
	return rc;
}

int tr_plan_recalendar(struct tr_store *s, const struct tr_calendars *cals, int64_t now,
		       struct tr_wake_cursor *after, int tickets, int *moved, int *last)
{
	struct tr_timer *v = NULL;
	int n = 0, one;
	int rc = tr_store_steps_calendared(s, after, tickets, &v, &n, last);
	*moved = 0;
	for (int i = 0; rc == 0 && i < n; i++) {
		rc = recount_step(s, cals, &v[i], now, &one);
		*moved += one;
	}
	tr_timer_rows_free(v, n);
	free(v);
	return rc;
}
