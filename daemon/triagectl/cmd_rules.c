/* The rule commands: `explain` (what each rule did with one event, and
 * how long it took), `rules` (the loaded rules with their counters),
 * `reload`, `retry` (failed rule outcomes run again through the rules loaded
 * now) and `test` (rule tests run offline by the core library's
 * tr_ruletest_run, never connecting). Not the engine that runs rules in the
 * daemon (engine.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_ruletest.h"
#include "triagectl.h"

static char *duration_us_text(const cJSON *v)
{
	long long us;
	if (!jint(v, &us))
		return xstrdup("-");
	if (us < 1000)
		return xasprintf("%lld us", us);
	if (us < 1000000)
		return xasprintf("%.1f ms", (double)us / 1000.0);
	return xasprintf("%.2f s", (double)us / 1e6);
}

/* The rules whose `on` took the event and whose `when` said no: why a
 * rule a user expected did nothing. An older daemon sends none. */
static void print_declined(const cJSON *declined)
{
	const cJSON *it;
	if (!cJSON_IsArray(declined) || !declined->child)
		return;
	printf("\ndeclined by their `when`:");
	cJSON_ArrayForEach(it, declined) {
		char *rule = jfield(it, "rule");
		printf(" %s%s", rule, it->next ? "," : "");
		free(rule);
	}
	putchar('\n');
}

/* An effect in words, not JSON: its op, then each other member as
 * name=value ("ticket.open ticket=5 key=feedback:113-…"). */
static char *effect_text(const cJSON *eff)
{
	if (!cJSON_IsObject(eff))
		return jtext(eff);
	char *out = jfield(eff, "op");
	const cJSON *m;
	cJSON_ArrayForEach(m, eff) {
		if (!m->string || strcmp(m->string, "op") == 0)
			continue;
		char *v = jtext(m), *more = xasprintf("%s %s=%s", out, m->string, v);
		free(v);
		free(out);
		out = more;
	}
	return out;
}

int cmd_explain(struct ctl *c, int argc, char **argv)
{
	if (c->o.seq && argc != 0)
		return usage_error(c, "give either --seq N or TYPE EVENT_ID, not both");
	if (!c->o.seq && argc != 2)
		return usage_error(c, "%s", argc < 2 ? "missing argument" : "too many arguments");
	cJSON *req = request("explain"), *resp;
	if (c->o.seq) {
		req_num(req, "seq", c->o.seq);
	} else {
		req_str(req, "type", argv[0]);
		req_str(req, "event_id", argv[1]);
	}
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *ev = jget(resp, "event"), *it, *eff;
	static const struct { const char *label, *key; } fields[] = {
		{ "type", "type" }, { "id", "id" }, { "source", "source" },
		{ "account", "account" }, { "marketplace", "marketplace" },
		{ "occurred", "occurred_at" }, { "received", "received_at" },
		{ "payload", "payload" },
	};
	struct table t = { .ncols = 2, .fill = -1 };
	table_add2(&t, "event", jfield(ev, "seq"));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		table_add2(&t, fields[i].label, jfield(ev, fields[i].key));
	table_print(&t);
	table_free(&t);

	const cJSON *outcomes = jget(resp, "outcomes");
	if (!cJSON_IsArray(outcomes) || !outcomes->child)
		puts("\nno rule ran for this event");
	cJSON_ArrayForEach(it, jarray(outcomes)) {
		char *rule = jfield(it, "rule"), *status = jfield(it, "status");
		char *took = duration_us_text(jget(it, "duration_us"));
		printf("\nrule %s: %s, %s\n", rule, status, took);
		free(rule);
		free(status);
		free(took);
		const cJSON *effects = jget(it, "effects");
		cJSON_ArrayForEach(eff, jarray(effects)) {
			char *e = effect_text(eff);
			printf("  %s\n", e);
			free(e);
		}
		const cJSON *err = jget(it, "error");
		if (err && !cJSON_IsNull(err)) {
			char *msg = jtext(err);
			const char *loc = jstr(it, "location");
			char *cloc = loc ? clean(xstrdup(loc)) : NULL;
			printf("  error: %s%s%s%s\n", msg, cloc ? " (at " : "", cloc ? cloc : "", cloc ? ")" : "");
			free(msg);
			free(cloc);
		}
	}
	print_declined(jget(resp, "declined"));
out:
	cJSON_Delete(resp);
	return rc;
}

