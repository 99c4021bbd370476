/* Offline rule tests (SPEC §7 `triagectl test`): a rules folder's
 * NAME.test.lua files run against the real engine and a scratch database,
 * no daemon needed. What a test may call, and fixtures (the calendars,
 * outputs and params a file's tests run with), are described at the top
 * of ruletest.c and in README.md. */
#ifndef TR_RULETEST_H
#define TR_RULETEST_H

#include <stdio.h>

struct tr_ruletest_opts {
	const char *config;  /* a triaged.yaml the tests start from (its calendars,
	                      * outputs, params, limits), or NULL for the defaults;
	                      * fixtures are laid over it */
	int json;            /* one JSON object per line for each test, then a
	                      * summary, instead of lines for people */
	FILE *out, *err;     /* results; problems that stop a file loading */
};

/* Runs the tests of each of paths (a .test.lua file, whose folder's rules
 * are loaded, or a folder: every .test.lua in it, in name order). Prints
 * "ok"/"not ok" per test (a failure with its file:line, message and the
 * log lines of that test) and a closing "N passed, M failed" line, or with
 * json the records {"file","test","ok","error","log","duration_ms"} and
 * {"summary":true,"passed","failed","load_errors","duration_ms"}. Returns
 * 0 when every test passed, 1 when one failed, 2 when the config, a
 * fixture, the rules or a test file do not load. Nothing to free. */
int tr_ruletest_run(char *const *paths, int npaths, const struct tr_ruletest_opts *o);

#endif
