/* Lua pattern matching (string.find, match, gmatch, gsub) with a budget: the
 * matcher asks `expired` every few thousand steps and raises a Lua error when
 * it says the rule's time is up, so a pathological pattern cannot hang the
 * daemon (SPEC §3: rule_time_ms holds even inside library calls). Same
 * semantics as Lua 5.4's string library otherwise. */
#ifndef TR_PATTERN_H
#define TR_PATTERN_H

#include <lua.h>

/* Returns nonzero when the running rule must stop. */
typedef int (*tr_pattern_expired_fn)(void *ud);

/* Replaces find, match, gmatch and gsub in the table at the top of L's stack
 * (the sandbox's `string` table) with budgeted versions that call
 * expired(ud). ud must outlive the Lua state. */
void tr_pattern_install(lua_State *L, tr_pattern_expired_fn expired, void *ud);

#endif
