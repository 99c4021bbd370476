/* schedule{}: a durable timer that later injects an event (SPEC §5), written
 * in the event's transaction. */
#include <string.h>
#include <lauxlib.h>
#include "tr_lua.h"

#define MIN_FOLLOW_UP 60 /* seconds */

/* schedule{after=|at=, event={type=…, …}, calendar=} -> timer id */
static int l_schedule(lua_State *L)
{
	static const char *const allowed[] = {"after", "at", "event", "calendar", NULL};
	struct tr_run *run = tr_lua_run_mutating(L, "schedule");
	tr_lua_check_options(L, 1, "schedule", allowed);
	lua_getfield(L, 1, "calendar");
	const char *calendar = tr_lua_check_calendar(L, -1, "schedule");
	int64_t due = tr_lua_when(L, 1, tr_lua_base_time(L), calendar, "schedule", NULL);
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

void tr_lua_open_schedule(struct tr_sandbox *sb)
{
	lua_pushcfunction(tr_sandbox_lua(sb), l_schedule);
	tr_sandbox_add_global(sb, "schedule");
}
