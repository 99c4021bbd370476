/* Offline rule tests. A test file calls test(name, fn); each test gets a
 * fresh scratch database and a fresh build of the rules folder, and inside
 * fn can ingest(event), look at tickets and notifications, act on a ticket
 * as a person would, set the clock and assert:
 *
 *   test("1-star feedback opens a ticket", function()
 *     local r = ingest { type = "feedback.new", id = "f1", order_id = "o1", rating = 1 }
 *     eq(r.outcomes[1].status, "ok")
 *     eq(find("feedback:o1").priority, "high")
 *   end)
 *
 * Events go through tr_engine_dispatch exactly as live ingest does, and a
 * person's actions through tr_ticket_apply as the socket's ticket.update.
 * A file's tests run with a config built in layers, each laid over the one
 * before (tr_config_load_fixture): -c's file or the defaults, fixture.yaml
 * in the tests' folder, NAME.fixture.yaml beside NAME.test.lua, and the
 * file's own fixture{...} calls. Not the engine (engine.c), not the
 * command line (daemon/triagectl/cmd_rules.c). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <lauxlib.h>
#include "tr_config.h"
#include "tr_daemon.h"
#include "tr_engine.h"
#include "tr_json.h"
#include "tr_log.h"
#include "tr_lua.h"
#include "tr_ruletest.h"
#include "tr_scratch.h"
#include "tr_time.h"
#include "tr_ticket.h"
#include "tr_timers.h"
#include "tr_views.h"

/* A test's log lines kept for its report: a rule printing in a loop must
 * not fill memory; the rest are counted. */
#define LOG_LINES_MAX 200
/* notifications() reads at most this many at once. */
#define NOTIFICATIONS_MAX 10000
/* eq's picture of a value: a whole table, within reason. */
#define SHOW_MAX 4096

struct runner {
	struct tr_run run;       /* owner of the test file's sandbox: time.now(), print's cap */
	struct tr_daemon d;      /* cfg, and per test a scratch store, engine and ingest */
	const struct tr_ruletest_opts *o;
	char dir[64];            /* scratch folder */
	char db_path[4096];
	int passed, failed, load_errors;
	const char *file;        /* the test file loading or running */
	int in_test;             /* fixture{} belongs at the top of a file */
	/* the running test */
	char *fail;              /* eq's or ok's whole message (heap), or NULL */
	char *log[LOG_LINES_MAX];
	size_t nlog, log_dropped;
};

static struct runner *runner_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

static double ms_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void push_json_or_nil(lua_State *L, cJSON *j)
{
	if (!j || tr_lua_push_json(L, j))
		lua_pushnil(L);
	cJSON_Delete(j);
}

struct one_event {
	struct runner *r;
	struct tr_event *ev;
	int dup;
};

static int ingest_one(void *ud)
{
	struct one_event *x = ud;
	int rc = tr_ingest_event(&x->r->d.ingest, x->ev, x->r->run.now);
	x->dup = rc == TR_EDUP;
	return x->dup ? 0 : rc;
}

/* ingest(event) -> {accepted=, duplicate=, error=, seq=, outcomes={...}} */
static int l_ingest(lua_State *L)
{
	struct runner *r = runner_of(L);
	luaL_checktype(L, 1, LUA_TTABLE);
	char err[256] = "";
	cJSON *obj = tr_lua_to_json(L, 1, err, sizeof(err));
	if (!obj)
		return luaL_error(L, "ingest: %s", err);
	struct tr_event ev;
	lua_createtable(L, 0, 5);
	if (tr_event_init(&ev, obj, NULL, "test", r->run.now, err, sizeof(err))) {
		lua_pushboolean(L, 0);
		lua_setfield(L, -2, "accepted");
		lua_pushstring(L, err);
		lua_setfield(L, -2, "error");
		return 1;
	}
	/* The same path as live ingest; a duplicate commits too. */
	struct one_event x = {.r = r, .ev = &ev};
	int rc = tr_txn_run(&r->d.ingest.txn, ingest_one, &x);
	int dup = x.dup;
	int64_t seq = ev.seq;
	tr_event_free(&ev);
	if (rc)
		return luaL_error(L, "ingest: database error: %s", tr_store_errmsg(r->d.store));
	lua_pushboolean(L, !dup);
	lua_setfield(L, -2, "accepted");
	lua_pushboolean(L, dup);
	lua_setfield(L, -2, "duplicate");
	if (!dup) {
		lua_pushinteger(L, seq);
		lua_setfield(L, -2, "seq");
		int found;
		cJSON *x = tr_view_explain(r->d.store, NULL, NULL, seq, &found);
		cJSON *outcomes = x ? cJSON_DetachItemFromObject(x, "outcomes") : NULL;
		cJSON *declined = x ? cJSON_DetachItemFromObject(x, "declined") : NULL;
		cJSON_Delete(x);
		push_json_or_nil(L, outcomes);
		lua_setfield(L, -2, "outcomes");
		push_json_or_nil(L, declined);
		lua_setfield(L, -2, "declined");
	}
	return 1;
}

