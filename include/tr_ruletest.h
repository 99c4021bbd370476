/* Offline rule tests (SPEC §7 `triagectl test`): a rules folder's
 * NAME.test.lua files run against the real engine and a scratch database,
 * no daemon needed. */
#ifndef TR_RULETEST_H
#define TR_RULETEST_H

#include <stdio.h>

/* path: a .test.lua file (the rules of its folder are loaded) or a folder
 * (every .test.lua in it runs). config: a triaged.yaml whose outputs and
 * calendars the rules use, or NULL for the defaults. Prints "ok"/"not ok" per test and a closing
 * "N passed, M failed" line to out, problems to err. Returns 0 when every
 * test passed, 1 when one failed, 2 when the rules or a test file do not
 * load. */
int tr_ruletest_run(const char *path, const char *config, FILE *out, FILE *err);

#endif
