/* Lua sandbox: allow-listed globals, read-only shared tables, text-only
 * load, require confined to rules.d/lib/, and per-run budgets (instructions,
 * memory, wall clock). tr_lua_pcall is the one place that calls into Lua.
 * The budgets follow Redis's lessons: the count hook keeps firing once a
 * budget is spent and our pcall re-raises, so a rule cannot catch its way
 * out; the allocator refuses memory past the budget, so `string.rep` cannot
 * take the daemon down; pattern matching checks the clock (pattern.c). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include <lualib.h>
#include "tr_error.h"
#include "tr_log.h"
#include "tr_pattern.h"
#include "tr_sandbox.h"
#include "tr_time.h"

#define HOOK_EVERY 1000           /* instructions between budget checks */
#define LOAD_MEMORY_CAP (1u << 30) /* whole-state cap outside rule runs */

struct tr_sandbox {
	lua_State *L;
	void *owner;
	char *lib_dir;
	struct tr_budget budget;
	/* the running call's budget */
	int active;
	int64_t instructions_left;
	uint64_t deadline_ms;
	size_t used, limit;
	int limit_is_state_cap; /* the run's limit is the whole state's cap */
	const char *stopped; /* why the budget ran out; NULL while within it */
	int base_ref;
	char location[256];
};

static void *l_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct tr_sandbox *sb = ud;
	if (!ptr)
		osize = 0; /* then osize encodes the object type, not a size */
	if (nsize == 0) {
		free(ptr);
		sb->used -= osize;
		return NULL;
	}
	if (nsize > osize && sb->used + (nsize - osize) > sb->limit) {
		if (sb->active && !sb->stopped)
			sb->stopped = sb->limit_is_state_cap
					      ? "the rules' Lua state is full (limits.lua_state_mb)"
					      : "memory budget exceeded";
		return NULL;
	}
	void *p = realloc(ptr, nsize);
	if (p)
		sb->used = sb->used - osize + nsize;
	return p;
}

static int budget_expired(void *ud)
{
	struct tr_sandbox *sb = ud;
	if (!sb->active)
		return 0;
	if (!sb->stopped && tr_mono_coarse_ms() > sb->deadline_ms)
		sb->stopped = "time budget exceeded";
	return sb->stopped != NULL;
}

/* Runs every HOOK_EVERY VM instructions and at every call of a function,
 * C functions included. SPEC §3 rule_time_ms: the call event is what keeps
 * the wall clock inside library loops that call back (a sort whose __lt or
 * __index is a C function executes no VM instruction at all), and between
 * consecutive slow library calls; a single library call is bounded by the
 * caps below (memory, table length, chunk and format sizes). */
static void hook(lua_State *L, lua_Debug *ar)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	if (!sb->active)
		return;
	if (ar->event == LUA_HOOKCOUNT) {
		sb->instructions_left -= HOOK_EVERY;
		if (!sb->stopped && sb->instructions_left < 0)
			sb->stopped = "instruction budget exceeded";
	}
	if (budget_expired(sb))
		luaL_error(L, "%s", sb->stopped);
}

struct tr_sandbox *tr_sandbox_of(lua_State *L)
{
	return *(struct tr_sandbox **)lua_getextraspace(L);
}

void *tr_sandbox_owner(lua_State *L)
{
	return tr_sandbox_of(L)->owner;
}

lua_State *tr_sandbox_lua(struct tr_sandbox *sb)
{
	return sb->L;
}

/* After the inner call, a spent budget is raised again so that pcall in a
 * rule cannot swallow it. */
static int finish_pcall(lua_State *L, int status, lua_KContext extra)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	if (sb->stopped)
		return luaL_error(L, "%s", sb->stopped);
	if (status != LUA_OK && status != LUA_YIELD) {
		lua_pushboolean(L, 0);
		lua_pushvalue(L, -2);
		return 2;
	}
	return lua_gettop(L) - (int)extra;
}

