/* The `time` table: now, parse, format, duration, and business-time
 * arithmetic over the config's calendars (add, last_open, is_open). Times
 * are integer seconds since the epoch; zones are IANA names. */
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

static int64_t check_duration(lua_State *L, int idx, const char *fn)
{
	const char *d = luaL_checkstring(L, idx);
	int64_t v;
	if (tr_duration_parse(d, &v))
		luaL_error(L, "%s: \"%s\" is not a duration (90s, 15m, 4h, 3d, 1h30m)", fn, d);
	return v;
}

/* time.duration("1h30m") -> seconds */
static int l_time_duration(lua_State *L)
{
	lua_pushinteger(L, check_duration(L, 1, "time.duration"));
	return 1;
}

/* time.add(t, duration [, calendar]) -> t plus duration of the calendar's
 * open time (24x7 by default) */
static int l_time_add(lua_State *L)
{
	int64_t t = tr_lua_check_time(L, 1, tr_lua_run(L)->now, "time.add");
	int64_t d = check_duration(L, 2, "time.add");
	const char *calendar = tr_lua_check_calendar(L, 3, "time.add");
	int64_t out;
	if (tr_calendars_add(tr_lua_run(L)->calendars, calendar, t, d, &out))
		return luaL_error(L, "time.add: calendar '%s' has no open time to count in", calendar);
	lua_pushinteger(L, out);
	return 1;
}

/* time.last_open(deadline, calendar, margin) -> the latest moment with at
 * least margin of open time left before the deadline */
static int l_time_last_open(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	int64_t deadline = tr_lua_check_time(L, 1, run->now, "time.last_open");
	const char *calendar = tr_lua_check_calendar(L, 2, "time.last_open");
	int64_t margin = lua_isnoneornil(L, 3) ? 0 : check_duration(L, 3, "time.last_open");
	int64_t out;
	if (tr_cal_last_open(tr_calendars_find(run->calendars, calendar), deadline, margin, &out))
		return luaL_error(L, "time.last_open: calendar '%s' has no open time before the deadline", calendar);
	lua_pushinteger(L, out);
	return 1;
}

/* time.is_open(t, calendar) -> whether the team is at work then */
static int l_time_is_open(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	int64_t t = tr_lua_check_time(L, 1, run->now, "time.is_open");
	const char *calendar = tr_lua_check_calendar(L, 2, "time.is_open");
	int open = tr_cal_is_open(tr_calendars_find(run->calendars, calendar), t);
	if (open < 0)
		return luaL_error(L, "time.is_open: time out of range");
	lua_pushboolean(L, open);
	return 1;
}

/* time.has_calendar(name) -> whether the config declares it (or "24x7") */
static int l_time_has_calendar(lua_State *L)
{
	lua_pushboolean(L, tr_calendars_find(tr_lua_run(L)->calendars, luaL_checkstring(L, 1)) != NULL);
	return 1;
}

void tr_lua_open_time(struct tr_sandbox *sb)
{
	static const luaL_Reg funcs[] = {
		{"now", l_time_now}, {"parse", l_time_parse}, {"format", l_time_format},
		{"duration", l_time_duration}, {"add", l_time_add}, {"last_open", l_time_last_open},
		{"is_open", l_time_is_open}, {"has_calendar", l_time_has_calendar}, {NULL, NULL}};
	luaL_newlib(tr_sandbox_lua(sb), funcs);
	tr_sandbox_add_global(sb, "time");
}
