/* triagectl's small helpers: memory that gives up on OOM (a short-lived
 * CLI may; STYLE: only per-event paths in the daemon must survive it), a
 * growing string, a monotonic clock and a sleep, and the joining of
 * operands into one text. Not the core library's tr_buf, whose sticky oom
 * flag suits code that must outlive a failed allocation. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "triagectl.h"

_Noreturn void oom(void)
{
	fputs("triagectl: out of memory\n", stderr);
	exit(CTL_NO);
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		oom();
	return d;
}

char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

char *xasprintf(const char *fmt, ...)
{
	char *s;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		oom();
	return s;
}

cJSON *jcheck(cJSON *j)
{
	if (!j)
		oom();
	return j;
}

void buf_add(struct buf *b, const void *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n + 1)
			cap *= 2;
		b->p = xrealloc(b->p, cap);
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Joins operands with spaces (comment text, close reason). */
char *join_args(int argc, char **argv)
{
	struct buf b = {0};
	for (int i = 0; i < argc; i++) {
		if (i)
			buf_adds(&b, " ");
		buf_adds(&b, argv[i]);
	}
	return b.p ? b.p : xstrdup("");
}
