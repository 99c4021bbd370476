/* Error conventions shared by every module: negative errno-style return codes,
 * user-fixable errors with a location (struct tr_error), and the two assertion
 * tiers. Not for logging: see tr_log.h. */
#ifndef TR_ERROR_H
#define TR_ERROR_H

#include <stddef.h>
#include <stdbool.h>

/* Project-specific codes, below the errno range. */
enum {
	TR_EPARSE = -1001,   /* malformed input */
	TR_ELUA = -1002,     /* a rule raised an error */
	TR_EBUDGET = -1003,  /* a rule ran out of instructions, memory or time */
	TR_ESTORE = -1004,   /* SQLite failed */
	TR_EDUP = -1005,     /* (type, id) was seen before */
};

/* Name of an error code returned by a tr_ function (static string). */
const char *tr_strerror(int code);

/* One user-fixable problem, with where it is. file may be "" (e.g. socket). */
struct tr_error {
	char file[256];
	int line;          /* 1-based, 0 when unknown */
	int column;        /* 1-based, 0 when unknown */
	char field[64];    /* config key, CSV column, JSON field; "" when none */
	char message[320];
};

/* A growing list of problems: report every error, not only the first.
 * Zero-initialise; the owner calls tr_errors_free. */
struct tr_errors {
	struct tr_error *items;
	size_t n, cap;
};

void tr_errors_add(struct tr_errors *errs, const char *file, int line, int column,
		   const char *field, const char *fmt, ...)
	__attribute__((format(printf, 6, 7)));
void tr_errors_free(struct tr_errors *errs);
/* Formats one error as "file:line:col: field: message" into buf. */
void tr_error_format(const struct tr_error *e, char *buf, size_t len);

/* Always on: continuing would corrupt data. */
#define TR_REQUIRE(x) \
	do { if (!(x)) tr_fatal(__FILE__, __LINE__, #x); } while (0)
/* Logs file:line and evaluates to true so the caller rolls back;
 * aborts in debug builds (TR_DEBUG). */
#define TR_FAILS(x) (!(x) && tr_fails(__FILE__, __LINE__, #x))

_Noreturn void tr_fatal(const char *file, int line, const char *expr);
bool tr_fails(const char *file, int line, const char *expr);

#endif
