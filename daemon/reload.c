/* SPEC §8 reload: a new rule set built whole and swapped in between
 * requests, with the config's params and calendars read again; on any
 * problem the old rules, params and calendars keep running. Then (SPEC §3)
 * every pending step counted in a calendar's open time is recounted in the
 * new calendars. Shared by SIGHUP (main.c) and the `reload` op. Not the
 * parts' lifecycle (daemon.c). */
#include "tr_engine.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_plan.h"
#include "tr_reload.h"
#include "tr_rule_names.h"
#include "tr_time.h"
#include "tr_timers.h"

struct recount {
	struct tr_daemon *d;
	int moved;
};

static int recount(void *ud)
{
	struct recount *x = ud;
	return tr_plan_recalendar(x->d->store, tr_engine_calendars(x->d->engine), tr_time_now(), &x->moved);
}

int tr_reload(struct tr_daemon *d, struct tr_errors *errs, int *moved)
{
	/* The config's params and calendars are read again with the rules
	 * (rules read them as they load); another key's change needs a
	 * restart. */
	struct tr_config fresh_cfg;
	int have_cfg = d->cfg.path != NULL;
	if (have_cfg) {
		int rc = tr_config_load(d->cfg.path, &fresh_cfg, errs);
		if (rc) {
			tr_config_free(&fresh_cfg);
			log_warnx("reload: %s has errors; the old rules and params keep running", d->cfg.path);
			return rc;
		}
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
	log_info("reload: %d rules from %s", tr_engine_rule_count(fresh), d->cfg.rules_dir);
	tr_rule_names_log(tr_engine_warnings(fresh), "reload"); /* SPEC §3: fallbacks said, not fatal */
	struct recount x = {.d = d};
	int r = tr_txn_run(&d->ingest.txn, recount, &x);
	*moved = r ? 0 : x.moved;
	if (r)
		log_errx("reload: the steps counted in calendars could not be recounted (%s); they keep their times",
			 tr_strerror(r));
	else if (x.moved)
		log_info("reload: %d pending step%s moved to where the new calendars put them", x.moved,
			 x.moved == 1 ? "" : "s");
	tr_timers_poke(d->timers); /* a step may now be due sooner */
	return 0;
}
