/* param(): what rules may ask of the config's `params:`, typed by the
 * default they give. */
#include <string.h>
#include <lauxlib.h>
#include "tr_lua.h"

/* param(name [, default]) -> the config's params.name, as the default's type
 * (number, boolean, else string), or default when the config has none; a
 * value that is not of that type is an error at the rule's line. */
static int l_param(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	const char *v = tr_config_param(tr_lua_run(L)->cfg, name);
	int want = lua_type(L, 2);
	if (!v) {
		lua_settop(L, 2);
		return 1;
	}
	if (want == LUA_TNUMBER) {
		if (!lua_stringtonumber(L, v))
			return luaL_error(L, "param '%s': \"%s\" in the config's params is not a number", name, v);
	} else if (want == LUA_TBOOLEAN) {
		int yes = !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on");
		if (!yes && strcmp(v, "false") && strcmp(v, "no") && strcmp(v, "off"))
			return luaL_error(L, "param '%s': \"%s\" in the config's params is not true or false", name, v);
		lua_pushboolean(L, yes);
	} else {
		lua_pushstring(L, v);
	}
	return 1;
}

void tr_lua_open_param(struct tr_sandbox *sb)
{
	lua_pushcfunction(tr_sandbox_lua(sb), l_param);
	tr_sandbox_add_global(sb, "param");
}
