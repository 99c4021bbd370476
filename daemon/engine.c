/* The rule engine: loads rules.d/NAME.lua files in name order into a fresh sandbox,
 * registers each rule{} (name, on, when, action, priority), and dispatches
 * events to matching rules with a savepoint per action so a failing rule is
 * undone alone. tr_engine_dispatch is the one entry point for live ingest,
 * timers, retry and tests. Not the socket or the store's SQL. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <lauxlib.h>
#include "tr_json.h"
#include "tr_engine.h"
#include "tr_log.h"
#include "tr_notify.h"
#include "tr_lua.h"
#include "tr_histogram.h"
#include "tr_rules_dir.h"
#include "tr_rule_names.h"
#include "tr_time.h"

#define MAX_RULES 1024
#define MAX_RULE_FILE (4 << 20)
#define LOAD_SCALE 10 /* a file's top level gets ten rule runs' worth of budget */

struct tr_rule {
	char *name;
	char *file;     /* as shown in locations: the file's base name */
	int line;
	char **on;      /* types or globs */
	size_t non;
	int priority;
	int order;      /* load order */
	int when_ref;   /* LUA_NOREF when absent */
	int action_ref;
	uint64_t runs, errors;
	uint64_t ok, declined; /* for `metrics`: runs without error; `when` said no */
	char last_error[256];
};

/* A rule file as it was loaded, kept so the Lua state can be rebuilt from
 * exactly what was checked, not from whatever the folder holds now. */
struct source {
	char *path, *base, *text;
	size_t len;
};

struct tr_engine {
	struct tr_run run;     /* the sandbox's owner pointer: the run in progress */
	struct tr_sandbox *sb;
	struct tr_calendars *calendars;
	struct tr_rule *rules;
	size_t nrules;
	const char *loading;   /* base name of the file being loaded */
	char *lib_dir;         /* NULL: require always fails */
	struct source *sources;
	size_t nsources;
	uint64_t resets;       /* times the Lua state was rebuilt (SPEC §5) */
	struct tr_errors warnings; /* from the load: names rules fall back from, config names unused */
	struct tr_buf declined; /* the event being dispatched: names of the rules whose `when`
				 * said no, a JSON array being written (reused) */
	struct tr_histogram run_seconds; /* every action's run time, for `metrics` */
};

static void rule_free(struct tr_rule *r)
{
	free(r->name);
	free(r->file);
	for (size_t i = 0; i < r->non; i++)
		free(r->on[i]);
	free(r->on);
}

static void rules_free(struct tr_rule *rules, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rule_free(&rules[i]);
	free(rules);
}

void tr_engine_free(struct tr_engine *e)
{
	if (!e)
		return;
	rules_free(e->rules, e->nrules);
	tr_sandbox_free(e->sb);
	tr_calendars_free(e->calendars);
	tr_buf_free(&e->run.effects);
	for (size_t i = 0; i < e->nsources; i++) {
		free(e->sources[i].path);
		free(e->sources[i].base);
		free(e->sources[i].text);
	}
	free(e->sources);
	free(e->lib_dir);
	tr_errors_free(&e->warnings);
	tr_buf_free(&e->declined);
	free(e);
}

const struct tr_calendars *tr_engine_calendars(const struct tr_engine *e)
{
	return e->calendars;
}

static int valid_on(const char *s)
{
	if (!*s || strlen(s) > TR_EVENT_TYPE_MAX)
		return 0;
	for (const char *p = s; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || strchr("._*?[]!-_", *p)))
			return 0;
	return 1;
}

/* Copies `on` (a string or a list of strings) into r. Raises on bad input;
 * r keeps what it got so rule_free can release it. */
static void read_on(lua_State *L, struct tr_rule *r)
{
	int type = lua_getfield(L, 1, "on");
	size_t n = type == LUA_TSTRING ? 1 : type == LUA_TTABLE ? lua_rawlen(L, -1) : 0;
	if (n == 0 || n > 64)
		luaL_error(L, "rule: 'on' must be an event type, a glob like \"case.*\" or a list of them");
	r->on = calloc(n, sizeof(*r->on));
	if (!r->on)
		luaL_error(L, "not enough memory");
	for (size_t i = 0; i < n; i++) {
		if (type == LUA_TTABLE)
			lua_rawgeti(L, -1, (lua_Integer)i + 1);
		else
			lua_pushvalue(L, -1);
		/* type first: lua_tostring would turn a number into a string */
		const char *s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
		if (!s || !valid_on(s))
			luaL_error(L, "rule: 'on' entry %d is not an event type or glob", (int)i + 1);
		if (!(r->on[r->non] = strdup(s)))
			luaL_error(L, "not enough memory");
		r->non++;
		lua_pop(L, 1);
	}
	lua_pop(L, 1);
}

