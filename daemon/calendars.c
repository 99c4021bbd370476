/* The compiled calendars of a rule set, looked up by name. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tr_calendars.h"

struct tr_calendars {
	size_t n;
	const char **names;   /* borrowed from the config, which outlives the engine */
	struct tr_cal **cals;
};

int tr_calendars_build(const struct tr_config *cfg, struct tr_calendars **out, struct tr_errors *errs)
{
	struct tr_calendars *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->names = calloc(cfg->ncalendars + 1, sizeof(*c->names));
	c->cals = calloc(cfg->ncalendars + 1, sizeof(*c->cals));
	if (!c->names || !c->cals) {
		tr_calendars_free(c);
		return -ENOMEM;
	}
	int rc = 0;
	for (size_t i = 0; i < cfg->ncalendars; i++) {
		char err[256];
		const struct tr_calendar *def = &cfg->calendars[i];
		if (tr_cal_compile(def, &c->cals[c->n], err, sizeof(err))) {
			tr_errors_add(errs, cfg->path, def->line, 0, "calendars", "%s: %s", def->name, err);
			rc = TR_EPARSE;
			continue;
		}
		c->names[c->n++] = def->name;
	}
	if (rc) {
		tr_calendars_free(c);
		return rc;
	}
	*out = c;
	return 0;
}

void tr_calendars_free(struct tr_calendars *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n; i++)
		tr_cal_free(c->cals[i]);
	free(c->cals);
	free(c->names);
	free(c);
}

const struct tr_cal *tr_calendars_find(const struct tr_calendars *c, const char *name)
{
	if (!name || strcmp(name, "24x7") == 0)
		return tr_cal_24x7();
	for (size_t i = 0; c && i < c->n; i++)
		if (strcmp(c->names[i], name) == 0)
			return c->cals[i];
	return NULL;
}

int tr_calendars_add(const struct tr_calendars *c, const char *name, int64_t t, int64_t seconds, int64_t *out)
{
	const struct tr_cal *cal = tr_calendars_find(c, name);
	if (!cal)
		return -ENOENT;
	return tr_cal_add(cal, t, seconds, out);
}
