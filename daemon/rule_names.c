/* The calendar, output and ladder names a rule file writes as literals,
 * found by scanning its text, and their check against the config before
 * the rules run (tr_rule_names.h, SPEC §3 "No deadline silently lost").
 * A tokenizer that skips Lua's comments, long brackets and escapes as Lua
 * does, and a few token shapes over it. Not a Lua parser (what it does not
 * recognise is left to the bindings' run-time checks in lua_*.c), and not
 * the loading of rules (engine.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_log.h"
#include "tr_notify.h"
#include "tr_rule_names.h"

/* ---- the tokenizer ---- */

enum tok_type { TOK_EOF, TOK_NAME, TOK_STRING, TOK_NUMBER, TOK_PUNCT };

struct tok {
	enum tok_type type;
	const char *p;   /* a name, a string's contents, a punctuation mark */
	size_t len;
	int line;
	int escaped;
};

struct lexer {
	const char *s;
	size_t len, pos;
	int line;
};

static int peek(const struct lexer *lx, size_t off)
{
	return lx->pos + off < lx->len ? (unsigned char)lx->s[lx->pos + off] : -1;
}

static int is_newline(int c)
{
	return c == '\n' || c == '\r';
}

static int is_alpha(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

/* At a '\n' or '\r': steps over it and its pair ("\r\n" or "\n\r"), one
 * line, as Lua's lexer counts them. */
static void newline(struct lexer *lx)
{
	int c = peek(lx, 0);
	lx->pos++;
	if (is_newline(peek(lx, 0)) && peek(lx, 0) != c)
		lx->pos++;
	lx->line++;
}

/* At a '[': 1 with *level set when a long bracket opens here ("[[" level
 * 0, "[==[" level 2), else 0. */
static int long_open(const struct lexer *lx, size_t *level)
{
	size_t i = lx->pos + 1;
	while (i < lx->len && lx->s[i] == '=')
		i++;
	if (i >= lx->len || lx->s[i] != '[')
		return 0;
	*level = i - lx->pos - 1;
	return 1;
}

/* From an opening long bracket of level: the contents up to the closing
 * bracket of the same level (to the end of the text when there is none:
 * the compiler reports that), past a first newline as Lua skips it. */
static void long_body(struct lexer *lx, size_t level, const char **body, size_t *n)
{
	lx->pos += level + 2;
	if (is_newline(peek(lx, 0)))
		newline(lx);
	size_t start = lx->pos;
	while (lx->pos < lx->len) {
		int c = peek(lx, 0);
		if (c == ']') {
			size_t i = lx->pos + 1;
			while (i < lx->len && lx->s[i] == '=')
				i++;
			if (i - lx->pos - 1 == level && i < lx->len && lx->s[i] == ']') {
				*body = lx->s + start;
				*n = lx->pos - start;
				lx->pos = i + 1;
				return;
			}
			lx->pos = i; /* that ']' may open the real closing bracket */
		} else if (is_newline(c)) {
			newline(lx);
		} else {
			lx->pos++;
		}
	}
	*body = lx->s + start;
	*n = lx->pos - start;
}

/* A quoted string from its opening quote. 0 when it is unfinished (a raw
 * newline or the end of the text: Lua refuses both). */
static int quoted(struct lexer *lx, struct tok *t)
{
	int q = peek(lx, 0);
	lx->pos++;
	size_t start = lx->pos;
	while (lx->pos < lx->len) {
		int c = peek(lx, 0);
		if (c == q) {
			t->p = lx->s + start;
			t->len = lx->pos - start;
			lx->pos++;
			return 1;
		}
		if (is_newline(c))
			return 0;
		lx->pos++;
		if (c != '\\')
			continue;
		t->escaped = 1;
		c = peek(lx, 0);
		if (is_newline(c)) {
			newline(lx); /* "\" then a newline continues the string */
		} else if (c == 'z') {
			lx->pos++; /* "\z" skips the white space after it, newlines too */
			for (c = peek(lx, 0); c == ' ' || (c >= '\t' && c <= '\r'); c = peek(lx, 0)) {
				if (is_newline(c))
					newline(lx);
				else
					lx->pos++;
			}
		} else if (c >= 0) {
			lx->pos++;
		}
	}
	return 0;
}

/* The next token; TOK_EOF at the end or at text that does not lex. */
static void next_token(struct lexer *lx, struct tok *t)
{
	int c;
	for (;;) {
		c = peek(lx, 0);
		if (c < 0) {
			t->type = TOK_EOF;
			return;
		}
		if (is_newline(c)) {
			newline(lx);
		} else if (c == ' ' || c == '\t' || c == '\v' || c == '\f') {
			lx->pos++;
		} else if (c == '-' && peek(lx, 1) == '-') {
			lx->pos += 2;
			size_t level;
			const char *body;
			size_t n;
			if (peek(lx, 0) == '[' && long_open(lx, &level)) {
				long_body(lx, level, &body, &n);
			} else {
				while (lx->pos < lx->len && !is_newline(peek(lx, 0)))
					lx->pos++;
			}
		} else {
			break;
		}
	}
	t->line = lx->line;
	t->escaped = 0;
	t->p = lx->s + lx->pos;
	size_t level;
	if (c == '"' || c == '\'') {
		t->type = quoted(lx, t) ? TOK_STRING : TOK_EOF;
	} else if (c == '[' && long_open(lx, &level)) {
		t->type = TOK_STRING;
		long_body(lx, level, &t->p, &t->len);
	} else if (is_alpha(c)) {
		t->type = TOK_NAME;
		while (is_alpha(peek(lx, 0)) || is_digit(peek(lx, 0)))
			lx->pos++;
		t->len = (size_t)(lx->s + lx->pos - t->p);
	} else if (is_digit(c) || (c == '.' && is_digit(peek(lx, 1)))) {
		t->type = TOK_NUMBER;
		for (int prev = 0;; prev = c) {
			c = peek(lx, 0);
			int sign = (c == '+' || c == '-') && (prev == 'e' || prev == 'E' || prev == 'p' || prev == 'P');
			if (!(is_alpha(c) || is_digit(c) || c == '.' || sign))
				break;
			lx->pos++;
		}
		t->len = (size_t)(lx->s + lx->pos - t->p);
	} else {
		/* "..." and the two-character marks matter: ".." is not a field
		 * access, "==" not an assignment */
		static const char *const marks[] = {"...", "..", "==", "~=", "<=", ">=", "::", "//", "<<", ">>", NULL};
		t->type = TOK_PUNCT;
		t->len = 1;
		for (int i = 0; marks[i]; i++) {
			size_t n = strlen(marks[i]);
			if (lx->len - lx->pos >= n && memcmp(lx->s + lx->pos, marks[i], n) == 0) {
				t->len = n;
				break;
			}
		}
		lx->pos += t->len;
	}
}

/* ---- the shapes ---- */

static int is_punct(const struct tok *t, const char *mark)
{
	return t->type == TOK_PUNCT && t->len == strlen(mark) && memcmp(t->p, mark, t->len) == 0;
}

static int is_name(const struct tok *t, const char *name)
{
	return t->type == TOK_NAME && t->len == strlen(name) && memcmp(t->p, name, t->len) == 0;
}

/* A call whose argument at position arg names something: table is NULL
 * for a global function, ":" for a method, else the table's name. */
static const struct call {
	const char *table, *fn;
	int arg;
	enum tr_name_kind kind;
	const char *via;
} calls[] = {
	{NULL, "notify", 1, TR_NAME_OUTPUT, "notify"},
	{NULL, "has_output", 1, TR_NAME_HAS_OUTPUT, "has_output"},
	{"time", "add", 3, TR_NAME_CALENDAR, "time.add"},
	{"time", "is_open", 2, TR_NAME_CALENDAR, "time.is_open"},
	{"time", "next_open", 2, TR_NAME_CALENDAR, "time.next_open"},
	{"time", "last_open", 2, TR_NAME_CALENDAR, "time.last_open"},
	{"time", "zone", 1, TR_NAME_CALENDAR, "time.zone"},
	{"time", "has_calendar", 1, TR_NAME_HAS_CALENDAR, "time.has_calendar"},
	{":", "due", 2, TR_NAME_CALENDAR, "due"},
};

/* Fields of an option table that name something, whichever function takes
 * the table (nudge, escalate, ladder and its levels). */
static const struct field {
	const char *key;
	enum tr_name_kind kind;
	const char *via;
} fields[] = {
	{"notify", TR_NAME_OUTPUT, "option notify"},
	{"calendar", TR_NAME_CALENDAR, "option calendar"},
	{"ladder", TR_NAME_LADDER, "option ladder"},
};

/* Brackets whose arguments are followed; a rule nested deeper is counted,
 * not read (no rule a person writes nests calls 256 deep). */
#define MAX_NEST 256

struct frame {
	char open;               /* '(', '{' or '[' */
	const struct call *call; /* the call this '(' opens, when it names something */
	int arg;                 /* the argument being read, from 1 */
	int ntok;                /* its tokens so far */
	struct tok first;        /* its first token */
};

struct scan {
	tr_rule_name_fn fn;
	void *arg;
	struct tok last[4];      /* the tokens before the current one, nearest first */
	size_t depth;            /* may pass MAX_NEST: those frames are not kept */
	struct frame stack[MAX_NEST];
};

static void report(struct scan *sc, enum tr_name_kind kind, const struct tok *t, const char *via)
{
	if (kind != TR_NAME_LITERAL && t->escaped)
		return; /* its value is not its text: left to run time */
	struct tr_rule_name n = {.kind = kind, .text = t->p, .len = t->len, .escaped = t->escaped,
				 .line = t->line, .via = via};
	sc->fn(&n, sc->arg);
}

/* The call that the tokens before the current one name, if it is one of
 * calls[]: `notify`, `time . add` (not `x.time.add`), `: due`. */
static const struct call *call_before(const struct scan *sc)
{
	const struct tok *fn = &sc->last[0], *sep = &sc->last[1];
	if (fn->type != TOK_NAME)
		return NULL;
	int method = is_punct(sep, ":"), field = is_punct(sep, ".");
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		const struct call *c = &calls[i];
		if (!is_name(fn, c->fn))
			continue;
		if (!c->table && !method && !field)
			return c;
		if (c->table && strcmp(c->table, ":") == 0 && method)
			return c;
		if (c->table && field && is_name(&sc->last[2], c->table) && !is_punct(&sc->last[3], ".") &&
		    !is_punct(&sc->last[3], ":"))
			return c;
	}
	return NULL;
}

