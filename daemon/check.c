/* `triaged --check` and `triagectl check` (tr_check.h): the config read
 * as the daemon reads it at start, the rules built as a reload builds
 * them, every problem printed at its file:line. Nothing runs, nothing is
 * opened but the config and the rule files. Not the daemon's start-up
 * (main.c, daemon.c). */
#include <unistd.h>
#include "tr_check.h"
#include "tr_config.h"
#include "tr_engine.h"
#include "tr_error.h"
#include "tr_log.h"

/* One problem a line, each after prefix ("" or "warning: "). */
static void print_errors(FILE *f, const struct tr_errors *errs, const char *prefix)
{
	for (size_t i = 0; i < errs->n; i++) {
		char line[1024];
		tr_error_format(&errs->items[i], line, sizeof(line));
		fprintf(f, "%s%s\n", prefix, line);
	}
}

int tr_check(const char *config_path, int explicit, const char *rules_dir, FILE *out, FILE *err)
{
	struct tr_config cfg = {0};
	struct tr_errors errs = {0};
	/* As the daemon starts: an explicit -c must exist; the default may be absent. */
	int rc = !explicit && access(config_path, F_OK) != 0 ? tr_config_defaults(&cfg)
							       : tr_config_load(config_path, &cfg, &errs);
	tr_log_level = cfg.log_level; /* what loading the rules says, as the daemon would */
	if (rc == 0) {
		const char *dir = rules_dir ? rules_dir : cfg.rules_dir;
		struct tr_engine *e;
		if (tr_engine_load(dir, &cfg, &e, &errs) == 0) {
			/* SPEC §3: a fallback or an unused name is said, not fatal */
			print_errors(err, tr_engine_warnings(e), "warning: ");
			fprintf(out, "%s: configuration ok, %d rules in %s\n", explicit ? config_path : "defaults",
				tr_engine_rule_count(e), dir);
			tr_engine_free(e);
		}
	}
	print_errors(err, &errs, "");
	int bad = rc != 0 || errs.n > 0;
	tr_errors_free(&errs);
	tr_config_free(&cfg);
	return bad ? 1 : 0;
}
