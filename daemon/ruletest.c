/* Offline rule tests. A test file calls test(name, fn); each test gets a
 * fresh scratch database and a fresh build of the rules folder, and inside
 * fn can ingest(event), look at tickets, set the clock and assert:
 *
 *   test("1-star feedback opens a ticket", function()
 *     local r = ingest { type = "feedback.new", id = "f1", order_id = "o1", rating = 1 }
 *     eq(r.outcomes[1].status, "ok")
 *     eq(find("feedback:o1").priority, "high")
 *   end)
 *
 * Events go through tr_engine_dispatch exactly as live ingest does. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <lauxlib.h>
#include "tr_config.h"
#include "tr_daemon.h"
#include "tr_engine.h"
#include "tr_log.h"
#include "tr_lua.h"
#include "tr_ruletest.h"
#include "tr_time.h"
#include "tr_ticket.h"
#include "tr_timers.h"
#include "tr_views.h"

struct runner {
	struct tr_run run;       /* owner of the test file's sandbox: time.now() */
	struct tr_daemon d;      /* cfg, and per test a scratch store, engine and ingest */
	char dir[64];            /* scratch folder */
	char db_path[4096];
	FILE *out, *err;
	int passed, failed;
};

static struct runner *runner_of(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
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
		cJSON_Delete(x);
		push_json_or_nil(L, outcomes);
		lua_setfield(L, -2, "outcomes");
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
	for (;;) {
		int64_t next = 0;
		if (tr_store_timer_next(r->d.store, &next))
			return luaL_error(L, "advance: database error");
		if (next == 0 || next > to)
			break;
		/* Fire one instant at a time, so later timers see earlier effects. */
		r->run.now = next > r->run.now ? next : r->run.now;
		int more = 1;
		while (more) {
			if (tr_timers_fire(&r->d, r->run.now, 1000, &more))
				return luaL_error(L, "advance: firing failed: %s", tr_store_errmsg(r->d.store));
		}
		fired++;
	}
	r->run.now = to > r->run.now ? to : r->run.now;
	lua_pushinteger(L, fired);
	return 1;
}

struct ack {
	struct runner *r;
	int64_t id;
	char err[256];
};

static int ack_one(void *ud)
{
	struct ack *x = ud;
	struct tr_ticket_change c = {.action = "ack", .ack = 1};
	return tr_ticket_apply(x->r->d.store, x->id, &c, "test", 0, x->r->run.now, x->err, sizeof(x->err));
}

