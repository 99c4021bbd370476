/* How the daemon is: `status` (a summary, health first and loud when
 * degraded, so a full disk does not hide among the counters), `stats`
 * (every counter, flattened into a key/value table) and `ping`. Not the
 * counters themselves (the daemon's stats op). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "triagectl.h"

/* Where `status` looks for each figure: the first key present wins, so the
 * summary survives the daemon renaming or nesting a counter. */
static const struct {
	const char *label;
	const char *keys[7];
} status_rows[] = {
	{ "version",      { "version" } },
	{ "uptime",       { "uptime_s", "uptime_seconds", "uptime" } },
	{ "events",       { "events_stored", "events", "events_total", "events_accepted", "events.total", "accepted" } },
	{ "duplicates",   { "duplicates", "events_duplicate", "events_duplicates", "events.duplicates" } },
	{ "rejected",     { "rejected", "events_rejected", "events.rejected" } },
	{ "open tickets", { "tickets_open", "open_tickets", "tickets.open" } },
	{ "clients",      { "clients", "clients_connected", "connections" } },
	{ "pending",      { "pending", "pending_events", "events_pending", "events.pending" } },
	{ "durability",   { "durability" } },
	{ "rules",        { "rules", "rules_loaded", "rules.loaded", "rules.count" } },
};

/* The answer's counters: under "stats" (as triaged sends them) or at the top. */
static const cJSON *stats_of(const cJSON *resp)
{
	const cJSON *s = jget(resp, "stats");
	return cJSON_IsObject(s) ? s : resp;
}

static char *status_value(const cJSON *resp, size_t row)
{
	const cJSON *v = NULL;
	long long n;
	for (size_t k = 0; k < 7 && status_rows[row].keys[k] && !v; k++) {
		v = jpath(stats_of(resp), status_rows[row].keys[k]);
		if (!v)
			v = jpath(resp, status_rows[row].keys[k]);
	}
	if (cJSON_IsObject(v)) /* e.g. "events":{...} without a total we know */
		return jtext(v);
	if (cJSON_IsArray(v))
		return xasprintf("%d", cJSON_GetArraySize(v));
	if (strcmp(status_rows[row].label, "uptime") == 0 && jint(v, &n))
		return duration_text(n);
	return jtext(v);
}

