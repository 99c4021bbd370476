/* The `ticket` table and ticket objects rules use: open (one open ticket
 * per key), find, get, and comment/tag/assign/set/close/reopen/due. Every
 * change is written through the store inside the event's transaction,
 * added to the ticket's history and journaled as an effect of the rule. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <lauxlib.h>
#include "tr_buf.h"
#include "tr_json.h"
#include "tr_error.h"
#include "tr_lua.h"
#include "tr_notify.h"
#include "tr_plan.h"
#include "tr_ticket.h"
#include "tr_time.h"

#define TICKET_MT "tr.ticket"

static void push_ticket(lua_State *L, int64_t id)
{
	int64_t *u = lua_newuserdatauv(L, sizeof(*u), 0);
	*u = id;
	luaL_setmetatable(L, TICKET_MT);
}

static int64_t check_ticket(lua_State *L, int idx)
{
	return *(int64_t *)luaL_checkudata(L, idx, TICKET_MT);
}

/* Raises for a store failure; the savepoint of the rule is rolled back. */
static int store_failed(lua_State *L, struct tr_run *run, int rc)
{
	if (rc == -ENOENT)
		return luaL_error(L, "ticket not found");
	if (rc == -EEXIST)
		return luaL_error(L, "another open ticket has this key");
	return luaL_error(L, "database error: %s", rc == -ENOMEM ? "out of memory" : tr_store_errmsg(run->store));
}

/* ticket.open{key=, title=, queue=, priority=, account=, assignee=, due=,
 * tags=, fields=} -> ticket, created */
static int l_ticket_open(lua_State *L)
{
	static const char *const allowed[] = {"key", "title", "queue", "priority", "account",
					      "assignee", "due", "tags", "fields", NULL};
	struct tr_run *run = tr_lua_run_mutating(L, "ticket.open");
	tr_lua_check_options(L, 1, "ticket.open", allowed);
	const char *key = tr_lua_opt_text(L, 1, "key", NULL, "ticket.open");
	const char *title = tr_lua_opt_text(L, 1, "title", NULL, "ticket.open");
	if (!key || !*key)
		return luaL_error(L, "ticket.open: option 'key' is required");
	if (!title)
		return luaL_error(L, "ticket.open: option 'title' is required");
	const char *priority = tr_lua_opt_text(L, 1, "priority", "normal", "ticket.open");
	if (!tr_ticket_priority_valid(priority))
		return luaL_error(L, "ticket.open: priority must be low, normal, high or urgent, not '%s'", priority);
	const char *queue = tr_lua_opt_text(L, 1, "queue", "default", "ticket.open");
	const char *account = tr_lua_opt_text(L, 1, "account", run->event ? run->event->account : NULL, "ticket.open");
	const char *assignee = tr_lua_opt_text(L, 1, "assignee", NULL, "ticket.open");
	int64_t due_at = 0;
	if (lua_getfield(L, 1, "due") != LUA_TNIL)
		due_at = tr_lua_check_time(L, -1, tr_lua_base_time(L), "ticket.open: due");
	lua_pop(L, 1);

	int64_t id = tr_store_ticket_find_open(run->store, key);
	if (id < 0)
		return store_failed(L, run, (int)id);
	if (id > 0) {
		int rc = tr_store_history_add(run->store, id, run->now, run->event ? run->event->seq : 0,
					      run->actor, "matched", NULL);
		if (rc)
			return store_failed(L, run, rc);
		tr_lua_effect(L, "ticket.match", id);
		tr_lua_effect_end(L);
		push_ticket(L, id);
		lua_pushboolean(L, 0);
		return 2;
	}

	/* Convert the Lua-side options before any C allocation that a raise
	 * would leak: tags and fields become JSON text on the Lua stack. */
	char err[128] = "";
	const char *json_opts[2] = {"tags", "fields"};
	const char *json_text[2] = {"[]", "{}"};
	for (int i = 0; i < 2; i++) {
		if (lua_getfield(L, 1, json_opts[i]) == LUA_TNIL) {
			lua_pop(L, 1);
			continue;
		}
		if (!lua_istable(L, -1))
			return luaL_error(L, "ticket.open: option '%s' must be a table", json_opts[i]);
		cJSON *j = tr_lua_to_json(L, -1, err, sizeof(err));
		if (!j)
			return luaL_error(L, "ticket.open: %s: %s", json_opts[i], err[0] ? err : "out of memory");
		if (i == 0 && !cJSON_IsArray(j) && cJSON_GetArraySize(j) == 0) {
			cJSON_Delete(j);
			j = cJSON_CreateArray();
		}
		char *text = tr_json_print(j);
		cJSON_Delete(j);
		if (!text)
			return luaL_error(L, "not enough memory");
		lua_pushstring(L, text);
		free(text);
		json_text[i] = lua_tostring(L, -1); /* anchored on the stack */
	}
	/* issue 20: the event's marketplace goes with the ticket, as its account
	 * does, so a notification made later (a nudge firing) can name it */
	if (run->event && run->event->marketplace && *run->event->marketplace) {
		cJSON *f = cJSON_Parse(json_text[1]);
		if (cJSON_IsObject(f) && !cJSON_HasObjectItem(f, "marketplace")) {
			cJSON_AddStringToObject(f, "marketplace", run->event->marketplace);
			char *text = tr_json_print(f);
			cJSON_Delete(f);
			if (!text)
				return luaL_error(L, "not enough memory");
			lua_pushstring(L, text);
			free(text);
			json_text[1] = lua_tostring(L, -1);
		} else {
			cJSON_Delete(f);
		}
	}

	struct tr_ticket t = {
		.key = (char *)key, .title = (char *)title, .queue = (char *)queue,
		.priority = (char *)priority, .state = "open", .account = (char *)account,
		.assignee = (char *)assignee, .due_at = due_at,
		.tags = (char *)json_text[0], .fields = (char *)json_text[1],
	};
	int rc = tr_store_ticket_insert(run->store, &t, run->now);
	if (rc == 0)
		rc = tr_store_history_add(run->store, t.id, run->now, run->event ? run->event->seq : 0,
					  run->actor, "opened", title);
	if (rc == 0 && due_at) /* a new ticket has no due timer to replace */
		rc = tr_store_timer_add(run->store, due_at, "due", t.id, NULL, run->event ? run->event->seq : 0, NULL);
	if (rc)
		return store_failed(L, run, rc);
	tr_lua_effect(L, "ticket.open", t.id);
	tr_lua_effect_str(L, "key", key);
	tr_lua_effect_end(L);
	push_ticket(L, t.id);
	lua_pushboolean(L, 1);
	return 2;
}

