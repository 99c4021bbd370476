/* triagectl check (SPEC §7): validates a config and a rules folder
 * offline, no daemon needed, exactly as `triaged --check` does: the same
 * function (tr_check.h), the same lines, the same exit status (0 ok, 1
 * something to fix, each at its file:line). Not the rule tests (`test`,
 * cmd_rules.c). */
#include "tr_check.h"
#include "tr_config.h"
#include "triagectl.h"

/* check [RULES_DIR]: -c's config (else the default, which may be absent:
 * then the defaults), and RULES_DIR instead of the config's rules_dir. */
int cmd_check(struct ctl *c, int argc, char **argv)
{
	const char *config = c->config_path ? c->config_path : TR_DEFAULT_CONFIG;
	return tr_check(config, c->config_path != NULL, argc ? argv[0] : NULL, stdout, stderr);
}