static int l_pcall(lua_State *L)
{
	luaL_checkany(L, 1);
	lua_pushboolean(L, 1);
	lua_insert(L, 1);
	int status = lua_pcallk(L, lua_gettop(L) - 2, LUA_MULTRET, 0, 0, finish_pcall);
	return finish_pcall(L, status, 0);
}

/* The message handler xpcall installs: the rule's handler, unless the
 * budget is spent. The error then came from the hook, and Lua runs a
 * message handler where the error was raised, inside the hook, where hooks
 * are off: `xpcall(error, function() while true do end end)` would spin
 * for ever. */
static int l_xpcall_handler(lua_State *L)
{
	if (tr_sandbox_of(L)->stopped)
		return 1;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

static int l_xpcall(lua_State *L)
{
	int n = lua_gettop(L);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_pushvalue(L, 2);
	lua_pushcclosure(L, l_xpcall_handler, 1);
	lua_replace(L, 2);
	lua_pushboolean(L, 1);
	lua_pushvalue(L, 1);
	lua_rotate(L, 3, 2);
	int status = lua_pcallk(L, n - 2, LUA_MULTRET, 2, 2, finish_pcall);
	return finish_pcall(L, status, 2);
}

/* load(chunk [, name [, mode [, env]]]): text only; env defaults to the base.
 * The parser runs in C with no hook: a chunk is capped at MAX_LOAD_BYTES so
 * one call stays well inside the wall-clock slack. */
#define MAX_LOAD_BYTES (256u << 10)

static int l_load(lua_State *L)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	size_t len;
	const char *s = luaL_checklstring(L, 1, &len);
	if (len > MAX_LOAD_BYTES)
		return luaL_error(L, "load: chunk of %d bytes is over the %d-byte limit for rules",
				  (int)(len > INT32_MAX ? INT32_MAX : len), (int)MAX_LOAD_BYTES);
	const char *name = luaL_optstring(L, 2, "=(load)");
	const char *mode = luaL_optstring(L, 3, "t");
	if (strcmp(mode, "t") != 0)
		return luaL_error(L, "load: only text chunks (mode \"t\") are allowed");
	int has_env = !lua_isnone(L, 4);
	if (luaL_loadbufferx(L, s, len, name, "t") != LUA_OK) {
		lua_pushnil(L);
		lua_insert(L, -2);
		return 2;
	}
	if (has_env)
		lua_pushvalue(L, 4);
	else
		lua_rawgeti(L, LUA_REGISTRYINDEX, sb->base_ref);
	lua_setupvalue(L, -2, 1);
	return 1;
}

/* require(name): rules.d/lib/<name with dots as slashes>.lua only, loaded
 * once, in its own environment. */
static int l_require(lua_State *L)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	const char *name = luaL_checkstring(L, 1);
	lua_settop(L, 1); /* the cache table goes to slot 2, whatever was passed */
	size_t n = strlen(name);
	if (n == 0 || n > 128 || name[0] == '.' || strstr(name, ".."))
		return luaL_error(L, "require: invalid module name '%s'", name);
	for (const char *p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
		      *p == '_' || *p == '.' || *p == '-'))
			return luaL_error(L, "require: invalid module name '%s'", name);
	if (!sb->lib_dir)
		return luaL_error(L, "require: module '%s' not found (no lib/ folder)", name);

	lua_getfield(L, LUA_REGISTRYINDEX, "tr.loaded");
	lua_getfield(L, -1, name);
	if (!lua_isnil(L, -1))
		return 1;
	lua_pop(L, 1);

	char path[4096];
	int len = snprintf(path, sizeof(path), "%s/%s", sb->lib_dir, name);
	for (char *p = path + strlen(sb->lib_dir) + 1; *p; p++)
		if (*p == '.')
			*p = '/';
	snprintf(path + len, sizeof(path) - (size_t)len, ".lua");
	FILE *f = fopen(path, "rb");
	if (!f)
		return luaL_error(L, "require: module '%s' not found in %s", name, sb->lib_dir);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	size_t got;
	do {
		char *dst = luaL_prepbuffer(&b);
		got = fread(dst, 1, LUAL_BUFFERSIZE, f);
		luaL_addsize(&b, got);
	} while (got == LUAL_BUFFERSIZE);
	fclose(f);
	luaL_pushresult(&b);
	size_t srclen;
	const char *src = lua_tolstring(L, -1, &srclen);
	lua_pushfstring(L, "@%s", path);
	if (luaL_loadbufferx(L, src, srclen, lua_tostring(L, -1), "t") != LUA_OK)
		return lua_error(L);
	tr_sandbox_push_env(sb);
	lua_setupvalue(L, -2, 1);
	lua_pushstring(L, name);
	lua_call(L, 1, 1);
	if (lua_isnil(L, -1)) {
		lua_pop(L, 1);
		lua_pushboolean(L, 1);
	}
	lua_pushvalue(L, -1);
	lua_setfield(L, 2, name); /* tr.loaded[name] */
	return 1;
}