static int l_ticket_find(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	const char *key = tr_lua_check_text(L, 1, "ticket.find");
	int64_t id = tr_store_ticket_find_open(run->store, key);
	if (id < 0)
		return store_failed(L, run, (int)id);
	if (id == 0)
		lua_pushnil(L);
	else
		push_ticket(L, id);
	return 1;
}

static int l_ticket_get(lua_State *L)
{
	struct tr_run *run = tr_lua_run(L);
	int64_t id = (int64_t)luaL_checkinteger(L, 1);
	struct tr_ticket t;
	int rc = tr_store_ticket_get(run->store, id, &t);
	if (rc == -ENOENT) {
		lua_pushnil(L);
		return 1;
	}
	if (rc)
		return store_failed(L, run, rc);
	tr_ticket_free(&t);
	push_ticket(L, id);
	return 1;
}

/* Applies c through tr_ticket_apply; raises with its reason on failure.
 * Every string in c is anchored on the Lua stack by the caller. */
static int apply(lua_State *L, int64_t id, const struct tr_ticket_change *c)
{
	struct tr_run *run = tr_lua_run(L);
	char err[256];
	int rc = tr_ticket_apply(run->store, id, c, run->actor, run->event ? run->event->seq : 0,
				 run->now, err, sizeof(err));
	if (rc)
		return luaL_error(L, "%s", err);
	char op[64];
	snprintf(op, sizeof(op), "ticket.%s", c->action);
	tr_lua_effect(L, op, id);
	if (c->detail)
		tr_lua_effect_str(L, "detail", c->detail);
	tr_lua_effect_end(L);
	lua_settop(L, 1);
	return 1; /* the ticket, for chaining */
}

