/* The `calendars:` section of the config file (SPEC §5): named
 * business-hours calendars, each a time zone, its working hours, holidays
 * and make-up workdays, read with its key table into struct tr_calendar.
 * Each value is validated here, with the calendar code's own checks, so a
 * bad calendar fails `triaged --check`; what the hours mean for a due time
 * is calendar.c's, at run time. Not the walk nor the shared value types
 * (config.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include "config_internal.h"
#include "tr_calendar.h"
#include "tr_config.h"

static void apply_hours(struct ctx *c, const struct node *v, void *dst, const char *key,
			const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	char why[200];
	if (tr_cal_check_hours(s, why, sizeof(why)) != 0)
		problem(c, v, key, "\"%s\": %s", s, why);
	else
		set_str(c, dst, s);
}

/* A list of YYYY-MM-DD dates; each bad one is reported at its own line. */
static void apply_dates(struct ctx *c, const struct node *v, const char *key, char ***out, size_t *nout)
{
	int before = c->nerrors;
	if (v->kind != NODE_SEQ) {
		problem(c, v, key, "expected a list of dates like [2026-10-01], got %s", kind_name(v));
		return;
	}
	for (size_t i = 0; i < v->nkids; i++) {
		const struct node *it = v->kids[i];
		if (it->kind != NODE_SCALAR || !tr_cal_date_valid(it->text))
			problem(c, it, key, "\"%s\" is not a date written YYYY-MM-DD",
				it->kind == NODE_SCALAR ? it->text : kind_name(it));
	}
	if (c->nerrors == before)
		tr_config_apply_list(c, v, key, false, out, nout);
}

static void apply_holidays(struct ctx *c, const struct node *v, void *dst, const char *key,
			   const struct key_def *def)
{
	(void)def;
	struct tr_calendar *cal = dst;
	apply_dates(c, v, key, &cal->holidays, &cal->nholidays);
}

static void apply_workdays(struct ctx *c, const struct node *v, void *dst, const char *key,
			   const struct key_def *def)
{
	(void)def;
	struct tr_calendar *cal = dst;
	apply_dates(c, v, key, &cal->workdays, &cal->nworkdays);
}

static const struct key_def calendar_keys[] = {
	{"timezone", tr_config_apply_zone, offsetof(struct tr_calendar, timezone), 0, NULL, 0},
	{"hours", apply_hours, offsetof(struct tr_calendar, hours), 0, NULL, 0},
	{"holidays", apply_holidays, 0, 0, NULL, 0},
	{"workdays", apply_workdays, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

void tr_config_apply_calendars(struct ctx *c, const struct node *v, void *dst, const char *key,
			       const struct key_def *def)
{
	(void)def;
	struct tr_config *cfg = dst;
	if (!(cfg->calendars = tr_config_named_entries(c, v, key, "calendar names", sizeof(*cfg->calendars))))
		return;
	for (size_t i = 0; i + 1 < v->nkids; i += 2) {
		const char *name = tr_config_pair_key(c, v, i, key);
		const struct node *body = v->kids[i + 1];
		if (!name)
			continue;
		char where[96];
		snprintf(where, sizeof(where), "%s.%s", key, name);
		if (strcmp(name, "24x7") == 0) {
			problem(c, v->kids[i], where, "24x7 is built in and cannot be redefined");
			continue;
		}
		struct tr_calendar *cal = &cfg->calendars[cfg->ncalendars++];
		cal->name = dup_str(c, name);
		cal->timezone = dup_str(c, "UTC");
		cal->line = v->kids[i]->line;
		if (body->kind != NODE_MAP) {
			problem(c, body, where, "expected a mapping (timezone, hours, holidays, workdays), got %s",
				kind_name(body));
			continue;
		}
		tr_config_walk_map(c, body, calendar_keys, cal, where);
		if (!map_get(body, "hours"))
			problem(c, body, where, "hours is required (e.g. \"Mon-Fri 09:00-18:00\")");
		for (size_t h = 0; h < cal->nholidays; h++)
			for (size_t w = 0; w < cal->nworkdays; w++)
				if (strcmp(cal->holidays[h], cal->workdays[w]) == 0)
					problem(c, map_get(body, "workdays"), where,
						"%s is both a holiday and a workday", cal->workdays[w]);
	}
}
