/* What every Lua-visible table (lua_*.c) shares: the run in progress, effect
 * journaling, strict option tables, time arguments, and JSON <-> Lua
 * conversion with a nesting cap and lua_checkstack (Redis CVE-2021-32626). */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "tr_error.h"
#include "tr_json.h"
#include "tr_lua.h"
#include "tr_rule_names.h"
#include "tr_time.h"

struct tr_run *tr_lua_run(lua_State *L)
{
	return tr_sandbox_owner(L);
}

struct tr_run *tr_lua_run_mutating(lua_State *L, const char *what)
{
	struct tr_run *run = tr_lua_run(L);
	if (run->phase != TR_PHASE_ACTION)
		luaL_error(L, "%s: only allowed inside a rule's action", what);
	return run;
}

void tr_lua_count_timer(lua_State *L, const char *fn)
{
	struct tr_run *run = tr_lua_run(L);
	if (++run->timers_added > run->cfg->limits.rule_timers)
		luaL_error(L, "%s: a rule run may add at most %d timers (limits.rule_timers)", fn,
			   (int)run->cfg->limits.rule_timers);
}

/* Effects are written as text straight away: the same JSON a cJSON tree
 * printed, without a tree of allocations per effect. */
static void add_key(struct tr_buf *b, const char *key)
{
	tr_buf_add(b, ",", 1);
	tr_json_add_string(b, key);
	tr_buf_add(b, ":", 1);
}

void tr_lua_effects_begin(struct tr_run *run)
{
	run->effects.len = 0;
	run->effects.oom = 0;
	tr_buf_add(&run->effects, "[", 1);
}

const char *tr_lua_effects_text(struct tr_run *run)
{
	tr_buf_add(&run->effects, "]", 1);
	return run->effects.oom ? NULL : run->effects.p;
}

void tr_lua_effect(lua_State *L, const char *op, int64_t ticket)
{
	struct tr_buf *b = &tr_lua_run(L)->effects;
	if (b->len > 1) /* after the "[" and an effect */
		tr_buf_add(b, ",", 1);
	tr_buf_add(b, "{\"op\":", 6);
	tr_json_add_string(b, op);
	if (ticket > 0) {
		tr_buf_add(b, ",\"ticket\":", 10);
		tr_json_add_int(b, ticket);
	}
}

void tr_lua_effect_str(lua_State *L, const char *key, const char *value)
{
	struct tr_buf *b = &tr_lua_run(L)->effects;
	add_key(b, key);
	tr_json_add_string(b, value);
}

void tr_lua_effect_int(lua_State *L, const char *key, int64_t value)
{
	struct tr_buf *b = &tr_lua_run(L)->effects;
	add_key(b, key);
	tr_json_add_int(b, value);
}

void tr_lua_effect_end(lua_State *L)
{
	struct tr_buf *b = &tr_lua_run(L)->effects;
	tr_buf_add(b, "}", 1);
	if (b->oom)
		luaL_error(L, "not enough memory");
}

void tr_lua_check_plain(lua_State *L, int idx, const char *fn)
{
	luaL_checktype(L, idx, LUA_TTABLE);
	if (lua_getmetatable(L, idx))
		luaL_error(L, "%s: options must be a plain table, not one with a metatable", fn);
}

const char *tr_lua_check_text(lua_State *L, int idx, const char *fn)
{
	size_t len;
	const char *s = luaL_checklstring(L, idx, &len);
	if (memchr(s, 0, len))
		luaL_error(L, "%s: text with a NUL byte cannot be stored", fn);
	return s;
}

const char *tr_lua_opt_text(lua_State *L, int t, const char *name, const char *def, const char *fn)
{
	luaL_checkstack(L, 1, fn);
	int type = lua_getfield(L, t, name);
	if (type == LUA_TNIL) {
		lua_pop(L, 1);
		return def;
	}
	if (type != LUA_TSTRING)
		luaL_error(L, "%s: option '%s' must be a string, not a %s", fn, name, lua_typename(L, type));
	size_t len;
	const char *v = lua_tolstring(L, -1, &len);
	if (memchr(v, 0, len))
		luaL_error(L, "%s: option '%s' holds a NUL byte", fn, name);
	return v;
}

void tr_lua_check_options(lua_State *L, int idx, const char *fn, const char *const allowed[])
{
	idx = lua_absindex(L, idx);
	tr_lua_check_plain(L, idx, fn);
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		if (lua_type(L, -1) != LUA_TSTRING)
			luaL_error(L, "%s: option names must be strings", fn);
		const char *key = lua_tostring(L, -1);
		int ok = 0;
		for (int i = 0; allowed[i] && !ok; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok)
			luaL_error(L, "%s: unknown option '%s'", fn, key);
	}
}