static int l_t_comment(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	tr_lua_run_mutating(L, "comment");
	struct tr_ticket_change c = {.action = "comment", .detail = tr_lua_check_text(L, 2, "comment")};
	return apply(L, id, &c);
}

static int l_t_tag(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	tr_lua_run_mutating(L, "tag");
	struct tr_ticket_change c = {.action = "tag", .tag = tr_lua_check_text(L, 2, "tag")};
	c.detail = c.tag;
	return apply(L, id, &c);
}

static int l_t_assign(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	tr_lua_run_mutating(L, "assign");
	struct tr_ticket_change c = {.action = "assign", .assignee = tr_lua_check_text(L, 2, "assign")};
	c.detail = c.assignee;
	return apply(L, id, &c);
}

static int l_t_close(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	tr_lua_run_mutating(L, "close");
	struct tr_ticket_change c = {.action = "close", .close = 1,
			   .reason = lua_isnoneornil(L, 2) ? "closed by rule" : tr_lua_check_text(L, 2, "close")};
	c.detail = c.reason;
	return apply(L, id, &c);
}

static int l_t_reopen(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	tr_lua_run_mutating(L, "reopen");
	struct tr_ticket_change c = {.action = "reopen", .reopen = 1,
			   .detail = lua_isnoneornil(L, 2) ? NULL : tr_lua_check_text(L, 2, "reopen")};
	return apply(L, id, &c);
}

/* t:due(when [, calendar]): a time, or a duration from the event's time
 * counted in calendar's open hours */
static int l_t_due(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	struct tr_run *run = tr_lua_run_mutating(L, "due");
	const char *calendar = tr_lua_check_calendar(L, 3, "due");
	int64_t when, d;
	struct tr_ticket_change c = {.action = "due"};
	if (lua_type(L, 2) == LUA_TSTRING && tr_duration_parse(lua_tostring(L, 2), &d) == 0) {
		if (tr_calendars_add(run->calendars, calendar, tr_lua_base_time(L), d, &when))
			return luaL_error(L, "due: calendar '%s' has no open time", calendar);
		if (calendar) { /* counted in open time: a calendar's change recounts it */
			c.due_calendar = calendar;
			c.due_base = tr_lua_base_time(L);
			c.due_off = d;
		}
	} else {
		when = tr_lua_check_time(L, 2, tr_lua_base_time(L), "due");
	}
	c.due_at = when;
	lua_pushstring(L, luaL_tolstring(L, 2, NULL));
	c.detail = lua_tostring(L, -1);
	return apply(L, id, &c);
}

/* Adds a step of kind to ticket id with payload p (strings anchored by
 * the caller). Returns its id, or 0 when the ticket is closed (nothing
 * added, nothing journaled). */
static int64_t add_step(lua_State *L, int64_t id, const char *kind, int64_t due, const struct tr_step_note *p)
{
	struct tr_run *run = tr_lua_run(L);
	tr_lua_count_timer(L, kind);
	struct tr_buf b = {0};
	tr_plan_payload(&b, p);
	int64_t timer = 0;
	int rc = b.oom ? -ENOMEM
		       : tr_store_timer_add(run->store, due, kind, id, b.p, run->event ? run->event->seq : 0, &timer);
	tr_buf_free(&b);
	if (rc)
		luaL_error(L, "%s: database error: %s", kind, rc == -ENOMEM ? "out of memory" : tr_store_errmsg(run->store));
	if (!timer)
		return 0; /* SPEC §5: a closed ticket's steps have ended; this one too */
	char at[40];
	tr_time_format(due, NULL, at, sizeof(at));
	tr_lua_effect(L, "timer.add", id);
	tr_lua_effect_str(L, "kind", kind);
	tr_lua_effect_int(L, "timer", timer);
	tr_lua_effect_str(L, "due_at", at);
	tr_lua_effect_end(L);
	return timer;
}

/* The time of a nudge or escalation from options at idx, with the
 * calendar it is counted in (a reload recounts it there) into p. */
static int64_t step_time(lua_State *L, int idx, const char *fn, struct tr_step_note *p)
{
	lua_getfield(L, idx, "calendar");
	const char *calendar = tr_lua_check_calendar(L, -1, fn);
	int64_t off = 0, base = tr_lua_base_time(L);
	int64_t due = tr_lua_when(L, idx, base, calendar, fn, &off);
	if (calendar && off) {
		p->cal = calendar; /* anchored by the option table */
		p->base = base;
		p->off = off;
	}
	return due;
}

