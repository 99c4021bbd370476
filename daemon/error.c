/* Error codes, located error lists and the assertion tiers of tr_error.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_error.h"
#include "tr_log.h"

const char *tr_strerror(int code)
{
	switch (code) {
	case 0: return "success";
	case TR_EPARSE: return "malformed input";
	case TR_ELUA: return "rule error";
	case TR_EBUDGET: return "rule budget exceeded";
	case TR_ESTORE: return "database error";
	case TR_EDUP: return "duplicate";
	default: return code < 0 ? strerror(-code) : "unknown error";
	}
}

void tr_errors_add(struct tr_errors *errs, const char *file, int line, int column,
		   const char *field, const char *fmt, ...)
{
	if (errs->n == errs->cap) {
		size_t cap = errs->cap ? errs->cap * 2 : 8;
		struct tr_error *items = realloc(errs->items, cap * sizeof(*items));
		if (!items)
			return; /* the list is best effort; the caller's return code still says it failed */
		errs->items = items;
		errs->cap = cap;
	}
	struct tr_error *e = &errs->items[errs->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->file, sizeof(e->file), "%s", file ? file : "");
	snprintf(e->field, sizeof(e->field), "%s", field ? field : "");
	e->line = line;
	e->column = column;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
}

void tr_errors_free(struct tr_errors *errs)
{
	free(errs->items);
	memset(errs, 0, sizeof(*errs));
}

void tr_error_format(const struct tr_error *e, char *buf, size_t len)
{
	char where[320] = "";
	size_t n = 0;
	if (e->file[0])
		n += snprintf(where + n, sizeof(where) - n, "%s:", e->file);
	if (e->line > 0)
		n += snprintf(where + n, sizeof(where) - n, "%d:", e->line);
	if (e->column > 0 && n < sizeof(where))
		n += snprintf(where + n, sizeof(where) - n, "%d:", e->column);
	snprintf(buf, len, "%s%s%s%s%s", where, n ? " " : "", e->field, e->field[0] ? ": " : "", e->message);
}

_Noreturn void tr_fatal(const char *file, int line, const char *expr)
{
	log_errx("%s:%d: requirement failed: %s", file, line, expr);
	abort();
}

bool tr_fails(const char *file, int line, const char *expr)
{
	log_errx("%s:%d: check failed: %s", file, line, expr);
#ifdef TR_DEBUG
	abort();
#endif
	return true;
}