int64_t tr_lua_check_time(lua_State *L, int idx, int64_t base, const char *fn)
{
	if (lua_type(L, idx) == LUA_TNUMBER) {
		lua_Integer v;
		int64_t whole;
		if (!lua_isinteger(L, idx) && !tr_whole_number(floor(lua_tonumber(L, idx)), &whole))
			luaL_error(L, "%s: time out of range", fn);
		if (!lua_isinteger(L, idx))
			return whole;
		v = lua_tointeger(L, idx);
		return v;
	}
	if (lua_type(L, idx) != LUA_TSTRING)
		luaL_error(L, "%s: expected a time (seconds, RFC 3339) or a duration like \"2h\", got %s",
			   fn, luaL_typename(L, idx));
	const char *s = lua_tostring(L, idx);
	int64_t v;
	if (tr_duration_parse(s, &v) == 0)
		return base + v;
	if (tr_time_parse(s, NULL, &v) == 0)
		return v;
	luaL_error(L, "%s: \"%s\" is neither a duration (90s, 15m, 4h, 3d, 1h30m) nor an RFC 3339 time",
		   fn, s);
	return 0;
}

int64_t tr_lua_base_time(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	return run->event ? run->event->occurred_at : run->now;
}

const char *tr_lua_check_calendar(lua_State *L, int idx, const char *fn)
{
	struct tr_run *run = tr_lua_run(L);
	if (lua_isnoneornil(L, idx))
		return NULL;
	const char *name = luaL_checkstring(L, idx);
	if (!tr_calendars_find(run->calendars, name))
		luaL_error(L, "%s: unknown calendar '%s' (declare it under calendars: in the config)", fn, name);
	return name;
}

void tr_lua_note_fallback(lua_State *L, const char *what, const char *name)
{
	struct tr_run *run = tr_lua_run(L);
	if (run->phase != TR_PHASE_LOAD || !run->load_warnings)
		return;
	/* The innermost Lua frame (pcall(time.has_calendar, x) puts a C one
	 * first): the rule file itself, or a module it requires. */
	const char *file = run->load_path, *base = strrchr(file, '/');
	base = base ? base + 1 : file;
	int line = 0;
	lua_Debug ar;
	for (int level = 1; lua_getstack(L, level, &ar); level++) {
		lua_getinfo(L, "Sl", &ar);
		if (ar.currentline > 0 && ar.source[0] == '@') {
			line = ar.currentline;
			if (strcmp(ar.source + 1, base) != 0)
				file = ar.source + 1;
			break;
		}
	}
	tr_rule_names_fallback(run->load_warnings, file, line, what, name);
}

int64_t tr_lua_when(lua_State *L, int idx, int64_t base, const char *calendar, const char *fn, int64_t *after)
{
	struct tr_run *run = tr_lua_run(L);
	int has_at = lua_getfield(L, idx, "at") != LUA_TNIL;
	int has_after = lua_getfield(L, idx, "after") != LUA_TNIL;
	if (has_at == has_after)
		luaL_error(L, "%s: give exactly one of 'after' (a duration) or 'at' (a time)", fn);
	int64_t t;
	if (has_at) {
		t = tr_lua_check_time(L, -2, base, fn);
	} else {
		int64_t d = 0; /* luaL_error does not return; clang cannot tell */
		const char *s = lua_tostring(L, -1);
		if (!s || tr_duration_parse(s, &d))
			luaL_error(L, "%s: after = \"%s\" is not a duration (90s, 15m, 4h, 3d, 1h30m)", fn,
				   s ? s : luaL_typename(L, -1));
		if (tr_calendars_add(run->calendars, calendar, base, d, &t))
			luaL_error(L, "%s: calendar '%s' has no open time to count %s in", fn, calendar, s);
		if (after)
			*after = d;
	}
	lua_pop(L, 2);
	return t;
}

