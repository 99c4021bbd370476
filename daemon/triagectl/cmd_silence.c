/* `triagectl silence add|list|expire` (SPEC §6, §7 silence): hold the
 * notifications that match an account, queue, output, priority or
 * marketplace until a
 * time, see which silences hold what, and end one early. The subcommand
 * and its options are parsed here (the command's row takes everything
 * after `silence` verbatim), one `silence` request each; a table for
 * people, the answer as received with --json. Not what a silence does:
 * that is the daemon's (silences.c). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "triagectl.h"
#include "tr_time.h"

enum { S_ACCOUNT = 300, S_QUEUE, S_OUTPUT, S_PRIORITY, S_MARKETPLACE, S_STARTS, S_UNTIL, S_REASON, S_ALL, S_JSON };

static const struct option silence_opts[] = {
	{ "account", required_argument, NULL, S_ACCOUNT },
	{ "queue", required_argument, NULL, S_QUEUE },
	{ "output", required_argument, NULL, S_OUTPUT },
	{ "priority", required_argument, NULL, S_PRIORITY },
	{ "marketplace", required_argument, NULL, S_MARKETPLACE },
	{ "starts", required_argument, NULL, S_STARTS },
	{ "until", required_argument, NULL, S_UNTIL },
	{ "reason", required_argument, NULL, S_REASON },
	{ "all", no_argument, NULL, S_ALL },
	{ "json", no_argument, NULL, S_JSON },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* Which option each subcommand takes (--json and --help: all of them). */
#define NOPTS 9
static const struct {
	const char *name;
	int opts[NOPTS]; /* 0-terminated */
} subcommands[] = {
	{ "add", { S_ACCOUNT, S_QUEUE, S_OUTPUT, S_PRIORITY, S_MARKETPLACE, S_STARTS, S_UNTIL, S_REASON } },
	{ "list", { S_ALL } },
	{ "expire", { 0 } },
};

static const char *const heads[] = { "ID", "STATE", "MATCHES", "UNTIL", "LEFT", "HELD", "BY", "REASON" };

/* "account=A queue=Q": what a silence matches. */
static char *matches_text(const cJSON *x)
{
	static const char *const keys[] = { "account", "queue", "output", "priority", "marketplace" };
	struct buf b = { 0 };
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const char *v = jstr(x, keys[i]);
		if (!v)
			continue;
		if (b.len)
			buf_adds(&b, " ");
		char *cv = clean(xstrdup(v));
		char *kv = xasprintf("%s=%s", keys[i], cv);
		buf_adds(&b, kv);
		free(kv);
		free(cv);
	}
	return b.p ? b.p : xstrdup("-");
}

/* Time left until an RFC 3339 time, or "-" once it has passed. */
static char *left_text(const char *at)
{
	int64_t t;
	if (!at || tr_time_parse(at, NULL, &t) != 0)
		return xstrdup("-");
	int64_t left = t - tr_time_now();
	return left > 0 ? duration_text(left) : xstrdup("-");
}

/* SPEC §7 the viewer's zone: a time typed without an offset ("2026-12-24
 * 18:00") means TZ's wall clock when TZ names a zone; sent as RFC 3339 so
 * the daemon reads the same moment. Durations and anything else go as
 * typed (the daemon reads a time without an offset in display_timezone,
 * and names the field when it cannot read it). The caller frees it. */
static char *time_arg(const char *s)
{
	const char *tz = getenv("TZ");
	int64_t t, secs;
	char buf[40];
	if (tz && *tz == ':')
		tz++;
	if (tr_duration_parse(s, &secs) == 0 || !tz || !tr_zone_valid(tz) || tr_time_parse(s, tz, &t) != 0 ||
	    tr_time_format(t, NULL, buf, sizeof(buf)) != 0)
		return xstrdup(s);
	return xstrdup(buf);
}

static void add_row(struct table *t, const cJSON *x)
{
	const char *state = jstr(x, "state");
	const char *until = jstr(x, "until");
	/* an expired silence ended when it was expired, by whom */
	int expired = state && strcmp(state, "expired") == 0;
	char *row[8] = {
		jfield(x, "id"), jfield(x, "state"), matches_text(x),
		jfield(x, expired ? "expired_at" : "until"),
		state && (strcmp(state, "active") == 0 || strcmp(state, "waiting") == 0) ? left_text(until) : xstrdup("-"),
		jfield(x, "held"), jfield(x, expired ? "expired_by" : "created_by"), jfield(x, "reason"),
	};
	table_add(t, row);
}