/* A string option of the table at idx, or NULL; raises for another type. */
static const char *opt_str(lua_State *L, int idx, const char *name, const char *fn)
{
	return tr_lua_opt_text(L, idx, name, NULL, fn);
}

static void check_output(lua_State *L, int idx, const char *fn)
{
	if (lua_getfield(L, idx, "notify") != LUA_TNIL &&
	    (!lua_isstring(L, -1) || !tr_notify_output_known(tr_lua_run(L)->cfg, lua_tostring(L, -1))))
		luaL_error(L, "%s: notify names an unknown output '%s' (configure it under outputs:)", fn,
			   lua_isstring(L, -1) ? lua_tostring(L, -1) : "?");
	lua_pop(L, 1);
}

/* t:nudge{after=|at=, note=, notify=, calendar=}: a reminder on the ticket,
 * cancelled if it closes first */
static int l_t_nudge(lua_State *L)
{
	static const char *const allowed[] = {"after", "at", "note", "notify", "calendar", NULL};
	int64_t id = check_ticket(L, 1);
	tr_lua_run_mutating(L, "nudge");
	tr_lua_check_options(L, 2, "nudge", allowed);
	check_output(L, 2, "nudge");
	struct tr_step_note p = {0};
	int64_t due = step_time(L, 2, "nudge", &p);
	p.note = opt_str(L, 2, "note", "nudge");
	p.notify = opt_str(L, 2, "notify", "nudge");
	add_step(L, id, "nudge", due, &p);
	lua_settop(L, 1);
	return 1;
}

/* t:escalate{level=, reason=, notify=} now; {after=|at=, …} later;
 * {ladder = "name"} attaches a ladder declared with ladder{} */
static int l_t_escalate(lua_State *L)
{
	static const char *const allowed[] = {"level", "reason", "notify", "after", "at", "calendar", "ladder", NULL};
	int64_t id = check_ticket(L, 1);
	struct tr_run *run = tr_lua_run_mutating(L, "escalate");
	if (lua_isnoneornil(L, 2)) {
		lua_settop(L, 1);
		lua_newtable(L);
	}
	tr_lua_check_options(L, 2, "escalate", allowed);
	check_output(L, 2, "escalate");
	int64_t seq = run->event ? run->event->seq : 0;
	if (lua_getfield(L, 2, "ladder") != LUA_TNIL) {
		const char *name = luaL_checkstring(L, -1);
		lua_getfield(L, LUA_REGISTRYINDEX, "tr.ladders");
		if (lua_getfield(L, -1, name) != LUA_TSTRING)
			return luaL_error(L, "escalate: no ladder named '%s' (declare it with ladder{})", name);
		const char *json = lua_tostring(L, -1);
		struct tr_ticket t;
		int rc = tr_store_ticket_get(run->store, id, &t);
		int64_t level = rc == 0 ? t.level : 0, due_at = rc == 0 ? t.due_at : 0;
		if (rc == 0)
			tr_ticket_free(&t);
		if (rc == 0)
			rc = tr_store_timers_cancel(run->store, id, "escalate");
		if (rc == 0)
			rc = tr_store_ticket_set_ladder(run->store, id, json);
		char err[256];
		if (rc == 0)
			rc = tr_plan_arm_ladder(run->store, run->calendars, id, json, level, tr_lua_base_time(L), due_at, seq,
						err, sizeof(err));
		if (rc == -EINVAL)
			return luaL_error(L, "escalate: %s", err);
		if (rc == 0)
			rc = tr_store_history_add(run->store, id, run->now, seq, run->actor, "ladder", name);
		if (rc)
			return store_failed(L, run, rc);
		tr_lua_effect(L, "ticket.ladder", id);
		tr_lua_effect_str(L, "ladder", name);
		tr_lua_effect_end(L);
		lua_settop(L, 1);
		return 1;
	}
	lua_pop(L, 1);
	int scheduled = lua_getfield(L, 2, "after") != LUA_TNIL || lua_getfield(L, 2, "at") != LUA_TNIL;
	lua_settop(L, 2);
	if (scheduled) {
		struct tr_step_note p = {0};
		int64_t due = step_time(L, 2, "escalate", &p);
		lua_getfield(L, 2, "level");
		p.level = lua_isnil(L, -1) ? 0 : luaL_checkinteger(L, -1);
		p.note = opt_str(L, 2, "reason", "escalate");
		p.notify = opt_str(L, 2, "notify", "escalate");
		add_step(L, id, "escalate", due, &p);
		lua_settop(L, 1);
		return 1;
	}
	struct tr_ticket t;
	int rc = tr_store_ticket_get(run->store, id, &t);
	if (rc)
		return store_failed(L, run, rc);
	int64_t level = t.level + 1;
	tr_ticket_free(&t);
	if (lua_getfield(L, 2, "level") != LUA_TNIL)
		level = luaL_checkinteger(L, -1);
	const char *reason = tr_lua_opt_text(L, 2, "reason", NULL, "escalate");
	lua_pushfstring(L, "level %I%s%s", (lua_Integer)level, reason ? ": " : "", reason ? reason : "");
	struct tr_ticket_change c = {.action = "escalate", .detail = lua_tostring(L, -1), .level = level};
	if (lua_getfield(L, 2, "notify") != LUA_TNIL) {
		/* the same words as an escalation that fires later (timers.c);
		 * the ticket's title and the rest come with the line */
		char err[256], *note = malloc(strlen(c.detail) + sizeof("Escalated to "));
		if (!note)
			return luaL_error(L, "escalate: out of memory");
		sprintf(note, "Escalated to %s", c.detail);
		int rc = tr_notify_ev(run->store, run->cfg, lua_tostring(L, -1), id, note, run->event, run->actor,
				      run->now, err, sizeof(err));
		free(note);
		if (rc)
			return luaL_error(L, "escalate: %s", err);
	}
	return apply(L, id, &c);
}

