/* schedule{}, notify(), has_output() and param(): a durable timer that
 * later injects an event, a notification queued in the event's transaction
 * for delivery after the commit (SPEC §5), and what rules may ask of the
 * config. */
#include <string.h>
#include <lauxlib.h>
#include "tr_lua.h"
#include "tr_notify.h"

#define MIN_FOLLOW_UP 60 /* seconds */

/* schedule{after=|at=, event={type=…, …}, calendar=} -> timer id */
static int l_schedule(lua_State *L)
{
	static const char *const allowed[] = {"after", "at", "event", "calendar", NULL};
	struct tr_run *run = tr_lua_run_mutating(L, "schedule");
	tr_lua_check_options(L, 1, "schedule", allowed);
	lua_getfield(L, 1, "calendar");
	const char *calendar = tr_lua_check_calendar(L, -1, "schedule");
	int64_t due = tr_lua_when(L, 1, tr_lua_base_time(L), calendar, "schedule");
	/* An event a timer injected may schedule one follow-up, a minute or more
	 * ahead: a chain can go on for ever (a daily check) but never spin (a
	 * follow-up "after 0s") nor fan out (two follow-ups each double the
	 * timers every generation, and the database with them). */
	if (run->event && strncmp(run->event->source, "timer:", 6) == 0) {
		if (run->schedules >= 1)
			return luaL_error(L, "schedule: an event a timer injected may schedule one follow-up, not more");
		if (due < tr_lua_base_time(L) + MIN_FOLLOW_UP)
			return luaL_error(L, "schedule: a follow-up of an event a timer injected must be at least "
					  "1m ahead");
	}
	run->schedules++;
	if (lua_getfield(L, 1, "event") != LUA_TTABLE)
		return luaL_error(L, "schedule: 'event' must be a table with a type");
	tr_lua_check_plain(L, -1, "schedule: event");
	tr_lua_count_timer(L, "schedule");
	lua_getfield(L, -1, "type");
	if (!lua_isstring(L, -1) || !tr_event_type_valid(lua_tostring(L, -1)))
		return luaL_error(L, "schedule: event.type must be a dotted lowercase name like case.recheck");
	lua_pop(L, 1);
	/* Convert on the Lua side first: a raise must not leak C memory. */
	lua_createtable(L, 0, 1);
	lua_insert(L, -2);
	lua_setfield(L, -2, "event");
	const char *text = tr_lua_push_json_text(L, -1, "schedule");
	int64_t id;
	if (tr_store_timer_add(run->store, due, "schedule", 0, text,
			       run->event ? run->event->seq : 0, &id))
		return luaL_error(L, "schedule: database error: %s", tr_store_errmsg(run->store));
	tr_lua_effect(L, "schedule", 0);
	tr_lua_effect_int(L, "timer", id);
	tr_lua_effect_int(L, "due_at", due);
	tr_lua_effect_end(L);
	lua_pushinteger(L, id);
	return 1;
}

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
	int rc = tr_notify(run->store, run->cfg, output, ticket, message, run->event ? run->event->type : NULL,
			   run->event ? run->event->id : NULL, run->actor, run->now, err, sizeof(err));
	if (rc)
		return luaL_error(L, "notify: %s", err);
	tr_lua_effect(L, "notify", 0);
	tr_lua_effect_str(L, "output", output);
	tr_lua_effect_end(L);
	return 0;
}

/* has_output(name) -> whether notify(name, …) would be accepted, so a
 * shipped rule can fall back to the journal where "lead" is not set up */
static int l_has_output(lua_State *L)
{
	lua_pushboolean(L, tr_notify_output_known(tr_lua_run(L)->cfg, luaL_checkstring(L, 1)));
	return 1;
}

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

void tr_lua_open_schedule(struct tr_sandbox *sb)
{
	lua_State *L = tr_sandbox_lua(sb);
	lua_pushcfunction(L, l_param);
	tr_sandbox_add_global(sb, "param");
	lua_pushcfunction(L, l_has_output);
	tr_sandbox_add_global(sb, "has_output");
	lua_pushcfunction(L, l_schedule);
	tr_sandbox_add_global(sb, "schedule");
	lua_pushcfunction(L, l_notify);
	tr_sandbox_add_global(sb, "notify");
}
