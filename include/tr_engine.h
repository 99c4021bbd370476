/* The rule engine: a rule set (rules.d/NAME.lua files in name order, registered with
 * rule{}) built whole in a fresh sandbox, and tr_engine_dispatch, the one
 * function that live ingest, timers, retry and tests call to run an event
 * through the rules inside the caller's store transaction. */
#ifndef TR_ENGINE_H
#define TR_ENGINE_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "tr_calendar.h"
#include "tr_config.h"
#include "tr_error.h"
#include "tr_event.h"
#include "tr_histogram.h"
#include "tr_store.h"

struct tr_engine;

/* Builds a rule set from every .lua file in rules_dir (not .test.lua; lib/
 * serves require). Budgets come from cfg->limits. Returns 0 with *out owned
 * by the caller (tr_engine_free), or TR_EPARSE with every problem appended to
 * errs (file, line) and *out NULL. */
int tr_engine_load(const char *rules_dir, const struct tr_config *cfg, struct tr_engine **out,
		   struct tr_errors *errs);
/* Same, from one file (offline tests and tools). */
int tr_engine_load_file(const char *path, const struct tr_config *cfg, struct tr_engine **out,
			struct tr_errors *errs);
void tr_engine_free(struct tr_engine *e);

struct tr_dispatch {
	int matched;   /* rules whose on/when matched */
	int errors;    /* outcomes recorded as error */
	int quarantined;
};

/* SPEC §3: runs every rule whose `on` matches ev (ev->seq set, stored) in
 * priority then load order; each action runs in a savepoint and under the
 * budgets, and its outcome (ok with effects, or error with message and
 * file:line) is recorded. The caller owns the surrounding transaction. now is
 * the processing time rules see as time.now(). Returns 0, or a store error
 * (the caller rolls back the whole transaction). */
int tr_engine_dispatch(struct tr_engine *e, struct tr_store *s, const struct tr_event *ev,
		       int64_t now, struct tr_dispatch *out);

/* SPEC §3 retry: runs the loaded rule named rule on the stored event ev, as
 * tr_engine_dispatch would run it (its `on` and `when` decide; out->matched
 * says whether it ran), recording a new outcome. Returns 0, -ENOENT when no
 * loaded rule has that name, or a store error. */
int tr_engine_retry(struct tr_engine *e, struct tr_store *s, const struct tr_event *ev, const char *rule,
		    int64_t now, struct tr_dispatch *out);

/* A loaded rule's counters for `metrics`: its runs by result (ok: the
 * action ran without error; errors: its `when` or its action failed;
 * declined: its `on` took the event and its `when` said no). Since the
 * rule set was loaded, as `rules` counts: a reload starts them over. */
struct tr_rule_counters {
	const char *name;  /* the engine's */
	uint64_t ok, errors, declined;
};
/* Calls fn for each loaded rule in run order; stops at fn's first non-zero
 * return and returns it, else 0. */
int tr_engine_counters_each(const struct tr_engine *e,
			    int (*fn)(void *ud, const struct tr_rule_counters *c), void *ud);
/* How long each action ran (not `when`), since the rule set was loaded.
 * Owned by the engine. */
const struct tr_histogram *tr_engine_run_seconds(const struct tr_engine *e);

/* Loaded rules with their counters, for `rules`. Caller owns the result. */
cJSON *tr_engine_rules_json(const struct tr_engine *e);
int tr_engine_rule_count(const struct tr_engine *e);
/* True if some rule's `on` matches type. */
int tr_engine_handles(const struct tr_engine *e, const char *type);
/* What the load found worth saying that does not stop the rules (SPEC §3):
 * a has_calendar/has_output asked at load about a name the config lacks,
 * a calendar or output of the config that no rule mentions. Each has its
 * file and line. Owned by the engine; never NULL. */
const struct tr_errors *tr_engine_warnings(const struct tr_engine *e);
/* The compiled calendars of this rule set (owned by the engine). */
const struct tr_calendars *tr_engine_calendars(const struct tr_engine *e);

#endif
