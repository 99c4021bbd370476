/* The live stream's producer (tr_watch.h): after commits, and only while a
 * sink has listeners, reads what the commits added past its cursor and
 * makes one line per row for every sink. It reads the tables, not the
 * delivery of notifications: every notification is streamed once, when it
 * is committed, whatever its output and whether or not its delivery
 * succeeds. Not how a line reaches a client, nor what a slow client costs
 * (each sink bounds that: server_conn.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_json.h"
#include "tr_log.h"
#include "tr_time.h"
#include "tr_views.h"
#include "tr_watch.h"

/* Rows read from each table per pass: a commit of a million rows is
 * streamed a batch per loop turn, never held in memory at once. */
#define BATCH_ROWS 500
/* After a read error, the next pass waits this long. */
#define HOLD_MS 1000

struct tr_watch {
	struct tr_daemon *d;          /* borrowed */
	uv_timer_t timer;             /* the next pass */
	int armed, closed;
	struct tr_watch_sink sinks[TR_WATCH_SINKS];
	size_t nsinks;
	int active;                   /* the cursor is set: someone listens */
	struct tr_watch_cursor cursor;
	uint64_t lines;
};

/* The ticket of the rows being made into lines: consecutive rows of one
 * ticket read it once. Lives for one pass. */
struct pass {
	struct tr_watch *w;
	struct tr_ticket t;
	int have;                     /* t holds ticket t.id */
};

static size_t listeners(const struct tr_watch *w)
{
	size_t n = 0;
	for (size_t i = 0; i < w->nsinks; i++)
		n += w->sinks[i].listeners(w->sinks[i].ud);
	return n;
}

/* What a change line says of its ticket: enough to read the line alone. */
static cJSON *ticket_brief(struct pass *p, int64_t id)
{
	if (!p->have || p->t.id != id) {
		if (p->have)
			tr_ticket_free(&p->t);
		p->have = tr_store_ticket_get(p->w->d->store, id, &p->t) == 0;
	}
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	cJSON_AddNumberToObject(o, "id", (double)id);
	if (!p->have)
		return o; /* gone: a change of a ticket still says which */
	tr_view_add_text(o, "key", p->t.key);
	tr_view_add_text(o, "title", p->t.title);
	tr_view_add_text(o, "queue", p->t.queue);
	tr_view_add_text(o, "priority", p->t.priority);
	tr_view_add_text(o, "state", p->t.state);
	tr_view_add_text(o, "account", p->t.account);
	tr_view_add_time(o, "due_at", p->t.due_at);
	return o;
}

static cJSON *change_line(struct pass *p, const struct tr_watch_row *r)
{
	cJSON *line = cJSON_CreateObject();
	if (!line)
		return NULL;
	cJSON *t = ticket_brief(p, r->ticket_id);
	if (t)
		cJSON_AddItemToObject(line, "ticket", t);
	cJSON *c = cJSON_AddObjectToObject(line, "change");
	if (c) {
		tr_view_add_time(c, "at", r->at);
		tr_view_add_text(c, "action", r->action);
		tr_view_add_text(c, "actor", r->actor);
		tr_view_add_text(c, "detail", r->detail);
		if (r->kind == TR_WATCH_STEP)
			tr_view_add_time(c, "due_at", r->due_at);
	}
	return line;
}

/* The outbox row's payload as queued (notify.c: output, message, at,
 * ticket, event...), with the row's id first. */
static cJSON *notification_line(const struct tr_watch_row *r)
{
	cJSON *line = cJSON_CreateObject();
	cJSON *n = cJSON_AddObjectToObject(line, "notification");
	if (!n)
		return line;
	cJSON_AddNumberToObject(n, "id", (double)r->id);
	cJSON *payload = r->payload ? cJSON_Parse(r->payload) : NULL;
	if (cJSON_IsObject(payload)) {
		while (payload->child) {
			cJSON *item = payload->child;
			cJSON_DetachItemViaPointer(payload, item);
			if (strcmp(item->string, "id") == 0)
				cJSON_Delete(item);
			else
				cJSON_AddItemToObject(n, item->string, item);
		}
	} else {
		/* not written by notify.c: still streamed, as text */
		tr_view_add_text(n, "output", r->output);
		tr_view_add_text(n, "message", r->payload);
		tr_view_add_time(n, "at", r->at);
	}
	cJSON_Delete(payload);
	return line;
}