/* tickets{state=, queue=, account=, priority=, text=} -> list of tickets */
static int l_tickets(lua_State *L)
{
	struct runner *r = runner_of(L);
	struct tr_ticket_filter f = {.state = "all", .now = r->run.now, .limit = 100000};
	if (lua_istable(L, 1)) {
		const char *names[] = {"state", "queue", "account", "priority", "text"};
		const char **slots[] = {&f.state, &f.queue, &f.account, &f.priority, &f.text};
		for (int i = 0; i < 5; i++) {
			lua_getfield(L, 1, names[i]);
			if (lua_isstring(L, -1))
				*slots[i] = lua_tostring(L, -1); /* anchored in the argument table */
			lua_pop(L, 1);
		}
	}
	push_json_or_nil(L, tr_view_tickets(r->d.store, &f));
	return 1;
}

/* find(key) -> the newest ticket with key (any state), with history, or nil */
static int l_find(lua_State *L)
{
	struct runner *r = runner_of(L);
	struct tr_ticket_filter f = {.state = "all", .now = r->run.now, .limit = 100000};
	const char *key = luaL_checkstring(L, 1);
	cJSON *list = tr_view_tickets(r->d.store, &f);
	int64_t id = 0;
	for (cJSON *t = list ? list->child : NULL; t && !id; t = t->next) {
		cJSON *k = cJSON_GetObjectItemCaseSensitive(t, "key");
		if (cJSON_IsString(k) && strcmp(k->valuestring, key) == 0)
			tr_whole_number(cJSON_GetObjectItemCaseSensitive(t, "id")->valuedouble, &id);
	}
	cJSON_Delete(list);
	int found = 0;
	push_json_or_nil(L, id ? tr_view_ticket_by_id(r->d.store, id, 1, &found) : NULL);
	return 1;
}

/* clock(t): the processing time rules see from now on (number or RFC 3339) */
static int l_clock(lua_State *L)
{
	struct runner *r = runner_of(L);
	r->run.now = tr_lua_check_time(L, 1, r->run.now, "clock");
	return 0;
}

/* advance(t): moves the clock to t (a time, or a duration from now) firing
 * every timer due by then, in order, as the daemon would -> timers fired */
static int l_advance(lua_State *L)
{
	struct runner *r = runner_of(L);
	int64_t to = tr_lua_check_time(L, 1, r->run.now, "advance");
	int fired = 0;
	if (tr_scratch_advance(&r->d, &r->run.now, to, &fired))
		return luaL_error(L, "advance: firing failed: %s", tr_store_errmsg(r->d.store));
	lua_pushinteger(L, fired);
	return 1;
}

struct act {
	struct runner *r;
	int64_t id;
	const struct tr_ticket_change *c;
	char err[256];
};

static int act_one(void *ud)
{
	struct act *x = ud;
	return tr_ticket_apply(x->r->d.store, x->id, x->c, "test", 0, x->r->run.now, x->err, sizeof(x->err));
}

/* ack(id), assign(id, who), comment(id, text), close(id, reason),
 * reopen(id, reason): a person acts on a ticket, as `triagectl ack|…` does
 * over the socket: the change op_ticket_update (protocol.c) builds, applied
 * by the same tr_ticket_apply in one transaction. The action's name is the
 * closure's second upvalue. Raises when the ticket does not exist or the
 * change does not apply (closing a closed ticket). */