/* rule{name=, on=, when=, action=, priority=, description=} */
static int l_rule(lua_State *L)
{
	static const char *const allowed[] = {"name", "on", "when", "action", "priority", "description", NULL};
	struct tr_engine *e = (struct tr_engine *)tr_lua_run(L);
	if (e->run.phase != TR_PHASE_LOAD)
		return luaL_error(L, "rule: rules can only be declared when a file loads");
	tr_lua_check_options(L, 1, "rule", allowed);
	if (e->nrules >= MAX_RULES)
		return luaL_error(L, "rule: more than %d rules", MAX_RULES);

	lua_getfield(L, 1, "name");
	if (lua_type(L, -1) != LUA_TSTRING || lua_rawlen(L, -1) == 0)
		return luaL_error(L, "rule: 'name' is required and must be a string");
	const char *name = lua_tostring(L, -1);
	for (size_t i = 0; i < e->nrules; i++)
		if (strcmp(e->rules[i].name, name) == 0)
			return luaL_error(L, "rule: a rule named '%s' already exists (%s:%d)", name,
					  e->rules[i].file, e->rules[i].line);
	if (lua_getfield(L, 1, "action") != LUA_TFUNCTION)
		return luaL_error(L, "rule '%s': 'action' must be a function", name);
	int when_type = lua_getfield(L, 1, "when");
	if (when_type != LUA_TNIL && when_type != LUA_TFUNCTION)
		return luaL_error(L, "rule '%s': 'when' must be a function", name);
	lua_getfield(L, 1, "priority");
	int isnum = 0;
	lua_Integer priority = lua_isnil(L, -1) ? 0 : lua_tointegerx(L, -1, &isnum);
	if ((!lua_isnil(L, -1) && !isnum) || priority < INT_MIN || priority > INT_MAX)
		return luaL_error(L, "rule '%s': 'priority' must be an integer", name);
	lua_pop(L, 1);

	struct tr_rule *r = &e->rules[e->nrules];
	memset(r, 0, sizeof(*r));
	r->when_ref = r->action_ref = LUA_NOREF;
	r->name = strdup(name);
	r->file = strdup(e->loading ? e->loading : "?");
	if (!r->name || !r->file) {
		rule_free(r);
		return luaL_error(L, "not enough memory");
	}
	e->nrules++; /* owned by the engine from here, even if `on` raises */
	lua_Debug ar;
	if (lua_getstack(L, 1, &ar) && lua_getinfo(L, "l", &ar))
		r->line = ar.currentline;
	r->priority = (int)priority;
	r->order = (int)e->nrules;
	lua_settop(L, 1);
	read_on(L, r);
	lua_getfield(L, 1, "action");
	r->action_ref = luaL_ref(L, LUA_REGISTRYINDEX);
	lua_getfield(L, 1, "when");
	r->when_ref = lua_isnil(L, -1) ? (lua_pop(L, 1), LUA_NOREF) : luaL_ref(L, LUA_REGISTRYINDEX);
	return 0;
}

/* ladder{name=, levels={{after= | before_due=, notify=, note=}, …}, ack_timeout=, calendar=,
 * repeat_every=, repeat_times=}: an escalation ladder, checked here so a
 * typo fails the load at its line. repeat_every = "4h": the top level
 * notifies again every 4 h until the ticket is acknowledged or closed, or
 * repeat_times times. */
