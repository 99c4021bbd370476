/* The `outputs:` section of the config file: named notification outputs,
 * each either a program run without a shell (exec, with its timeout) or a
 * folder files are written to (dir), read with its key table into struct
 * tr_output; tr_config_output finds one by name. Not the delivery of
 * notifications (outputs.c, notify.c) nor the walk and the shared value
 * types (config.c). */
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "config_internal.h"
#include "tr_config.h"
#include "tr_time.h"

static void apply_exec(struct ctx *c, const struct node *v, void *dst, const char *key,
		       const struct key_def *def)
{
	(void)def;
	struct tr_output *out = dst;
	if (v->kind != NODE_SEQ) {
		problem(c, v, key, "expected a list: the program and its arguments (no shell), got %s",
			kind_name(v));
		return;
	}
	tr_config_apply_list(c, v, key, true, &out->exec_argv, &out->nexec_argv);
	if (out->nexec_argv > 0 && !out->exec_argv[0][0])
		problem(c, v->kids[0], key, "the program name is empty");
}

static void apply_timeout(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	int64_t secs;
	if (!s)
		return;
	if (tr_duration_parse(s, &secs) != 0)
		problem(c, v, key, "\"%s\" is not a duration like 10s, 5m or 1h30m", s);
	else if (secs <= 0 || secs > INT_MAX / 1000)
		problem(c, v, key, "must be between 1s and %ds", INT_MAX / 1000);
	else
		*(int *)dst = (int)(secs * 1000);
}

/* attempts: how many failed tries park a delivery (1 to 1000: past that
 * it is retried for weeks at the hourly cap, and max_age says it better). */
static void apply_attempts(struct ctx *c, const struct node *v, void *dst, const char *key,
			   const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	char *end = NULL;
	if (!s)
		return;
	long n = strtol(s, &end, 10);
	if (!*s || *end || n < 1 || n > 1000)
		problem(c, v, key, "\"%s\" is not a whole number from 1 to 1000", s);
	else
		*(int *)dst = (int)n;
}

/* max_age and group_wait: a duration in seconds; lo is the least allowed
 * (group_wait may be 0: no grouping), hi the most. */
static void apply_seconds(struct ctx *c, const struct node *v, void *dst, const char *key, int64_t lo,
			  int64_t hi, const char *hi_text)
{
	const char *s = tr_config_want_string(c, v, key);
	int64_t secs;
	if (!s)
		return;
	if (strcmp(s, "0") == 0 && lo == 0)
		*(int64_t *)dst = 0;
	else if (tr_duration_parse(s, &secs) != 0)
		problem(c, v, key, "\"%s\" is not a duration like 10s, 5m or 1h30m", s);
	else if (secs < lo || secs > hi)
		problem(c, v, key, "must be between %llds and %s", (long long)lo, hi_text);
	else
		*(int64_t *)dst = secs;
}

static void apply_max_age(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def)
{
	(void)def;
	apply_seconds(c, v, dst, key, 1, 365 * 86400, "365d");
}

/* Alertmanager's group_wait: at most an hour (a digest later than that is
 * a late notification, not a grouped one). */
static void apply_group_wait(struct ctx *c, const struct node *v, void *dst, const char *key,
			     const struct key_def *def)
{
	(void)def;
	apply_seconds(c, v, dst, key, 0, 3600, "1h");
}

static const struct key_def output_keys[] = {
	{"exec", apply_exec, 0, 0, NULL, 0},
	{"dir", tr_config_apply_path, offsetof(struct tr_output, dir), 0, NULL, 0},
	{"timeout", apply_timeout, offsetof(struct tr_output, timeout_ms), 0, NULL, 0},
	{"attempts", apply_attempts, offsetof(struct tr_output, attempts), 0, NULL, 0},
	{"max_age", apply_max_age, offsetof(struct tr_output, max_age), 0, NULL, 0},
	{"group_wait", apply_group_wait, offsetof(struct tr_output, group_wait), 0, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

void tr_config_apply_outputs(struct ctx *c, const struct node *v, void *dst, const char *key,
			     const struct key_def *def)
{
	(void)def;
	struct tr_config *cfg = dst;
	if (!(cfg->outputs = tr_config_named_entries(c, v, key, "output names", sizeof(*cfg->outputs))))
		return;
	for (size_t i = 0; i + 1 < v->nkids; i += 2) {
		const char *name = tr_config_pair_key(c, v, i, key);
		const struct node *body = v->kids[i + 1];
		if (!name)
			continue;
		char where[96];
		snprintf(where, sizeof(where), "%s.%s", key, name);
		struct tr_output *out = &cfg->outputs[cfg->noutputs++];
		out->name = dup_str(c, name);
		out->timeout_ms = 10000;
		out->attempts = TR_OUTPUT_ATTEMPTS;
		out->max_age = TR_OUTPUT_MAX_AGE;
		out->line = v->kids[i]->line;
		if (body->kind != NODE_MAP) {
			problem(c, body, where, "expected a mapping with exec or dir, got %s", kind_name(body));
			continue;
		}
		tr_config_walk_map(c, body, output_keys, out, where);
		bool exec = map_get(body, "exec"), dir = map_get(body, "dir");
		if (exec && dir)
			problem(c, body, where, "has both exec and dir: an output is one or the other");
		else if (!exec && !dir)
			problem(c, body, where, "needs exec (a command as a list) or dir (a folder)");
		else if (dir && map_get(body, "timeout"))
			problem(c, map_get(body, "timeout"), where, "timeout applies to exec outputs only");
	}
}

const struct tr_output *tr_config_output(const struct tr_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < cfg->noutputs; i++)
		if (strcmp(cfg->outputs[i].name, name) == 0)
			return &cfg->outputs[i];
	return NULL;
}