static int l_act(lua_State *L)
{
	struct runner *r = runner_of(L);
	const char *action = lua_tostring(L, lua_upvalueindex(2));
	int64_t id = (int64_t)luaL_checkinteger(L, 1);
	const char *arg = luaL_optstring(L, 2, NULL);
	struct tr_ticket_change c;
	if (tr_ticket_action(action, arg, r->d.cfg.ack_timeout, &c))
		return luaL_error(L, "%s(id, %s): %s is required", action, tr_ticket_action_field(action),
				  tr_ticket_action_field(action));
	struct act x = {.r = r, .id = id, .c = &c};
	snprintf(x.err, sizeof(x.err), "database error"); /* unless the change says more */
	if (tr_txn_run(&r->d.ingest.txn, act_one, &x))
		return luaL_error(L, "%s: %s", action, x.err);
	return 0;
}

/* timers() -> the pending timers, earliest first */
static int l_timers(lua_State *L)
{
	struct runner *r = runner_of(L);
	int64_t total;
	push_json_or_nil(L, tr_view_timers(r->d.store, 100000, &total));
	return 1;
}

static int by_id(const void *a, const void *b)
{
	int64_t x = ((const struct tr_notification *)a)->id, y = ((const struct tr_notification *)b)->id;
	return (x > y) - (x < y);
}

struct consume {
	struct tr_store *store;
	struct tr_notification *list;
	int n;
	int64_t now;
};

/* Marks them delivered: the outbox's own way to say "done with these". */
static int consume_all(void *ud)
{
	struct consume *x = ud;
	int rc = 0;
	for (int i = 0; i < x->n && rc == 0; i++)
		rc = tr_store_outbox_done(x->store, x->list[i].id, x->now, 0);
	return rc;
}

/* notifications() -> what rules and timers notified since the test began
 * (or since the last clear), in the order they did:
 * {output=, message=, note=, ticket=<id or nil>, event={type=, id=}, at=, by=}
 * (message: the line naming the ticket, notify_text.c; note: the rule's words);
 * notifications{clear = true} returns the same and forgets them, so the
 * next call shows only newer ones. Nothing is delivered in a test. */
static int l_notifications(lua_State *L)
{
	struct runner *r = runner_of(L);
	int clear = 0;
	if (!lua_isnoneornil(L, 1)) {
		static const char *const allowed[] = {"clear", NULL};
		luaL_checktype(L, 1, LUA_TTABLE);
		tr_lua_check_options(L, 1, "notifications", allowed);
		lua_getfield(L, 1, "clear");
		clear = lua_toboolean(L, -1);
		lua_pop(L, 1);
	}
	struct tr_notification *list = malloc(NOTIFICATIONS_MAX * sizeof(*list));
	int n = 0;
	if (!list)
		return luaL_error(L, "notifications: out of memory");
	/* Undelivered whatever their retry time; the store orders them by
	 * that time, a test wants them as they were made. */
	if (tr_store_outbox_pending(r->d.store, INT64_MAX, NOTIFICATIONS_MAX, list, &n)) {
		free(list);
		return luaL_error(L, "notifications: database error: %s", tr_store_errmsg(r->d.store));
	}
	if (n == NOTIFICATIONS_MAX) {
		tr_notifications_free(list, n);
		free(list);
		return luaL_error(L, "notifications: more than %d: use notifications{clear = true} as you go",
				  NOTIFICATIONS_MAX);
	}
	qsort(list, (size_t)n, sizeof(*list), by_id);
	lua_createtable(L, n, 0);
	for (int i = 0; i < n; i++) {
		cJSON *p = cJSON_Parse(list[i].payload);
		cJSON *t = cJSON_DetachItemFromObjectCaseSensitive(p, "ticket");
		cJSON *id = cJSON_GetObjectItemCaseSensitive(t, "id");
		/* the ticket by id: find() or tickets() show it as it is now */
		if (p && cJSON_IsNumber(id))
			cJSON_AddNumberToObject(p, "ticket", id->valuedouble);
		cJSON_Delete(t);
		push_json_or_nil(L, p);
		lua_rawseti(L, -2, i + 1);
	}
	struct consume x = {.store = r->d.store, .list = list, .n = n, .now = r->run.now};
	int rc = clear && n ? tr_txn_run(&r->d.ingest.txn, consume_all, &x) : 0;
	tr_notifications_free(list, n);
	free(list);
	if (rc)
		return luaL_error(L, "notifications: database error: %s", tr_store_errmsg(r->d.store));
	return 1;
}

/* ---- assertions ---------------------------------------------------------- */

static int same(lua_State *L, int a, int b, int depth);

/* Tables are equal when they hold equal values under equal keys, so a
 * test can compare what it got with a table it writes out. */
