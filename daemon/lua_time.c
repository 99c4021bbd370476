/* The `time` table: now, parse, format, add and duration for rules. Times
 * are integer seconds since the epoch; zones are IANA names. Business-hours
 * calendars are not here yet: time.add takes only the built-in "24x7". */
#include <string.h>
#include <lauxlib.h>
#include "tr_error.h"
#include "tr_lua.h"
#include "tr_time.h"

/* time.now() -> the processing time of the event being handled */
static int l_time_now(lua_State *L)
{
	lua_pushinteger(L, tr_lua_run(L)->now);
	return 1;
}

/* time.parse(s [, zone]) -> seconds, or nil, message */
static int l_time_parse(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	const char *zone = luaL_optstring(L, 2, NULL);
	if (zone && !tr_zone_valid(zone))
		return luaL_error(L, "time.parse: unknown time zone '%s'", zone);
	int64_t t;
	if (tr_time_parse(s, zone, &t)) {
		lua_pushnil(L);
		lua_pushfstring(L, "not a time: '%s'", s);
		return 2;
	}
	lua_pushinteger(L, t);
	return 1;
}

/* time.format(t [, zone]) -> RFC 3339 text in zone (UTC by default) */
static int l_time_format(lua_State *L)
{
	lua_Integer t = luaL_checkinteger(L, 1);
	const char *zone = luaL_optstring(L, 2, NULL);
	char buf[48];
	if (tr_time_format(t, zone, buf, sizeof(buf)))
		return luaL_error(L, "time.format: unknown time zone '%s'", zone);
	lua_pushstring(L, buf);
	return 1;
}

/* time.duration("1h30m") -> seconds */
static int l_time_duration(lua_State *L)
{
	const char *s = luaL_checkstring(L, 1);
	int64_t v;
	if (tr_duration_parse(s, &v))
		return luaL_error(L, "time.duration: \"%s\" is not a duration (90s, 15m, 4h, 3d, 1h30m)", s);
	lua_pushinteger(L, v);
	return 1;
}

/* time.add(t, duration [, calendar]) -> seconds */
static int l_time_add(lua_State *L)
{
	lua_Integer t = luaL_checkinteger(L, 1);
	const char *d = luaL_checkstring(L, 2);
	const char *calendar = luaL_optstring(L, 3, "24x7");
	int64_t v;
	if (tr_duration_parse(d, &v))
		return luaL_error(L, "time.add: \"%s\" is not a duration (90s, 15m, 4h, 3d, 1h30m)", d);
	if (strcmp(calendar, "24x7") != 0)
		return luaL_error(L, "time.add: unknown calendar '%s'", calendar);
	lua_pushinteger(L, t + v);
	return 1;
}

void tr_lua_open_time(struct tr_sandbox *sb)
{
	static const luaL_Reg funcs[] = {
		{"now", l_time_now}, {"parse", l_time_parse}, {"format", l_time_format},
		{"duration", l_time_duration}, {"add", l_time_add}, {NULL, NULL}};
	luaL_newlib(tr_sandbox_lua(sb), funcs);
	tr_sandbox_add_global(sb, "time");
}
