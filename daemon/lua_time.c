/* The `time` table: now, parse, format, duration, and business-time
 * arithmetic over the config's calendars (add, last_open, is_open, zone). Times
 * are integer seconds since the epoch; zones are IANA names. */
#include <errno.h>
#include <string.h>
#include <lauxlib.h>
#include "tr_calendar.h"
#include "tr_config.h"
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

/* Appends t as layout says to b, each conversion a field of the RFC 3339
 * text tr_time_format wrote ("2026-11-28T19:00:00+08:00"): %Y %m %d %H %M %S from rfc (t written in
 * zone), %a the weekday (Mon..Sun), %z the offset ("+08:00", "Z" in UTC),
 * %Z the zone's IANA name ("UTC" without one), %% a percent sign. Raises
 * for any other conversion. */
static void format_layout(lua_State *L, luaL_Buffer *b, int64_t t, const char *zone, const char *rfc,
			  const char *layout)
{
	for (const char *p = layout; *p; p++) {
		if (*p != '%') {
			luaL_addchar(b, *p);
			continue;
		}
		if (!*++p)
			luaL_error(L, "time.format: \"%s\" ends with a lone '%%'", layout);
		switch (*p) {
		case 'Y': luaL_addlstring(b, rfc, 4); break;
		case 'm': luaL_addlstring(b, rfc + 5, 2); break;
		case 'd': luaL_addlstring(b, rfc + 8, 2); break;
		case 'H': luaL_addlstring(b, rfc + 11, 2); break;
		case 'M': luaL_addlstring(b, rfc + 14, 2); break;
		case 'S': luaL_addlstring(b, rfc + 17, 2); break;
		case 'z': luaL_addstring(b, rfc + 19); break;
		case 'a': luaL_addstring(b, tr_time_weekday(t, rfc)); break;
		case 'Z': luaL_addstring(b, zone && *zone ? zone : "UTC"); break;
		case '%': luaL_addchar(b, '%'); break;
		default:
			luaL_error(L, "time.format: unknown conversion '%%%c' in \"%s\" (known: %%Y %%m %%d %%H %%M %%S %%a %%z %%Z %%%%)",
				   *p, layout);
		}
	}
}

/* time.format(t [, zone [, layout]]) -> RFC 3339 text in zone (UTC by
 * default), or t as layout says ("%a %H:%M %Z" -> "Sat 19:00 Asia/Shanghai") */
static int l_time_format(lua_State *L)
{
	lua_Integer t = luaL_checkinteger(L, 1);
	const char *zone = luaL_optstring(L, 2, NULL);
	const char *layout = luaL_optstring(L, 3, NULL);
	char buf[48];
	int rc = tr_time_format(t, zone, buf, sizeof(buf));
	if (rc == -ERANGE)
		return luaL_error(L, "time.format: time out of range");
	if (rc)
		return luaL_error(L, "time.format: unknown time zone '%s'", zone);
	if (!layout) {
		lua_pushstring(L, buf);
		return 1;
	}
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	format_layout(L, &b, t, zone, buf, layout);
	luaL_pushresult(&b);
	return 1;
}

/* time.zone(calendar) -> the calendar's IANA zone ("UTC" for 24x7), e.g. to
 * show a time the way the team reads it */
static int l_time_zone(lua_State *L)
{
	const struct tr_config *cfg = tr_lua_run(L)->cfg;
	const char *name = tr_lua_check_calendar(L, 1, "time.zone");
	const char *zone = NULL;
	for (size_t i = 0; name && cfg && i < cfg->ncalendars; i++)
		if (strcmp(cfg->calendars[i].name, name) == 0)
			zone = cfg->calendars[i].timezone;
	lua_pushstring(L, zone && *zone ? zone : "UTC");
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

/* time.last_open(deadline, calendar, margin) -> the latest moment, from now
 * (time.now()) on, with at least margin of open time left before the
 * deadline; or nil, "no open time left before the deadline" when there is
 * none: the team has no working hours left to act in (a message at Friday
 * 19:00 with its 24 h deadline on Saturday), so a rule acts at once. */
static int l_time_last_open(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	int64_t deadline = tr_lua_check_time(L, 1, run->now, "time.last_open");
	const char *calendar = tr_lua_check_calendar(L, 2, "time.last_open");
	int64_t margin = lua_isnoneornil(L, 3) ? 0 : check_duration(L, 3, "time.last_open");
	int64_t out;
	int rc = tr_cal_last_open_from(tr_calendars_find(run->calendars, calendar), run->now, deadline, margin, &out);
	if (rc == -ENOENT) {
		lua_pushnil(L);
		lua_pushliteral(L, "no open time left before the deadline");
		return 2;
	}
	if (rc)
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

/* time.has_calendar(name) -> whether the config declares it (or "24x7");
 * asked while the file loads about a name the config lacks, it is a
 * warning at --check and reload (SPEC §3: no silent fallback) */
static int l_time_has_calendar(lua_State *L)
{
	const char *name = luaL_checkstring(L, 1);
	int known = tr_calendars_find(tr_lua_run(L)->calendars, name) != NULL;
	if (!known)
		tr_lua_note_fallback(L, "calendar", name);
	lua_pushboolean(L, known);
	return 1;
}

void tr_lua_open_time(struct tr_sandbox *sb)
{
	static const luaL_Reg funcs[] = {
		{"now", l_time_now}, {"parse", l_time_parse}, {"format", l_time_format},
		{"duration", l_time_duration}, {"add", l_time_add}, {"last_open", l_time_last_open},
		{"is_open", l_time_is_open}, {"has_calendar", l_time_has_calendar}, {"zone", l_time_zone},
		{NULL, NULL}};
	luaL_newlib(tr_sandbox_lua(sb), funcs);
	tr_sandbox_add_global(sb, "time");
}