static int same_tables(lua_State *L, int a, int b, int depth)
{
	if (depth > 16 || !lua_checkstack(L, 4))
		return 0;
	lua_pushnil(L);
	while (lua_next(L, a)) {
		lua_pushvalue(L, -2);
		lua_rawget(L, b);
		int eq = !lua_isnil(L, -1) && same(L, lua_gettop(L) - 1, lua_gettop(L), depth + 1);
		lua_pop(L, 2);
		if (!eq) {
			lua_pop(L, 1);
			return 0;
		}
	}
	lua_pushnil(L);
	while (lua_next(L, b)) {
		lua_pop(L, 1);
		lua_pushvalue(L, -1);
		lua_rawget(L, a);
		int has = !lua_isnil(L, -1);
		lua_pop(L, 1);
		if (!has) {
			lua_pop(L, 1);
			return 0;
		}
	}
	return 1;
}

static int same(lua_State *L, int a, int b, int depth)
{
	if (lua_type(L, a) == LUA_TTABLE && lua_type(L, b) == LUA_TTABLE && !lua_rawequal(L, a, b))
		return same_tables(L, a, b, depth);
	return lua_compare(L, a, b, LUA_OPEQ);
}

static int by_text(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Appends a picture of the value at idx to b: strings quoted, so 1 and
 * "1" differ on screen as they do to eq; tables written out, the list
 * part in order, then the other keys sorted (pairs' order changes from
 * run to run). */
static void show(lua_State *L, int idx, struct tr_buf *b, int depth)
{
	if (b->len > SHOW_MAX)
		return;
	if (lua_type(L, idx) == LUA_TSTRING) {
		tr_json_add_string(b, lua_tostring(L, idx));
		return;
	}
	if (lua_type(L, idx) != LUA_TTABLE || depth > 4 || !lua_checkstack(L, 4)) {
		const char *s = luaL_tolstring(L, idx, NULL);
		tr_buf_add(b, s, strlen(s));
		lua_pop(L, 1);
		return;
	}
	tr_buf_add(b, "{", 1);
	lua_Integer n = (lua_Integer)lua_rawlen(L, idx);
	for (lua_Integer i = 1; i <= n && b->len <= SHOW_MAX; i++) {
		if (i > 1)
			tr_buf_add(b, ", ", 2);
		lua_rawgeti(L, idx, i);
		show(L, lua_gettop(L), b, depth + 1);
		lua_pop(L, 1);
	}
	/* "key = value" of each other key, each shown into a buffer of its own */
	size_t nkeys = 0, cap = 0;
	char **keyed = NULL;
	lua_pushnil(L);
	while (lua_next(L, idx)) {
		lua_Integer k = lua_isinteger(L, -2) ? lua_tointeger(L, -2) : 0;
		if (k >= 1 && k <= n) {
			lua_pop(L, 1);
			continue;
		}
		struct tr_buf e = {0};
		if (lua_type(L, -2) == LUA_TSTRING) {
			tr_buf_add(&e, lua_tostring(L, -2), strlen(lua_tostring(L, -2)));
		} else {
			tr_buf_add(&e, "[", 1);
			show(L, lua_gettop(L) - 1, &e, depth + 1);
			tr_buf_add(&e, "]", 1);
		}
		tr_buf_add(&e, " = ", 3);
		show(L, lua_gettop(L), &e, depth + 1);
		lua_pop(L, 1);
		if (nkeys == cap) {
			char **more = realloc(keyed, (cap = cap ? 2 * cap : 8) * sizeof(*keyed));
			if (!more)
				e.oom = 1;
			else
				keyed = more;
		}
		if (e.oom || !e.p) {
			tr_buf_free(&e);
			b->oom = 1;
			continue;
		}
		keyed[nkeys++] = e.p;
	}
	if (nkeys)
		qsort(keyed, nkeys, sizeof(*keyed), by_text);
	for (size_t i = 0; i < nkeys; i++) {
		if (n > 0 || i > 0)
			tr_buf_add(b, ", ", 2);
		if (b->len <= SHOW_MAX)
			tr_buf_add(b, keyed[i], strlen(keyed[i]));
		free(keyed[i]);
	}
	free(keyed);
	if (b->len > SHOW_MAX)
		tr_buf_add(b, " …", strlen(" …"));
	tr_buf_add(b, "}", 1);
}

/* Raises msg, keeping it whole for the report: an error's text is cut to
 * the size of struct tr_call's message on the way out of Lua. */
static int fail(lua_State *L, struct runner *r, const char *msg)
{
	free(r->fail);
	r->fail = strdup(msg);
	return luaL_error(L, "%s", msg);
}

/* eq(got, expected, msg): equal values, tables compared by content */
static int l_eq(lua_State *L)
{
	struct runner *r = runner_of(L);
	luaL_checkany(L, 2);
	if (same(L, 1, 2, 0))
		return 0;
	struct tr_buf b = {0};
	const char *msg = luaL_optstring(L, 3, "values differ");
	tr_buf_add(&b, msg, strlen(msg));
	tr_buf_add(&b, ": got ", 6);
	show(L, 1, &b, 0);
	tr_buf_add(&b, ", expected ", 11);
	show(L, 2, &b, 0);
	lua_pushstring(L, b.oom ? "values differ (out of memory showing them)" : b.p);
	tr_buf_free(&b);
	return fail(L, r, lua_tostring(L, -1));
}

static int l_ok(lua_State *L)
{
	struct runner *r = runner_of(L);
	if (!lua_toboolean(L, 1))
		return fail(L, r, luaL_optstring(L, 2, "expected a true value"));
	return 0;
}

/* test(name, fn): collected into the registry table "tr.tests" */
static int l_test(lua_State *L)
{
	luaL_checkstring(L, 1);
	luaL_checktype(L, 2, LUA_TFUNCTION);
	lua_getfield(L, LUA_REGISTRYINDEX, "tr.tests");
	lua_createtable(L, 2, 0);
	lua_pushvalue(L, 1);
	lua_rawseti(L, -2, 1);
	lua_pushvalue(L, 2);
	lua_rawseti(L, -2, 2);
	lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
	return 0;
}

/* fixture{calendars = {…}, outputs = {…}, params = {…}}: what the config's
 * sections of those names would say, laid over fixture.yaml's for every
 * test of this file. Read by the config's own loader, from the table's
 * JSON text (which is YAML). */
static int l_fixture(lua_State *L)
{
	struct runner *r = runner_of(L);
	if (r->in_test)
		return luaL_error(L, "fixture: call it at the top of the file: every test of the file runs with it");
	luaL_checktype(L, 1, LUA_TTABLE);
	char err[256];
	cJSON *j = tr_lua_to_json(L, 1, err, sizeof(err));
	if (!j)
		return luaL_error(L, "fixture: %s", err);
	char *text = tr_json_print(j);
	cJSON_Delete(j);
	if (!text)
		return luaL_error(L, "fixture: out of memory");
	struct tr_errors errs = {0};
	int rc = tr_config_load_fixture(&r->d.cfg, r->file, text, strlen(text), &errs);
	free(text);
	if (rc == 0)
		return 0;
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	luaL_addstring(&b, "fixture: ");
	for (size_t i = 0; i < errs.n; i++) {
		if (i)
			luaL_addstring(&b, "; ");
		if (errs.items[i].field[0]) {
			luaL_addstring(&b, errs.items[i].field);
			luaL_addstring(&b, ": ");
		}
		luaL_addstring(&b, errs.items[i].message);
	}
	if (errs.n == 0)
		luaL_addstring(&b, tr_strerror(rc));
	tr_errors_free(&errs);
	luaL_pushresult(&b);
	return lua_error(L);
}

/* ---- one test's log ----------------------------------------------------- */

static void keep_line(void *ud, int level, const char *line)
{
	struct runner *r = ud;
	if (r->nlog == LOG_LINES_MAX) {
		r->log_dropped++;
		return;
	}
	const char *tag = level <= TR_LOG_ERR ? "error" : level == TR_LOG_WARNING ? "warn" : "info";
	size_t n = strlen(tag) + strlen(line) + 3;
	char *s = malloc(n);
	if (!s) {
		r->log_dropped++;
		return;
	}
	snprintf(s, n, "%s: %s", tag, line);
	r->log[r->nlog++] = s;
}

static void drop_log(struct runner *r)
{
	for (size_t i = 0; i < r->nlog; i++)
		free(r->log[i]);
	r->nlog = r->log_dropped = 0;
}

/* ---- reports -------------------------------------------------------------- */

static void print_record(struct runner *r, cJSON *o)
{
	char *text = o ? tr_json_print(o) : NULL;
	if (text)
		fprintf(r->o->out, "%s\n", text);
	free(text);
	cJSON_Delete(o);
}

/* One test's result: a line for people (with the message and the test's
 * log when it failed), or a JSON record for scripts. error NULL: passed. */
static void report(struct runner *r, const char *file, const char *base, const char *name, const char *error,
		   double ms)
{
	if (error)
		r->failed++;
	else
		r->passed++;
	if (r->o->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "file", file);
		if (name)
			cJSON_AddStringToObject(o, "test", name);
		else
			cJSON_AddNullToObject(o, "test");
		cJSON_AddBoolToObject(o, "ok", !error);
		if (error)
			cJSON_AddStringToObject(o, "error", error);
		else
			cJSON_AddNullToObject(o, "error");
		cJSON *log = cJSON_AddArrayToObject(o, "log");
		for (size_t i = 0; log && i < r->nlog; i++)
			cJSON_AddItemToArray(log, cJSON_CreateString(r->log[i]));
		if (log && r->log_dropped) {
			char more[64];
			snprintf(more, sizeof(more), "(%zu more lines)", r->log_dropped);
			cJSON_AddItemToArray(log, cJSON_CreateString(more));
		}
		cJSON_AddNumberToObject(o, "duration_ms", (double)(int64_t)(ms * 1000) / 1000);
		print_record(r, o);
		return;
	}
	if (!error) {
		fprintf(r->o->out, "ok - %s: %s\n", base, name);
		return;
	}
	fprintf(r->o->out, "not ok - %s: %s\n    %s\n", base, name, error);
	if (r->nlog)
		fprintf(r->o->out, "    log:\n");
	for (size_t i = 0; i < r->nlog; i++)
		fprintf(r->o->out, "      %s\n", r->log[i]);
	if (r->log_dropped)
		fprintf(r->o->out, "      (%zu more lines)\n", r->log_dropped);
}