static const char *const rule_heads[] = { "NAME", "ON", "PRIO", "RUNS", "ERRORS", "FILE", "LAST ERROR" };

int cmd_rules(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("rules"), &resp);
	if (rc || c->json)
		goto out;
	const cJSON *list = jget(resp, "rules"), *it;
	if (!cJSON_IsArray(list) || !list->child) {
		puts("no rules loaded");
		goto out;
	}
	struct table t = { .ncols = 7, .heads = rule_heads, .fill = 6 };
	cJSON_ArrayForEach(it, list) {
		const cJSON *on = jget(it, "on");
		char *file = jfield(it, "file"), *line = jfield(it, "line");
		char *row[7] = {
			jfield(it, "name"), cJSON_IsArray(on) ? jjoin(on) : jtext(on),
			jfield(it, "priority"), jfield(it, "runs"), jfield(it, "errors"),
			xasprintf("%s:%s", file, line), jfield(it, "last_error"),
		};
		free(file);
		free(line);
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
out:
	cJSON_Delete(resp);
	return rc;
}

/* SPEC §3 retry: asks until the daemon says no more wait, one batch per
 * request (so the daemon serves others in between); a line per outcome. */
int cmd_retry(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	static const char *const kinds[] = {"succeeded", "failed_again", "skipped", "not_retried"};
	long long total[4] = {0}, after = 0;
	int rc = 0, more = 1;
	while (rc == 0 && more) {
		cJSON *req = request("retry"), *resp;
		req_str(req, "rule", c->o.rule);
		if (c->o.seq)
			req_num(req, "seq", c->o.seq);
		req_num(req, "after", after);
		if ((rc = ctl_call(c, req, &resp)) != 0) {
			cJSON_Delete(resp);
			break;
		}
		const cJSON *it, *last = jget(resp, "last");
		more = cJSON_IsTrue(jget(resp, "more")) && cJSON_IsNumber(last) && last->valuedouble > (double)after;
		if (cJSON_IsNumber(last))
			after = (long long)last->valuedouble;
		for (int k = 0; k < 4; k++) {
			const cJSON *n = jget(resp, kinds[k]);
			total[k] += cJSON_IsNumber(n) ? (long long)n->valuedouble : 0;
		}
		cJSON_ArrayForEach(it, jget(resp, "results")) {
			if (c->json)
				break;
			char *seq = jfield(it, "seq"), *rule = jfield(it, "rule"), *result = jfield(it, "result"),
			     *reason = jfield(it, "reason");
			if (strcmp(reason, "-") != 0)
				printf("event %s, rule %s: %s (%s)\n", seq, rule, result, reason);
			else
				printf("event %s, rule %s: %s\n", seq, rule, result);
			free(seq), free(rule), free(result), free(reason);
		}
		cJSON_Delete(resp);
	}
	if (rc == 0 && !c->json)
		printf("retried %lld: %lld ok, %lld failed again, %lld skipped, %lld not retried\n",
		       total[0] + total[1] + total[2], total[0], total[1], total[2], total[3]);
	return rc;
}

int cmd_reload(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("reload"), &resp);
	if (rc == 0 && !c->json) {
		char *n = jfield(resp, "rules"), *moved = jfield(resp, "moved");
		printf("reloaded: %s rules\n", n);
		if (strcmp(moved, "0") && strcmp(moved, "-")) /* SPEC §3: a calendar's change moves steps */
			printf("moved: %s pending step%s to where the new calendars put them\n", moved,
			       strcmp(moved, "1") ? "s" : "");
		if (cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(resp, "recounting")))
			printf("recounting the other waiting tickets' steps in the new calendars (the log says when it is done)\n");
		free(n);
		free(moved);
		const cJSON *w = cJSON_GetObjectItemCaseSensitive(resp, "warnings");
		const cJSON *it;
		cJSON_ArrayForEach(it, w)
			if (cJSON_IsString(it))
				fprintf(stderr, "warning: %s\n", it->valuestring);
	}
	cJSON_Delete(resp);
	return rc;
}

/* Offline: never connects. Exit 0 all passed, 1 a test failed, 2 a load
 * error; --json: a record per test and a summary (tr_ruletest.h). */
int cmd_test(struct ctl *c, int argc, char **argv)
{
	struct tr_ruletest_opts o = {.config = c->config_path, .json = c->json, .out = stdout, .err = stderr};
	return tr_ruletest_run(argv, argc, &o);
}
