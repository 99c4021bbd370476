/* SPEC §8 reload: a new rule set built whole and swapped in between
 * requests, with the config's params read again; on any problem the old
 * rules and params keep running. Shared by SIGHUP (main.c) and the `reload`
 * op. Not the parts' lifecycle (daemon.c). */
#include "tr_engine.h"
#include "tr_log.h"
#include "tr_reload.h"
#include "tr_rule_names.h"

int tr_reload(struct tr_daemon *d, struct tr_errors *errs)
{
	/* The config's params are read again with the rules (rules read them
	 * as they load); another key's change needs a restart. */
	struct tr_config fresh_cfg;
	int have_cfg = d->cfg.path != NULL;
	if (have_cfg) {
		int rc = tr_config_load(d->cfg.path, &fresh_cfg, errs);
		if (rc) {
			tr_config_free(&fresh_cfg);
			log_warnx("reload: %s has errors; the old rules and params keep running", d->cfg.path);
			return rc;
		}
		tr_config_swap_params(&d->cfg, &fresh_cfg);
	}
	struct tr_engine *fresh;
	int rc = tr_engine_load(d->cfg.rules_dir, &d->cfg, &fresh, errs);
	if (rc) {
		if (have_cfg) {
			tr_config_swap_params(&d->cfg, &fresh_cfg);
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
	return 0;
}