static int l_print(lua_State *L)
{
	int n = lua_gettop(L); /* before luaL_buffinit, which pushes a placeholder */
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
		if (i < n)
			luaL_addchar(&b, '\t');
	}
	luaL_pushresult(&b);
	log_info("rule: %s", lua_tostring(L, -1));
	return 0;
}

static int l_readonly(lua_State *L)
{
	return luaL_error(L, "attempt to modify a read-only table (%s)",
			  lua_isstring(L, 2) ? lua_tostring(L, 2) : "?");
}

/* string.rep by doubling copies: the library's loop copies one unit at a
 * time (a million calls of memcpy for ("x"):rep(1 << 20)) and, when the
 * result is empty, spins with no hook tick (("").rep(1e12)). The result is
 * bounded by the memory budget. */
static int l_rep(lua_State *L)
{
	size_t l, lsep;
	const char *s = luaL_checklstring(L, 1, &l);
	lua_Integer n = luaL_checkinteger(L, 2);
	const char *sep = luaL_optlstring(L, 3, "", &lsep);
	size_t unit = l + lsep;
	if (n <= 0 || unit == 0) {
		lua_pushliteral(L, "");
		return 1;
	}
	if (unit < l || unit > (SIZE_MAX >> 1) / (size_t)n)
		return luaL_error(L, "resulting string too large");
	size_t total = unit * (size_t)n - lsep;
	luaL_Buffer b;
	char *p = luaL_buffinitsize(L, &b, total);
	memcpy(p, s, l);
	if (n > 1)
		memcpy(p + l, sep, lsep);
	/* p[0, done) holds whole units; each pass doubles it */
	size_t done = n > 1 ? unit : l;
	while (done < total) {
		size_t k = done < total - done ? done : total - done;
		memcpy(p + done, p, k);
		done += k;
	}
	luaL_pushresultsize(&b, total);
	return 1;
}

/* For the library loops below, which no hook sees: raises once the budget
 * is spent, reading the clock every 1,024 steps. */
static void loop_step(lua_State *L, struct tr_sandbox *sb, lua_Integer step)
{
	if ((step & 1023) == 0 && budget_expired(sb))
		luaL_error(L, "%s", sb->stopped);
}

/* table.move(a1, f, e, t [, a2]) with the budget checked as it goes: the
 * library's loop runs e - f times in C and cannot be interrupted. */