/* At the end of an argument of a followed call: a literal that is the
 * whole argument at the call's position is a name. */
static void end_arg(struct scan *sc, struct frame *f)
{
	if (f->arg == f->call->arg && f->ntok == 1 && f->first.type == TOK_STRING)
		report(sc, f->call->kind, &f->first, f->call->via);
}

static void step(struct scan *sc, const struct tok *cur)
{
	struct frame *top = sc->depth && sc->depth <= MAX_NEST ? &sc->stack[sc->depth - 1] : NULL;
	int closes = is_punct(cur, ")") || is_punct(cur, "}") || is_punct(cur, "]");
	int opens = is_punct(cur, "(") || is_punct(cur, "{") || is_punct(cur, "[");
	const struct tok *last = sc->last;

	if (cur->type == TOK_STRING) {
		report(sc, TR_NAME_LITERAL, cur, NULL);
		const struct call *c = call_before(sc); /* notify "x": a call with one argument */
		if (c && c->arg == 1)
			report(sc, c->kind, cur, c->via);
	}
	/* `{ …, key = "x" }`: a field of the table constructor we are in,
	 * whose value is the literal alone */
	if (top && top->open == '{' && (is_punct(cur, ",") || is_punct(cur, ";") || is_punct(cur, "}")) &&
	    last[0].type == TOK_STRING && is_punct(&last[1], "=") && last[2].type == TOK_NAME &&
	    (is_punct(&last[3], "{") || is_punct(&last[3], ",") || is_punct(&last[3], ";"))) {
		for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
			if (is_name(&last[2], fields[i].key))
				report(sc, fields[i].kind, &last[0], fields[i].via);
	}
	if (top && top->call) {
		if (is_punct(cur, ",")) {
			end_arg(sc, top);
			top->arg++;
			top->ntok = 0;
		} else if (closes) {
			end_arg(sc, top);
		} else if (top->ntok++ == 0) {
			top->first = *cur;
		}
	}
	if (opens) {
		if (sc->depth < MAX_NEST) {
			struct frame *f = &sc->stack[sc->depth];
			memset(f, 0, sizeof(*f));
			f->open = cur->p[0];
			f->arg = 1;
			f->call = f->open == '(' ? call_before(sc) : NULL;
		}
		sc->depth++;
	} else if (closes && sc->depth) {
		sc->depth--; /* a mismatched bracket is the compiler's to report */
	}
	memmove(&sc->last[1], &sc->last[0], 3 * sizeof(sc->last[0]));
	sc->last[0] = *cur;
}