static int l_ladder(lua_State *L)
{
	static const char *const allowed[] = {"name", "levels", "ack_timeout", "calendar", "repeat_every",
					      "repeat_times", "description", NULL};
	static const char *const level_allowed[] = {"after", "before_due", "notify", "note", NULL};
	struct tr_engine *e = (struct tr_engine *)tr_lua_run(L);
	if (e->run.phase != TR_PHASE_LOAD)
		return luaL_error(L, "ladder: ladders can only be declared when a file loads");
	tr_lua_check_options(L, 1, "ladder", allowed);
	lua_getfield(L, 1, "name");
	const char *name = lua_tostring(L, -1);
	if (lua_type(L, -1) != LUA_TSTRING || !*name)
		return luaL_error(L, "ladder: 'name' is required");
	const char *calendar = NULL;
	if (lua_getfield(L, 1, "calendar") != LUA_TNIL)
		calendar = tr_lua_check_calendar(L, -1, "ladder");
	int64_t ack_timeout = 0;
	if (lua_getfield(L, 1, "ack_timeout") != LUA_TNIL &&
	    (!lua_isstring(L, -1) || tr_duration_parse(lua_tostring(L, -1), &ack_timeout)))
		return luaL_error(L, "ladder '%s': ack_timeout must be a duration like \"2h\"", name);
	int64_t repeat = 0;
	lua_Integer repeat_times = 0;
	if (lua_getfield(L, 1, "repeat_every") != LUA_TNIL &&
	    (!lua_isstring(L, -1) || tr_duration_parse(lua_tostring(L, -1), &repeat)))
		return luaL_error(L, "ladder '%s': repeat_every must be a duration like \"4h\"", name);
	if (lua_getfield(L, 1, "repeat_times") != LUA_TNIL) {
		int ok;
		repeat_times = lua_tointegerx(L, -1, &ok);
		if (!ok || repeat_times < 1 || !repeat)
			return luaL_error(L, "ladder '%s': repeat_times must be a whole number of at least 1, "
					  "with repeat_every", name);
	}
	lua_pop(L, 2);
	if (lua_getfield(L, 1, "levels") != LUA_TTABLE || lua_rawlen(L, -1) == 0)
		return luaL_error(L, "ladder '%s': 'levels' must be a list of {after=, notify=, note=}", name);
	/* name and calendar escaped: either may hold a quote */
	struct tr_buf head = {0};
	tr_buf_add(&head, "{\"name\":", 8);
	tr_json_add_string(&head, name);
	char num[160];
	int k = snprintf(num, sizeof(num), ",\"ack_timeout\":%lld,\"repeat\":%lld,\"repeat_times\":%lld,\"calendar\":",
			 (long long)ack_timeout, (long long)repeat, (long long)repeat_times);
	tr_buf_add(&head, num, (size_t)k);
	if (calendar)
		tr_json_add_string(&head, calendar);
	else
		tr_buf_add(&head, "null", 4);
	tr_buf_add(&head, ",\"levels\":[", 11);
	if (head.oom) {
		tr_buf_free(&head);
		return luaL_error(L, "not enough memory");
	}
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addlstring(&b, head.p, head.len);
	tr_buf_free(&head);
	int levels = lua_absindex(L, -2);
	lua_Integer n = (lua_Integer)lua_rawlen(L, levels);
	for (lua_Integer i = 1; i <= n; i++) {
		lua_rawgeti(L, levels, i);
		if (!lua_istable(L, -1))
			return luaL_error(L, "ladder '%s': level %d must be a table", name, (int)i);
		tr_lua_check_options(L, -1, "ladder level", level_allowed);
		/* SPEC §5: a level follows the one before it (after) or is anchored
		 * to the ticket's due time (before_due), which no ack moves. */
		int64_t after = 0, before_due = 0;
		int anchored = lua_getfield(L, -1, "before_due") != LUA_TNIL;
		if (anchored && (!lua_isstring(L, -1) || tr_duration_parse(lua_tostring(L, -1), &before_due) ||
				 before_due <= 0))
			return luaL_error(L, "ladder '%s': level %d: before_due must be a duration like \"4h\"", name,
					  (int)i);
		lua_pop(L, 1);
		lua_getfield(L, -1, "after");
		if (anchored == !lua_isnil(L, -1) ||
		    (!anchored && (!lua_isstring(L, -1) || tr_duration_parse(lua_tostring(L, -1), &after))))
			return luaL_error(L, "ladder '%s': level %d needs after = a duration like \"4h\" (from the level "
					  "before) or before_due = one (before the ticket's due time)", name, (int)i);
		lua_getfield(L, -2, "notify");
		const char *out = lua_tostring(L, -1);
		if (out && !tr_notify_output_known(e->run.cfg, out))
			return luaL_error(L, "ladder '%s': level %d notifies unknown output '%s'", name, (int)i, out);
		lua_getfield(L, -3, "note");
		cJSON *lv = cJSON_CreateObject();
		cJSON_AddNumberToObject(lv, "level", (double)i);
		if (anchored)
			cJSON_AddNumberToObject(lv, "before_due", (double)before_due);
		else
			cJSON_AddNumberToObject(lv, "after", (double)after);
		if (out)
			cJSON_AddStringToObject(lv, "notify", out);
		if (lua_isstring(L, -1))
			cJSON_AddStringToObject(lv, "note", lua_tostring(L, -1));
		char *text = tr_json_print(lv);
		cJSON_Delete(lv);
		lua_pop(L, 4);
		lua_pushfstring(L, "%s%s", i > 1 ? "," : "", text ? text : "{}");
		free(text);
		luaL_addvalue(&b);
	}
	luaL_addstring(&b, "]}");
	luaL_pushresult(&b);
	lua_getfield(L, LUA_REGISTRYINDEX, "tr.ladders");
	lua_pushvalue(L, -2);
	lua_setfield(L, -2, name);
	return 0;
}

