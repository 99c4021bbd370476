/* The Lua sandbox: one lua_State built from an allow-list, a counting
 * allocator with a per-run memory budget, an instruction and wall-clock
 * budget per run that pcall inside a rule cannot swallow, and the single
 * place that calls into Lua (tr_lua_pcall). Not rule registration (engine.c)
 * nor the tables rules use (lua_*.c). */
#ifndef TR_SANDBOX_H
#define TR_SANDBOX_H

#include <stddef.h>
#include <stdint.h>
#include <lua.h>

struct tr_budget {
	int64_t instructions;  /* per run */
	size_t memory;         /* bytes a run may add to the state */
	int64_t time_ms;       /* wall clock per run, holds inside library calls */
	size_t state_memory;   /* bytes the whole state may hold, across runs; 0: no cap */
};

struct tr_sandbox;

/* Creates a state whose global base (allowed functions) is ready, with
 * `require` reading only lib_dir (may be NULL: require always fails). owner
 * is kept for tr_sandbox_owner. *out is owned by the caller
 * (tr_sandbox_free). Returns 0 or -ENOMEM. */
int tr_sandbox_new(const struct tr_budget *budget, const char *lib_dir, void *owner,
		   struct tr_sandbox **out);
void tr_sandbox_free(struct tr_sandbox *sb);
/* Bytes the state holds now, garbage included. */
size_t tr_sandbox_memory(const struct tr_sandbox *sb);
/* Collects all garbage; returns the bytes still held, i.e. what rules keep
 * between events. */
size_t tr_sandbox_collect(struct tr_sandbox *sb);

lua_State *tr_sandbox_lua(struct tr_sandbox *sb);
struct tr_sandbox *tr_sandbox_of(lua_State *L);
void *tr_sandbox_owner(lua_State *L);

/* Pops the value on top of the stack into the base of allowed globals as
 * name (frozen if a table); lua_*.c add their tables before any rule loads. */
void tr_sandbox_add_global(struct tr_sandbox *sb, const char *name);
/* Pushes a fresh environment for one rule file: globals it sets stay its
 * own; reads fall through to the base. */
void tr_sandbox_push_env(struct tr_sandbox *sb);

/* Loads a text chunk (never binary) with the env on top of the stack as its
 * _ENV (popped). Pushes the function. Returns 0 or a Lua status with the
 * message pushed instead. */
int tr_sandbox_load(struct tr_sandbox *sb, const char *buf, size_t len, const char *chunkname);

/* Result of a protected call. */
struct tr_call {
	int status;           /* 0 ok, TR_ELUA error, TR_EBUDGET budget exceeded */
	char message[512];    /* without the location prefix */
	char location[256];   /* "file.lua:LINE" of the innermost rule frame, or "" */
	int64_t duration_us;
};

/* SPEC §3 isolation: calls the function below nargs arguments under the
 * budget (limits multiplied by scale, e.g. larger for loading files).
 * Leaves nresults on the stack on success, nothing on failure. Never raises,
 * never exits. */
void tr_lua_pcall(struct tr_sandbox *sb, int nargs, int nresults, int scale, struct tr_call *call);

#endif