void tr_rule_names_scan(const char *text, size_t len, tr_rule_name_fn fn, void *arg)
{
	struct scan sc; /* about 16 KiB, on the caller's stack: nothing to free or fail */
	memset(&sc, 0, sizeof(sc));
	sc.fn = fn;
	sc.arg = arg;
	struct lexer lx = {.s = text, .len = len, .pos = 0, .line = 1};
	struct tok t;
	for (next_token(&lx, &t); t.type != TOK_EOF; next_token(&lx, &t))
		step(&sc, &t);
}

/* ---- the check against the config ---- */

#define NAME_MAX_SHOWN 128 /* a longer literal names nothing the config can hold */

struct check {
	const struct tr_config *cfg;
	const char *path;
	const char *const *ladders;
	size_t nladders;
	unsigned char *calendar_used, *output_used; /* NULL: not counted (no memory) */
	struct tr_errors *errs, *warnings;
	int nerrors;
};

static int same(const struct tr_rule_name *n, const char *s)
{
	return strlen(s) == n->len && memcmp(n->text, s, n->len) == 0;
}

static int calendar_known(const struct tr_config *cfg, const struct tr_rule_name *n)
{
	if (same(n, "24x7"))
		return 1;
	for (size_t i = 0; i < cfg->ncalendars; i++)
		if (same(n, cfg->calendars[i].name))
			return 1;
	return 0;
}