/* t:cancel([kind]): drops the ticket's pending timers (nudge, escalate,
 * due; all when no kind), e.g. to re-arm a "no progress" escalation */
static int l_t_cancel(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	struct tr_run *run = tr_lua_run_mutating(L, "cancel");
	const char *kind = luaL_optstring(L, 2, NULL);
	if (tr_store_timers_cancel(run->store, id, kind))
		return luaL_error(L, "cancel: database error: %s", tr_store_errmsg(run->store));
	tr_lua_effect(L, "timer.cancel", id);
	if (kind)
		tr_lua_effect_str(L, "kind", kind);
	tr_lua_effect_end(L);
	lua_settop(L, 1);
	return 1;
}

/* t:ack(): pauses pending escalations, as `triagectl ack` does */
static int l_t_ack(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	struct tr_run *run = tr_lua_run_mutating(L, "ack");
	struct tr_ticket_change c = {.action = "ack", .ack = 1, .ack_timeout = run->cfg ? run->cfg->ack_timeout : 0};
	return apply(L, id, &c);
}

/* t:set{priority=, title=, queue=, assignee=, fields = {k = v, …}}: the
 * columns, and fields merged into the ticket's; any other key is an error
 * (a typo would otherwise become a field) */
static int l_t_set(lua_State *L)
{
	static const char *const allowed[] = {"priority", "title", "queue", "assignee", "fields", NULL};
	int64_t id = check_ticket(L, 1);
	tr_lua_run_mutating(L, "set");
	tr_lua_check_options(L, 2, "set", allowed);
	struct tr_ticket_change c = {.action = "set"};
	c.priority = tr_lua_opt_text(L, 2, "priority", NULL, "set");
	if (c.priority && !tr_ticket_priority_valid(c.priority))
		return luaL_error(L, "set: priority must be low, normal, high or urgent, not '%s'", c.priority);
	c.title = tr_lua_opt_text(L, 2, "title", NULL, "set");
	c.queue = tr_lua_opt_text(L, 2, "queue", NULL, "set");
	c.assignee = tr_lua_opt_text(L, 2, "assignee", NULL, "set");
	/* converted before apply() allocates, so a raise leaks nothing */
	if (lua_getfield(L, 2, "fields") != LUA_TNIL) {
		if (!lua_istable(L, -1))
			return luaL_error(L, "set: 'fields' must be a table of field = value");
		tr_lua_check_plain(L, -1, "set");
		c.fields_json = tr_lua_push_json_text(L, -1, "set");
	}
	c.detail = tr_lua_push_json_text(L, 2, "set");
	return apply(L, id, &c);
}