static int emit(void *ud, const struct tr_watch_row *r)
{
	struct pass *p = ud;
	struct tr_watch *w = p->w;
	cJSON *line = r->kind == TR_WATCH_NOTIFICATION ? notification_line(r) : change_line(p, r);
	char *text = line ? tr_json_print(line) : NULL;
	cJSON_Delete(line);
	if (!text) {
		/* out of memory: this row's line is lost to the stream, the
		 * stream goes on (the row itself is in the store) */
		log_warnx("watch: out of memory making a line; one %s line not streamed",
			  r->kind == TR_WATCH_NOTIFICATION ? "notification" : "change");
		return 0;
	}
	for (size_t i = 0; i < w->nsinks; i++)
		if (w->sinks[i].listeners(w->sinks[i].ud))
			w->sinks[i].send(w->sinks[i].ud, text);
	w->lines++;
	free(text);
	return 0;
}

static void on_pass(uv_timer_t *t);

static void arm(struct tr_watch *w, uint64_t ms)
{
	if (w->closed || w->armed)
		return;
	w->armed = 1;
	uv_timer_start(&w->timer, on_pass, ms, 0);
}

/* One pass: up to BATCH_ROWS rows of each table; the rest on the next. */
static void pass(struct tr_watch *w)
{
	if (!w->active)
		return;
	if (listeners(w) == 0) {
		w->active = 0; /* the next listener starts from its own now */
		tr_store_step_journal(w->d->store, 0);
		return;
	}
	if (w->d->ingest.txn.open) {
		arm(w, 1); /* SPEC §3: only committed rows are streamed */
		return;
	}
	struct pass p = {.w = w};
	int more = 0;
	uint64_t lost = 0;
	int rc = tr_store_watch_rows(w->d->store, &w->cursor, BATCH_ROWS, emit, &p, &more, &lost);
	if (lost)
		log_warnx("watch: %llu fired or skipped steps came too many at once to be streamed; "
			  "each ticket's history has them", (unsigned long long)lost);
	if (p.have)
		tr_ticket_free(&p.t);
	for (size_t i = 0; i < w->nsinks; i++)
		if (w->sinks[i].flush)
			w->sinks[i].flush(w->sinks[i].ud);
	if (rc) {
		log_errx("watch: cannot read what the last commits added (%s); trying again", tr_strerror(rc));
		arm(w, HOLD_MS);
		return;
	}
	if (more)
		arm(w, 1); /* the loop breathes between batches */
}

static void on_pass(uv_timer_t *t)
{
	struct tr_watch *w = t->data;
	w->armed = 0;
	pass(w);
}

int tr_watch_start(struct tr_daemon *d, struct tr_watch **out)
{
	struct tr_watch *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->d = d;
	uv_timer_init(d->loop, &w->timer);
	w->timer.data = w;
	*out = w;
	return 0;
}

int tr_watch_add_sink(struct tr_watch *w, const struct tr_watch_sink *sink)
{
	if (w->nsinks == TR_WATCH_SINKS)
		return -ENOSPC;
	w->sinks[w->nsinks++] = *sink;
	return 0;
}

void tr_watch_join(void *ud)
{
	struct tr_watch *w = ud;
	if (!w || w->active || w->closed)
		return;
	int rc = tr_store_watch_now(w->d->store, &w->cursor);
	if (rc == 0 && tr_store_step_journal(w->d->store, 1))
		log_warnx("watch: out of memory: fired steps are not streamed");
	if (rc) {
		log_errx("watch: cannot find where the stream starts (%s); it stays silent", tr_strerror(rc));
		return;
	}
	w->active = 1;
}

void tr_watch_poke(struct tr_watch *w)
{
	if (w && w->active)
		arm(w, 1);
}

uint64_t tr_watch_lines(const struct tr_watch *w)
{
	return w ? w->lines : 0;
}

void tr_watch_close(struct tr_watch *w)
{
	if (!w || w->closed)
		return;
	w->closed = 1;
	w->active = 0;
	tr_store_step_journal(w->d->store, 0);
	if (!uv_is_closing((uv_handle_t *)&w->timer))
		uv_close((uv_handle_t *)&w->timer, NULL);
}

void tr_watch_free(struct tr_watch *w)
{
	/* the loop has ended: the timer's close (ours, or the drain
	 * deadline's walk over every handle) has completed */
	free(w);
}
