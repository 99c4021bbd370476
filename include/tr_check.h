/* The offline check of a configuration and its rules folder (SPEC §1
 * `triaged --check`, SPEC §7 `triagectl check`): one function, so both
 * programs say the same thing in the same words and exit the same way.
 * Not the loading itself (tr_config_load, tr_engine_load). */
#ifndef TR_CHECK_H
#define TR_CHECK_H

#include <stdio.h>

/* Loads the config at config_path (explicit: it must exist; otherwise an
 * absent file means the defaults) and builds the rules of rules_dir, or of
 * the config's rules_dir when rules_dir is NULL, without running any. On
 * out: "<config>: configuration ok, N rules in DIR". On err: every problem,
 * one a line at file:line, and the warnings (SPEC §3 fallbacks, unused
 * names) prefixed "warning: ". Returns 0 when nothing is wrong (warnings
 * allowed), 1 when something is. Nothing to free. */
int tr_check(const char *config_path, int explicit, const char *rules_dir, FILE *out, FILE *err);

#endif