static int l_t_index(lua_State *L)
{
	int64_t id = check_ticket(L, 1);
	const char *k = luaL_checkstring(L, 2);
	if (strcmp(k, "id") == 0) {
		lua_pushinteger(L, id);
		return 1;
	}
	/* Methods first. */
	luaL_getmetatable(L, TICKET_MT);
	lua_getfield(L, -1, "methods");
	if (lua_getfield(L, -1, k) != LUA_TNIL)
		return 1;
	lua_pop(L, 3);

	struct tr_run *run = tr_lua_run(L);
	struct tr_ticket t;
	int rc = tr_store_ticket_get(run->store, id, &t);
	if (rc)
		return store_failed(L, run, rc);
	const struct { const char *name; const char *v; } strs[] = {
		{"key", t.key}, {"title", t.title}, {"queue", t.queue}, {"priority", t.priority},
		{"state", t.state}, {"account", t.account}, {"assignee", t.assignee},
		{"close_reason", t.close_reason}};
	const struct { const char *name; int64_t v; } ints[] = {
		{"level", t.level}, {"due_at", t.due_at}, {"created_at", t.created_at},
		{"updated_at", t.updated_at}, {"closed_at", t.closed_at}, {"acked_at", t.acked_at}};
	int pushed = 0;
	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]) && !pushed; i++)
		if (strcmp(k, strs[i].name) == 0) {
			if (strs[i].v)
				lua_pushstring(L, strs[i].v);
			else
				lua_pushnil(L);
			pushed = 1;
		}
	for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]) && !pushed; i++)
		if (strcmp(k, ints[i].name) == 0) {
			if (ints[i].v || strcmp(k, "level") == 0)
				lua_pushinteger(L, ints[i].v);
			else
				lua_pushnil(L);
			pushed = 1;
		}
	cJSON *j = NULL;
	if (!pushed && (strcmp(k, "tags") == 0 || strcmp(k, "fields") == 0))
		j = cJSON_Parse(k[0] == 't' ? t.tags : t.fields);
	tr_ticket_free(&t);
	if (j) {
		int bad = tr_lua_push_json(L, j);
		cJSON_Delete(j);
		if (bad)
			lua_pushnil(L);
		pushed = 1;
	}
	if (!pushed)
		lua_pushnil(L);
	return 1;
}

static int l_t_tostring(lua_State *L)
{
	lua_pushfstring(L, "ticket#%I", (lua_Integer)check_ticket(L, 1));
	return 1;
}

static int l_t_eq(lua_State *L)
{
	lua_pushboolean(L, check_ticket(L, 1) == check_ticket(L, 2));
	return 1;
}

void tr_lua_open_ticket(struct tr_sandbox *sb)
{
	lua_State *L = tr_sandbox_lua(sb);
	static const luaL_Reg methods[] = {
		{"comment", l_t_comment}, {"tag", l_t_tag}, {"assign", l_t_assign},
		{"set", l_t_set}, {"close", l_t_close}, {"reopen", l_t_reopen},
		{"due", l_t_due}, {"nudge", l_t_nudge}, {"escalate", l_t_escalate}, {"ack", l_t_ack},
		{"cancel", l_t_cancel}, {NULL, NULL}};
	static const luaL_Reg meta[] = {
		{"__index", l_t_index}, {"__tostring", l_t_tostring}, {"__eq", l_t_eq}, {NULL, NULL}};
	static const luaL_Reg funcs[] = {
		{"open", l_ticket_open}, {"find", l_ticket_find}, {"get", l_ticket_get}, {NULL, NULL}};

	luaL_newmetatable(L, TICKET_MT);
	luaL_setfuncs(L, meta, 0);
	luaL_newlib(L, methods);
	lua_setfield(L, -2, "methods");
	lua_pushboolean(L, 0);
	lua_setfield(L, -2, "__metatable");
	lua_pop(L, 1);

	luaL_newlib(L, funcs);
	tr_sandbox_add_global(sb, "ticket");
}
