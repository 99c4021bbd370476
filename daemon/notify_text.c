/* The words of a notification about a ticket: one line a person can act on
 * without opening the board (issue 20), built here for every notification
 * (a rule's notify(), an escalation's, a nudge's when it fires) so no rule
 * has to repeat the ticket's title in its note, and no note goes out
 * alone. The line is
 *
 *   [priority] title — account (marketplace), order X, case Y, buyer Z —
 *   due Fri 27 Nov 12:00 Asia/Shanghai (in 3 h 12 min) — the note
 *
 * where a part the title already says is left out, and the due time is in
 * the zone of the calendar the ticket's due time counts in, else the
 * config's display_timezone, else UTC. The time left is counted from the
 * moment the notification is made (a rule's clock in `triagectl test`, so
 * fixtures compare it). Not the payload around it (notify.c) nor delivery
 * (outputs.c). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_notify.h"
#include "tr_plan.h"
#include "tr_time.h"

static void add(struct tr_buf *b, const char *s)
{
	if (s)
		tr_buf_add(b, s, strlen(s));
}

/* ---- the ticket's zone ------------------------------------------------------ */

struct zone_walk {
	char cal[128];  /* the due step's calendar, else the first step's that names one */
	int from_due;
};

static int look_at_step(void *ud, const struct tr_timer_row *row)
{
	struct zone_walk *w = ud;
	if (w->from_due || !row->payload)
		return 0;
	cJSON *payload = cJSON_Parse(row->payload);
	struct tr_step_note p = {0};
	if (payload)
		tr_plan_payload_read(payload, &p);
	int due = row->kind && strcmp(row->kind, "due") == 0;
	if (p.cal && (due || !w->cal[0])) {
		snprintf(w->cal, sizeof(w->cal), "%s", p.cal);
		w->from_due = due;
	}
	cJSON_Delete(payload);
	return 0;
}

const char *tr_notify_ticket_zone(struct tr_store *s, const struct tr_config *cfg, int64_t ticket_id)
{
	struct zone_walk w = {{0}, 0};
	/* a steps table that cannot be read leaves the display zone: the
	 * notification still goes, with its time in a zone it names */
	if (s && ticket_id > 0)
		tr_store_ticket_timers_each(s, ticket_id, look_at_step, &w);
	for (size_t i = 0; w.cal[0] && cfg && i < cfg->ncalendars; i++)
		if (cfg->calendars[i].name && strcmp(cfg->calendars[i].name, w.cal) == 0)
			return cfg->calendars[i].timezone;
	return cfg ? cfg->display_timezone : NULL;
}

/* ---- times as people read them ---------------------------------------------- */

static const char *const MONTHS[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
				       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

int tr_notify_local_time(int64_t t, const char *zone, char *buf, size_t len)
{
	char rfc[48];
	int rc = tr_time_format(t, zone, rfc, sizeof(rfc));
	if (rc)
		return rc;
	/* "2026-11-27T12:00:00+08:00": the wall clock is the text */
	int month = (rfc[5] - '0') * 10 + (rfc[6] - '0');
	if (month < 1 || month > 12)
		return -ERANGE;
	int n = snprintf(buf, len, "%s %.2s %s %.5s %s", tr_time_weekday(t, rfc), rfc + 8, MONTHS[month - 1], rfc + 11,
			 zone && *zone ? zone : "UTC");
	return n < 0 || (size_t)n >= len ? -ENOSPC : 0;
}

void tr_notify_time_left(int64_t left, char *buf, size_t len)
{
	const char *how = left >= 0 ? "in " : "overdue by ";
	int64_t s = left >= 0 ? left : -left;
	int64_t d = s / 86400, h = s % 86400 / 3600, m = s % 3600 / 60;
	if (s < 60)
		snprintf(buf, len, "%s", left > 0 ? "in under a minute" : "now");
	else if (d >= 2 && h) /* past two days, minutes are noise */
		snprintf(buf, len, "%s%lld d %lld h", how, (long long)d, (long long)h);
	else if (d >= 2)
		snprintf(buf, len, "%s%lld d", how, (long long)d);
	else if (s >= 3600 && m)
		snprintf(buf, len, "%s%lld h %lld min", how, (long long)(d * 24 + h), (long long)m);
	else if (s >= 3600)
		snprintf(buf, len, "%s%lld h", how, (long long)(d * 24 + h));
	else
		snprintf(buf, len, "%s%lld min", how, (long long)m);
}

/* ---- the line ------------------------------------------------------------------ */

/* fields.name as text: a string as it is, a whole number without ".0";
 * NULL for anything else. buf holds a number's text. */
static const char *field_text(const cJSON *fields, const char *name, char *buf, size_t len)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(fields, name);
	if (cJSON_IsString(v) && v->valuestring[0])
		return v->valuestring;
	/* whole and within 2^53, so the cast is exact and defined */
	if (cJSON_IsNumber(v) && v->valuedouble > -9007199254740992.0 && v->valuedouble < 9007199254740992.0 &&
	    v->valuedouble == (double)(long long)v->valuedouble) {
		snprintf(buf, len, "%lld", (long long)v->valuedouble);
		return buf;
	}
	return NULL;
}