static int l_move(lua_State *L)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	lua_Integer f = luaL_checkinteger(L, 2), e = luaL_checkinteger(L, 3), t = luaL_checkinteger(L, 4);
	int dst = !lua_isnoneornil(L, 5) ? 5 : 1;
	luaL_checktype(L, 1, LUA_TTABLE);
	luaL_checktype(L, dst, LUA_TTABLE);
	if (e >= f) {
		luaL_argcheck(L, f > 0 || e < LUA_MAXINTEGER + f, 3, "too many elements to move");
		luaL_argcheck(L, t <= LUA_MAXINTEGER - (e - f + 1) + 1, 4, "destination wrap around");
		lua_Integer n = e - f;
		int forward = t > e || t <= f || (dst != 1 && !lua_compare(L, 1, dst, LUA_OPEQ));
		for (lua_Integer i = 0; i <= n; i++) {
			lua_Integer k = forward ? i : n - i;
			loop_step(L, sb, i);
			lua_geti(L, 1, f + k);
			lua_seti(L, dst, t + k);
		}
	}
	lua_pushvalue(L, dst);
	return 1;
}

/* The table library loops over #t in C, where no hook ticks; a __len
 * metamethod can claim 1e12 elements. No real table in a rule can be that
 * long (the memory budget forbids it), so a length past MAX_TABLE_LEN is
 * refused before the loop runs (table.unpack is bounded by the stack too). */
#define MAX_TABLE_LEN ((lua_Integer)1 << 24)

static int l_table_checked(lua_State *L)
{
	luaL_checktype(L, 1, LUA_TTABLE);
	if (luaL_len(L, 1) > MAX_TABLE_LEN)
		return luaL_error(L, "table too long for the table library in a rule (more than %I elements)",
				  MAX_TABLE_LEN);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* table.insert(t, [pos,] v) and table.remove(t [, pos]) shift elements
 * in a C loop; with a __len metamethod an empty table claims millions of
 * them, and raw gets and sets call nothing a hook could see: the budget is
 * checked as they go. */
static int l_insert(lua_State *L)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer first_empty = luaL_len(L, 1);
	if (first_empty >= MAX_TABLE_LEN)
		return luaL_error(L, "table.insert: more than %I elements in a rule", MAX_TABLE_LEN);
	first_empty++;
	lua_Integer pos = first_empty;
	if (lua_gettop(L) == 3) {
		pos = luaL_checkinteger(L, 2);
		luaL_argcheck(L, pos >= 1 && pos <= first_empty, 2, "position out of bounds");
		for (lua_Integer i = first_empty; i > pos; i--) {
			loop_step(L, sb, i);
			lua_geti(L, 1, i - 1);
			lua_seti(L, 1, i);
		}
	} else if (lua_gettop(L) != 2) {
		return luaL_error(L, "wrong number of arguments to 'insert'");
	}
	lua_seti(L, 1, pos);
	return 0;
}

static int l_remove(lua_State *L)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer size = luaL_len(L, 1);
	if (size > MAX_TABLE_LEN)
		return luaL_error(L, "table.remove: more than %I elements in a rule", MAX_TABLE_LEN);
	lua_Integer pos = luaL_optinteger(L, 2, size);
	if (pos != size)
		luaL_argcheck(L, pos >= 1 && pos <= size + 1, 2, "position out of bounds");
	lua_geti(L, 1, pos);
	for (; pos < size; pos++) {
		loop_step(L, sb, pos);
		lua_geti(L, 1, pos + 1);
		lua_seti(L, 1, pos);
	}
	lua_pushnil(L);
	lua_seti(L, 1, pos);
	return 1;
}

/* table.concat(t [, sep [, i [, j]]]) with the budget checked as it goes:
 * the library's loop converts every number in C without a hook tick. */
static int l_concat(lua_State *L)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	size_t lsep;
	const char *sep = luaL_optlstring(L, 2, "", &lsep);
	lua_Integer i = luaL_optinteger(L, 3, 1);
	lua_Integer last = luaL_opt(L, luaL_checkinteger, 4, luaL_len(L, 1));
	if (last >= i && last - i >= MAX_TABLE_LEN)
		return luaL_error(L, "table.concat: more than %I elements in a rule", MAX_TABLE_LEN);
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (; i <= last; i++) {
		loop_step(L, sb, i);
		lua_geti(L, 1, i);
		if (!lua_isstring(L, -1))
			return luaL_error(L, "invalid value (at index %I) in table for 'concat'", i);
		luaL_addvalue(&b);
		if (i != last)
			luaL_addlstring(&b, sep, lsep);
	}
	luaL_pushresult(&b);
	return 1;
}