/* A file that does not load: on err for people; a record too for scripts. */
static void load_error(struct runner *r, const char *file, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void load_error(struct runner *r, const char *file, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->load_errors++;
	fprintf(r->o->err, "%s\n", msg);
	if (r->o->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "file", file);
		cJSON_AddNullToObject(o, "test");
		cJSON_AddBoolToObject(o, "ok", 0);
		cJSON_AddStringToObject(o, "error", msg);
		cJSON_AddArrayToObject(o, "log");
		cJSON_AddNumberToObject(o, "duration_ms", 0);
		print_record(r, o);
	}
}

static void load_errors(struct runner *r, const char *file, struct tr_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		char msg[768];
		tr_error_format(&errs->items[i], msg, sizeof(msg));
		load_error(r, file, "%s", msg);
	}
	tr_errors_free(errs);
}

/* ---- a test file ------------------------------------------------------------ */

static void drop_world(struct runner *r)
{
	tr_scratch_close(&r->d, r->db_path);
}

/* A scratch database and a fresh build of the rules for one test. */
static int fresh_world(struct runner *r, const char *file)
{
	drop_world(r);
	char msg[512];
	struct tr_errors errs = {0};
	int rc = tr_scratch_open(&r->d, r->dir, r->db_path, msg, sizeof(msg), &errs);
	if (msg[0])
		load_error(r, file, "%s", msg);
	load_errors(r, file, &errs);
	r->run.now = 1795492800; /* 2026-11-24T04:00:00Z until a test calls clock() */
	return rc;
}

