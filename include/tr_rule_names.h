/* The names a rule file writes as string literals where a calendar, an
 * output or a ladder is meant, found by scanning its text, and the check of
 * those names against the config before the rules run (SPEC §3: a name a
 * rule uses that the config lacks is an error, never a silent fallback).
 * A name that is not a literal (a variable, a concatenation) is not seen
 * here: the binding that receives it raises an `error` outcome naming it
 * when the rule runs. Not a Lua parser: a tokenizer and a handful of
 * shapes; anything it does not recognise it leaves to run time. */
#ifndef TR_RULE_NAMES_H
#define TR_RULE_NAMES_H

#include <stddef.h>
#include "tr_config.h"
#include "tr_error.h"

enum tr_name_kind {
	TR_NAME_LITERAL,      /* every string literal: what "a rule uses this name" means */
	TR_NAME_CALENDAR,     /* calendar = "x", time.add(t, d, "x"), t:due(d, "x"), … */
	TR_NAME_OUTPUT,       /* notify("x", …), notify = "x" */
	TR_NAME_LADDER,       /* ladder = "x" (t:escalate{ ladder = "x" }) */
	TR_NAME_HAS_CALENDAR, /* time.has_calendar("x"): a probe; absent means a fallback */
	TR_NAME_HAS_OUTPUT,   /* has_output("x"): the same for outputs */
};

/* One literal found in the scanned text. text points into that text (not
 * NUL-terminated) and is the literal's source bytes between its quotes or
 * long brackets. */
struct tr_rule_name {
	enum tr_name_kind kind;
	const char *text;
	size_t len;
	int escaped;         /* holds a backslash escape: text is not its value */
	int line;            /* 1-based, of the literal's opening quote */
	const char *via;     /* static, for messages: "notify", "time.add",
			      * "option calendar", …; NULL for TR_NAME_LITERAL */
};

typedef void (*tr_rule_name_fn)(const struct tr_rule_name *n, void *arg);

/* Calls fn for each string literal of the Lua source text[0..len) (kind
 * TR_NAME_LITERAL), and, after it, once more for a literal in one of the
 * name shapes (a reference kind; never for an escaped literal). A literal
 * counts in a call only when it is the whole argument at that position
 * (time.add(t, "4h", "a" .. b) names no calendar), and `notify = "x"` only
 * as a field of a table constructor (not `local notify = "x"`). Comments,
 * long strings and escapes are skipped as Lua skips them; text that does
 * not lex (an unfinished string) ends the scan quietly: the compiler
 * reports it. Allocates nothing. */
void tr_rule_names_scan(const char *text, size_t len, tr_rule_name_fn fn, void *arg);

/* A rule file's text as the engine loaded it. */
struct tr_rule_file {
	const char *path;    /* as shown in messages */
	const char *text;
	size_t len;
};

/* Checks the literal names of files against cfg:
 *   - errors (appended to errs, file:line): a calendar that is neither in
 *     cfg->calendars nor "24x7", an output that is neither in cfg->outputs
 *     nor built in (journal, watch), and, when ladders is not NULL, a ladder
 *     not among ladders[0..nladders) (the names ladder{} declared);
 *   - warnings (appended to warnings): a has_calendar/has_output literal
 *     naming what cfg lacks (tr_rule_names_fallback), and each calendar or
 *     output of cfg that no file holds as a string literal, at its line in
 *     the config.
 * Returns the number of errors added; never fails (a list that cannot grow
 * drops the entry, as tr_errors_add does). */
int tr_rule_names_check(const struct tr_rule_file *files, size_t nfiles, const struct tr_config *cfg,
			const char *const *ladders, size_t nladders, struct tr_errors *errs,
			struct tr_errors *warnings);

/* Appends "what 'name' is not in the config; the rule falls back" at
 * file:line to warnings, unless the same warning is already there (a
 * literal probe seen by the scan and run while the file loads is one
 * warning). what is "calendar" or "output". */
void tr_rule_names_fallback(struct tr_errors *warnings, const char *file, int line, const char *what,
			    const char *name);

/* Logs each warning at warning level, prefixed with who ("reload"). */
void tr_rule_names_log(const struct tr_errors *warnings, const char *who);

#endif
