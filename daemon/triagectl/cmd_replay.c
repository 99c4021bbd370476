/* triagectl replay (SPEC §7): what another rules folder would have made of
 * the stored events, against the live one, offline (tr_replay.h): the
 * daemon is not asked and its database only read. Exit status: 0 no ticket
 * differs, 1 some do, 2 usage (or a config or rules folder that does not
 * load), 3 the database cannot be read. This file only reads the command
 * line. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_config.h"
#include "tr_replay.h"
#include "tr_time.h"
#include "triagectl.h"

/* --since/--until: RFC 3339, "YYYY-MM-DD HH:MM[:SS]" or a date (its
 * midnight); without an offset, SPEC §7 the viewer's wall clock: TZ's zone
 * when TZ names one (as `silence` reads its times), else UTC. 0 or
 * CTL_USAGE. */
static int parse_when(const struct ctl *c, const char *opt, const char *s, int64_t *out)
{
	const char *tz = getenv("TZ");
	if (tz && *tz == ':')
		tz++;
	if (tz && !tr_zone_valid(tz))
		tz = NULL;
	char text[64];
	if (strlen(s) == 10 && s[4] == '-' && s[7] == '-')
		snprintf(text, sizeof(text), "%s 00:00", s);
	else
		snprintf(text, sizeof(text), "%s", s);
	if (strlen(s) >= sizeof(text) - 8 || tr_time_parse(text, tz, out) || *out <= 0)
		return usage_error(c, "%s takes a time (RFC 3339, \"YYYY-MM-DD HH:MM\" or a date), not '%s'", opt, s);
	return 0;
}

int cmd_replay(struct ctl *c, int argc, char **argv)
{
	(void)argv;
	if (argc)
		return usage_error(c, "unexpected argument");
	struct tr_replay_opts o = {
		.config = c->config_path ? c->config_path : TR_DEFAULT_CONFIG,
		.explicit = c->config_path != NULL,
		.rules_dir = c->o.rules_dir,
		.type = c->o.type,
		.json = c->json,
		.out = stdout,
		.err = stderr,
	};
	if (!o.rules_dir)
		return usage_error(c, "--rules DIR is required: the rules folder to compare with the live one");
	if (c->o.since && parse_when(c, "--since", c->o.since, &o.since))
		return CTL_USAGE;
	if (c->o.until && parse_when(c, "--until", c->o.until, &o.until))
		return CTL_USAGE;
	if (o.since && o.until && o.until <= o.since)
		return usage_error(c, "--until must be later than --since");
	if (o.type && !o.type[0])
		return usage_error(c, "--type takes an event type or a glob like \"case.*\", not ''");
	return tr_replay_run(&o);
}