/* The config file's tests run with: -c's (or the defaults), then the
 * folder's fixture.yaml, then NAME.fixture.yaml beside NAME.test.lua, each
 * laid over the one before; the rules are the file's folder. 0, or -1
 * after reporting. */
static int file_config(struct runner *r, const char *dir, const char *file)
{
	tr_config_free(&r->d.cfg);
	struct tr_errors errs = {0};
	int rc = r->o->config ? tr_config_load(r->o->config, &r->d.cfg, &errs) : tr_config_defaults(&r->d.cfg);
	char fixture[8192];
	snprintf(fixture, sizeof(fixture), "%s/fixture.yaml", dir);
	if (rc == 0 && access(fixture, F_OK) == 0)
		rc = tr_config_load_fixture(&r->d.cfg, fixture, NULL, 0, &errs);
	size_t n = strlen(file);
	if (n > 9 && strcmp(file + n - 9, ".test.lua") == 0) {
		snprintf(fixture, sizeof(fixture), "%.*s.fixture.yaml", (int)(n - 9), file);
		if (rc == 0 && access(fixture, F_OK) == 0)
			rc = tr_config_load_fixture(&r->d.cfg, fixture, NULL, 0, &errs);
	}
	free(r->d.cfg.rules_dir);
	r->d.cfg.rules_dir = strdup(dir);
	if (rc == 0 && !r->d.cfg.rules_dir)
		tr_errors_add(&errs, file, 0, 0, "", "out of memory");
	if (rc == 0 && !r->d.cfg.rules_dir)
		rc = -ENOMEM;
	if (rc && errs.n == 0)
		tr_errors_add(&errs, file, 0, 0, "", "cannot set up: %s", tr_strerror(rc));
	load_errors(r, file, &errs);
	r->run.cfg = &r->d.cfg; /* print's per-run cap in the test file */
	return rc ? -1 : 0;
}

