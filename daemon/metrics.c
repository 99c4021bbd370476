/* The Prometheus text of `metrics` (tr_metrics.h): one table of metric
 * families, each with its name, type, help and the function that writes
 * its samples from the module that keeps the counts. Adding a metric is a
 * row and a small function. Not the counting (ingest.c, engine.c,
 * timers.c, spool.c, txn.c, wal_flusher.c, outputs.c, silences.c do it),
 * nor the transport (protocol.c, and later the HTTP listener). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_error.h"
#include "tr_event_counts.h"
#include "tr_histogram.h"
#include "tr_metrics.h"
#include "tr_outputs.h"
#include "tr_protocol.h"
#include "tr_silences.h"
#include "tr_spool.h"
#include "tr_store_metrics.h"
#include "tr_time.h"
#include "tr_timers.h"
#include "tr_wal_flusher.h"

#define STR_(x) #x
#define STR(x) STR_(x)

/* The text being written and what it is about. */
struct out {
	struct tr_buf b;
	struct tr_daemon *d;
	const char *name; /* the family being written */
	int64_t now;
	struct tr_silence_counts silences; /* read once per scrape (a count in the store) */
	int have_silences;
	struct tr_output_stats *outs;      /* read once per scrape (a grouped read of the outbox); */
	int nouts, have_outs;              /* the names malloc'd, freed with the array */
};

static void addf(struct tr_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void addf(struct tr_buf *b, const char *fmt, ...)
{
	char line[256];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* only numbers and our own names go through here: never cut */
	if (n > 0)
		tr_buf_add(b, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);
}

/* The length of the valid UTF-8 sequence at p (1 to 4), or 0. */
static size_t utf8_len(const unsigned char *p)
{
	if (p[0] < 0x80)
		return 1;
	size_t n = p[0] >= 0xc2 && p[0] <= 0xdf ? 2 : (p[0] & 0xf0) == 0xe0 ? 3 : p[0] >= 0xf0 && p[0] <= 0xf4 ? 4 : 0;
	for (size_t i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	/* overlong three- and four-byte forms, surrogates, past U+10FFFF */
	if ((n == 3 && ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0))) ||
	    (n == 4 && ((p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))))
		return 0;
	return n;
}

void tr_metrics_label_value(struct tr_buf *b, const char *v)
{
	const unsigned char *p = (const unsigned char *)v;
	while (*p) {
		size_t n = utf8_len(p);
		if (*p == '\\' || *p == '"')
			tr_buf_add(b, *p == '\\' ? "\\\\" : "\\\"", 2);
		else if (*p == '\n')
			tr_buf_add(b, "\\n", 2);
		else if (n == 0)
			tr_buf_add(b, "\xef\xbf\xbd", 3); /* U+FFFD for the byte */
		else
			tr_buf_add(b, (const char *)p, n);
		p += n ? n : 1;
	}
}

/* name{k1="v1",k2="v2"} : the sample's name and labels (kv: NULL-ended
 * pairs), before its value. */
static void series(struct out *o, const char *suffix, const char *const *kv)
{
	tr_buf_add(&o->b, o->name, strlen(o->name));
	tr_buf_add(&o->b, suffix, strlen(suffix));
	for (int i = 0; kv && kv[i]; i += 2) {
		addf(&o->b, "%s%s=\"", i ? "," : "{", kv[i]);
		tr_metrics_label_value(&o->b, kv[i + 1]);
		tr_buf_add(&o->b, "\"", 1);
	}
	if (kv && kv[0])
		tr_buf_add(&o->b, "}", 1);
}

static void sample_u(struct out *o, const char *const *kv, uint64_t v)
{
	series(o, "", kv);
	addf(&o->b, " %llu\n", (unsigned long long)v);
}

static void sample_i(struct out *o, const char *const *kv, int64_t v)
{
	series(o, "", kv);
	addf(&o->b, " %lld\n", (long long)v);
}

/* A histogram of durations: cumulative buckets in seconds, +Inf, sum and
 * count. */
static void histogram(struct out *o, const struct tr_histogram *h)
{
	uint64_t below = 0;
	for (int i = 0; i <= TR_HISTOGRAM_BUCKETS; i++) {
		char le[32];
		below += h->counts[i];
		if (i < TR_HISTOGRAM_BUCKETS)
			snprintf(le, sizeof(le), "%g", (double)tr_histogram_bounds_us[i] / 1e6);
		else
			snprintf(le, sizeof(le), "+Inf");
		const char *kv[] = {"le", le, NULL};
		series(o, "_bucket", kv);
		addf(&o->b, " %llu\n", (unsigned long long)below);
	}
	series(o, "_sum", NULL);
	addf(&o->b, " %.6f\n", (double)h->sum_us / 1e6);
	series(o, "_count", NULL);
	addf(&o->b, " %llu\n", (unsigned long long)h->n);
}

