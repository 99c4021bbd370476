/* The `state` table: persistent values and windowed counters that rules
 * keep across events (e.g. cases opened per account per day), stored in the
 * event's transaction so they roll back with a failing rule. */
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "tr_lua.h"
#include "tr_time.h"

#define STATE_KEY_MAX 512

static const char *check_key(lua_State *L)
{
	size_t len;
	const char *key = luaL_checklstring(L, 1, &len);
	if (len == 0 || len > STATE_KEY_MAX || memchr(key, 0, len))
		luaL_error(L, "state: keys are 1 to %d bytes, without NUL", STATE_KEY_MAX);
	return key;
}

/* state.get(key) -> value or nil */
static int l_state_get(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	const char *key = check_key(L);
	char *text = NULL;
	int rc = tr_store_state_get(run->store, key, &text);
	if (rc < 0)
		return luaL_error(L, "state.get: database error: %s", tr_store_errmsg(run->store));
	cJSON *j = rc ? cJSON_Parse(text) : NULL;
	free(text);
	if (!j) {
		lua_pushnil(L);
		return 1;
	}
	/* Stored values are wrapped as [v] so scalars round-trip. */
	int bad = tr_lua_push_json(L, cJSON_GetArrayItem(j, 0));
	cJSON_Delete(j);
	if (bad)
		lua_pushnil(L);
	return 1;
}

/* state.set(key, value): nil deletes */
static int l_state_set(lua_State *L)
{
	struct tr_run *run = tr_lua_run_mutating(L, "state.set");
	const char *key = check_key(L);
	luaL_checkany(L, 2);
	const char *text = NULL;
	if (!lua_isnil(L, 2)) {
		lua_createtable(L, 1, 0);
		lua_pushvalue(L, 2);
		lua_rawseti(L, -2, 1);
		text = tr_lua_push_json_text(L, -1, "state.set");
	}
	if (tr_store_state_set(run->store, key, text))
		return luaL_error(L, "state.set: database error: %s", tr_store_errmsg(run->store));
	tr_lua_effect(L, "state.set", 0);
	tr_lua_effect_str(L, "key", key);
	tr_lua_effect_end(L);
	return 0;
}

/* state.incr(key [, n] [, {window = "24h"}]) -> count in the window */
static int l_state_incr(lua_State *L)
{
	static const char *const allowed[] = {"window", NULL};
	struct tr_run *run = tr_lua_run_mutating(L, "state.incr");
	const char *key = check_key(L);
	int opts = 3;
	lua_Integer n = 1;
	if (lua_istable(L, 2))
		opts = 2;
	else
		n = luaL_optinteger(L, 2, 1);
	int64_t window = 0;
	if (!lua_isnoneornil(L, opts)) {
		tr_lua_check_options(L, opts, "state.incr", allowed);
		lua_getfield(L, opts, "window");
		const char *w = luaL_optstring(L, -1, NULL);
		if (w && tr_duration_parse(w, &window))
			return luaL_error(L, "state.incr: window \"%s\" is not a duration (90s, 15m, 4h, 3d)", w);
		lua_pop(L, 1);
	}
	int64_t t = run->event ? run->event->occurred_at : run->now;
	int64_t total = 0;
	if (tr_store_counter_add(run->store, key, n, t, window, &total))
		return luaL_error(L, "state.incr: database error: %s", tr_store_errmsg(run->store));
	tr_lua_effect(L, "state.incr", 0);
	tr_lua_effect_str(L, "key", key);
	tr_lua_effect_int(L, "value", total);
	tr_lua_effect_end(L);
	lua_pushinteger(L, total);
	return 1;
}

void tr_lua_open_state(struct tr_sandbox *sb)
{
	static const luaL_Reg funcs[] = {
		{"get", l_state_get}, {"set", l_state_set}, {"incr", l_state_incr}, {NULL, NULL}};
	luaL_newlib(tr_sandbox_lua(sb), funcs);
	tr_sandbox_add_global(sb, "state");
}