static int by_priority(const void *a, const void *b)
{
	const struct tr_rule *x = a, *y = b;
	if (x->priority != y->priority)
		return y->priority > x->priority ? 1 : -1; /* a subtraction could overflow */
	return x->order - y->order;
}

/* Gives e a fresh sandbox with every table rules use, and an empty rule
 * list. Returns 0 or -ENOMEM (e->sb and e->rules then NULL). */
static int open_state(struct tr_engine *e)
{
	const struct tr_config *cfg = e->run.cfg;
	struct tr_budget b = {
		.instructions = cfg->limits.rule_instructions,
		.memory = (size_t)cfg->limits.rule_memory_mb << 20,
		.time_ms = cfg->limits.rule_time_ms,
		.state_memory = (size_t)cfg->limits.lua_state_mb << 20,
	};
	e->nrules = 0;
	if (!(e->rules = calloc(MAX_RULES, sizeof(*e->rules))))
		return -ENOMEM;
	int rc = tr_sandbox_new(&b, e->lib_dir, &e->run, &e->sb);
	if (rc) {
		free(e->rules);
		e->rules = NULL;
		e->sb = NULL;
		return rc;
	}
	tr_lua_open_ticket(e->sb);
	tr_lua_open_schedule(e->sb);
	tr_lua_open_notify(e->sb);
	tr_lua_open_param(e->sb);
	tr_lua_open_state(e->sb);
	tr_lua_open_log(e->sb);
	tr_lua_open_time(e->sb);
	lua_State *L = tr_sandbox_lua(e->sb);
	lua_pushcfunction(L, l_rule);
	tr_sandbox_add_global(e->sb, "rule");
	lua_pushcfunction(L, l_ladder);
	tr_sandbox_add_global(e->sb, "ladder");
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "tr.ladders");
	return 0;
}

static int new_engine(const struct tr_config *cfg, const char *lib_dir, struct tr_engine **out,
		      struct tr_errors *errs)
{
	struct tr_engine *e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	struct stat st;
	if (lib_dir && stat(lib_dir, &st) == 0 && !(e->lib_dir = strdup(lib_dir))) {
		free(e);
		return -ENOMEM;
	}
	e->run.cfg = cfg;
	int rc = tr_calendars_build(cfg, &e->calendars, errs);
	if (rc == 0)
		rc = open_state(e);
	if (rc) {
		tr_engine_free(e);
		return rc;
	}
	e->run.calendars = e->calendars;
	*out = e;
	return 0;
}

/* "name.lua:12: message" -> line 12, for syntax errors. */
static int line_of(const char *msg, const char *base)
{
	size_t n = strlen(base);
	if (strncmp(msg, base, n) == 0 && msg[n] == ':')
		return atoi(msg + n + 1);
	return 0;
}

/* Compiles and runs one rule file's top level in e's sandbox. */
static void load_source(struct tr_engine *e, const struct source *src, struct tr_errors *errs)
{
	const char *path = src->path, *base = src->base;
	lua_State *L = tr_sandbox_lua(e->sb);
	char chunk[300];
	snprintf(chunk, sizeof(chunk), "@%s", base);
	e->loading = base;
	tr_sandbox_push_env(e->sb);
	int rc = tr_sandbox_load(e->sb, src->text, src->len, chunk);
	if (rc != LUA_OK) {
		const char *msg = lua_tostring(L, -1);
		int line = line_of(msg, base);
		tr_errors_add(errs, path, line, 0, NULL, "%s", msg);
		lua_pop(L, 1);
		return;
	}
	struct tr_call call;
	e->run.phase = TR_PHASE_LOAD;
	tr_lua_pcall(e->sb, 0, 0, LOAD_SCALE, &call);
	e->run.phase = TR_PHASE_NONE;
	e->loading = NULL;
	if (call.status) {
		int line = line_of(call.location, base);
		tr_errors_add(errs, path, line, 0, NULL, "%s", call.message);
	}
}

/* Reads one rule file, keeps it among e's sources and loads it. */
static void load_one(struct tr_engine *e, const char *path, const char *base, struct tr_errors *errs)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		tr_errors_add(errs, path, 0, 0, NULL, "cannot read: %s", strerror(errno));
		return;
	}
	char *buf = malloc(MAX_RULE_FILE + 1);
	size_t len = buf ? fread(buf, 1, MAX_RULE_FILE + 1, f) : 0;
	fclose(f);
	if (!buf || len > MAX_RULE_FILE) {
		tr_errors_add(errs, path, 0, 0, NULL, buf ? "larger than 4 MiB" : "out of memory");
		free(buf);
		return;
	}
	struct source *grown = realloc(e->sources, (e->nsources + 1) * sizeof(*grown));
	if (grown)
		e->sources = grown;
	struct source src = {.path = strdup(path), .base = strdup(base), .text = buf, .len = len};
	if (!grown || !src.path || !src.base) {
		tr_errors_add(errs, path, 0, 0, NULL, "out of memory");
		free(src.path);
		free(src.base);
		free(buf);
		return;
	}
	e->sources[e->nsources++] = src;
	e->run.load_warnings = &e->warnings; /* not on a rebuild (reset_if_full): said once */
	e->run.load_path = path;
	load_source(e, &src, errs);
	e->run.load_warnings = NULL;
	e->run.load_path = NULL;
}