/* ---- events ---- */

static int event_count(void *ud, const char *type, const char *source, uint64_t n)
{
	const char *kv[] = {"type", type, "source", source, NULL};
	sample_u(ud, kv, n);
	return 0;
}

static int events(struct out *o)
{
	return tr_event_counts_each(&o->d->ingest.by_type, event_count, o);
}

static int duplicates(struct out *o)
{
	sample_u(o, NULL, o->d->ingest.duplicates);
	return 0;
}

static int rejected(struct out *o)
{
	const char *socket[] = {"source", "socket", NULL}, *file[] = {"source", "file", NULL};
	sample_u(o, socket, o->d->rejected_events);
	sample_u(o, file, o->d->spool ? tr_spool_rows_rejected(o->d->spool) : 0);
	return 0;
}

static int quarantined(struct out *o)
{
	sample_u(o, NULL, o->d->ingest.quarantined);
	return 0;
}

/* ---- rules ---- */

static int rule_runs(void *ud, const struct tr_rule_counters *c)
{
	const struct {
		const char *result;
		uint64_t n;
	} results[] = {{"ok", c->ok}, {"error", c->errors}, {"declined", c->declined}};
	for (size_t i = 0; i < sizeof(results) / sizeof(results[0]); i++) {
		const char *kv[] = {"rule", c->name, "result", results[i].result, NULL};
		sample_u(ud, kv, results[i].n);
	}
	return 0;
}

static int rules(struct out *o)
{
	return tr_engine_counters_each(o->d->engine, rule_runs, o);
}

static int rule_seconds(struct out *o)
{
	histogram(o, tr_engine_run_seconds(o->d->engine));
	return 0;
}

/* ---- tickets and timers ---- */

/* Queues are named by rules, and a rule may name one from event data
 * (a queue per account): past this many series the rest are summed as
 * queue="_other", priority="_other", so a scrape stays small. */
#define OPEN_SERIES_MAX 500

struct open_series {
	struct out *o;
	int series;
	int64_t other;
};

static int open_count(void *ud, const char *queue, const char *priority, int64_t n)
{
	struct open_series *x = ud;
	if (x->series >= OPEN_SERIES_MAX) {
		x->other += n;
		return 0;
	}
	x->series++;
	const char *kv[] = {"queue", queue, "priority", priority, NULL};
	sample_i(x->o, kv, n);
	return 0;
}

static int tickets_open(struct out *o)
{
	struct open_series x = {.o = o};
	int rc = tr_store_open_tickets_each(o->d->store, open_count, &x);
	const char *kv[] = {"queue", TR_EVENT_COUNTS_OTHER, "priority", TR_EVENT_COUNTS_OTHER, NULL};
	if (rc == 0 && x.other)
		sample_i(o, kv, x.other);
	return rc;
}

static int tickets_breached(struct out *o)
{
	int64_t n;
	int rc = tr_store_breached_count(o->d->store, o->now, &n);
	if (rc == 0)
		sample_i(o, NULL, n);
	return rc;
}

static int pending_count(void *ud, const char *kind, int64_t n)
{
	const char *kv[] = {"kind", kind, NULL};
	sample_i(ud, kv, n);
	return 0;
}

static int timers_pending(struct out *o)
{
	return tr_store_pending_timers_each(o->d->store, pending_count, o);
}

static int timer_lag(struct out *o)
{
	sample_i(o, NULL, tr_timers_lag(o->d->timers));
	return 0;
}

/* ---- notifications ---- */

/* One output's figures go to several families: the outputs are read
 * once, at the first of them, and each family writes its own figure. */
static int keep_output(void *ud, const struct tr_output_stats *st)
{
	struct out *o = ud;
	struct tr_output_stats *grown = realloc(o->outs, (size_t)(o->nouts + 1) * sizeof(*grown));
	char *name = strdup(st->name);
	if (grown)
		o->outs = grown;
	if (!grown || !name) {
		free(name);
		return -ENOMEM;
	}
	o->outs[o->nouts] = *st;
	o->outs[o->nouts].name = name;
	o->outs[o->nouts++].last_error = NULL; /* not shown: its words are not a label */
	return 0;
}