int cmd_silence(struct ctl *c, int argc, char **argv)
{
	const char *sub = argc ? argv[0] : "list";
	size_t which = sizeof(subcommands) / sizeof(subcommands[0]);
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (strcmp(sub, subcommands[i].name) == 0)
			which = i;
	if (which == sizeof(subcommands) / sizeof(subcommands[0]))
		return usage_error(c, "'%s' is not add, list or expire", sub);
	const char *given[S_JSON - S_ACCOUNT + 1] = { 0 };
	bool all = false;
	int ch;
	optind = 0; /* glibc: start afresh, argv[0] (the subcommand) skipped */
	opterr = 0;
	while (argc > 0 && (ch = getopt_long(argc, argv, ":h", silence_opts, NULL)) != -1) {
		if (ch == 'h') {
			printf("usage: triagectl silence %s\n%s\n", c->cmd->usage, c->cmd->help);
			return CTL_OK;
		}
		if (ch == ':')
			return usage_error(c, "option %s needs a value", argv[optind - 1]);
		if (ch == '?')
			return usage_error(c, "unknown option %s", argv[optind - 1]);
		if (ch == S_JSON) {
			c->json = true;
			continue;
		}
		bool takes = false;
		for (size_t k = 0; k < NOPTS && subcommands[which].opts[k]; k++)
			takes = takes || subcommands[which].opts[k] == ch;
		if (!takes)
			return usage_error(c, "silence %s takes no option %s", sub, argv[optind - 1]);
		if (ch == S_ALL)
			all = true;
		else
			given[ch - S_ACCOUNT] = optarg;
	}
	int operands = argc > 0 ? argc - optind : 0;
	char **rest = argv + (argc > 0 ? optind : 0);

	long long id = 0;
	if (strcmp(sub, "add") == 0) {
		if (operands)
			return usage_error(c, "silence add takes options only, not '%s'", rest[0]);
		if (!given[S_UNTIL - S_ACCOUNT])
			return usage_error(c, "silence add needs --until (a time, or a duration such as 2h)");
		if (!given[S_REASON - S_ACCOUNT])
			return usage_error(c, "silence add needs --reason (why: a holiday, an outage)");
		if (!given[0] && !given[1] && !given[2] && !given[3] && !given[4])
			return usage_error(c, "silence add needs --account, --queue, --output, --priority or --marketplace");
	} else if (strcmp(sub, "list") == 0) {
		if (operands)
			return usage_error(c, "silence list takes no operand, not '%s'", rest[0]);
	} else if (operands != 1 || !(id = parse_id(rest[0]))) {
		return usage_error(c, "silence expire takes one silence number (silence list shows them)");
	}
	static const char *const fields[] = { "account", "queue", "output", "priority", "marketplace", "starts", "until",
					      "reason" };
	cJSON *req = request("silence"), *resp = NULL;
	req_str(req, "action", sub);
	for (int k = 0; k < (int)(sizeof(fields) / sizeof(fields[0])); k++) {
		char *v = given[k] && (k + S_ACCOUNT == S_UNTIL || k + S_ACCOUNT == S_STARTS) ? time_arg(given[k]) : NULL;
		req_str(req, fields[k], v ? v : given[k]);
		free(v);
	}
	if (all)
		jcheck(cJSON_AddTrueToObject(req, "all"));
	if (id)
		req_num(req, "id", id);
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	if (strcmp(sub, "list") == 0) {
		const cJSON *list = jarray(jget(resp, "silences")), *it;
		if (!list || !list->child) {
			puts(all ? "no silences" : "no silence is running or waiting (--all: ended ones too)");
			goto out;
		}
		struct table t = { .ncols = 8, .heads = heads, .fill = 7 };
		cJSON_ArrayForEach(it, list)
			add_row(&t, it);
		table_print(&t);
		table_free(&t);
		goto out;
	}
	const cJSON *x = jget(resp, "silence");
	char *sid = jfield(x, "id"), *m = matches_text(x), *until = jfield(x, "until");
	if (strcmp(sub, "add") == 0) {
		char *left = left_text(jstr(x, "until")), *starts = jfield(x, "starts_at");
		const char *state = jstr(x, "state");
		printf("silence %s holds notifications that match %s until %s (%s from now)%s%s\n", sid, m, until, left,
		       state && strcmp(state, "waiting") == 0 ? ", starting " : "",
		       state && strcmp(state, "waiting") == 0 ? starts : "");
		free(left);
		free(starts);
	} else {
		char *released = jfield(resp, "released");
		printf("silence %s expired (%s); %s held notification%s released\n", sid, m, released,
		       strcmp(released, "1") == 0 ? "" : "s");
		free(released);
	}
	free(sid);
	free(m);
	free(until);
out:
	cJSON_Delete(resp);
	return rc;
}
