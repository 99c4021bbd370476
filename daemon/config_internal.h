/* What the config files share: the node tree a file is parsed into
 * (config_yaml.c), the load's context that collects every problem, and the
 * reads of a node that report what is wrong where. Private to config*.c;
 * everyone else sees tr_config.h. The small node reads are inline so that
 * they stay as cheap as when the loader was one file. */
#ifndef TR_CONFIG_INTERNAL_H
#define TR_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "tr_config.h"
#include "tr_error.h"

enum node_kind { NODE_SCALAR, NODE_SEQ, NODE_MAP };

/* One YAML node. A mapping keeps its pairs flat: kids[0] key, kids[1] value,
 * kids[2] key, ... Every node and string is owned by its parent. */
struct node {
	enum node_kind kind;
	int line, column;     /* 1-based, where the node starts */
	char *text;           /* NODE_SCALAR: the value, UTF-8 */
	bool quoted;          /* quoted or block scalar: a string, never null */
	struct node **kids;
	size_t nkids, cap;
};

/* What one load carries around. */
struct ctx {
	const char *file;     /* the file as the user named it, for messages */
	char *dir;            /* its folder, absolute: relative paths start here */
	struct tr_errors *errs;
	int nerrors;          /* counted here: tr_errors_add is best effort */
	bool oom;
};

/* Appends a problem at line, column (1-based) under key path key ("" for the
 * file as a whole) to c->errs, and counts it in c->nerrors. */
__attribute__((format(printf, 5, 6)))
void tr_config_problem_at(struct ctx *c, int line, int column, const char *key, const char *fmt, ...);

/* The same at node n's position. */
#define problem(c, n, key, ...) tr_config_problem_at((c), (n)->line, (n)->column, (key), __VA_ARGS__)

/* strdup that remembers failure in c; NULL only then. */
static inline char *dup_str(struct ctx *c, const char *s)
{
	char *d = strdup(s);
	if (!d)
		c->oom = true;
	return d;
}

/* Replaces the heap string *dst with a copy of s (kept as it was on OOM). */
static inline void set_str(struct ctx *c, char **dst, const char *s)
{
	char *d = dup_str(c, s);
	if (d) {
		free(*dst);
		*dst = d;
	}
}

/* Parses the YAML text buf into a tree (config_yaml.c). Returns the root, or
 * NULL for an empty stream or after a problem that stops the parse (reported
 * in c; the partial tree is freed). The caller frees the root with
 * tr_config_node_free. */
struct node *tr_config_parse(struct ctx *c, const unsigned char *buf, size_t len);

/* Frees n and everything under it; NULL is a no-op. */
void tr_config_node_free(struct node *n);

/* ---- typed access to nodes --------------------------------------------- */

static inline bool is_null(const struct node *n)
{
	if (n->kind != NODE_SCALAR || n->quoted)
		return false;
	const char *t = n->text;
	return !t[0] || strcmp(t, "~") == 0 || strcmp(t, "null") == 0 ||
	       strcmp(t, "Null") == 0 || strcmp(t, "NULL") == 0;
}

static inline const char *kind_name(const struct node *n)
{
	if (is_null(n))
		return "nothing";
	switch (n->kind) {
	case NODE_SEQ: return "a list";
	case NODE_MAP: return "a mapping";
	default: return "a string";
	}
}

/* The value node of key in mapping n, or NULL. */
static inline const struct node *map_get(const struct node *n, const char *key)
{
	if (n->kind != NODE_MAP)
		return NULL;
	for (size_t i = 0; i + 1 < n->nkids; i += 2)
		if (n->kids[i]->kind == NODE_SCALAR && strcmp(n->kids[i]->text, key) == 0)
			return n->kids[i + 1];
	return NULL;
}

/* The text of a non-empty scalar, or NULL after reporting why there is none. */
const char *tr_config_want_string(struct ctx *c, const struct node *v, const char *key);

/* Checks the key at kids[i] of mapping n (whose key path is prefix): a
 * non-empty scalar seen once. Returns its text, or NULL after reporting. */
const char *tr_config_pair_key(struct ctx *c, const struct node *n, size_t i, const char *prefix);

/* ---- key tables (config.c) ------------------------------------------------ */

struct key_def;
/* Applies the value v of one key to dst (the walked struct + def->offset).
 * key is the full key path for messages. Reports every problem in c. */
typedef void (*apply_fn)(struct ctx *c, const struct node *v, void *dst, const char *key,
			 const struct key_def *def);

struct key_def {
	const char *name;
	apply_fn apply;
	size_t offset;              /* where the value goes in the walked struct */
	int64_t max;                /* apply_count: the largest accepted value */
	const struct key_def *sub;  /* apply_section: the nested mapping's keys */
	int64_t min;                /* apply_count: the smallest accepted value; 0: any positive */
};

/* Walks mapping n with the keys in defs (NULL-terminated), applying each to
 * base. A null value (an empty "spool:") is an empty mapping. */
void tr_config_walk_map(struct ctx *c, const struct node *n, const struct key_def *defs, void *base,
			const char *prefix);

/* Value types more than one section reads, with apply_fn's contract. */

/* A path, made absolute against the config file's folder, into the heap
 * string at dst. */
void tr_config_apply_path(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def);

/* An IANA time zone name, into the heap string at dst. */
void tr_config_apply_zone(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def);

/* A list of strings (a single string counts as a list of one) into a heap
 * array with one extra NULL slot, replacing *out and *nout. Items that are
 * not strings are reported. nonempty: an empty list is an error. */
void tr_config_apply_list(struct ctx *c, const struct node *v, const char *key, bool nonempty,
			  char ***out, size_t *nout);

/* Room for every entry of a section that maps names to entries (calendars,
 * outputs, params): a zeroed array the caller stores in the config, or NULL
 * when there is nothing to read (empty or null; not a mapping: reported; out
 * of memory: flagged). what names the keys, for the message. */
void *tr_config_named_entries(struct ctx *c, const struct node *v, const char *key, const char *what,
			      size_t size);

/* ---- the sections, one file each ------------------------------------------ */

/* sources: into the struct tr_config at dst (config_sources.c). */
void tr_config_apply_sources(struct ctx *c, const struct node *v, void *dst, const char *key,
			     const struct key_def *def);

/* calendars: into the struct tr_config at dst (config_calendars.c). */
void tr_config_apply_calendars(struct ctx *c, const struct node *v, void *dst, const char *key,
			       const struct key_def *def);

/* outputs: into the struct tr_config at dst (config_outputs.c). */
void tr_config_apply_outputs(struct ctx *c, const struct node *v, void *dst, const char *key,
			     const struct key_def *def);

#endif