/* table.sort(t [, lt]) as a heap sort that checks the budget as it goes:
 * comparing strings or numbers calls no function, so the library's quicksort
 * ran seconds with no hook tick. O(n log n) whatever the input, like
 * Lua's, not stable, like Lua's. */
struct sorter {
	lua_State *L;
	struct tr_sandbox *sb;
	int has_lt;
	unsigned steps;
};

static int sort_less(struct sorter *so, lua_Integer a, lua_Integer b)
{
	lua_State *L = so->L;
	loop_step(L, so->sb, ++so->steps);
	if (so->has_lt) {
		lua_pushvalue(L, 2);
		lua_geti(L, 1, a);
		lua_geti(L, 1, b);
		lua_call(L, 2, 1);
	} else {
		lua_geti(L, 1, a);
		lua_geti(L, 1, b);
		lua_pushboolean(L, lua_compare(L, -2, -1, LUA_OPLT));
		lua_replace(L, -3);
		lua_pop(L, 1);
	}
	int r = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return r;
}

static void sort_swap(lua_State *L, lua_Integer a, lua_Integer b)
{
	lua_geti(L, 1, a);
	lua_geti(L, 1, b);
	lua_seti(L, 1, a);
	lua_seti(L, 1, b);
}

/* Moves element `root` down the max-heap of elements 1..n. */
static void sift_down(struct sorter *so, lua_Integer root, lua_Integer n)
{
	for (lua_Integer child; (child = 2 * root) <= n; root = child) {
		if (child < n && sort_less(so, child, child + 1))
			child++;
		if (!sort_less(so, root, child))
			return;
		sort_swap(so->L, root, child);
	}
}

static int l_sort(lua_State *L)
{
	struct sorter so = {.L = L, .sb = tr_sandbox_of(L)};
	luaL_checktype(L, 1, LUA_TTABLE);
	lua_Integer n = luaL_len(L, 1);
	if (n > MAX_TABLE_LEN)
		return luaL_error(L, "table.sort: more than %I elements in a rule", MAX_TABLE_LEN);
	if (!lua_isnoneornil(L, 2)) {
		luaL_checktype(L, 2, LUA_TFUNCTION);
		so.has_lt = 1;
	}
	lua_settop(L, 2);
	luaL_checkstack(L, 8, "table.sort");
	for (lua_Integer i = n / 2; i >= 1; i--)
		sift_down(&so, i, n);
	for (lua_Integer end = n; end > 1; end--) {
		sort_swap(L, 1, end);
		sift_down(&so, 1, end - 1);
	}
	return 0;
}

/* os.date with a bounded format: strftime runs once per conversion in C,
 * so a megabyte of "%c" ran seconds between hook ticks. */
#define MAX_DATE_FORMAT 256

static int l_date(lua_State *L)
{
	size_t len;
	luaL_optlstring(L, 1, "%c", &len);
	if (len > MAX_DATE_FORMAT)
		return luaL_error(L, "os.date: format longer than %d bytes", MAX_DATE_FORMAT);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
	return lua_gettop(L);
}

/* setmetatable without finalizers: a __gc function would run whenever the
 * collector gets to it, outside its rule's budget or inside another rule's
 * run, acting in that rule's name. */
static int l_setmetatable(lua_State *L)
{
	if (lua_istable(L, 2)) {
		lua_pushliteral(L, "__gc");
		if (lua_rawget(L, 2) != LUA_TNIL)
			return luaL_error(L, "setmetatable: finalizers (__gc) are not allowed in rules");
		lua_pop(L, 1);
	}
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_call(L, lua_gettop(L) - 1, 1);
	return 1;
}