static int outputs(struct out *o, void (*write)(struct out *, const char *const *, const struct tr_output_stats *))
{
	if (!o->have_outs && o->d->outputs) {
		int rc = tr_outputs_stats_each(o->d->outputs, keep_output, o);
		if (rc)
			return rc;
		o->have_outs = 1;
	}
	for (int i = 0; i < o->nouts; i++) {
		const char *kv[] = {"output", o->outs[i].name, NULL};
		write(o, kv, &o->outs[i]);
	}
	return 0;
}

static void free_outputs(struct out *o)
{
	for (int i = 0; i < o->nouts; i++)
		free((char *)o->outs[i].name);
	free(o->outs);
}

static void done_row(struct out *o, const char *const *kv, const struct tr_output_stats *st)
{
	const char *delivered[] = {kv[0], kv[1], "result", "delivered", NULL};
	const char *parked[] = {kv[0], kv[1], "result", "parked", NULL};
	sample_u(o, delivered, st->delivered);
	sample_u(o, parked, st->parked);
}

static void failure_row(struct out *o, const char *const *kv, const struct tr_output_stats *st)
{
	sample_u(o, kv, st->failed_attempts);
}

static void pending_row(struct out *o, const char *const *kv, const struct tr_output_stats *st)
{
	sample_i(o, kv, st->pending);
}

static void parked_row(struct out *o, const char *const *kv, const struct tr_output_stats *st)
{
	sample_i(o, kv, st->parked_now);
}

static void oldest_row(struct out *o, const char *const *kv, const struct tr_output_stats *st)
{
	int64_t age = st->oldest_pending_at ? o->now - st->oldest_pending_at : 0;
	sample_i(o, kv, age > 0 ? age : 0);
}

static void failing_row(struct out *o, const char *const *kv, const struct tr_output_stats *st)
{
	sample_i(o, kv, st->failing ? 1 : 0);
}

static int notifications(struct out *o) { return outputs(o, done_row); }
static int notification_failures(struct out *o) { return outputs(o, failure_row); }
static int notifications_pending(struct out *o) { return outputs(o, pending_row); }
static int notifications_parked(struct out *o) { return outputs(o, parked_row); }
static int notifications_oldest(struct out *o) { return outputs(o, oldest_row); }
static int outputs_failing(struct out *o) { return outputs(o, failing_row); }

/* SPEC §6 silence: what silences hold ("counted in metrics"). */
static const struct tr_silence_counts *silences(struct out *o)
{
	if (!o->have_silences)
		tr_silences_counts(o->d, o->now, &o->silences);
	o->have_silences = 1;
	return &o->silences;
}

static int held_total(struct out *o)
{
	sample_u(o, NULL, silences(o)->held_total);
	return 0;
}

static int held_now(struct out *o)
{
	sample_u(o, NULL, silences(o)->held_now);
	return 0;
}

static int silences_active(struct out *o)
{
	sample_u(o, NULL, silences(o)->active);
	return 0;
}

/* ---- the spool, commits, the WAL ---- */

static int folder_count(void *ud, const char *folder, int64_t files)
{
	const char *kv[] = {"state", folder, NULL};
	sample_i(ud, kv, files);
	return 0;
}

static int spool_files(struct out *o)
{
	return o->d->spool ? tr_spool_files_each(o->d->spool, folder_count, o) : 0;
}

static int commit_seconds(struct out *o)
{
	histogram(o, &o->d->ingest.txn.commit_seconds);
	return 0;
}

static int commit_failures(struct out *o)
{
	sample_u(o, NULL, o->d->ingest.txn.health.failures);
	return 0;
}

/* Under durability normal, or with synchronous commits, there is no
 * flusher: the histogram stays empty (its commits are in commit_seconds). */
static int flush_seconds(struct out *o)
{
	struct tr_flusher_stats st = {0};
	if (o->d->flusher)
		tr_flusher_get_stats(o->d->flusher, &st);
	histogram(o, &st.seconds);
	return 0;
}

/* ---- the process ---- */

static int build_info(struct out *o)
{
	const char *kv[] = {"version", TR_VERSION, NULL};
	sample_i(o, kv, 1);
	return 0;
}

static int start_time(struct out *o)
{
	sample_i(o, NULL, o->d->started_at);
	return 0;
}

static int requests(struct out *o)
{
	sample_u(o, NULL, o->d->requests);
	return 0;
}

static int socket_clients(struct out *o)
{
	struct tr_server_stats st = {0};
	if (o->d->server)
		tr_server_get_stats(o->d->server, &st);
	sample_i(o, NULL, st.clients);
	return 0;
}

