/* The YAML text of a config file as a small tree of nodes that remember
 * their line and column, read with libyaml's event API: one document, no
 * aliases, nesting bounded. Also the reads of a node that report what is
 * wrong where (a string that is missing, a key that is empty or repeated),
 * and the reporting itself, so a problem anywhere in the file carries its
 * position. Knows no key of the schema: config.c and the section files walk
 * the tree with their key tables. */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "config_internal.h"
#include "tr_error.h"

#define TREE_MAX_DEPTH 32           /* our schema nests 4 deep; bounds the recursion */

/* ---- problems ------------------------------------------------------------ */

void tr_config_problem_at(struct ctx *c, int line, int column, const char *key, const char *fmt, ...)
{
	char msg[320];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	tr_errors_add(c->errs, c->file, line, column, key, "%s", msg);
	c->nerrors++;
}

/* ---- the node tree ------------------------------------------------------ */

void tr_config_node_free(struct node *n)
{
	if (!n)
		return;
	for (size_t i = 0; i < n->nkids; i++)
		tr_config_node_free(n->kids[i]);
	free(n->kids);
	free(n->text);
	free(n);
}

static struct node *node_new(struct ctx *c, enum node_kind kind, const yaml_mark_t *m)
{
	struct node *n = calloc(1, sizeof(*n));
	if (!n) {
		c->oom = true;
		return NULL;
	}
	n->kind = kind;
	n->line = (int)m->line + 1;
	n->column = (int)m->column + 1;
	return n;
}

static bool node_append(struct ctx *c, struct node *parent, struct node *kid)
{
	if (parent->nkids == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct node **kids = realloc(parent->kids, cap * sizeof(*kids));
		if (!kids) {
			c->oom = true;
			return false;
		}
		parent->kids = kids;
		parent->cap = cap;
	}
	parent->kids[parent->nkids++] = kid;
	return true;
}

/* Reports libyaml's error with the most useful position it has. */
static void syntax_error(struct ctx *c, const yaml_parser_t *p, const unsigned char *buf, size_t len)
{
	if (p->error == YAML_MEMORY_ERROR) {
		c->oom = true;
		return;
	}
	const char *what = p->problem ? p->problem : "unknown problem";
	if (p->error == YAML_READER_ERROR) {
		/* Reader errors (bad UTF-8, control characters) carry a byte offset. */
		int line = 1, column = 1;
		for (size_t i = 0; i < p->problem_offset && i < len; i++) {
			if (buf[i] == '\n') {
				line++;
				column = 1;
			} else {
				column++;
			}
		}
		tr_config_problem_at(c, line, column, "", "not a valid YAML text: %s", what);
		return;
	}
	int line = (int)p->problem_mark.line + 1, column = (int)p->problem_mark.column + 1;
	if (p->context && p->context_mark.line != p->problem_mark.line)
		tr_config_problem_at(c, line, column, "", "YAML syntax error: %s (%s that started at line %d, column %d)",
			   what, p->context, (int)p->context_mark.line + 1, (int)p->context_mark.column + 1);
	else if (p->context)
		tr_config_problem_at(c, line, column, "", "YAML syntax error: %s (%s)", what, p->context);
	else
		tr_config_problem_at(c, line, column, "", "YAML syntax error: %s", what);
}

/* Parses buf into a tree. Returns the root, or NULL for an empty stream or
 * after a problem that stops the parse (reported in c; the partial tree is
 * freed). The caller frees the root with node_free. */
struct node *tr_config_parse(struct ctx *c, const unsigned char *buf, size_t len)
{
	yaml_parser_t parser;
	if (!yaml_parser_initialize(&parser)) {
		c->oom = true;
		return NULL;
	}
	yaml_parser_set_input_string(&parser, buf, len);

	struct node *root = NULL, *stack[TREE_MAX_DEPTH];
	int depth = 0, docs = 0;
	bool done = false, failed = false;
	while (!done && !failed && !c->oom) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&parser, &ev)) {
			syntax_error(c, &parser, buf, len);
			failed = true;
			break;
		}
		const yaml_mark_t *m = &ev.start_mark;
		struct node *n = NULL;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1) {
				tr_config_problem_at(c, (int)m->line + 1, (int)m->column + 1, "",
					   "only one YAML document is allowed");
				failed = true;
			}
			break;
		case YAML_ALIAS_EVENT:
			tr_config_problem_at(c, (int)m->line + 1, (int)m->column + 1, "",
				   "YAML aliases (*%s) are not supported: write the value out",
				   (const char *)ev.data.alias.anchor);
			failed = true;
			break;
		case YAML_SCALAR_EVENT:
			n = node_new(c, NODE_SCALAR, m);
			if (!n)
				break;
			n->text = strndup((const char *)ev.data.scalar.value, ev.data.scalar.length);
			if (!n->text) {
				c->oom = true;
				free(n);
				n = NULL;
				break;
			}
			n->quoted = ev.data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
			if (strlen(n->text) != ev.data.scalar.length)
				problem(c, n, "", "a value contains a NUL character");
			break;
		case YAML_SEQUENCE_START_EVENT:
			n = node_new(c, NODE_SEQ, m);
			break;
		case YAML_MAPPING_START_EVENT:
			n = node_new(c, NODE_MAP, m);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
		if (!n)
			continue;
		if (depth == 0 && !root) {
			root = n;
		} else if (depth == 0 || !node_append(c, stack[depth - 1], n)) {
			tr_config_node_free(n);  /* a second root cannot happen in one document */
			failed = true;
			break;
		}
		if (n->kind != NODE_SCALAR) {
			if (depth == TREE_MAX_DEPTH) {
				problem(c, n, "", "nested more than %d levels deep", TREE_MAX_DEPTH);
				failed = true;
				break;
			}
			stack[depth++] = n;
		}
	}
	yaml_parser_delete(&parser);
	if (failed || c->oom) {
		tr_config_node_free(root);
		return NULL;
	}
	return root;
}

/* ---- reads that report ---------------------------------------------------- */

/* The text of a non-empty scalar, or NULL after reporting why there is none. */
const char *tr_config_want_string(struct ctx *c, const struct node *v, const char *key)
{
	if (v->kind != NODE_SCALAR) {
		problem(c, v, key, "expected a string, got %s", kind_name(v));
		return NULL;
	}
	if (is_null(v) || !v->text[0]) {
		problem(c, v, key, "needs a value");
		return NULL;
	}
	return v->text;
}

/* The earlier key node equal to the key at kids[i] of mapping n, or NULL. */
static const struct node *earlier_key(const struct node *n, size_t i)
{
	const struct node *k = n->kids[i];
	for (size_t j = 0; j < i; j += 2)
		if (n->kids[j]->kind == NODE_SCALAR && strcmp(n->kids[j]->text, k->text) == 0)
			return n->kids[j];
	return NULL;
}

/* Checks the key at kids[i] of mapping n (whose key path is prefix): a
 * non-empty scalar seen once. Returns its text, or NULL after reporting. */
const char *tr_config_pair_key(struct ctx *c, const struct node *n, size_t i, const char *prefix)
{
	const struct node *k = n->kids[i], *first;
	if (k->kind != NODE_SCALAR || !k->text[0]) {
		problem(c, k, prefix, "keys must be non-empty strings");
		return NULL;
	}
	if ((first = earlier_key(n, i))) {
		char key[160];
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", k->text);
		problem(c, k, key, "duplicate key (first at line %d)", first->line);
		return NULL;
	}
	return k->text;
}