static int output_known(const struct tr_config *cfg, const struct tr_rule_name *n)
{
	char name[NAME_MAX_SHOWN + 1];
	if (n->len > NAME_MAX_SHOWN || memchr(n->text, 0, n->len))
		return 0;
	memcpy(name, n->text, n->len);
	name[n->len] = 0;
	return tr_notify_output_known(cfg, name); /* the one list of built-in outputs */
}

static int ladder_known(const struct check *c, const struct tr_rule_name *n)
{
	for (size_t i = 0; i < c->nladders; i++)
		if (same(n, c->ladders[i]))
			return 1;
	return 0;
}

/* "a, b" from count names got by name(i), or "none". */
static void list_names(char *buf, size_t len, size_t count, const char *(*name)(const struct check *, size_t),
		       const struct check *c)
{
	size_t n = 0;
	buf[0] = 0;
	for (size_t i = 0; i < count && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "", name(c, i));
	if (!count)
		snprintf(buf, len, "none");
}

static const char *calendar_at(const struct check *c, size_t i)
{
	return c->cfg->calendars[i].name;
}

static const char *output_at(const struct check *c, size_t i)
{
	return c->cfg->outputs[i].name;
}

static const char *ladder_at(const struct check *c, size_t i)
{
	return c->ladders[i];
}

static void unknown(struct check *c, const struct tr_rule_name *n, const char *what, const char *lacks,
		    const char *known)
{
	int shown = n->len > NAME_MAX_SHOWN ? NAME_MAX_SHOWN : (int)n->len;
	char quoted[NAME_MAX_SHOWN + 3];
	snprintf(quoted, sizeof(quoted), "'%.*s'", shown, n->text);
	for (size_t i = 0; i < c->errs->n; i++) {
		const struct tr_error *e = &c->errs->items[i];
		if (e->line == n->line && strcmp(e->file, c->path) == 0 && strstr(e->message, quoted))
			return; /* the binding said it already, as the file loaded */
	}
	tr_errors_add(c->errs, c->path, n->line, 0, NULL, "%s names %s '%.*s' that %s (%s)", n->via, what, shown,
		      n->text, lacks, known);
	c->nerrors++;
}

static void mark_used(struct check *c, const struct tr_rule_name *n)
{
	for (size_t i = 0; c->calendar_used && i < c->cfg->ncalendars; i++)
		if (same(n, c->cfg->calendars[i].name))
			c->calendar_used[i] = 1;
	for (size_t i = 0; c->output_used && i < c->cfg->noutputs; i++)
		if (same(n, c->cfg->outputs[i].name))
			c->output_used[i] = 1;
}