/* The iterator pairs() gives for a frozen table: next over the real table,
 * which is its upvalue only, so a rule never holds the table itself (it
 * could otherwise rewrite what every other rule sees). */
static int l_proxy_next(lua_State *L)
{
	lua_settop(L, 2);
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 2);
	return lua_next(L, 3) ? 2 : 0;
}

/* pairs(frozen) -> that iterator, the proxy, nil */
static int l_proxy_pairs(lua_State *L)
{
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_pushvalue(L, 1);
	lua_pushnil(L);
	return 3;
}

/* Replaces the table on top with a read-only proxy of it. */
static void freeze(lua_State *L)
{
	lua_newtable(L);                 /* proxy */
	lua_createtable(L, 0, 4);        /* its metatable */
	lua_pushvalue(L, -3);
	lua_setfield(L, -2, "__index");
	lua_pushcfunction(L, l_readonly);
	lua_setfield(L, -2, "__newindex");
	lua_pushvalue(L, -3);
	lua_pushcclosure(L, l_proxy_next, 1);
	lua_pushcclosure(L, l_proxy_pairs, 1);
	lua_setfield(L, -2, "__pairs");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
	lua_remove(L, -2);
}

/* Copies the named fields of the global library `lib` into a new table. */
static void copy_fields(lua_State *L, const char *lib, const char *const names[])
{
	lua_newtable(L);
	if (lib)
		lua_getglobal(L, lib);
	else
		lua_pushglobaltable(L);
	for (int i = 0; names[i]; i++) {
		lua_getfield(L, -1, names[i]);
		lua_setfield(L, -3, names[i]);
	}
	lua_pop(L, 1);
}

static void push_base(struct tr_sandbox *sb)
{
	lua_rawgeti(sb->L, LUA_REGISTRYINDEX, sb->base_ref);
}

void tr_sandbox_add_global(struct tr_sandbox *sb, const char *name)
{
	lua_State *L = sb->L;
	if (lua_istable(L, -1))
		freeze(L);
	lua_getfield(L, LUA_REGISTRYINDEX, "tr.base.raw");
	lua_insert(L, -2);
	lua_setfield(L, -2, name);
	lua_pop(L, 1);
}

void tr_sandbox_push_env(struct tr_sandbox *sb)
{
	lua_State *L = sb->L;
	lua_newtable(L);
	lua_createtable(L, 0, 2);
	push_base(sb);
	lua_setfield(L, -2, "__index");
	/* setmetatable(_ENV, nil) in one rule would cut every rule of the
	 * file off from the base */
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_setmetatable(L, -2);
}

