/* The `log` table: rules write to the daemon's log (journald), each line
 * tagged with the rule and the event it was handling. */
#include <lauxlib.h>
#include "tr_log.h"
#include "tr_lua.h"

/* A longer line is cut: the journal is for people, not for dumps. */
#define MAX_LOG_LINE 2048

static int log_at(lua_State *L, int level)
{
	struct tr_run *run = tr_lua_run(L);
	/* A loop of log calls must not flood the journal: past the cap, lines
	 * are only counted, and the engine logs the count once per run. */
	if (++run->log_lines > run->cfg->limits.rule_log_lines) {
		run->log_dropped++;
		return 0;
	}
	int n = lua_gettop(L); /* before luaL_buffinit, which pushes a placeholder */
	luaL_Buffer b;
	luaL_buffinit(L, &b);
	for (int i = 1; i <= n; i++) {
		luaL_tolstring(L, i, NULL);
		luaL_addvalue(&b);
		if (i < n)
			luaL_addchar(&b, ' ');
	}
	luaL_pushresult(&b);
	size_t len;
	const char *msg = lua_tolstring(L, -1, &len);
	if (len > MAX_LOG_LINE) {
		lua_pushfstring(L, "%s... (%d bytes cut)", lua_pushlstring(L, msg, MAX_LOG_LINE), (int)(len - MAX_LOG_LINE));
		msg = lua_tostring(L, -1);
	}
	const char *rule = run->rule ? run->rule : "-";
	const char *type = run->event ? run->event->type : "-";
	const char *id = run->event ? run->event->id : "-";
	switch (level) {
	case TR_LOG_ERR: log_errx("rule %s (%s %s): %s", rule, type, id, msg); break;
	case TR_LOG_WARNING: log_warnx("rule %s (%s %s): %s", rule, type, id, msg); break;
	default: log_info("rule %s (%s %s): %s", rule, type, id, msg); break;
	}
	return 0;
}

static int l_log_info(lua_State *L) { return log_at(L, TR_LOG_INFO); }
static int l_log_warn(lua_State *L) { return log_at(L, TR_LOG_WARNING); }
static int l_log_error(lua_State *L) { return log_at(L, TR_LOG_ERR); }

void tr_lua_open_log(struct tr_sandbox *sb)
{
	static const luaL_Reg funcs[] = {
		{"info", l_log_info}, {"warn", l_log_warn}, {"error", l_log_error}, {NULL, NULL}};
	luaL_newlib(tr_sandbox_lua(sb), funcs);
	tr_sandbox_add_global(sb, "log");
	/* print is log.info: tagged, and under the same per-run cap */
	lua_pushcfunction(tr_sandbox_lua(sb), l_log_info);
	tr_sandbox_add_global(sb, "print");
}