/* SPEC §5: what rules keep between events in Lua (globals, upvalues, module
 * tables) is a cache bounded by limits.lua_state_mb. When, after a full
 * collection, it holds more than half the cap, the state is rebuilt from
 * the rule files as they were loaded: every rule starts afresh, as after a
 * reload of the same files, and the counters carry over. On failure the old
 * state stays (a run past the cap still errors) and the next event tries
 * again. */
static void reset_if_full(struct tr_engine *e)
{
	size_t cap = (size_t)e->run.cfg->limits.lua_state_mb << 20;
	if (tr_sandbox_memory(e->sb) <= cap / 4 * 3)
		return;
	size_t kept = tr_sandbox_collect(e->sb);
	if (kept <= cap / 2)
		return;
	struct tr_sandbox *old_sb = e->sb;
	struct tr_rule *old = e->rules;
	size_t nold = e->nrules;
	struct tr_errors errs = {0};
	int rc = open_state(e);
	for (size_t i = 0; rc == 0 && i < e->nsources && errs.n == 0; i++)
		load_source(e, &e->sources[i], &errs);
	if (rc || errs.n) {
		char why[400] = "out of memory";
		if (errs.n)
			tr_error_format(&errs.items[0], why, sizeof(why));
		log_warnx("rules keep %zu MiB of Lua state between events, over half of limits.lua_state_mb "
			  "(%lld): rebuilding it failed, it stays: %s", kept >> 20,
			  (long long)e->run.cfg->limits.lua_state_mb, why);
		if (rc == 0) {
			rules_free(e->rules, e->nrules);
			tr_sandbox_free(e->sb);
		}
		e->sb = old_sb;
		e->rules = old;
		e->nrules = nold;
		tr_errors_free(&errs);
		return;
	}
	qsort(e->rules, e->nrules, sizeof(*e->rules), by_priority);
	for (size_t i = 0; i < e->nrules; i++)
		for (size_t k = 0; k < nold; k++)
			if (strcmp(e->rules[i].name, old[k].name) == 0) {
				e->rules[i].runs = old[k].runs;
				e->rules[i].errors = old[k].errors;
				e->rules[i].ok = old[k].ok;
				e->rules[i].declined = old[k].declined;
				memcpy(e->rules[i].last_error, old[k].last_error, sizeof(old[k].last_error));
			}
	rules_free(old, nold);
	tr_sandbox_free(old_sb);
	e->resets++;
	log_warnx("rules kept %zu MiB of Lua state between events, over half of limits.lua_state_mb (%lld): "
		  "their Lua state was rebuilt from the loaded files (globals start afresh; `state` is kept)",
		  kept >> 20, (long long)e->run.cfg->limits.lua_state_mb);
}

/* SPEC §3 no silent fallback: a calendar, output or ladder a rule names as
 * a literal must exist (an error at its file:line), and a calendar or
 * output of the config no rule mentions is a warning (tr_rule_names.h).
 * Ladders are checked only when every file loaded: one that failed may
 * hold the ladder{} another file names. */
static void check_names(struct tr_engine *e, struct tr_errors *errs, size_t nerr0)
{
	lua_State *L = tr_sandbox_lua(e->sb);
	lua_getfield(L, LUA_REGISTRYINDEX, "tr.ladders");
	size_t n = 0;
	for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
		n++;
	struct tr_rule_file *files = calloc(e->nsources + 1, sizeof(*files));
	const char **ladders = calloc(n + 1, sizeof(*ladders)); /* borrowed from the registry's keys */
	if (!files || !ladders) {
		tr_errors_add(errs, "", 0, 0, NULL, "out of memory checking the names the rules use");
	} else {
		n = 0;
		for (lua_pushnil(L); lua_next(L, -2); lua_pop(L, 1))
			if (lua_type(L, -2) == LUA_TSTRING)
				ladders[n++] = lua_tostring(L, -2);
		for (size_t i = 0; i < e->nsources; i++)
			files[i] = (struct tr_rule_file){e->sources[i].path, e->sources[i].text, e->sources[i].len};
		tr_rule_names_check(files, e->nsources, e->run.cfg, errs->n > nerr0 ? NULL : ladders, n, errs,
				    &e->warnings);
	}
	lua_pop(L, 1);
	free(files);
	free(ladders);
}