/* The whole message of a failed test: eq's or ok's when that is what
 * failed (call->message is its first part, cut), else the error as Lua
 * gave it. Heap; caller frees. */
static char *failure(struct runner *r, const struct tr_call *call)
{
	const char *msg = call->message;
	if (r->fail && strncmp(r->fail, msg, strlen(msg)) == 0)
		msg = r->fail;
	size_t n = strlen(call->location) + strlen(msg) + 3;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "%s%s%s", call->location, call->location[0] ? ": " : "", msg);
	return s;
}

static int run_file(struct runner *r, const char *dir, const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	r->file = path;
	r->in_test = 0;
	if (file_config(r, dir, path))
		return 2;
	struct tr_budget b = {.instructions = 1000000000, .memory = 256u << 20, .time_ms = 60000};
	struct tr_sandbox *sb;
	if (tr_sandbox_new(&b, NULL, &r->run, &sb))
		return 2;
	lua_State *L = tr_sandbox_lua(sb);
	tr_lua_open_time(sb);
	tr_lua_open_log(sb);
	const struct { const char *name; lua_CFunction fn; } api[] = {
		{"ingest", l_ingest}, {"tickets", l_tickets}, {"find", l_find}, {"clock", l_clock},
		{"advance", l_advance}, {"timers", l_timers}, {"notifications", l_notifications},
		{"eq", l_eq}, {"ok", l_ok}, {"test", l_test}, {"fixture", l_fixture}};
	for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
		lua_pushlightuserdata(L, r);
		lua_pushcclosure(L, api[i].fn, 1);
		tr_sandbox_add_global(sb, api[i].name);
	}
	const char *const actions[] = {"ack", "assign", "comment", "close", "reopen"};
	for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
		lua_pushlightuserdata(L, r);
		lua_pushstring(L, actions[i]);
		lua_pushcclosure(L, l_act, 2);
		tr_sandbox_add_global(sb, actions[i]);
	}
	lua_newtable(L);
	lua_setfield(L, LUA_REGISTRYINDEX, "tr.tests");

	FILE *f = fopen(path, "rb");
	char *src = NULL;
	size_t len = 0;
	if (f) {
		fseek(f, 0, SEEK_END);
		long size = ftell(f);
		rewind(f);
		src = size >= 0 ? malloc((size_t)size + 1) : NULL;
		len = src ? fread(src, 1, (size_t)size, f) : 0;
		fclose(f);
	}
	if (!src) {
		load_error(r, path, "%s: cannot read: %s", path, strerror(errno));
		tr_sandbox_free(sb);
		return 2;
	}
	char chunk[300];
	snprintf(chunk, sizeof(chunk), "@%s", base);
	tr_sandbox_push_env(sb);
	int rc = tr_sandbox_load(sb, src, len, chunk);
	free(src);
	struct tr_call call;
	if (rc == 0) {
		tr_lua_pcall(sb, 0, 0, 1, &call);
		rc = call.status;
	} else {
		snprintf(call.message, sizeof(call.message), "%s", lua_tostring(L, -1));
		call.location[0] = 0;
		lua_pop(L, 1);
	}
	if (rc) {
		load_error(r, path, "%s: %s%s%s", path, call.location, call.location[0] ? ": " : "", call.message);
		tr_sandbox_free(sb);
		return 2;
	}

	r->in_test = 1;
	lua_getfield(L, LUA_REGISTRYINDEX, "tr.tests");
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	int status = 0;
	for (lua_Integer i = 1; i <= n && status != 2; i++) {
		if (fresh_world(r, path)) {
			status = 2;
			break;
		}
		lua_rawgeti(L, -1, i);
		lua_rawgeti(L, -1, 1);
		char name[256];
		snprintf(name, sizeof(name), "%s", lua_tostring(L, -1));
		lua_pop(L, 1);
		lua_rawgeti(L, -1, 2);
		lua_remove(L, -2);
		/* The test's lines, the rules' print and log.* among them, are
		 * kept for its report instead of going to stderr. */
		int level = tr_log_level;
		tr_log_level = TR_LOG_INFO;
		tr_log_capture(keep_line, r);
		double t0 = ms_now();
		tr_lua_pcall(sb, 0, 0, 1, &call);
		double ms = ms_now() - t0;
		tr_log_capture(NULL, NULL);
		tr_log_level = level;
		char *error = call.status ? failure(r, &call) : NULL;
		if (call.status && !error)
			error = strdup("(out of memory)");
		report(r, path, base, name, call.status ? (error ? error : "(out of memory)") : NULL, ms);
		if (call.status)
			status = 1;
		free(error);
		free(r->fail);
		r->fail = NULL;
		drop_log(r);
	}
	if (n == 0)
		fprintf(r->o->err, "%s: no test() in this file\n", path);
	tr_sandbox_free(sb);
	return status;
}