/* ack(ticket_id): a person acknowledges the ticket, as `triagectl ack` does */
static int l_ack(lua_State *L)
{
	struct runner *r = runner_of(L);
	int64_t id = (int64_t)luaL_checkinteger(L, 1);
	struct ack x = {.r = r, .id = id};
	snprintf(x.err, sizeof(x.err), "database error"); /* unless the ack says more */
	int rc = tr_txn_run(&r->d.ingest.txn, ack_one, &x);
	if (rc)
		return luaL_error(L, "ack: %s", x.err);
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

static int l_eq(lua_State *L)
{
	if (!lua_compare(L, 1, 2, LUA_OPEQ)) {
		const char *msg = luaL_optstring(L, 3, "values differ");
		luaL_tolstring(L, 1, NULL);
		luaL_tolstring(L, 2, NULL);
		return luaL_error(L, "%s: got %s, expected %s", msg, lua_tostring(L, -2), lua_tostring(L, -1));
	}
	return 0;
}

static int l_ok(lua_State *L)
{
	if (!lua_toboolean(L, 1))
		return luaL_error(L, "%s", luaL_optstring(L, 2, "expected a true value"));
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

static void drop_world(struct runner *r)
{
	tr_ingest_close(&r->d.ingest);
	tr_engine_free(r->d.engine);
	tr_store_close(r->d.store);
	r->d.engine = NULL;
	r->d.store = NULL;
	const char *suffixes[] = {"", "-wal", "-shm"};
	for (int i = 0; i < 3; i++) {
		char side[4200];
		snprintf(side, sizeof(side), "%s%s", r->db_path, suffixes[i]);
		unlink(side);
	}
}

/* A scratch database and a fresh build of the rules for one test. */
static int fresh_world(struct runner *r)
{
	drop_world(r);
	char msg[512];
	struct tr_errors errs = {0};
	int rc = tr_store_open(r->db_path, TR_DURABILITY_NORMAL, &r->d.store, msg, sizeof(msg));
	if (rc) {
		fprintf(r->err, "%s\n", msg);
		return rc;
	}
	rc = tr_engine_load(r->d.cfg.rules_dir, &r->d.cfg, &r->d.engine, &errs);
	for (size_t i = 0; i < errs.n; i++) {
		tr_error_format(&errs.items[i], msg, sizeof(msg));
		fprintf(r->err, "%s\n", msg);
	}
	tr_errors_free(&errs);
	if (rc == 0)
		rc = tr_ingest_open(&r->d.ingest, r->dir, r->d.store, r->d.engine);
	r->run.now = 1795492800; /* 2026-11-24T04:00:00Z until a test calls clock() */
	return rc;
}

static int run_file(struct runner *r, const char *path)
{
	struct tr_budget b = {.instructions = 1000000000, .memory = 256u << 20, .time_ms = 60000};
	struct tr_sandbox *sb;
	if (tr_sandbox_new(&b, NULL, &r->run, &sb))
		return 2;
	lua_State *L = tr_sandbox_lua(sb);
	tr_lua_open_time(sb);
	tr_lua_open_log(sb);
	const struct { const char *name; lua_CFunction fn; } api[] = {
		{"ingest", l_ingest}, {"tickets", l_tickets}, {"find", l_find}, {"clock", l_clock},
		{"advance", l_advance}, {"timers", l_timers}, {"ack", l_ack},
		{"eq", l_eq}, {"ok", l_ok}, {"test", l_test}};
	for (size_t i = 0; i < sizeof(api) / sizeof(api[0]); i++) {
		lua_pushlightuserdata(L, r);
		lua_pushcclosure(L, api[i].fn, 1);
		tr_sandbox_add_global(sb, api[i].name);
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
		fprintf(r->err, "%s: cannot read: %s\n", path, strerror(errno));
		tr_sandbox_free(sb);
		return 2;
	}
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
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
		fprintf(r->err, "%s: %s%s%s\n", path, call.location, call.location[0] ? ": " : "", call.message);
		tr_sandbox_free(sb);
		return 2;
	}

	lua_getfield(L, LUA_REGISTRYINDEX, "tr.tests");
	lua_Integer n = (lua_Integer)lua_rawlen(L, -1);
	int status = 0;
	for (lua_Integer i = 1; i <= n && status != 2; i++) {
		if (fresh_world(r)) {
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
		tr_lua_pcall(sb, 0, 0, 1, &call);
		if (call.status == 0) {
			r->passed++;
			fprintf(r->out, "ok - %s: %s\n", base, name);
		} else {
			r->failed++;
			status = 1;
			fprintf(r->out, "not ok - %s: %s\n    %s%s%s\n", base, name, call.location,
				call.location[0] ? ": " : "", call.message);
		}
	}
	if (n == 0)
		fprintf(r->err, "%s: no test() in this file\n", path);
	tr_sandbox_free(sb);
	return status;
}

static int is_test_file(const struct dirent *d)
{
	size_t n = strlen(d->d_name);
	return d->d_name[0] != '.' && n > 9 && strcmp(d->d_name + n - 9, ".test.lua") == 0;
}

int tr_ruletest_run(const char *path, const char *config, FILE *out, FILE *err)
{
	struct runner r = {.out = out, .err = err};
	struct stat st;
	if (stat(path, &st) < 0) {
		fprintf(err, "%s: %s\n", path, strerror(errno));
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
	}
	struct tr_errors errs = {0};
	int rc = config ? tr_config_load(config, &r.d.cfg, &errs) : tr_config_defaults(&r.d.cfg);
	for (size_t i = 0; i < errs.n; i++) {
		char msg[512];
		tr_error_format(&errs.items[i], msg, sizeof(msg));
		fprintf(err, "%s\n", msg);
	}
	tr_errors_free(&errs);
	free(r.d.cfg.rules_dir);
	r.d.cfg.rules_dir = strdup(dir); /* the config's outputs and calendars, these rules */
	snprintf(r.dir, sizeof(r.dir), "/tmp/triagectl-test-XXXXXX");
	if (rc || !r.d.cfg.rules_dir || !mkdtemp(r.dir)) {
		fprintf(err, "cannot set up: %s\n", rc ? "bad configuration" : strerror(errno));
		tr_config_free(&r.d.cfg);
		return 2;
	}
	snprintf(r.db_path, sizeof(r.db_path), "%s/test.db", r.dir);
	int log_level = tr_log_level;
	tr_log_level = TR_LOG_WARNING; /* a fresh database per test is not news */

	int status = 0;
	if (S_ISDIR(st.st_mode)) {
		struct dirent **names;
		int n = scandir(dir, &names, is_test_file, alphasort);
		if (n < 0)
			status = 2;
		for (int i = 0; i < n; i++) {
			char file[8192];
			snprintf(file, sizeof(file), "%s/%s", dir, names[i]->d_name);
			int rc = status == 2 ? 2 : run_file(&r, file);
			if (rc > status)
				status = rc;
			free(names[i]);
		}
		if (n >= 0)
			free(names);
	} else {
		status = run_file(&r, path);
	}
	drop_world(&r);
	char marker[128];
	snprintf(marker, sizeof(marker), "%s/inflight", r.dir);
	unlink(marker);
	rmdir(r.dir);
	tr_config_free(&r.d.cfg);
	tr_log_level = log_level;
	fprintf(out, "%d passed, %d failed\n", r.passed, r.failed);
	return status;
}