void tr_notify_about_fill(struct tr_notify_about *a, const struct tr_ticket *t, const char *marketplace,
			  const char *zone, int64_t now)
{
	memset(a, 0, sizeof(*a));
	a->ticket = t;
	a->zone = zone;
	cJSON *fields = t->fields ? cJSON_Parse(t->fields) : NULL;
	static const struct { const char *name; size_t at; } FIELDS[] = {
		{"marketplace", offsetof(struct tr_notify_about, marketplace)},
		{"order_id", offsetof(struct tr_notify_about, order_id)},
		{"case_id", offsetof(struct tr_notify_about, case_id)},
		{"buyer", offsetof(struct tr_notify_about, buyer)},
	};
	for (size_t i = 0; i < sizeof(FIELDS) / sizeof(FIELDS[0]); i++) {
		char num[32];
		const char *v = field_text(fields, FIELDS[i].name, num, sizeof(num));
		if (v)
			snprintf((char *)a + FIELDS[i].at, TR_NOTIFY_PART_MAX, "%s", v);
	}
	/* SPEC §2: the event's marketplace when the ticket keeps none */
	if (!a->marketplace[0] && marketplace)
		snprintf(a->marketplace, sizeof(a->marketplace), "%s", marketplace);
	cJSON_Delete(fields);
	if (t->due_at > 0) {
		if (tr_notify_local_time(t->due_at, zone, a->due_local, sizeof(a->due_local)) &&
		    tr_notify_local_time(t->due_at, NULL, a->due_local, sizeof(a->due_local)))
			a->due_local[0] = '\0';
		a->time_left = t->due_at - now;
		tr_notify_time_left(a->time_left, a->left, sizeof(a->left));
	}
}

/* value, unless empty or already said by the title (a rule that names the
 * order in its title need not see it twice) */
static const char *unsaid(const char *title, const char *value)
{
	if (!value || !*value || (title && strstr(title, value)))
		return NULL;
	return value;
}

void tr_notify_line(struct tr_buf *b, const struct tr_notify_about *a, const char *note)
{
	const struct tr_ticket *t = a->ticket;
	const char *title = t->title && *t->title ? t->title : NULL;
	if (t->priority && *t->priority) {
		add(b, "[");
		add(b, t->priority);
		add(b, "] ");
	}
	if (title) {
		add(b, title);
	} else {
		char id[40];
		snprintf(id, sizeof(id), "ticket %lld", (long long)t->id);
		add(b, id);
	}
	/* who and what it is about: "acme-us (amazon.com), order 113-1, buyer Kim" */
	const char *account = unsaid(title, t->account), *market = unsaid(title, a->marketplace);
	static const char *const LABELS[] = {"order ", "case ", "buyer "};
	const char *rest[] = {unsaid(title, a->order_id), unsaid(title, a->case_id), unsaid(title, a->buyer)};
	const char *sep = " — ";
	if (account) {
		add(b, sep);
		add(b, account);
		sep = ", ";
	}
	if (market) {
		add(b, account ? " (" : sep);
		add(b, market);
		add(b, account ? ")" : "");
		sep = ", ";
	}
	for (size_t i = 0; i < sizeof(rest) / sizeof(rest[0]); i++) {
		if (!rest[i])
			continue;
		add(b, sep);
		add(b, LABELS[i]);
		add(b, rest[i]);
		sep = ", ";
	}
	if (a->due_local[0]) {
		add(b, " — due ");
		add(b, a->due_local);
		add(b, " (");
		add(b, a->left);
		add(b, ")");
	}
	if (note && *note) {
		add(b, " — ");
		add(b, note);
	}
	tr_buf_add(b, "", 0); /* NUL-terminated even when nothing was added */
}

void tr_notify_refresh(char **payload, int64_t now)
{
	cJSON *p = cJSON_Parse(*payload);
	cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "ticket");
	const cJSON *due = cJSON_GetObjectItemCaseSensitive(t, "due_at");
	const cJSON *local = cJSON_GetObjectItemCaseSensitive(t, "due_local");
	cJSON *left = cJSON_GetObjectItemCaseSensitive(t, "time_left_s");
	cJSON *msg = cJSON_GetObjectItemCaseSensitive(p, "message");
	int64_t due_at;
	if (!cJSON_IsString(due) || !cJSON_IsString(local) || !cJSON_IsNumber(left) || !cJSON_IsString(msg) ||
	    tr_time_parse(due->valuestring, NULL, &due_at) != 0) {
		cJSON_Delete(p);
		return;
	}
	/* the words the line was made with, found whole, then the same words now */
	char was_left[48], now_left[48], was[200], fresh[200];
	tr_notify_time_left((int64_t)left->valuedouble, was_left, sizeof(was_left));
	tr_notify_time_left(due_at - now, now_left, sizeof(now_left));
	snprintf(was, sizeof(was), "due %s (%s)", local->valuestring, was_left);
	snprintf(fresh, sizeof(fresh), "due %s (%s)", local->valuestring, now_left);
	const char *at = strstr(msg->valuestring, was);
	char *text = NULL;
	if (at && strcmp(was, fresh) != 0) {
		struct tr_buf b = {0};
		tr_buf_add(&b, msg->valuestring, (size_t)(at - msg->valuestring));
		add(&b, fresh);
		add(&b, at + strlen(was));
		tr_buf_add(&b, "", 1);
		if (!b.oom && cJSON_SetValuestring(msg, b.p)) {
			cJSON_SetNumberValue(left, (double)(due_at - now));
			text = cJSON_PrintUnformatted(p);
		}
		tr_buf_free(&b);
	}
	cJSON_Delete(p);
	if (text) {
		free(*payload);
		*payload = text;
	}
}