static const struct family {
	const char *name, *type, *help;
	int (*write)(struct out *o);
} families[] = {
	{"triaged_build_info", "gauge", "The running version (always 1).", build_info},
	{"triaged_start_time_seconds", "gauge", "When the daemon started, in Unix seconds.", start_time},
	{"triaged_socket_clients", "gauge", "Clients connected to the socket now.", socket_clients},
	{"triaged_requests_total", "counter", "Requests answered on the socket.", requests},
	{"triaged_events_total", "counter",
	 "Events accepted and run through the rules, by type and source (socket, file, timer); types past the "
	 "first " STR(TR_EVENT_COUNTS_TYPES) " (type, source) pairs are counted as type=\"" TR_EVENT_COUNTS_OTHER "\".", events},
	{"triaged_events_duplicate_total", "counter", "Events acknowledged as duplicates of stored ones (no rule ran).",
	 duplicates},
	{"triaged_events_rejected_total", "counter",
	 "Events refused as malformed, by source: socket events, and rows of dropped files.", rejected},
	{"triaged_events_quarantined_total", "counter",
	 "Events not run because they killed or hung the daemon before (poison pills).", quarantined},
	{"triaged_rule_runs_total", "counter",
	 "Rule runs by rule and result (ok, error; declined: its when said no), since the rules were loaded.", rules},
	{"triaged_rule_run_seconds", "histogram", "How long rule actions ran.", rule_seconds},
	{"triaged_tickets_open", "gauge",
	 "Open tickets by queue and priority; past " STR(OPEN_SERIES_MAX) " series the rest as queue=\"_other\".",
	 tickets_open},
	{"triaged_tickets_breached", "gauge", "Open tickets past their due time.", tickets_breached},
	{"triaged_timers_pending", "gauge",
	 "Pending timers by kind: schedule{} timers by their kind, and tickets waiting for their next step (kind "
	 "ticket, once per ticket).", timers_pending},
	{"triaged_timer_lag_seconds", "gauge", "How many seconds after its due time the last timer fired.", timer_lag},
	{"triaged_notifications_total", "counter",
	 "Notifications by output and how they ended: delivered, or parked as failed after their attempts.",
	 notifications},
	{"triaged_notification_failures_total", "counter", "Delivery attempts that failed, by output (each retry counts).",
	 notification_failures},
	{"triaged_notifications_pending", "gauge", "Notifications waiting to be delivered, by output (not parked).",
	 notifications_pending},
	{"triaged_notifications_parked", "gauge", "Notifications parked as failed, waiting for `triagectl outbox retry`.",
	 notifications_parked},
	{"triaged_notifications_oldest_pending_seconds", "gauge",
	 "Age of the oldest notification waiting for each output (0 when none waits).", notifications_oldest},
	{"triaged_output_failing", "gauge", "1 while an output's last delivery attempt failed, else 0.",
	 outputs_failing},
	{"triaged_notifications_held_total", "counter", "Notifications a silence held, since start.", held_total},
	{"triaged_notifications_held", "gauge", "Notifications held by a running silence now.", held_now},
	{"triaged_silences_active", "gauge", "Silences running or yet to start.", silences_active},
	{"triaged_spool_files", "gauge", "Files in each spool folder (state: incoming, work, done, rejected, outbox).",
	 spool_files},
	{"triaged_commit_seconds", "histogram", "How long database commits took.", commit_seconds},
	{"triaged_commit_failures_total", "counter", "Database commits that failed and were rolled back.",
	 commit_failures},
	{"triaged_wal_flush_seconds", "histogram",
	 "How long flushing the write-ahead log to disk took (durability full; empty otherwise).", flush_seconds},
};

/* SPEC §6 metrics, §9 GET /metrics: one text for every door. */
int tr_metrics_text(struct tr_daemon *d, char **out)
{
	struct out o = {.d = d, .now = tr_time_now()};
	*out = NULL;
	for (size_t i = 0; i < sizeof(families) / sizeof(families[0]); i++) {
		const struct family *f = &families[i];
		o.name = f->name;
		addf(&o.b, "# HELP %s ", f->name);
		tr_buf_add(&o.b, f->help, strlen(f->help)); /* ours: no backslash nor newline to escape */
		addf(&o.b, "\n# TYPE %s %s\n", f->name, f->type);
		int rc = f->write(&o);
		if (rc) {
			free_outputs(&o);
			tr_buf_free(&o.b);
			return rc;
		}
	}
	free_outputs(&o);
	if (o.b.oom) {
		tr_buf_free(&o.b);
		return -ENOMEM;
	}
	*out = o.b.p;
	return 0;
}
