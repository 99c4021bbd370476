/* What the Lua-visible tables (lua_*.c) share: the context of the rule run
 * in progress, effect journaling, option checking and JSON <-> Lua
 * conversion with a depth cap. Internal to the engine. */
#ifndef TR_LUA_H
#define TR_LUA_H

#include <stdint.h>
#include <lua.h>
#include <cjson/cJSON.h>
#include "tr_buf.h"
#include "tr_sandbox.h"
#include "tr_store.h"
#include "tr_event.h"
#include "tr_calendar.h"
#include "tr_error.h"

#define TR_LUA_MAX_DEPTH 64  /* nesting cap for JSON <-> Lua (Redis CVE-2021-32626) */

enum tr_phase { TR_PHASE_NONE, TR_PHASE_LOAD, TR_PHASE_WHEN, TR_PHASE_ACTION };

/* The rule run in progress; owned by the engine, valid during dispatch. */
struct tr_run {
	enum tr_phase phase;
	struct tr_store *store;
	const struct tr_event *event;
	const char *rule;     /* name of the running rule */
	char actor[96];       /* "rule:NAME", recorded in ticket history */
	struct tr_buf effects; /* the action's effects as JSON text (see
				* tr_lua_effects_begin); owned by the run, reused */
	int64_t now;          /* processing time (time.now()) */
	const struct tr_config *cfg;            /* outputs, for notify() */
	const struct tr_calendars *calendars;   /* for time.add and business-time timers */
	/* what this run spent of its per-run caps (limits.rule_log_lines,
	 * limits.rule_timers); zeroed when a run begins */
	int64_t log_lines, log_dropped, timers_added;
	int64_t schedules;    /* schedule{} calls for this event, by all its rules */
	/* While a rule file's top level runs (tr_engine_load): where
	 * has_calendar/has_output note a name the config lacks, and that
	 * file's path for the note; NULL otherwise. */
	struct tr_errors *load_warnings;
	const char *load_path;
};

/* Counts a timer the running action adds; raises past limits.rule_timers
 * (fn names the function, for the message). */
void tr_lua_count_timer(lua_State *L, const char *fn);

/* The run of the state L belongs to. */
struct tr_run *tr_lua_run(lua_State *L);
/* Same, raising a Lua error unless an action is running: effects are only
 * allowed there (what = the function's name, for the message). */
struct tr_run *tr_lua_run_mutating(lua_State *L, const char *what);
/* Around an action: empties the run's effects; then closes the array and
 * returns its text (owned by the run), or NULL when memory ran out. */
void tr_lua_effects_begin(struct tr_run *run);
const char *tr_lua_effects_text(struct tr_run *run);
/* Journals an effect of the running action: tr_lua_effect opens
 * {"op": op (, "ticket": id when id > 0), the _str/_int calls add members,
 * tr_lua_effect_end closes it (raising when memory ran out). */
void tr_lua_effect(lua_State *L, const char *op, int64_t ticket);
void tr_lua_effect_str(lua_State *L, const char *key, const char *value);
void tr_lua_effect_int(lua_State *L, const char *key, int64_t value);
void tr_lua_effect_end(lua_State *L);

/* Raises "fn: unknown option 'x'" for any key of the table at idx that is
 * not in allowed (NULL-terminated), and for a table with a metatable: an
 * option table is read by the binding as plain data, so no rule code (an
 * __index) can run in the middle of a binding and free what it holds. */
void tr_lua_check_options(lua_State *L, int idx, const char *fn, const char *const allowed[]);
/* Raises unless the value at idx is a table without a metatable. */
void tr_lua_check_plain(lua_State *L, int idx, const char *fn);
/* The string option name of the plain table t, or def when absent. The
 * value is left on the stack, so it lives as long as the binding's frame
 * whatever happens to the table; raises for another type or a NUL byte (a
 * key "a\0b" would be stored, and matched, as "a"). */
const char *tr_lua_opt_text(lua_State *L, int t, const char *name, const char *def, const char *fn);
/* luaL_checkstring that raises for a NUL byte, for text the store keeps. */
const char *tr_lua_check_text(lua_State *L, int idx, const char *fn);

/* Pushes v as a Lua value. Returns 0, or -1 (nothing pushed) when nesting
 * exceeds TR_LUA_MAX_DEPTH. */
int tr_lua_push_json(lua_State *L, const cJSON *v);
/* Converts the Lua value at idx to JSON (tables with 1..n keys become
 * arrays). Returns a new cJSON the caller owns, or NULL with a message in err. */
cJSON *tr_lua_to_json(lua_State *L, int idx, char *err, size_t errlen);
/* The value at idx as JSON text, pushed as a Lua string (so it lives while
 * it is on the stack) and returned; raises "fn: why" when it cannot be. */
const char *tr_lua_push_json_text(lua_State *L, int idx, const char *fn);

/* Time argument: a number (seconds), an RFC 3339 string, or a duration
 * string ("2h") counted from base. Raises on anything else. */
int64_t tr_lua_check_time(lua_State *L, int idx, int64_t base, const char *fn);

/* The calendar named by the string at idx (absent or nil: 24x7); raises
 * for an unknown name. */
const char *tr_lua_check_calendar(lua_State *L, int idx, const char *fn);
/* SPEC §3: has_calendar/has_output asked, while a rule file loads, about
 * a name the config lacks (what: "calendar" or "output"): notes a warning
 * at the rule's file:line in run->load_warnings, so `--check` and reload
 * say that the rule falls back. Does nothing outside a load. */
void tr_lua_note_fallback(lua_State *L, const char *what, const char *name);
/* A point in time from an option table at idx: `at` (a time) or `after` (a
 * duration counted from base in calendar; then *after, when not NULL, is
 * set to it). Raises when neither or both. */
int64_t tr_lua_when(lua_State *L, int idx, int64_t base, const char *calendar, const char *fn, int64_t *after);
/* The base time of relative durations: the event's time, else now. */
int64_t tr_lua_base_time(lua_State *L);

/* Each adds its table to the sandbox base. */
void tr_lua_open_ticket(struct tr_sandbox *sb);
void tr_lua_open_state(struct tr_sandbox *sb);
void tr_lua_open_log(struct tr_sandbox *sb);
void tr_lua_open_time(struct tr_sandbox *sb);
void tr_lua_open_schedule(struct tr_sandbox *sb);
void tr_lua_open_notify(struct tr_sandbox *sb);    /* notify() and has_output() */
void tr_lua_open_param(struct tr_sandbox *sb);

#endif
