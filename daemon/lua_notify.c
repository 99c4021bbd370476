/* notify() and has_output(): a notification queued in the event's
 * transaction for delivery after the commit (SPEC §5), and whether an
 * output is configured, so a shipped rule can fall back to the journal. */
#include <lauxlib.h>
#include "tr_lua.h"
#include "tr_notify.h"

/* notify(output, message [, ticket]) */
static int l_notify(lua_State *L)
{
	struct tr_run *run = tr_lua_run_mutating(L, "notify");
	const char *output = luaL_checkstring(L, 1);
	const char *message = tr_lua_check_text(L, 2, "notify");
	int64_t ticket = 0;
	if (!lua_isnoneornil(L, 3)) {
		lua_getfield(L, 3, "id");
		ticket = (int64_t)luaL_checkinteger(L, -1);
	}
	char err[256];
	int rc = tr_notify_ev(run->store, run->cfg, output, ticket, message, run->event, run->actor, run->now, err,
			      sizeof(err));
	if (rc)
		return luaL_error(L, "notify: %s", err);
	tr_lua_effect(L, "notify", 0);
	tr_lua_effect_str(L, "output", output);
	tr_lua_effect_end(L);
	return 0;
}

/* has_output(name) -> whether notify(name, …) would be accepted, so a
 * shipped rule can fall back to the journal where "lead" is not set up;
 * asked while the file loads about a name the config lacks, it is a
 * warning at --check and reload (SPEC §3: no silent fallback) */
static int l_has_output(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	int known = tr_notify_output_known(tr_lua_run(L)->cfg, name);
	if (!known)
		tr_lua_note_fallback(L, "output", name);
	lua_pushboolean(L, known);
	return 1;
}

void tr_lua_open_notify(struct tr_sandbox *sb)
{
	lua_State *L = tr_sandbox_lua(sb);
	lua_pushcfunction(L, l_notify);
	tr_sandbox_add_global(sb, "notify");
	lua_pushcfunction(L, l_has_output);
	tr_sandbox_add_global(sb, "has_output");
}