static int finish_load(struct tr_engine *e, struct tr_engine **out, struct tr_errors *errs, size_t nerr0)
{
	check_names(e, errs, nerr0);
	if (errs->n > nerr0) {
		tr_engine_free(e);
		*out = NULL;
		return TR_EPARSE;
	}
	qsort(e->rules, e->nrules, sizeof(*e->rules), by_priority);
	*out = e;
	return 0;
}

static int is_rule_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 4 && strcmp(d->d_name + n - 4, ".lua") == 0 &&
	       !(n > 9 && strcmp(d->d_name + n - 9, ".test.lua") == 0);
}

int tr_engine_load(const char *rules_dir, const struct tr_config *cfg, struct tr_engine **out,
		   struct tr_errors *errs)
{
	size_t nerr0 = errs->n;
	*out = NULL;
	if (tr_rules_dir_check(rules_dir, errs) != 0)
		return TR_EPARSE; /* code anyone may have written is not even compiled */
	char lib[4096];
	snprintf(lib, sizeof(lib), "%s/lib", rules_dir);
	struct dirent **names;
	int n = scandir(rules_dir, &names, is_rule_file, alphasort);
	if (n < 0) {
		tr_errors_add(errs, rules_dir, 0, 0, NULL, "cannot read the rules folder: %s", strerror(errno));
		return TR_EPARSE;
	}
	struct tr_engine *e;
	int rc = new_engine(cfg, lib, &e, errs);
	for (int i = 0; i < n; i++) {
		if (rc == 0) {
			char path[4096];
			snprintf(path, sizeof(path), "%s/%s", rules_dir, names[i]->d_name);
			load_one(e, path, names[i]->d_name, errs);
		}
		free(names[i]);
	}
	free(names);
	if (rc) {
		if (rc != TR_EPARSE)
			tr_errors_add(errs, rules_dir, 0, 0, NULL, "cannot create the Lua state: %s", tr_strerror(rc));
		return rc;
	}
	return finish_load(e, out, errs, nerr0);
}

int tr_engine_load_file(const char *path, const struct tr_config *cfg, struct tr_engine **out,
			struct tr_errors *errs)
{
	size_t nerr0 = errs->n;
	*out = NULL;
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	const char *base = slash ? slash + 1 : path;
	if (slash)
		snprintf(slash, sizeof(dir) - (size_t)(slash - dir), "/lib");
	else
		snprintf(dir, sizeof(dir), "lib");
	struct tr_engine *e;
	int rc = new_engine(cfg, dir, &e, errs);
	if (rc) {
		if (rc != TR_EPARSE)
			tr_errors_add(errs, path, 0, 0, NULL, "cannot create the Lua state: %s", tr_strerror(rc));
		return rc;
	}
	load_one(e, path, base, errs);
	return finish_load(e, out, errs, nerr0);
}

static int rule_matches(const struct tr_rule *r, const char *type)
{
	for (size_t i = 0; i < r->non; i++)
		if (strcmp(r->on[i], type) == 0 || fnmatch(r->on[i], type, 0) == 0)
			return 1;
	return 0;
}

static int record(struct tr_store *s, struct tr_rule *r, const struct tr_event *ev, const char *status,
		  const char *effects, const struct tr_call *call, int64_t now)
{
	struct tr_call located;
	if (call && call->status && !call->location[0]) {
		/* Memory errors reach no message handler: name the rule itself. */
		located = *call;
		snprintf(located.location, sizeof(located.location), "%s:%d", r->file, r->line);
		call = &located;
	}
	if (call && call->status) {
		r->errors++;
		snprintf(r->last_error, sizeof(r->last_error), "%s%s%s", call->location,
			 call->location[0] ? ": " : "", call->message);
		log_warnx("rule %s failed on %s %s: %s", r->name, ev->type, ev->id, r->last_error);
	}
	return tr_store_outcome_insert(s, ev->seq, r->name, status, effects,
				       call && call->status ? call->message : NULL,
				       call && call->status && call->location[0] ? call->location : NULL,
				       call ? call->duration_us : 0, now);
}

/* Pushes the event and ctx tables. 0, or -1 when the event cannot become a
 * Lua table (nesting beyond the cap), nothing pushed. */