static void build_base(struct tr_sandbox *sb)
{
	lua_State *L = sb->L;
	static const char *const basics[] = {
		"assert", "error", "ipairs", "next", "pairs", "rawequal", "rawget", "rawlen",
		"select", "setmetatable", "getmetatable", "tonumber", "tostring",
		"type", "_VERSION", NULL};
	static const char *const strings[] = {
		"byte", "char", "find", "format", "gmatch", "gsub", "len", "lower", "match",
		"rep", "reverse", "sub", "upper", "pack", "packsize", "unpack", NULL};
	static const char *const tables[] = {
		"concat", "insert", "move", "pack", "remove", "sort", "unpack", NULL};
	static const char *const maths[] = {
		"abs", "ceil", "floor", "fmod", "huge", "log", "max", "maxinteger", "min",
		"mininteger", "modf", "pi", "sqrt", "tointeger", "type", "ult", "exp",
		"random", "sin", "cos", "tan", NULL};
	static const char *const utf8s[] = {
		"char", "charpattern", "codepoint", "codes", "len", "offset", NULL};
	static const char *const oses[] = {"time", "date", "clock", "difftime", NULL};

	copy_fields(L, NULL, basics);                 /* the raw base */
	lua_pushcfunction(L, l_pcall);
	lua_setfield(L, -2, "pcall");
	lua_pushcfunction(L, l_xpcall);
	lua_setfield(L, -2, "xpcall");
	lua_pushcfunction(L, l_load);
	lua_setfield(L, -2, "load");
	lua_pushcfunction(L, l_require);
	lua_setfield(L, -2, "require");
	lua_pushcfunction(L, l_print);
	lua_setfield(L, -2, "print");
	lua_getfield(L, -1, "setmetatable");
	lua_pushcclosure(L, l_setmetatable, 1);
	lua_setfield(L, -2, "setmetatable");
	lua_pushvalue(L, -1);
	lua_setfield(L, LUA_REGISTRYINDEX, "tr.base.raw");

	copy_fields(L, "string", strings);
	tr_pattern_install(L, budget_expired, sb);
	lua_pushcfunction(L, l_rep);
	lua_setfield(L, -2, "rep");
	/* Strings index the sandbox's copy (budgeted patterns, no dump); the
	 * shared metatable itself is hidden so rules cannot tamper with it. */
	lua_pushliteral(L, "");
	lua_getmetatable(L, -1);
	lua_pushvalue(L, -3);
	freeze(L);
	lua_setfield(L, -2, "__index");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 2);
	freeze(L);
	lua_setfield(L, -2, "string");

	copy_fields(L, "table", tables);
	lua_pushcfunction(L, l_move);
	lua_setfield(L, -2, "move");
	lua_pushcfunction(L, l_sort);
	lua_setfield(L, -2, "sort");
	lua_pushcfunction(L, l_concat);
	lua_setfield(L, -2, "concat");
	lua_pushcfunction(L, l_insert);
	lua_setfield(L, -2, "insert");
	lua_pushcfunction(L, l_remove);
	lua_setfield(L, -2, "remove");
	lua_getfield(L, -1, "unpack");
	lua_pushcclosure(L, l_table_checked, 1);
	lua_setfield(L, -2, "unpack");
	freeze(L);
	lua_setfield(L, -2, "table");
	copy_fields(L, "math", maths);
	freeze(L);
	lua_setfield(L, -2, "math");
	copy_fields(L, "utf8", utf8s);
	freeze(L);
	lua_setfield(L, -2, "utf8");
	copy_fields(L, "os", oses);
	lua_getfield(L, -1, "date");
	lua_pushcclosure(L, l_date, 1);
	lua_setfield(L, -2, "date");
	freeze(L);
	lua_setfield(L, -2, "os");

	/* rawset is left out: it would write through the read-only proxies. */
	freeze(L);
	lua_getfield(L, LUA_REGISTRYINDEX, "tr.base.raw");
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, "_G");
	lua_pop(L, 1);
	sb->base_ref = luaL_ref(L, LUA_REGISTRYINDEX);

	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "tr.loaded");
}

int tr_sandbox_new(const struct tr_budget *budget, const char *lib_dir, void *owner,
		   struct tr_sandbox **out)
{
	struct tr_sandbox *sb = calloc(1, sizeof(*sb));
	if (!sb)
		return -ENOMEM;
	sb->budget = *budget;
	sb->owner = owner;
	sb->limit = LOAD_MEMORY_CAP;
	if (lib_dir && !(sb->lib_dir = strdup(lib_dir))) {
		free(sb);
		return -ENOMEM;
	}
	sb->L = lua_newstate(l_alloc, sb);
	if (!sb->L) {
		free(sb->lib_dir);
		free(sb);
		return -ENOMEM;
	}
	*(struct tr_sandbox **)lua_getextraspace(sb->L) = sb;
	luaL_openlibs(sb->L);
	build_base(sb);
	lua_sethook(sb->L, hook, LUA_MASKCOUNT | LUA_MASKCALL, HOOK_EVERY);
	*out = sb;
	return 0;
}

size_t tr_sandbox_memory(const struct tr_sandbox *sb)
{
	return sb->used;
}