int cmd_status(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("stats"), &resp);
	if (rc || c->json)
		goto out;
	struct table t = { .ncols = 2, .fill = -1 };
	/* Health first, and loud when degraded: a full disk must not hide
	 * among the counters. */
	const cJSON *health = jget(stats_of(resp), "health");
	if (cJSON_IsString(health) && strcmp(health->valuestring, "ok") != 0) {
		char *reason = jfield(stats_of(resp), "health_reason");
		printf("HEALTH: %s: %s\n\n", strcmp(health->valuestring, "degraded") == 0 ? "DEGRADED" :
		       health->valuestring, reason);
		free(reason);
	} else if (cJSON_IsString(health)) {
		table_add2(&t, "health", xstrdup(health->valuestring));
	}
	for (size_t i = 0; i < sizeof(status_rows) / sizeof(status_rows[0]); i++) {
		if (i == 0 && !jget(stats_of(resp), "version") && !jget(resp, "version"))
			continue;
		table_add2(&t, status_rows[i].label, status_value(resp, i));
	}
	/* issue 20: each output with anything to say (a built-in one that
	 * never delivered stays out): delivered, waiting, parked, last error */
	const cJSON *outs = jobject(jget(stats_of(resp), "outputs")), *o;
	cJSON_ArrayForEach(o, outs) {
		const char *last = jstr(o, "last_error");
		if (jnum(o, "delivered") == 0 && jnum(o, "pending") == 0 && jnum(o, "failed") == 0 && !(last && *last) &&
		    (strcmp(o->string, "journal") == 0 || strcmp(o->string, "watch") == 0))
			continue;
		char *state = jfield(o, "state"), *err = jfield(o, "last_error"), *label = xasprintf("output %s", o->string);
		char *age = duration_text((long long)jnum(o, "oldest_pending_s"));
		table_add2(&t, label, xasprintf("%s: %.0f delivered, %.0f pending%s%s%s, %.0f failed%s%s", state,
						jnum(o, "delivered"), jnum(o, "pending"),
						jnum(o, "pending") > 0 ? " (oldest " : "", jnum(o, "pending") > 0 ? age : "",
						jnum(o, "pending") > 0 ? ")" : "", jnum(o, "failed"),
						err[0] ? "; last error: " : "", err));
		free(state);
		free(err);
		free(label);
		free(age);
	}
	/* SPEC §6 silence: what is being held back, so a quiet day is not a mystery */
	if (jget(stats_of(resp), "silences_active"))
		table_add2(&t, "silences", xasprintf("%.0f active, %.0f notifications held",
						     jnum(stats_of(resp), "silences_active"),
						     jnum(stats_of(resp), "notifications_held")));
	const cJSON *cf = jobject(jget(stats_of(resp), "commit_failures"));
	if (cf) {
		char *at = jfield(cf, "last_at"), *err = jfield(cf, "last_error");
		table_add2(&t, "last commit failure", xasprintf("%s: %s (%.0f since start)", at, err, jnum(cf, "total")));
		free(at);
		free(err);
	}
	/* how long answers take, and the disk's share under durability full */
	const cJSON *st = stats_of(resp), *own = jobject(jget(st, "ingest_answer_ms"));
	if (own)
		table_add2(&t, "answers", xasprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms (last %.0f ingests)",
						     jnum(own, "p50"), jnum(own, "p99"), jnum(own, "max"),
						     jnum(own, "last")));
	if (jget(st, "wal_flushes"))
		table_add2(&t, "disk flushes", xasprintf("%.0f, mean %.2f ms, worst %.2f ms", jnum(st, "wal_flushes"),
							  jnum(st, "wal_flush_mean_ms"), jnum(st, "wal_flush_max_ms")));
	const cJSON *spool = jget(stats_of(resp), "spool"), *work, *it;
	if (!spool)
		spool = jget(resp, "spool");
	work = jget(spool, "in_progress");
	if (cJSON_IsObject(spool)) {
		table_add2(&t, "spool queued", jfield(spool, "queued"));
		cJSON_ArrayForEach(it, jarray(work)) {
			char *file = jfield(it, "file"), *done = jfield(it, "rows_done");
			table_add2(&t, "spool working", xasprintf("%s (%s rows done)", file, done));
			free(file);
			free(done);
		}
		char *n = jfield(spool, "rejected_today");
		table_add2(&t, "spool rejected", xasprintf("%s today", n));
		free(n);
	}
	table_print(&t);
	table_free(&t);
out:
	cJSON_Delete(resp);
	return rc;
}

/* Flattens an answer into key/value rows: nested objects as dotted keys,
 * arrays as compact JSON. */
static void flatten(struct table *t, const char *prefix, const cJSON *obj)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		if (!it->string || (!prefix && (strcmp(it->string, "ok") == 0 || strcmp(it->string, "id") == 0 ||
						(strcmp(it->string, "stats") == 0 && cJSON_IsObject(it)))))
			continue;
		char *key = prefix ? xasprintf("%s.%s", prefix, it->string) : xstrdup(it->string);
		if (cJSON_IsObject(it) && it->child)
			flatten(t, key, it);
		else
			table_add2(t, key, jtext(it));
		free(key);
	}
}

int cmd_stats(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("stats"), &resp);
	if (!rc && !c->json) {
		struct table t = { .ncols = 2, .fill = -1 };
		if (stats_of(resp) != resp)
			flatten(&t, NULL, stats_of(resp));
		flatten(&t, NULL, resp);
		table_print(&t);
		table_free(&t);
	}
	cJSON_Delete(resp);
	return rc;
}

int cmd_ping(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("ping"), &resp);
	if (!rc && !c->json) {
		const char *v = jstr(resp, "version");
		if (v) {
			char *cv = clean(xstrdup(v));
			printf("pong (triaged %s)\n", cv);
			free(cv);
		} else {
			puts("pong");
		}
	}
	cJSON_Delete(resp);
	return rc;
}