static void fallback(struct check *c, const struct tr_rule_name *n, const char *what)
{
	char name[NAME_MAX_SHOWN + 1];
	size_t len = n->len > NAME_MAX_SHOWN ? NAME_MAX_SHOWN : n->len;
	memcpy(name, n->text, len);
	name[len] = 0;
	tr_rule_names_fallback(c->warnings, c->path, n->line, what, name);
}

static void on_name(const struct tr_rule_name *n, void *arg)
{
	struct check *c = arg;
	char known[200], list[160];
	switch (n->kind) {
	case TR_NAME_LITERAL:
		mark_used(c, n);
		break;
	case TR_NAME_CALENDAR:
		if (!calendar_known(c->cfg, n)) {
			list_names(list, sizeof(list), c->cfg->ncalendars, calendar_at, c);
			snprintf(known, sizeof(known), "calendars: %s; built in: 24x7", list);
			unknown(c, n, "calendar", "the config lacks", known);
		}
		break;
	case TR_NAME_OUTPUT:
		if (!output_known(c->cfg, n)) {
			list_names(list, sizeof(list), c->cfg->noutputs, output_at, c);
			snprintf(known, sizeof(known), "outputs: %s; built in: journal, watch", list);
			unknown(c, n, "output", "the config lacks", known);
		}
		break;
	case TR_NAME_LADDER:
		if (c->ladders && !ladder_known(c, n)) {
			list_names(list, sizeof(list), c->nladders, ladder_at, c);
			snprintf(known, sizeof(known), "ladders: %s", list);
			unknown(c, n, "ladder", "no ladder{} declares", known);
		}
		break;
	case TR_NAME_HAS_CALENDAR:
		if (!calendar_known(c->cfg, n))
			fallback(c, n, "calendar");
		break;
	case TR_NAME_HAS_OUTPUT:
		if (!output_known(c->cfg, n))
			fallback(c, n, "output");
		break;
	}
}

int tr_rule_names_check(const struct tr_rule_file *files, size_t nfiles, const struct tr_config *cfg,
			const char *const *ladders, size_t nladders, struct tr_errors *errs,
			struct tr_errors *warnings)
{
	struct check c = {.cfg = cfg, .ladders = ladders, .nladders = nladders, .errs = errs, .warnings = warnings};
	c.calendar_used = calloc(cfg->ncalendars + 1, 1);
	c.output_used = calloc(cfg->noutputs + 1, 1);
	for (size_t i = 0; i < nfiles; i++) {
		c.path = files[i].path;
		tr_rule_names_scan(files[i].text, files[i].len, on_name, &c);
	}
	/* "used" is simple on purpose: the name appears as a string literal
	 * somewhere in the rules, however the rule then passes it on. */
	const char *config = cfg->path ? cfg->path : "";
	for (size_t i = 0; c.calendar_used && i < cfg->ncalendars; i++)
		if (!c.calendar_used[i])
			tr_errors_add(warnings, config, cfg->calendars[i].line, 0, "calendars",
				      "calendar '%s' is not used by any rule (no rule file holds the string \"%s\")",
				      cfg->calendars[i].name, cfg->calendars[i].name);
	for (size_t i = 0; c.output_used && i < cfg->noutputs; i++)
		if (!c.output_used[i])
			tr_errors_add(warnings, config, cfg->outputs[i].line, 0, "outputs",
				      "output '%s' is not used by any rule (no rule file holds the string \"%s\")",
				      cfg->outputs[i].name, cfg->outputs[i].name);
	free(c.calendar_used);
	free(c.output_used);
	return c.nerrors;
}

void tr_rule_names_fallback(struct tr_errors *warnings, const char *file, int line, const char *what,
			    const char *name)
{
	char msg[sizeof(warnings->items[0].message)];
	snprintf(msg, sizeof(msg), "%s '%s' is not in the config; the rule falls back", what, name);
	for (size_t i = 0; i < warnings->n; i++) {
		const struct tr_error *w = &warnings->items[i];
		if (w->line == line && strcmp(w->file, file) == 0 && strcmp(w->message, msg) == 0)
			return;
	}
	tr_errors_add(warnings, file, line, 0, NULL, "%s", msg);
}

void tr_rule_names_log(const struct tr_errors *warnings, const char *who)
{
	for (size_t i = 0; i < warnings->n; i++) {
		char line[512];
		tr_error_format(&warnings->items[i], line, sizeof(line));
		log_warnx("%s: %s", who, line);
	}
}