static int push_json(lua_State *L, const cJSON *v, int depth)
{
	if (depth > TR_LUA_MAX_DEPTH)
		return -1;
	if (!lua_checkstack(L, 4))
		return -1;
	if (cJSON_IsString(v)) {
		/* lstring, not pushstring: no pass through Lua's C-string cache */
		lua_pushlstring(L, v->valuestring, strlen(v->valuestring));
	} else if (cJSON_IsNumber(v)) {
		double d = v->valuedouble;
		if (d == floor(d) && fabs(d) < 9007199254740992.0)
			lua_pushinteger(L, (lua_Integer)d);
		else
			lua_pushnumber(L, d);
	} else if (cJSON_IsBool(v)) {
		lua_pushboolean(L, cJSON_IsTrue(v));
	} else if (cJSON_IsArray(v)) {
		lua_createtable(L, cJSON_GetArraySize(v), 0);
		lua_Integer i = 1;
		for (const cJSON *c = v->child; c; c = c->next) {
			if (push_json(L, c, depth + 1)) {
				lua_pop(L, 1);
				return -1;
			}
			lua_rawseti(L, -2, i++);
		}
	} else if (cJSON_IsObject(v)) {
		int n = 0;
		for (const cJSON *c = v->child; c; c = c->next)
			n++;
		lua_createtable(L, 0, n); /* sized once: no rehash while filling */
		for (const cJSON *c = v->child; c; c = c->next) {
			lua_pushlstring(L, c->string, strlen(c->string));
			if (push_json(L, c, depth + 1)) {
				lua_pop(L, 2);
				return -1;
			}
			lua_rawset(L, -3);
		}
	} else {
		lua_pushnil(L); /* JSON null: absent, as Lua sees it */
	}
	return 0;
}

int tr_lua_push_json(lua_State *L, const cJSON *v)
{
	return push_json(L, v, 0);
}

/* A table is an array when its keys are exactly 1..n (n > 0). */
static size_t array_length(lua_State *L, int idx)
{
	size_t n = lua_rawlen(L, idx), count = 0;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_pop(L, 1);
		count++;
		if (!lua_isinteger(L, -1)) {
			lua_pop(L, 1);
			return 0;
		}
	}
	return count == n ? n : 0;
}

static cJSON *to_json(lua_State *L, int idx, int depth, char *err, size_t errlen)
{
	idx = lua_absindex(L, idx);
	switch (lua_type(L, idx)) {
	case LUA_TNIL:
		return cJSON_CreateNull();
	case LUA_TBOOLEAN:
		return cJSON_CreateBool(lua_toboolean(L, idx));
	case LUA_TNUMBER:
		if (lua_isinteger(L, idx))
			return cJSON_CreateNumber((double)lua_tointeger(L, idx));
		if (!isfinite(lua_tonumber(L, idx))) {
			snprintf(err, errlen, "cannot store a non-finite number");
			return NULL;
		}
		return cJSON_CreateNumber(lua_tonumber(L, idx));
	case LUA_TSTRING: {
		size_t len;
		const char *s = lua_tolstring(L, idx, &len);
		if (memchr(s, 0, len)) {
			snprintf(err, errlen, "cannot store a string with a NUL byte");
			return NULL;
		}
		return cJSON_CreateString(s);
	}
	case LUA_TTABLE:
		break;
	default:
		snprintf(err, errlen, "cannot store a %s value", luaL_typename(L, idx));
		return NULL;
	}
	if (depth > TR_LUA_MAX_DEPTH || !lua_checkstack(L, 4)) {
		snprintf(err, errlen, "table nested deeper than %d levels", TR_LUA_MAX_DEPTH);
		return NULL;
	}
	size_t n = array_length(L, idx);
	cJSON *out = n ? cJSON_CreateArray() : cJSON_CreateObject();
	if (!out)
		return NULL;
	if (n) {
		for (size_t i = 1; i <= n; i++) {
			lua_rawgeti(L, idx, (lua_Integer)i);
			cJSON *c = to_json(L, -1, depth + 1, err, errlen);
			lua_pop(L, 1);
			if (!c) {
				cJSON_Delete(out);
				return NULL;
			}
			cJSON_AddItemToArray(out, c);
		}
		return out;
	}
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		size_t klen = 0;
		const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &klen) : NULL;
		if (!k || memchr(k, 0, klen)) {
			lua_pop(L, 2);
			cJSON_Delete(out);
			snprintf(err, errlen, "table keys must be strings without NUL bytes (or 1..n for a list)");
			return NULL;
		}
		cJSON *c = to_json(L, -1, depth + 1, err, errlen);
		lua_pop(L, 1);
		if (!c) {
			lua_pop(L, 1);
			cJSON_Delete(out);
			return NULL;
		}
		cJSON_AddItemToObject(out, lua_tostring(L, -1), c);
	}
	return out;
}

cJSON *tr_lua_to_json(lua_State *L, int idx, char *err, size_t errlen)
{
	return to_json(L, idx, 0, err, errlen);
}

const char *tr_lua_push_json_text(lua_State *L, int idx, const char *fn)
{
	char err[128] = "";
	cJSON *j = tr_lua_to_json(L, idx, err, sizeof(err));
	char *text = j ? tr_json_print(j) : NULL;
	cJSON_Delete(j);
	if (!text)
		luaL_error(L, "%s: %s", fn, err[0] ? err : "not enough memory");
	lua_pushstring(L, text);
	free(text);
	return lua_tostring(L, -1);
}