static int is_test_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 9 && strcmp(d->d_name + n - 9, ".test.lua") == 0;
}

/* Every test file of path (a file or a folder). 0, 1 or 2 as the run. */
static int run_path(struct runner *r, const char *path)
{
	struct stat st;
	if (stat(path, &st) < 0) {
		load_error(r, path, "%s: %s", path, strerror(errno));
		return 2;
	}
	char dir[4096];
	snprintf(dir, sizeof(dir), "%s", path);
	if (!S_ISDIR(st.st_mode)) {
		char *slash = strrchr(dir, '/');
		if (slash)
			*slash = 0;
		else
			snprintf(dir, sizeof(dir), ".");
		return run_file(r, dir, path);
	}
	struct dirent **names;
	int n = scandir(dir, &names, is_test_file, alphasort);
	if (n < 0) {
		load_error(r, path, "%s: %s", path, strerror(errno));
		return 2;
	}
	int status = 0;
	for (int i = 0; i < n; i++) {
		char file[8192];
		snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
		int rc = status == 2 ? 2 : run_file(r, dir, file);
		if (rc > status)
			status = rc;
		free(names[i]);
	}
	free(names);
	return status;
}

int tr_ruletest_run(char *const *paths, int npaths, const struct tr_ruletest_opts *o)
{
	struct runner r = {.o = o};
	double t0 = ms_now();
	snprintf(r.dir, sizeof(r.dir), "/tmp/triagectl-test-XXXXXX");
	if (!mkdtemp(r.dir)) {
		fprintf(o->err, "cannot set up a scratch folder: %s\n", strerror(errno));
		return 2;
	}
	snprintf(r.db_path, sizeof(r.db_path), "%s/test.db", r.dir);
	int log_level = tr_log_level;
	tr_log_level = TR_LOG_WARNING; /* a fresh database per test is not news */

	int status = 0;
	for (int i = 0; i < npaths && status != 2; i++) {
		int rc = run_path(&r, paths[i]);
		if (rc > status)
			status = rc;
	}
	drop_world(&r);
	char marker[128];
	snprintf(marker, sizeof(marker), "%s/inflight", r.dir);
	unlink(marker);
	rmdir(r.dir);
	tr_config_free(&r.d.cfg);
	tr_log_level = log_level;
	if (o->json) {
		cJSON *s = cJSON_CreateObject();
		cJSON_AddBoolToObject(s, "summary", 1);
		cJSON_AddNumberToObject(s, "passed", r.passed);
		cJSON_AddNumberToObject(s, "failed", r.failed);
		cJSON_AddNumberToObject(s, "load_errors", r.load_errors);
		cJSON_AddBoolToObject(s, "ok", status == 0);
		cJSON_AddNumberToObject(s, "duration_ms", (double)(int64_t)((ms_now() - t0) * 1000) / 1000);
		print_record(&r, s);
	} else {
		fprintf(o->out, "%d passed, %d failed\n", r.passed, r.failed);
	}
	return status;
}