static int push_event(lua_State *L, const struct tr_event *ev, int64_t now)
{
	if (tr_lua_push_json(L, ev->payload))
		return -1;
	lua_createtable(L, 0, 6);
	lua_pushinteger(L, ev->seq);
	lua_setfield(L, -2, "seq");
	lua_pushstring(L, ev->source);
	lua_setfield(L, -2, "source");
	lua_pushinteger(L, ev->occurred_at);
	lua_setfield(L, -2, "time");
	lua_pushinteger(L, ev->received_at);
	lua_setfield(L, -2, "received_at");
	lua_pushinteger(L, now);
	lua_setfield(L, -2, "now");
	return 0;
}

static void begin_run(struct tr_engine *e, struct tr_store *s, const struct tr_event *ev,
		      const struct tr_rule *r, int64_t now, enum tr_phase phase)
{
	e->run.phase = phase;
	e->run.store = s;
	e->run.event = ev;
	e->run.rule = r->name;
	e->run.now = now;
	e->run.log_lines = e->run.log_dropped = e->run.timers_added = 0;
	snprintf(e->run.actor, sizeof(e->run.actor), "rule:%s", r->name);
}

/* One line for the log lines a run could not write (limits.rule_log_lines). */
static void end_run(struct tr_engine *e)
{
	e->run.phase = TR_PHASE_NONE;
	if (e->run.log_dropped)
		log_warnx("rule %s (%s %s): %lld more log lines dropped (limits.rule_log_lines = %lld)",
			  e->run.rule, e->run.event->type, e->run.event->id, (long long)e->run.log_dropped,
			  (long long)e->run.cfg->limits.rule_log_lines);
	e->run.log_dropped = 0;
}

/* Runs r's `when`. 1 matched, 0 not, -1 it failed (call says why). */
static int run_when(struct tr_engine *e, struct tr_rule *r, struct tr_call *call)
{
	if (r->when_ref == LUA_NOREF)
		return 1;
	lua_State *L = tr_sandbox_lua(e->sb);
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->when_ref);
	lua_pushvalue(L, -3);
	lua_pushvalue(L, -3);
	tr_lua_pcall(e->sb, 2, 1, 1, call);
	if (call->status)
		return -1;
	int yes = lua_toboolean(L, -1);
	lua_pop(L, 1);
	return yes;
}

/* r's `on` took the event and its `when` said no: `explain` lists it, so a
 * user can see why a rule did nothing (SPEC §6). Kept in memory and written
 * once per event, into its row (tr_store_event_declined), not a row per
 * rule: most events have a rule that declines them. */
static void note_declined(struct tr_engine *e, const struct tr_rule *r)
{
	tr_buf_add(&e->declined, e->declined.len ? "," : "[", 1);
	tr_json_add_string(&e->declined, r->name);
}

/* Runs r (whose `on` matches ev) on ev: `when`, then the action in a
 * savepoint, and records its outcome. Counts into out. Returns 0 or a store
 * error (the caller rolls back the whole transaction). */
static int run_rule(struct tr_engine *e, struct tr_store *s, struct tr_rule *r, const struct tr_event *ev,
		    int64_t now, struct tr_dispatch *out)
{
	lua_State *L = tr_sandbox_lua(e->sb);
	int top = lua_gettop(L);
	/* Each rule gets its own copy of the event, so an edit by one
	 * (even one that then fails) never reaches the next. */
	struct tr_call call = {0};
	if (push_event(L, ev, now)) {
		call.status = TR_ELUA;
		snprintf(call.message, sizeof(call.message), "event nested deeper than %d levels", TR_LUA_MAX_DEPTH);
		out->errors++;
		return record(s, r, ev, "error", NULL, &call, now);
	}
	lua_pushstring(L, r->name);
	lua_setfield(L, -2, "rule");

	int rc = 0;
	begin_run(e, s, ev, r, now, TR_PHASE_WHEN);
	int m = run_when(e, r, &call);
	end_run(e);
	if (m <= 0) {
		if (m < 0) {
			out->errors++;
			rc = record(s, r, ev, "error", NULL, &call, now);
		} else {
			r->declined++;
			note_declined(e, r);
		}
		lua_settop(L, top);
		return rc;
	}
	out->matched++;
	r->runs++;
	if ((rc = tr_store_savepoint(s))) {
		lua_settop(L, top);
		return rc;
	}
	tr_lua_effects_begin(&e->run);
	e->run.phase = TR_PHASE_ACTION;
	lua_rawgeti(L, LUA_REGISTRYINDEX, r->action_ref);
	lua_pushvalue(L, -3);
	lua_pushvalue(L, -3);
	tr_lua_pcall(e->sb, 2, 0, 1, &call);
	end_run(e);
	lua_settop(L, top);
	const char *effects = tr_lua_effects_text(&e->run);
	if (call.status == 0 && !effects) {
		call.status = TR_ELUA;
		snprintf(call.message, sizeof(call.message), "not enough memory");
	}
	tr_histogram_add(&e->run_seconds, call.duration_us > 0 ? (uint64_t)call.duration_us : 0);
	if (call.status == 0) {
		rc = tr_store_release(s);
		if (rc == 0)
			rc = record(s, r, ev, "ok", effects, &call, now);
		r->ok += rc == 0;
	} else {
		/* SPEC §3 isolation: undo this rule alone, keep the others. */
		out->errors++;
		rc = tr_store_rollback_to(s);
		if (rc == 0)
			rc = tr_store_release(s);
		if (rc == 0)
			rc = record(s, r, ev, "error", NULL, &call, now);
	}
	return rc;
}