size_t tr_sandbox_collect(struct tr_sandbox *sb)
{
	lua_gc(sb->L, LUA_GCCOLLECT);
	return sb->used;
}

void tr_sandbox_free(struct tr_sandbox *sb)
{
	if (!sb)
		return;
	lua_close(sb->L);
	free(sb->lib_dir);
	free(sb);
}

int tr_sandbox_load(struct tr_sandbox *sb, const char *buf, size_t len, const char *chunkname)
{
	lua_State *L = sb->L;
	int rc = luaL_loadbufferx(L, buf, len, chunkname, "t");
	if (rc != LUA_OK) {
		lua_remove(L, -2); /* the env */
		return rc;
	}
	lua_insert(L, -2);
	lua_setupvalue(L, -2, 1);
	return 0;
}

/* Message handler: keeps the message and notes the innermost frame that
 * belongs to a rule file, so the outcome names file:line even when the
 * error came from a C function such as ticket.open. */
static int msgh(lua_State *L)
{
	struct tr_sandbox *sb = tr_sandbox_of(L);
	sb->location[0] = 0;
	lua_Debug ar;
	for (int level = 1; lua_getstack(L, level, &ar); level++) {
		lua_getinfo(L, "Sl", &ar);
		if (ar.currentline > 0 && ar.source[0] == '@') {
			snprintf(sb->location, sizeof(sb->location), "%s:%d", ar.short_src, ar.currentline);
			break;
		}
	}
	if (!lua_isstring(L, 1)) {
		if (luaL_callmeta(L, 1, "__tostring") && lua_isstring(L, -1))
			return 1;
		lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
	}
	return 1;
}

void tr_lua_pcall(struct tr_sandbox *sb, int nargs, int nresults, int scale, struct tr_call *call)
{
	lua_State *L = sb->L;
	int base = lua_gettop(L) - nargs; /* the function's slot */
	lua_pushcfunction(L, msgh);
	lua_insert(L, base);

	uint64_t start = tr_mono_us();
	sb->active = 1;
	sb->stopped = NULL;
	sb->instructions_left = sb->budget.instructions * scale;
	sb->deadline_ms = start / 1000 + (uint64_t)(sb->budget.time_ms * scale);
	/* SPEC §5: a run may add its budget, and the whole state never passes
	 * limits.lua_state_mb, whatever rules keep between events. */
	size_t run_limit = sb->used + sb->budget.memory * (size_t)scale;
	sb->limit_is_state_cap = sb->budget.state_memory && run_limit > sb->budget.state_memory;
	sb->limit = sb->limit_is_state_cap ? sb->budget.state_memory : run_limit;
	sb->location[0] = 0;
	int rc = lua_pcall(L, nargs, nresults, base);
	sb->active = 0;
	sb->limit = LOAD_MEMORY_CAP;
	call->duration_us = (int64_t)(tr_mono_us() - start);

	call->status = 0;
	call->message[0] = call->location[0] = 0;
	if (rc != LUA_OK || sb->stopped) {
		call->status = sb->stopped ? TR_EBUDGET : TR_ELUA;
		const char *msg = rc != LUA_OK ? lua_tostring(L, -1) : NULL;
		if (sb->stopped)
			msg = sb->stopped;
		else if (rc == LUA_ERRMEM)
			msg = "not enough memory";
		snprintf(call->location, sizeof(call->location), "%s", sb->location);
		/* Drop a "file:line: " prefix that repeats the location. */
		size_t loclen = strlen(call->location);
		if (msg && loclen && strncmp(msg, call->location, loclen) == 0 && msg[loclen] == ':')
			msg += loclen + 1 + (msg[loclen + 1] == ' ');
		snprintf(call->message, sizeof(call->message), "%s", msg ? msg : "unknown error");
		lua_settop(L, base - 1);
		if (rc == LUA_ERRMEM || sb->stopped)
			lua_gc(L, LUA_GCCOLLECT);
		sb->stopped = NULL;
		return;
	}
	lua_remove(L, base);
}
