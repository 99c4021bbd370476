/* SPEC §8 reload: a new rule set built whole and swapped in between
 * requests, with the config's params and calendars read again; on any
 * problem the old rules, params and calendars keep running. Then (SPEC §3)
 * every pending step counted in a calendar's open time is recounted in the
 * new calendars. Shared by SIGHUP (main.c) and the `reload` op. Not the
 * parts' lifecycle (daemon.c). */
#include <string.h>
#include "tr_engine.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_recount.h"
#include "tr_reload.h"
#include "tr_rule_names.h"
#include "tr_time.h"

/* Two calendar definitions say the same thing (a reload that leaves them
 * alone need not recount a single step). */
static int same_strings(char **a, size_t na, char **b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (strcmp(a[i], b[i]) != 0)
			return 0;
	return 1;
}

static int same_calendar(const struct tr_calendar *a, const struct tr_calendar *b)
{
	return strcmp(a->name, b->name) == 0 && strcmp(a->timezone, b->timezone) == 0 &&
	       strcmp(a->hours, b->hours) == 0 && same_strings(a->holidays, a->nholidays, b->holidays, b->nholidays) &&
	       same_strings(a->workdays, a->nworkdays, b->workdays, b->nworkdays);
}

static int same_calendars(const struct tr_config *a, const struct tr_config *b)
{
	if (a->ncalendars != b->ncalendars)
		return 0;
	for (size_t i = 0; i < a->ncalendars; i++)
		if (!same_calendar(&a->calendars[i], &b->calendars[i]))
			return 0;
	return 1;
}

int tr_reload(struct tr_daemon *d, struct tr_errors *errs, int *moved)
{
	/* The config's params and calendars are read again with the rules
	 * (rules read them as they load); another key's change needs a
	 * restart. */
	struct tr_config fresh_cfg;
	int have_cfg = d->cfg.path != NULL, calendars_changed = 0;
	uint64_t t0 = tr_mono_us();
	if (have_cfg) {
		int rc = tr_config_load(d->cfg.path, &fresh_cfg, errs);
		if (rc) {
			tr_config_free(&fresh_cfg);
			log_warnx("reload: %s has errors; the old rules and params keep running", d->cfg.path);
			return rc;
		}
		calendars_changed = !same_calendars(&d->cfg, &fresh_cfg);
		tr_config_swap_reloadable(&d->cfg, &fresh_cfg);
	}
	struct tr_engine *fresh;
	int rc = tr_engine_load(d->cfg.rules_dir, &d->cfg, &fresh, errs);
	if (rc) {
		if (have_cfg) {
			tr_config_swap_reloadable(&d->cfg, &fresh_cfg);
			tr_config_free(&fresh_cfg);
		}
		log_warnx("reload: the rules in %s do not compile; the old rules keep running", d->cfg.rules_dir);
		return rc;
	}
	if (have_cfg)
		tr_config_free(&fresh_cfg); /* with the old params */
	/* Reload happens between requests, never inside a transaction. */
	tr_engine_free(d->engine);
	d->engine = d->ingest.engine = fresh;
	uint64_t built = tr_mono_us();
	tr_rule_names_log(tr_engine_warnings(fresh), "reload"); /* SPEC §3: fallbacks said, not fatal */
	log_info("reload: %d rules from %s, built in %.1f ms%s", tr_engine_rule_count(fresh), d->cfg.rules_dir,
		 (double)(built - t0) / 1000.0,
		 calendars_changed ? "; calendars changed, steps recounted" : "; calendars unchanged");
	/* Recounting reads every waiting ticket's calendar steps: only worth
	 * it when a calendar changed (recount.c; a big one goes on after the
	 * answer). */
	*moved = 0;
	return calendars_changed ? tr_recount_begin(d, moved) : 0;
}
