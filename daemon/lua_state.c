/* The `state` table: what rules keep across events, in one keyspace (SPEC
 * §5): a key holds a value (state.set) or a windowed counter (state.incr),
 * and state.get reads either. Stored in the event's transaction so it rolls
 * back with a failing rule. Only argument checks and effects: what a key
 * becomes when the kinds meet is the store's (tr_store_counter_add). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "tr_lua.h"
#include "tr_time.h"

static const char *check_key(lua_State *L)
{
	size_t len;
	const char *key = luaL_checklstring(L, 1, &len);
	if (len == 0 || len > TR_STATE_KEY_MAX || memchr(key, 0, len))
		luaL_error(L, "state: keys are 1 to %d bytes, without NUL", TR_STATE_KEY_MAX);
	return key;
}

/* The clock counters are counted in: the event's time, so a backfilled
 * event counts (and reads) in the window it happened in. */
static int64_t counter_time(const struct tr_run *run)
{
	return run->event ? run->event->occurred_at : run->now;
}

/* What a read found, copied: Lua may raise while it pushes, and must not
 * jump out of the store's read with its statement half-stepped. */
struct got {
	int found, oom;
	char *value;      /* malloc'd; NULL for a counter */
	int64_t count;
};

static void copy_row(void *ud, const struct tr_state_row *row)
{
	struct got *g = ud;
	g->found = 1;
	g->count = row->count;
	if (row->value && !(g->value = strdup(row->value)))
		g->oom = 1;
}

/* state.get(key) -> value, a counter's count in its window, or nil */
static int l_state_get(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	const char *key = check_key(L);
	struct got g = {0};
	if (tr_store_state_read(run->store, key, counter_time(run), copy_row, &g) < 0 || g.oom) {
		free(g.value);
		return luaL_error(L, "state.get: %s: %s", g.oom ? "out of memory" : "database error",
				  tr_store_errmsg(run->store));
	}
	if (g.found && !g.value) {
		lua_pushinteger(L, g.count);
		return 1;
	}
	cJSON *j = g.value ? cJSON_Parse(g.value) : NULL;
	free(g.value);
	/* Stored values are wrapped as [v] so scalars round-trip. */
	int bad = !j || tr_lua_push_json(L, cJSON_GetArrayItem(j, 0));
	cJSON_Delete(j);
	if (bad)
		lua_pushnil(L);
	return 1;
}

/* state.set(key, value): a value, replacing a counter; nil deletes either */
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

/* state.incr(key [, n] [, {window = "24h"}]) -> count in the window; the
 * key keeps the window of its latest incr */
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
	int64_t total = 0;
	int rc = tr_store_counter_add(run->store, key, n, counter_time(run), window, &total);
	if (rc == -EINVAL)
		return luaL_error(L, "state.incr: key \"%s\" holds a value that is not a whole number;"
				  " state.set(key, nil) first to count it", key);
	if (rc)
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