int tr_engine_dispatch(struct tr_engine *e, struct tr_store *s, const struct tr_event *ev,
		       int64_t now, struct tr_dispatch *out)
{
	memset(out, 0, sizeof(*out));
	char reason[256];
	int rc = tr_store_quarantined(s, ev->type, ev->id, reason, sizeof(reason));
	if (rc < 0)
		return rc;
	if (rc > 0) {
		/* SPEC §3: a poison pill is recorded, never run again. */
		out->quarantined = 1;
		return tr_store_outcome_insert(s, ev->seq, "(engine)", "quarantined", NULL, reason, NULL, 0, now);
	}

	e->run.schedules = 0;
	e->declined.len = 0;
	for (size_t i = 0; i < e->nrules && rc == 0; i++)
		if (rule_matches(&e->rules[i], ev->type))
			rc = run_rule(e, s, &e->rules[i], ev, now, out);
	if (rc == 0 && e->declined.len) {
		tr_buf_add(&e->declined, "]", 1);
		/* out of memory: explain lists none, the event is still whole */
		if (!e->declined.oom)
			rc = tr_store_event_declined(s, ev->seq, e->declined.p);
		e->declined.oom = 0;
	}
	e->run.event = NULL;
	e->run.store = NULL;
	reset_if_full(e);
	return rc;
}

int tr_engine_retry(struct tr_engine *e, struct tr_store *s, const struct tr_event *ev, const char *rule,
		    int64_t now, struct tr_dispatch *out)
{
	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < e->nrules; i++) {
		struct tr_rule *r = &e->rules[i];
		if (strcmp(r->name, rule) != 0)
			continue;
		if (!rule_matches(r, ev->type))
			return 0;
		e->run.schedules = 0;
		int rc = run_rule(e, s, r, ev, now, out);
		e->run.event = NULL;
		e->run.store = NULL;
		reset_if_full(e);
		return rc;
	}
	return -ENOENT;
}

cJSON *tr_engine_rules_json(const struct tr_engine *e)
{
	cJSON *list = cJSON_CreateArray();
	for (size_t i = 0; list && i < e->nrules; i++) {
		const struct tr_rule *r = &e->rules[i];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", r->name);
		cJSON_AddStringToObject(o, "file", r->file);
		cJSON_AddNumberToObject(o, "line", r->line);
		cJSON *on = cJSON_AddArrayToObject(o, "on");
		for (size_t k = 0; k < r->non; k++)
			cJSON_AddItemToArray(on, cJSON_CreateString(r->on[k]));
		cJSON_AddNumberToObject(o, "priority", r->priority);
		cJSON_AddNumberToObject(o, "runs", (double)r->runs);
		cJSON_AddNumberToObject(o, "errors", (double)r->errors);
		if (r->last_error[0])
			cJSON_AddStringToObject(o, "last_error", r->last_error);
		else
			cJSON_AddNullToObject(o, "last_error");
		cJSON_AddItemToArray(list, o);
	}
	return list;
}

int tr_engine_counters_each(const struct tr_engine *e,
			    int (*fn)(void *ud, const struct tr_rule_counters *c), void *ud)
{
	for (size_t i = 0; i < e->nrules; i++) {
		const struct tr_rule *r = &e->rules[i];
		struct tr_rule_counters c = {.name = r->name, .ok = r->ok, .errors = r->errors,
					     .declined = r->declined};
		int rc = fn(ud, &c);
		if (rc)
			return rc;
	}
	return 0;
}

const struct tr_histogram *tr_engine_run_seconds(const struct tr_engine *e)
{
	return &e->run_seconds;
}

int tr_engine_handles(const struct tr_engine *e, const char *type)
{
	for (size_t i = 0; i < e->nrules; i++)
		if (rule_matches(&e->rules[i], type))
			return 1;
	return 0;
}

int tr_engine_rule_count(const struct tr_engine *e)
{
	return (int)e->nrules;
}

const struct tr_errors *tr_engine_warnings(const struct tr_engine *e)
{
	return &e->warnings;
}
