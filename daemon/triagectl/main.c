/* triagectl: the command-line client of triaged (SPEC §7). It speaks the
 * newline-delimited JSON protocol of SPEC §6 over one Unix-socket connection
 * per run and turns each answer into a table for people, or passes the answer
 * through unchanged with --json for scripts. Every subcommand is one row of
 * the command table near the end of this file (name, usage, operand counts,
 * options, handler, help); handlers stay small because they share the request,
 * option and formatting helpers above them. Not here: the server side of the
 * protocol (server.c, protocol.c) and the offline rule tests (`test`, whose
 * row is reserved in the table).
 *
 * Exit status, which scripts rely on: 0 ok, 1 the daemon said no (an error
 * answer or any rejected event), 2 usage, 3 no daemon (cannot connect, or the
 * connection was lost). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include <cjson/cJSON.h>
#include "tr_config.h"
#include "tr_ruletest.h"
#include "tr_error.h"

#ifndef TR_VERSION
#define TR_VERSION "dev"
#endif

enum {
	CTL_OK = 0,        /* done */
	CTL_NO = 1,        /* the daemon said no, or answered nonsense */
	CTL_USAGE = 2,     /* bad command line (or an unreadable input file / config) */
	CTL_NODAEMON = 3,  /* cannot connect, or the connection was lost */
};

#define DEFAULT_SOCKET   "/run/triaged/triaged.sock"
#define ANSWER_MAX       ((size_t)64 << 20)  /* longest answer line accepted */
#define BUSY_GIVEUP_MS   5000                /* keep retrying "busy" this long */
#define BUSY_FIRST_MS    50
#define BUSY_MAX_MS      1000
#define INGEST_EVENTS    500                 /* events per ingest request */
#define INGEST_BYTES     ((size_t)8 << 20)   /* and at most this much JSON (daemon's request_bytes default is 16 MiB) */
#define INGEST_INFLIGHT  4                   /* ingest requests awaiting an answer */
#define INGEST_LINE_MAX  ((size_t)8 << 20)   /* longest NDJSON line read */
#define JSON_FILE_MAX    ((size_t)256 << 20) /* largest .json document read whole */
#define TITLE_COLUMNS    60                  /* title width when stdout is not a terminal */

/* ------------------------------------------------------------------ */
/* Memory: a short-lived CLI may give up on OOM (STYLE: only per-event paths
 * in the daemon must survive it). */

static _Noreturn void oom(void)
{
	fputs("triagectl: out of memory\n", stderr);
	exit(CTL_NO);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

static char *xstrndup(const char *s, size_t n)
{
	char *d = strndup(s, n);
	if (!d)
		oom();
	return d;
}

static char *xstrdup(const char *s)
{
	return xstrndup(s, strlen(s));
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
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

static cJSON *jcheck(cJSON *j)
{
	if (!j)
		oom();
	return j;
}

/* A growing byte string, always NUL-terminated once anything was added. */
struct buf {
	char *p;
	size_t len, cap;
};

static void buf_add(struct buf *b, const void *s, size_t n)
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

static void buf_adds(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

static uint64_t mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ------------------------------------------------------------------ */
/* Display text: UTF-8 aware widths and truncation, so Chinese and Japanese
 * titles line up in tables (a CJK character takes two terminal columns). The
 * locale is not consulted: triaged's text is UTF-8 whatever LANG says. */

/* Decodes one character at s (n bytes left). Returns its length (>= 1); a
 * malformed byte counts as one character U+FFFD of length 1. */
static size_t u8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, v = c & 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, v = c & 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, v = c & 0x07, min = 0x10000;
	} else {
		goto bad;
	}
	if (len > n)
		goto bad;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			goto bad;
		v = (v << 6) | (s[i] & 0x3f);
	}
	if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff))
		goto bad;
	*cp = v;
	return len;
bad:
	*cp = 0xfffd;
	return 1;
}

/* Terminal columns taken by a character: 0 for combining marks and
 * zero-width characters, 2 for East Asian wide and fullwidth ones. */
static int cp_width(uint32_t c)
{
	static const struct { uint32_t lo, hi; } zero[] = {
		{0x0300, 0x036f}, {0x0483, 0x0489}, {0x0591, 0x05bd}, {0x0610, 0x061a},
		{0x064b, 0x065f}, {0x0e31, 0x0e31}, {0x0e34, 0x0e3a}, {0x1ab0, 0x1aff},
		{0x1dc0, 0x1dff}, {0x200b, 0x200f}, {0x2028, 0x202e}, {0x2060, 0x2064},
		{0x20d0, 0x20ff}, {0x302a, 0x302d}, {0x3099, 0x309a}, {0xfe00, 0xfe0f},
		{0xfe20, 0xfe2f}, {0xfeff, 0xfeff}, {0xe0100, 0xe01ef},
	};
	static const struct { uint32_t lo, hi; } wide[] = {
		{0x1100, 0x115f}, {0x231a, 0x231b}, {0x2329, 0x232a}, {0x23e9, 0x23ec},
		{0x25fd, 0x25fe}, {0x2614, 0x2615}, {0x2648, 0x2653}, {0x26a1, 0x26a1},
		{0x26bd, 0x26be}, {0x26c4, 0x26c5}, {0x26d4, 0x26d4}, {0x26ea, 0x26ea},
		{0x26f5, 0x26f5}, {0x26fa, 0x26fa}, {0x26fd, 0x26fd}, {0x2705, 0x2705},
		{0x270a, 0x270b}, {0x2728, 0x2728}, {0x274c, 0x274c}, {0x2753, 0x2755},
		{0x2757, 0x2757}, {0x2795, 0x2797}, {0x27b0, 0x27b0}, {0x27bf, 0x27bf},
		{0x2b1b, 0x2b1c}, {0x2b50, 0x2b50}, {0x2b55, 0x2b55}, {0x2e80, 0x303e},
		{0x3041, 0x33ff}, {0x3400, 0x4dbf}, {0x4e00, 0x9fff}, {0xa000, 0xa4cf},
		{0xa960, 0xa97f}, {0xac00, 0xd7a3}, {0xf900, 0xfaff}, {0xfe10, 0xfe19},
		{0xfe30, 0xfe6f}, {0xff00, 0xff60}, {0xffe0, 0xffe6}, {0x16fe0, 0x16fe4},
		{0x17000, 0x18cff}, {0x1b000, 0x1b2ff}, {0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf},
		{0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a}, {0x1f200, 0x1f251}, {0x1f300, 0x1f64f},
		{0x1f680, 0x1f6ff}, {0x1f7e0, 0x1f7eb}, {0x1f90c, 0x1f9ff}, {0x1fa70, 0x1faff},
		{0x20000, 0x2fffd}, {0x30000, 0x3fffd},
	};
	if (c < 0x300)
		return 1;
	for (size_t i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		if (c >= zero[i].lo && c <= zero[i].hi)
			return 0;
	for (size_t i = 0; i < sizeof(wide) / sizeof(wide[0]); i++)
		if (c >= wide[i].lo && c <= wide[i].hi)
			return 2;
	return 1;
}

static size_t u8_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), w = 0;
	while (n > 0) {
		uint32_t cp;
		size_t len = u8_next(p, n, &cp);
		w += (size_t)cp_width(cp);
		p += len;
		n -= len;
	}
	return w;
}

/* A heap copy of s cut at a character boundary to at most max columns,
 * ending in "…" when something was cut. The caller frees it. */
static char *u8_truncate(const char *s, size_t max)
{
	if (u8_width(s) <= max)
		return xstrdup(s);
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), w = 0, keep = 0;
	while (n > 0 && max > 0) {
		uint32_t cp;
		size_t len = u8_next(p + keep, n, &cp);
		size_t cw = (size_t)cp_width(cp);
		if (w + cw > max - 1) /* one column for the ellipsis */
			break;
		w += cw;
		keep += len;
		n -= len;
	}
	char *out = xrealloc(NULL, keep + sizeof("\u2026"));
	memcpy(out, s, keep);
	memcpy(out + keep, "\u2026", sizeof("\u2026"));
	return out;
}

/* Makes text from the daemon safe for a terminal, in place: C0 and C1
 * control characters (a newline in a title, an escape sequence) become a
 * space. Returns s. */
static char *clean(char *s)
{
	unsigned char *r = (unsigned char *)s, *w = r;
	while (*r) {
		if (*r < 0x20 || *r == 0x7f) {
			*w++ = ' ';
			r++;
		} else if (r[0] == 0xc2 && r[1] >= 0x80 && r[1] <= 0x9f) {
			*w++ = ' ';
			r += 2;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
	return s;
}

/* ------------------------------------------------------------------ */
/* Reading answers whose shape we do not control: every accessor accepts
 * NULL and wrong types, and what is missing is shown as "-". */

static const cJSON *jget(const cJSON *obj, const char *key)
{
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/* v if it is an array (an object), else NULL: safe to iterate either way. */
static const cJSON *jarray(const cJSON *v)
{
	return cJSON_IsArray(v) ? v : NULL;
}

static const cJSON *jobject(const cJSON *v)
{
	return cJSON_IsObject(v) ? v : NULL;
}

/* Follows a dotted path ("events.total") through nested objects. */
static const cJSON *jpath(const cJSON *obj, const char *path)
{
	char seg[64];
	while (obj && *path) {
		const char *dot = strchr(path, '.');
		size_t n = dot ? (size_t)(dot - path) : strlen(path);
		if (n >= sizeof(seg))
			return NULL;
		memcpy(seg, path, n);
		seg[n] = '\0';
		obj = jget(obj, seg);
		path += n + (dot ? 1 : 0);
	}
	return obj;
}

static const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double jnum(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

static bool jint(const cJSON *v, long long *out)
{
	if (!cJSON_IsNumber(v) || !(v->valuedouble > -9.0e15 && v->valuedouble < 9.0e15))
		return false;
	*out = (long long)v->valuedouble;
	return (double)*out == v->valuedouble;
}

/* Text for a cell or a field: strings as they are, integers without a
 * decimal point, objects and arrays as compact JSON, missing or null as "-".
 * Cleaned for the terminal; the caller frees it. */
static char *jtext(const cJSON *v)
{
	long long i;
	char *s;
	if (!v || cJSON_IsNull(v))
		return xstrdup("-");
	if (cJSON_IsString(v))
		return clean(xstrdup(v->valuestring));
	if (jint(v, &i))
		return xasprintf("%lld", i);
	if (cJSON_IsNumber(v))
		return xasprintf("%.6g", v->valuedouble);
	if (cJSON_IsBool(v))
		return xstrdup(cJSON_IsTrue(v) ? "true" : "false");
	s = cJSON_PrintUnformatted(v);
	if (!s)
		oom();
	return clean(s);
}

static char *jfield(const cJSON *obj, const char *key)
{
	return jtext(jget(obj, key));
}

/* An array of strings as "a, b, c"; "-" when empty or missing. */
static char *jjoin(const cJSON *arr)
{
	struct buf b = {0};
	const cJSON *it;
	if (!cJSON_IsArray(arr) || !arr->child)
		return xstrdup("-");
	cJSON_ArrayForEach(it, arr) {
		char *t = jtext(it);
		if (b.len)
			buf_adds(&b, ", ");
		buf_adds(&b, t);
		free(t);
	}
	return b.p;
}

/* "3d 4h 5m", "4h 5m 6s", "6s" from seconds. */
static char *duration_text(long long s)
{
	if (s < 0)
		return xasprintf("%llds", s);
	long long d = s / 86400, h = s / 3600 % 24, m = s / 60 % 60, sec = s % 60;
	if (d)
		return xasprintf("%lldd %lldh %lldm", d, h, m);
	if (h)
		return xasprintf("%lldh %lldm %llds", h, m, sec);
	if (m)
		return xasprintf("%lldm %llds", m, sec);
	return xasprintf("%llds", sec);
}

/* ------------------------------------------------------------------ */
/* Tables: columns sized to their widest cell in terminal columns. One
 * column may be the "fill" column (a title, an error): it is cut to what is
 * left of the terminal's width, or to TITLE_COLUMNS when stdout is not a
 * terminal, so a long Chinese title never wraps the table. */

#define TABLE_MAX_COLS 8

struct table {
	size_t ncols;
	const char *const *heads;  /* NULL: no header row */
	int fill;                  /* index of the fill column, -1 for none */
	char **cells;              /* row-major, owned */
	size_t nrows, cap;
};

/* Adds one row of t->ncols cells; takes ownership of each (heap) string. */
static void table_add(struct table *t, char *const *row)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(*t->cells));
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = clean(row[i]);
	t->nrows++;
}

static void table_add2(struct table *t, const char *key, char *value)
{
	char *row[2] = { xstrdup(key), value };
	table_add(t, row);
}

static size_t terminal_columns(void)
{
	struct winsize ws;
	if (!isatty(STDOUT_FILENO))
		return 0;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	const char *env = getenv("COLUMNS");
	long n = env ? strtol(env, NULL, 10) : 0;
	return n > 0 && n < 10000 ? (size_t)n : 80;
}

static void put_padded(const char *s, size_t width, bool last)
{
	fputs(s, stdout);
	if (last)
		return;
	for (size_t w = u8_width(s); w < width + 2; w++)
		putchar(' ');
}

static void table_print(struct table *t)
{
	size_t width[TABLE_MAX_COLS] = {0};
	for (size_t c = 0; c < t->ncols; c++) {
		if (t->heads)
			width[c] = u8_width(t->heads[c]);
		for (size_t r = 0; r < t->nrows; r++) {
			size_t w = u8_width(t->cells[r * t->ncols + c]);
			if (w > width[c])
				width[c] = w;
		}
	}
	if (t->fill >= 0) {
		size_t fill = (size_t)t->fill, cols = terminal_columns(), max = TITLE_COLUMNS;
		if (cols) {
			size_t used = 0;
			for (size_t c = 0; c < t->ncols; c++)
				if (c != fill)
					used += width[c] + 2;
			/* one column spare: a full line wraps on some terminals */
			max = cols > used + 11 ? cols - used - 1 : 10;
		}
		for (size_t r = 0; r < t->nrows; r++) {
			char **cell = &t->cells[r * t->ncols + fill];
			if (u8_width(*cell) > max) {
				char *cut = u8_truncate(*cell, max);
				free(*cell);
				*cell = cut;
			}
		}
		if (width[fill] > max)
			width[fill] = max;
	}
	if (t->heads) {
		for (size_t c = 0; c < t->ncols; c++)
			put_padded(t->heads[c], width[c], c + 1 == t->ncols);
		putchar('\n');
	}
	for (size_t r = 0; r < t->nrows; r++) {
		for (size_t c = 0; c < t->ncols; c++)
			put_padded(t->cells[r * t->ncols + c], width[c], c + 1 == t->ncols);
		putchar('\n');
	}
}

static void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}

/* ------------------------------------------------------------------ */
/* The connection: a non-blocking Unix stream socket with a bounded buffer
 * for answers. Writing also drains answers that arrive meanwhile, so
 * pipelined requests cannot deadlock against a daemon blocked on writing. */

struct conn {
	int fd;          /* -1 until connected */
	char *buf;       /* bytes received, not yet returned as lines */
	size_t pos, end, cap;
	size_t scanned;  /* bytes after pos known to hold no newline */
};

static int connect_finish(int fd)
{
	/* A connect(2) interrupted by a signal completes asynchronously. */
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Returns 0, or a negative errno (-ENAMETOOLONG for a path sun_path cannot hold). */
static int conn_open(struct conn *k, const char *path)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno == EINTR ? connect_finish(fd) : errno;
		if (err) {
			close(fd);
			return -err;
		}
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	k->fd = fd;
	return 0;
}

static void conn_close(struct conn *k)
{
	if (k->fd >= 0)
		close(k->fd);
	free(k->buf);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

/* Waits for events on the socket; returns the revents or a negative errno. */
static int conn_wait(struct conn *k, short events)
{
	struct pollfd p = { .fd = k->fd, .events = events };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return p.revents;
}

/* Reads what has arrived. Returns the byte count, 0 at end of stream,
 * -EAGAIN when nothing is ready, -EMSGSIZE when the buffer would pass one
 * answer's limit, or a negative errno. */
static ssize_t conn_fill(struct conn *k)
{
	if (k->end == k->cap && k->pos > 0) {
		memmove(k->buf, k->buf + k->pos, k->end - k->pos);
		k->end -= k->pos;
		k->pos = 0;
	}
	if (k->end == k->cap) {
		if (k->cap >= ANSWER_MAX + 1)
			return -EMSGSIZE;
		size_t cap = k->cap ? k->cap * 2 : 65536;
		if (cap > ANSWER_MAX + 1)
			cap = ANSWER_MAX + 1;
		k->buf = xrealloc(k->buf, cap);
		k->cap = cap;
	}
	ssize_t n;
	do
		n = read(k->fd, k->buf + k->end, k->cap - k->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	k->end += (size_t)n;
	return n;
}

/* The next answer line, NUL-terminated without its newline, valid until the
 * next conn_ call. Returns 0, -ECONNRESET at end of stream (also inside a
 * line), -EMSGSIZE for a line over ANSWER_MAX, or a negative errno. */
static int conn_read_line(struct conn *k, char **line, size_t *len)
{
	for (;;) {
		size_t have = k->end - k->pos;
		char *nl = have > k->scanned ? memchr(k->buf + k->pos + k->scanned, '\n', have - k->scanned) : NULL;
		if (nl) {
			*nl = '\0';
			*line = k->buf + k->pos;
			*len = (size_t)(nl - *line);
			k->pos = (size_t)(nl - k->buf) + 1;
			k->scanned = 0;
			return 0;
		}
		k->scanned = have;
		ssize_t n = conn_fill(k);
		if (n == -EAGAIN) {
			int r = conn_wait(k, POLLIN);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
	}
}

/* Writes all of p, handling partial writes and EINTR. Returns 0 or a
 * negative errno (-EPIPE when the daemon hung up). */
static int conn_write_all(struct conn *k, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = conn_wait(k, POLLOUT | POLLIN);
		if (r < 0)
			return r;
		if (r & (POLLIN | POLLHUP)) {
			ssize_t m = conn_fill(k);
			if (m == 0)
				return -EPIPE;
			if (m < 0 && m != -EAGAIN)
				return (int)m;
		}
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* The client: global options, the socket it talks to, and requests. */

struct ctl_opts {           /* values of the commands' own options */
	const char *state, *queue, *account, *priority, *text, *rule;
	bool breached;
	long long limit;        /* 0: not given */
	long long seq;          /* 0: not given */
};

struct ctl_cmd;

struct ctl {
	const char *socket_opt;   /* --socket */
	const char *config_path;  /* -c */
	bool json;                /* --json */
	char *socket_path;        /* resolved on first use */
	struct conn conn;
	const struct ctl_cmd *cmd;
	struct ctl_opts o;
};

/* The socket path, in this order: --socket, $TRIAGED_SOCKET, the `socket`
 * key of the -c config, $RUNTIME_DIRECTORY/triaged.sock (SPEC §1; the first
 * of a colon-separated list, as systemd sets it), /run/triaged/triaged.sock.
 * Returns 0 or CTL_USAGE when the config cannot be read (errors printed). */
static int resolve_socket(struct ctl *c)
{
	const char *env = getenv("TRIAGED_SOCKET");
	if (c->socket_opt) {
		c->socket_path = xstrdup(c->socket_opt);
	} else if (env && *env) {
		c->socket_path = xstrdup(env);
	} else if (c->config_path) {
		struct tr_config cfg;
		struct tr_errors errs = {0};
		int rc = tr_config_load(c->config_path, &cfg, &errs);
		if (rc == 0 && cfg.socket_path)
			c->socket_path = xstrdup(cfg.socket_path);
		for (size_t i = 0; rc != 0 && i < errs.n; i++) {
			char msg[1024];
			tr_error_format(&errs.items[i], msg, sizeof(msg));
			fprintf(stderr, "triagectl: %s\n", msg);
		}
		if (rc != 0 && errs.n == 0)
			fprintf(stderr, "triagectl: %s: %s\n", c->config_path, tr_strerror(rc));
		tr_config_free(&cfg);
		tr_errors_free(&errs);
		if (rc != 0)
			return CTL_USAGE;
	}
	if (!c->socket_path) {
		env = getenv("RUNTIME_DIRECTORY");
		if (env && *env)
			c->socket_path = xasprintf("%.*s/triaged.sock", (int)strcspn(env, ":"), env);
		else
			c->socket_path = xstrdup(DEFAULT_SOCKET);
	}
	return 0;
}

/* Connects on first use, so usage errors are found before a missing daemon. */
static int ctl_connect(struct ctl *c)
{
	if (c->conn.fd >= 0)
		return 0;
	if (!c->socket_path) {
		int rc = resolve_socket(c);
		if (rc)
			return rc;
	}
	int rc = conn_open(&c->conn, c->socket_path);
	if (rc < 0) {
		const char *hint = rc == -EACCES || rc == -EPERM ? " (is your user in triaged's group?)" :
				   rc == -ENAMETOOLONG ? "" : " (is triaged running?)";
		fprintf(stderr, "triagectl: cannot connect to %s: %s%s\n", c->socket_path, strerror(-rc), hint);
		return CTL_NODAEMON;
	}
	return 0;
}

/* Sends one request line (text ends in '\n'). Returns 0 or an exit code. */
static int ctl_send(struct ctl *c, const char *text, size_t len)
{
	int rc = ctl_connect(c);
	if (rc)
		return rc;
	rc = conn_write_all(&c->conn, text, len);
	if (rc < 0) {
		if (rc == -EMSGSIZE) {
			fprintf(stderr, "triagectl: answer from triaged longer than %zu MiB\n", ANSWER_MAX >> 20);
			return CTL_NO;
		}
		fprintf(stderr, "triagectl: lost connection to triaged: %s\n", strerror(-rc));
		return CTL_NODAEMON;
	}
	return 0;
}

/* Reads the next answer into *resp (an object; the caller deletes it) and,
 * when raw is not NULL, a heap copy of its line into *raw. Returns 0 or an
 * exit code, with nothing to free. */
static int ctl_recv(struct ctl *c, cJSON **resp, char **raw)
{
	char *line = NULL;
	size_t len = 0;
	int rc = conn_read_line(&c->conn, &line, &len);
	*resp = NULL;
	if (rc == -EMSGSIZE) {
		fprintf(stderr, "triagectl: answer from triaged longer than %zu MiB\n", ANSWER_MAX >> 20);
		return CTL_NO;
	}
	if (rc == -ECONNRESET) {
		fprintf(stderr, "triagectl: triaged closed the connection\n");
		return CTL_NODAEMON;
	}
	if (rc < 0) {
		fprintf(stderr, "triagectl: lost connection to triaged: %s\n", strerror(-rc));
		return CTL_NODAEMON;
	}
	cJSON *r = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(r)) {
		cJSON_Delete(r);
		fprintf(stderr, "triagectl: malformed answer from triaged\n");
		return CTL_NO;
	}
	*resp = r;
	if (raw)
		*raw = xstrndup(line, len);
	return 0;
}

static bool resp_ok(const cJSON *r)
{
	return cJSON_IsTrue(jget(r, "ok"));
}

static bool resp_busy(const cJSON *r)
{
	const char *code = jstr(jget(r, "error"), "code");
	return !resp_ok(r) && code && strcmp(code, "busy") == 0;
}

/* "code: message" of an error answer, for the terminal; the caller frees it. */
static char *resp_error(const cJSON *r)
{
	const cJSON *e = jget(r, "error");
	const char *code = jstr(e, "code"), *msg = jstr(e, "message");
	if (cJSON_IsString(e))
		return clean(xasprintf("error: %s", e->valuestring));
	return clean(xasprintf("%s: %s", code ? code : "error", msg ? msg : "request failed"));
}

/* One request, one answer, retrying "busy" with backoff for about
 * BUSY_GIVEUP_MS. With print_raw the final answer line goes to stdout as
 * received. An error answer is reported as "triagectl: code: message".
 * Returns 0 with *out set (the caller deletes it), or an exit code with
 * *out NULL. */
static int ctl_exchange(struct ctl *c, const char *text, size_t len, bool print_raw, cJSON **out)
{
	uint64_t start = mono_ms();
	unsigned delay = BUSY_FIRST_MS;
	*out = NULL;
	for (;;) {
		cJSON *r;
		char *raw = NULL;
		int rc = ctl_send(c, text, len);
		if (!rc)
			rc = ctl_recv(c, &r, print_raw ? &raw : NULL);
		if (rc)
			return rc;
		if (resp_busy(r) && mono_ms() - start + delay <= BUSY_GIVEUP_MS) {
			cJSON_Delete(r);
			free(raw);
			sleep_ms(delay);
			delay = delay * 2 > BUSY_MAX_MS ? BUSY_MAX_MS : delay * 2;
			continue;
		}
		if (raw) {
			puts(raw);
			free(raw);
		}
		if (!resp_ok(r)) {
			char *msg = resp_error(r);
			fprintf(stderr, "triagectl: %s\n", msg);
			free(msg);
			cJSON_Delete(r);
			return CTL_NO;
		}
		*out = r;
		return 0;
	}
}

static cJSON *request(const char *op)
{
	cJSON *req = jcheck(cJSON_CreateObject());
	jcheck(cJSON_AddStringToObject(req, "op", op));
	return req;
}

static void req_str(cJSON *req, const char *key, const char *value)
{
	if (value)
		jcheck(cJSON_AddStringToObject(req, key, value));
}

static void req_num(cJSON *req, const char *key, long long value)
{
	jcheck(cJSON_AddNumberToObject(req, key, (double)value));
}

/* Sends req (consumed) and waits for its answer; with --json the answer is
 * printed as received. Returns 0 with *resp, or an exit code. */
static int ctl_call(struct ctl *c, cJSON *req, cJSON **resp)
{
	char *text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!text)
		oom();
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = '\0';
	int rc = ctl_exchange(c, text, n + 1, c->json, resp);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The command table's types; the table itself follows the handlers. */

enum {  /* ids of the commands' long options */
	OPT_JSON = 256, OPT_STATE, OPT_QUEUE, OPT_ACCOUNT, OPT_PRIORITY,
	OPT_BREACHED, OPT_TEXT, OPT_LIMIT, OPT_SEQ, OPT_RULE,
};

#define CMD_VERBATIM 0x1  /* options only before the first operand (free text follows) */

struct ctl_cmd {
	const char *name;
	const char *usage;           /* what follows the name */
	int min_args, max_args;      /* operands after the options; max -1: any */
	unsigned flags;              /* CMD_* */
	const struct option *opts;   /* the command's long options, ending in COMMON_OPTS */
	int (*handler)(struct ctl *c, int argc, char **argv);  /* operands only */
	const char *help;
};

static void cmd_usage(FILE *f, const struct ctl_cmd *cmd)
{
	fprintf(f, "usage: triagectl %s%s%s\n", cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
}

/* A usage error inside a command: message, the command's usage, exit 2. */
static int usage_error(const struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "triagectl: %s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cmd_usage(stderr, c->cmd);
	return CTL_USAGE;
}

/* A positive integer operand (ticket id, sequence number), or 0. */
static long long parse_id(const char *s)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0 || v > 9007199254740991LL) /* exact in a JSON double */
		return 0;
	return v;
}

/* Joins operands with spaces (comment text, close reason). */
static char *join_args(int argc, char **argv)
{
	struct buf b = {0};
	for (int i = 0; i < argc; i++) {
		if (i)
			buf_adds(&b, " ");
		buf_adds(&b, argv[i]);
	}
	return b.p ? b.p : xstrdup("");
}

/* ------------------------------------------------------------------ */
/* status, stats, ping */

/* Where `status` looks for each figure: the first key present wins, so the
 * summary survives the daemon renaming or nesting a counter. */
static const struct {
	const char *label;
	const char *keys[7];
} status_rows[] = {
	{ "version",      { "version" } },
	{ "uptime",       { "uptime_s", "uptime_seconds", "uptime" } },
	{ "events",       { "events_stored", "events", "events_total", "events_accepted", "events.total", "accepted" } },
	{ "duplicates",   { "duplicates", "events_duplicate", "events_duplicates", "events.duplicates" } },
	{ "rejected",     { "rejected", "events_rejected", "events.rejected" } },
	{ "open tickets", { "tickets_open", "open_tickets", "tickets.open" } },
	{ "clients",      { "clients", "clients_connected", "connections" } },
	{ "pending",      { "pending", "pending_events", "events_pending", "events.pending" } },
	{ "durability",   { "durability" } },
	{ "rules",        { "rules", "rules_loaded", "rules.loaded", "rules.count" } },
};

/* The answer's counters: under "stats" (as triaged sends them) or at the top. */
static const cJSON *stats_of(const cJSON *resp)
{
	const cJSON *s = jget(resp, "stats");
	return cJSON_IsObject(s) ? s : resp;
}

static char *status_value(const cJSON *resp, size_t row)
{
	const cJSON *v = NULL;
	long long n;
	for (size_t k = 0; k < 7 && status_rows[row].keys[k] && !v; k++) {
		v = jpath(stats_of(resp), status_rows[row].keys[k]);
		if (!v)
			v = jpath(resp, status_rows[row].keys[k]);
	}
	if (cJSON_IsObject(v)) /* e.g. "events":{...} without a total we know */
		return jtext(v);
	if (cJSON_IsArray(v))
		return xasprintf("%d", cJSON_GetArraySize(v));
	if (strcmp(status_rows[row].label, "uptime") == 0 && jint(v, &n))
		return duration_text(n);
	return jtext(v);
}

static int cmd_status(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("stats"), &resp);
	if (rc || c->json)
		goto out;
	struct table t = { .ncols = 2, .fill = -1 };
	/* Health first, and loud when degraded: a full disk must not hide
	 * among the counters. */
	const cJSON *health = jget(stats_of(resp), "health");
	if (cJSON_IsString(health) && strcmp(health->valuestring, "ok") != 0) {
		char *reason = jfield(stats_of(resp), "health_reason");
		printf("HEALTH: %s: %s\n\n", strcmp(health->valuestring, "degraded") == 0 ? "DEGRADED" :
		       health->valuestring, reason);
		free(reason);
	} else if (cJSON_IsString(health)) {
		table_add2(&t, "health", xstrdup(health->valuestring));
	}
	for (size_t i = 0; i < sizeof(status_rows) / sizeof(status_rows[0]); i++) {
		if (i == 0 && !jget(stats_of(resp), "version") && !jget(resp, "version"))
			continue;
		table_add2(&t, status_rows[i].label, status_value(resp, i));
	}
	const cJSON *cf = jobject(jget(stats_of(resp), "commit_failures"));
	if (cf) {
		char *at = jfield(cf, "last_at"), *err = jfield(cf, "last_error");
		table_add2(&t, "last commit failure", xasprintf("%s: %s (%.0f since start)", at, err, jnum(cf, "total")));
		free(at);
		free(err);
	}
	/* how long answers take, and the disk's share under durability full */
	const cJSON *st = stats_of(resp), *own = jobject(jget(st, "ingest_answer_ms"));
	if (own)
		table_add2(&t, "answers", xasprintf("p50 %.2f ms, p99 %.2f ms, max %.2f ms (last %.0f ingests)",
						     jnum(own, "p50"), jnum(own, "p99"), jnum(own, "max"),
						     jnum(own, "last")));
	if (jget(st, "wal_flushes"))
		table_add2(&t, "disk flushes", xasprintf("%.0f, mean %.2f ms, worst %.2f ms", jnum(st, "wal_flushes"),
							  jnum(st, "wal_flush_mean_ms"), jnum(st, "wal_flush_max_ms")));
	const cJSON *spool = jget(stats_of(resp), "spool"), *work, *it;
	if (!spool)
		spool = jget(resp, "spool");
	work = jget(spool, "in_progress");
	if (cJSON_IsObject(spool)) {
		table_add2(&t, "spool queued", jfield(spool, "queued"));
		cJSON_ArrayForEach(it, jarray(work)) {
			char *file = jfield(it, "file"), *done = jfield(it, "rows_done");
			table_add2(&t, "spool working", xasprintf("%s (%s rows done)", file, done));
			free(file);
			free(done);
		}
		char *n = jfield(spool, "rejected_today");
		table_add2(&t, "spool rejected", xasprintf("%s today", n));
		free(n);
	}
	table_print(&t);
	table_free(&t);
out:
	cJSON_Delete(resp);
	return rc;
}

/* Flattens an answer into key/value rows: nested objects as dotted keys,
 * arrays as compact JSON. */
static void flatten(struct table *t, const char *prefix, const cJSON *obj)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, obj) {
		if (!it->string || (!prefix && (strcmp(it->string, "ok") == 0 || strcmp(it->string, "id") == 0 ||
						(strcmp(it->string, "stats") == 0 && cJSON_IsObject(it)))))
			continue;
		char *key = prefix ? xasprintf("%s.%s", prefix, it->string) : xstrdup(it->string);
		if (cJSON_IsObject(it) && it->child)
			flatten(t, key, it);
		else
			table_add2(t, key, jtext(it));
		free(key);
	}
}

static int cmd_stats(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("stats"), &resp);
	if (!rc && !c->json) {
		struct table t = { .ncols = 2, .fill = -1 };
		if (stats_of(resp) != resp)
			flatten(&t, NULL, stats_of(resp));
		flatten(&t, NULL, resp);
		table_print(&t);
		table_free(&t);
	}
	cJSON_Delete(resp);
	return rc;
}

static int cmd_ping(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("ping"), &resp);
	if (!rc && !c->json) {
		const char *v = jstr(resp, "version");
		if (v) {
			char *cv = clean(xstrdup(v));
			printf("pong (triaged %s)\n", cv);
			free(cv);
		} else {
			puts("pong");
		}
	}
	cJSON_Delete(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* tickets, show, and the ticket.update verbs */

static const char *const ticket_heads[] = { "ID", "PRI", "STATE", "DUE", "ACCOUNT", "QUEUE", "TITLE" };
static const char *const ticket_keys[] = { "id", "priority", "state", "due_at", "account", "queue", "title" };

static int cmd_tickets(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *req = request("tickets"), *resp;
	req_str(req, "state", c->o.state);
	req_str(req, "queue", c->o.queue);
	req_str(req, "account", c->o.account);
	req_str(req, "priority", c->o.priority);
	req_str(req, "text", c->o.text);
	if (c->o.breached)
		jcheck(cJSON_AddTrueToObject(req, "breached"));
	if (c->o.limit)
		req_num(req, "limit", c->o.limit);
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *list = jget(resp, "tickets"), *it;
	if (!cJSON_IsArray(list) || !list->child) {
		puts("no tickets");
		goto out;
	}
	struct table t = { .ncols = 7, .heads = ticket_heads, .fill = 6 };
	cJSON_ArrayForEach(it, list) {
		char *row[7];
		for (size_t i = 0; i < 7; i++)
			row[i] = jfield(it, ticket_keys[i]);
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
out:
	cJSON_Delete(resp);
	return rc;
}

static const char *const history_heads[] = { "AT", "ACTOR/RULE", "ACTION", "DETAIL" };
static const char *const timer_heads[] = { "ID", "DUE", "KIND", "NOTE" };

/* "actor/rule #seq": who made a history entry, and from which event. */
static char *history_who(const cJSON *h)
{
	const char *actor = jstr(h, "actor"), *rule = jstr(h, "rule");
	long long seq;
	char *who = actor && rule ? xasprintf("%s/%s", actor, rule) : xstrdup(actor ? actor : rule ? rule : "-");
	if (jint(jget(h, "event_seq"), &seq)) {
		char *with = xasprintf("%s #%lld", who, seq);
		free(who);
		who = with;
	}
	return who;
}

static void print_ticket(const cJSON *tk)
{
	static const struct { const char *label, *key; } fields[] = {
		{ "key", "key" }, { "title", "title" }, { "state", "state" },
		{ "priority", "priority" }, { "queue", "queue" }, { "account", "account" },
		{ "assignee", "assignee" }, { "level", "level" }, { "due", "due_at" },
		{ "created", "created_at" }, { "updated", "updated_at" },
		{ "acked", "acked_at" }, { "closed", "closed_at" }, { "reason", "close_reason" },
	};
	struct table t = { .ncols = 2, .fill = -1 };
	table_add2(&t, "ticket", jfield(tk, "id"));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		table_add2(&t, fields[i].label, jfield(tk, fields[i].key));
	table_add2(&t, "tags", jjoin(jget(tk, "tags")));
	const cJSON *it, *fs = jget(tk, "fields");
	cJSON_ArrayForEach(it, jobject(fs)) {
		char *label = xasprintf("fields.%s", it->string ? it->string : "-");
		table_add2(&t, label, jtext(it));
		free(label);
	}
	table_print(&t);
	table_free(&t);
}

static int cmd_show(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	long long id = parse_id(argv[0]);
	if (!id)
		return usage_error(c, "'%s' is not a ticket id", argv[0]);
	cJSON *req = request("ticket"), *resp;
	req_num(req, "id", id);
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *tk = jget(resp, "ticket"), *it;
	print_ticket(tk);

	const cJSON *hist = jget(tk, "history");
	if (cJSON_IsArray(hist) && hist->child) {
		struct table t = { .ncols = 4, .heads = history_heads, .fill = 3 };
		cJSON_ArrayForEach(it, hist) {
			char *row[4] = { jfield(it, "at"), history_who(it), jfield(it, "action"), jfield(it, "detail") };
			table_add(&t, row);
		}
		puts("\nhistory:");
		table_print(&t);
		table_free(&t);
	}
	const cJSON *timers = jget(tk, "timers");
	if (cJSON_IsArray(timers) && timers->child) {
		struct table t = { .ncols = 4, .heads = timer_heads, .fill = 3 };
		cJSON_ArrayForEach(it, timers) {
			const cJSON *note = jget(it, "note");
			if (!note) /* triaged keeps a timer's note in its payload */
				note = jget(jget(it, "payload"), "note") ? jget(jget(it, "payload"), "note") : jget(it, "payload");
			char *row[4] = { jfield(it, "id"), jfield(it, "due_at"), jfield(it, "kind"), jtext(note) };
			table_add(&t, row);
		}
		puts("\npending timers:");
		table_print(&t);
		table_free(&t);
	}
out:
	cJSON_Delete(resp);
	return rc;
}

/* ack, assign, comment, close, reopen: one ticket.update, whose action is
 * the command's name. */
static int cmd_update(struct ctl *c, int argc, char **argv)
{
	const char *action = c->cmd->name;
	long long id = parse_id(argv[0]);
	if (!id)
		return usage_error(c, "'%s' is not a ticket id", argv[0]);
	cJSON *req = request("ticket.update"), *resp;
	req_num(req, "id", id);
	req_str(req, "action", action);
	char *text = argc > 1 ? join_args(argc - 1, argv + 1) : NULL;
	if (strcmp(action, "assign") == 0)
		req_str(req, "assignee", text);
	else if (strcmp(action, "comment") == 0)
		req_str(req, "text", text);
	else if (strcmp(action, "close") == 0 || strcmp(action, "reopen") == 0)
		req_str(req, "reason", text);
	int rc = ctl_call(c, req, &resp);
	if (!rc && !c->json) {
		const cJSON *tk = jget(resp, "ticket");
		char *state = jfield(tk, "state"), *title = jfield(tk, "title");
		char *tcut = u8_truncate(title, TITLE_COLUMNS);
		if (strcmp(action, "assign") == 0)
			printf("ticket %lld assigned to %s (%s): %s\n", id, text, state, tcut);
		else if (strcmp(action, "comment") == 0)
			printf("ticket %lld commented (%s): %s\n", id, state, tcut);
		else
			printf("ticket %lld %s (%s): %s\n", id, strcmp(action, "ack") == 0 ? "acknowledged" :
			       strcmp(action, "close") == 0 ? "closed" : "reopened", state, tcut);
		free(state);
		free(title);
		free(tcut);
	}
	free(text);
	cJSON_Delete(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* explain, rules */

static char *duration_us_text(const cJSON *v)
{
	long long us;
	if (!jint(v, &us))
		return xstrdup("-");
	if (us < 1000)
		return xasprintf("%lld us", us);
	if (us < 1000000)
		return xasprintf("%.1f ms", (double)us / 1000.0);
	return xasprintf("%.2f s", (double)us / 1e6);
}

static int cmd_explain(struct ctl *c, int argc, char **argv)
{
	if (c->o.seq && argc != 0)
		return usage_error(c, "give either --seq N or TYPE EVENT_ID, not both");
	if (!c->o.seq && argc != 2)
		return usage_error(c, "%s", argc < 2 ? "missing argument" : "too many arguments");
	cJSON *req = request("explain"), *resp;
	if (c->o.seq) {
		req_num(req, "seq", c->o.seq);
	} else {
		req_str(req, "type", argv[0]);
		req_str(req, "event_id", argv[1]);
	}
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *ev = jget(resp, "event"), *it, *eff;
	static const struct { const char *label, *key; } fields[] = {
		{ "type", "type" }, { "id", "id" }, { "source", "source" },
		{ "account", "account" }, { "marketplace", "marketplace" },
		{ "occurred", "occurred_at" }, { "received", "received_at" },
		{ "payload", "payload" },
	};
	struct table t = { .ncols = 2, .fill = -1 };
	table_add2(&t, "event", jfield(ev, "seq"));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		table_add2(&t, fields[i].label, jfield(ev, fields[i].key));
	table_print(&t);
	table_free(&t);

	const cJSON *outcomes = jget(resp, "outcomes");
	if (!cJSON_IsArray(outcomes) || !outcomes->child)
		puts("\nno rule ran for this event");
	cJSON_ArrayForEach(it, jarray(outcomes)) {
		char *rule = jfield(it, "rule"), *status = jfield(it, "status");
		char *took = duration_us_text(jget(it, "duration_us"));
		printf("\nrule %s: %s, %s\n", rule, status, took);
		free(rule);
		free(status);
		free(took);
		const cJSON *effects = jget(it, "effects");
		cJSON_ArrayForEach(eff, jarray(effects)) {
			char *e = jtext(eff);
			printf("  %s\n", e);
			free(e);
		}
		const cJSON *err = jget(it, "error");
		if (err && !cJSON_IsNull(err)) {
			char *msg = jtext(err);
			const char *loc = jstr(it, "location");
			char *cloc = loc ? clean(xstrdup(loc)) : NULL;
			printf("  error: %s%s%s%s\n", msg, cloc ? " (at " : "", cloc ? cloc : "", cloc ? ")" : "");
			free(msg);
			free(cloc);
		}
	}
out:
	cJSON_Delete(resp);
	return rc;
}

static const char *const rule_heads[] = { "NAME", "ON", "PRIO", "RUNS", "ERRORS", "FILE", "LAST ERROR" };

static int cmd_rules(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("rules"), &resp);
	if (rc || c->json)
		goto out;
	const cJSON *list = jget(resp, "rules"), *it;
	if (!cJSON_IsArray(list) || !list->child) {
		puts("no rules loaded");
		goto out;
	}
	struct table t = { .ncols = 7, .heads = rule_heads, .fill = 6 };
	cJSON_ArrayForEach(it, list) {
		const cJSON *on = jget(it, "on");
		char *file = jfield(it, "file"), *line = jfield(it, "line");
		char *row[7] = {
			jfield(it, "name"), cJSON_IsArray(on) ? jjoin(on) : jtext(on),
			jfield(it, "priority"), jfield(it, "runs"), jfield(it, "errors"),
			xasprintf("%s:%s", file, line), jfield(it, "last_error"),
		};
		free(file);
		free(line);
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
out:
	cJSON_Delete(resp);
	return rc;
}

/* ------------------------------------------------------------------ */
/* raw: one request given on the command line, its answer printed as is. */

static int cmd_raw(struct ctl *c, int argc, char **argv)
{
	char *text = join_args(argc, argv);
	const char *end = NULL;
	cJSON *req = cJSON_ParseWithOpts(text, &end, true);
	bool object = cJSON_IsObject(req);
	cJSON_Delete(req);
	if (!object) {
		free(text);
		return usage_error(c, "the request must be one JSON object");
	}
	/* Sent as typed (not re-printed, so numbers keep their digits), on one line. */
	cJSON_Minify(text);
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	memcpy(text + n, "\n", 2);
	cJSON *resp;
	int rc = ctl_exchange(c, text, n + 1, true, &resp);
	cJSON_Delete(resp);
	free(text);
	return rc;
}

/* ------------------------------------------------------------------ */
/* ingest: events from a file or stdin, in requests of INGEST_EVENTS events,
 * up to INGEST_INFLIGHT of them in flight (answers come back in order).
 * Every event remembers its input line so the daemon's rejected[].index
 * maps back to "FILE:LINE: message"; lines that are not JSON objects are
 * rejected here, with their line. Memory stays bounded whatever the input
 * size (NDJSON is streamed; a .json document is read whole, up to
 * JSON_FILE_MAX). */

struct batch {
	struct buf req;       /* {"op":"ingest","id":N,"events":[...]}\n */
	long *lines;          /* input line of each event */
	size_t n, cap;
	unsigned long id;
	uint64_t busy_since;  /* mono_ms of its first busy answer, 0: none */
};

struct rejection {
	long line;            /* 0: unknown */
	size_t order;         /* keeps the sort stable */
	char *msg;
};

struct ingest {
	struct ctl *c;
	const char *label;                        /* file name in messages */
	struct batch *cur;                        /* being filled */
	struct batch *sent[INGEST_INFLIGHT];      /* awaiting answers, oldest first */
	size_t head, nsent;
	struct batch *busy[INGEST_INFLIGHT];      /* answered busy, to send again */
	size_t nbusy;
	unsigned long next_id;
	long long accepted, duplicates;
	struct rejection *rej;
	size_t nrej, caprej;
	struct buf scratch;
};

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	free(b->req.p);
	free(b->lines);
	free(b);
}

static void ingest_reject(struct ingest *g, long line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ingest_reject(struct ingest *g, long line, const char *fmt, ...)
{
	if (g->nrej == g->caprej) {
		g->caprej = g->caprej ? g->caprej * 2 : 16;
		g->rej = xrealloc(g->rej, g->caprej * sizeof(*g->rej));
	}
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	g->rej[g->nrej] = (struct rejection){ .line = line, .order = g->nrej, .msg = clean(msg) };
	g->nrej++;
}

/* Takes in one batch's answer: counts, and rejections mapped to lines. */
static int ingest_answer(struct ingest *g, struct batch *b, const cJSON *r)
{
	const cJSON *id = jget(r, "id"), *it;
	if (cJSON_IsNumber(id) && id->valuedouble != (double)b->id) {
		fprintf(stderr, "triagectl: answer out of order (id %g, expected %lu)\n", id->valuedouble, b->id);
		return CTL_NO;
	}
	if (!resp_ok(r)) {
		/* The whole request was refused (bad_request, too_large, …): every
		 * event in it is rejected, each at its line. */
		char *msg = resp_error(r);
		for (size_t i = 0; i < b->n; i++)
			ingest_reject(g, b->lines[i], "%s", msg);
		free(msg);
		return 0;
	}
	g->accepted += (long long)jnum(r, "accepted");
	g->duplicates += (long long)jnum(r, "duplicates");
	const cJSON *rej = jget(r, "rejected");
	cJSON_ArrayForEach(it, jarray(rej)) {
		long long idx;
		const cJSON *err = jget(it, "error");
		const char *msg = cJSON_IsString(err) ? err->valuestring : jstr(err, "message");
		long line = jint(jget(it, "index"), &idx) && idx >= 0 && (size_t)idx < b->n ? b->lines[idx] : 0;
		ingest_reject(g, line, "%s", msg ? msg : "rejected");
	}
	return 0;
}

/* Reads the answer to the oldest request in flight. A busy batch is set
 * aside for ingest_retry. */
static int ingest_collect(struct ingest *g)
{
	struct batch *b = g->sent[g->head];
	cJSON *r;
	g->sent[g->head] = NULL;
	g->head = (g->head + 1) % INGEST_INFLIGHT;
	g->nsent--;
	int rc = ctl_recv(g->c, &r, NULL);
	if (rc) {
		batch_free(b);
		return rc;
	}
	if (resp_busy(r)) {
		if (!b->busy_since)
			b->busy_since = mono_ms();
		g->busy[g->nbusy++] = b;
		cJSON_Delete(r);
		return 0;
	}
	rc = ingest_answer(g, b, r);
	cJSON_Delete(r);
	batch_free(b);
	return rc;
}

/* The daemon is overloaded: let the pipeline drain, then send the busy
 * batches again, one at a time with backoff, each for up to BUSY_GIVEUP_MS
 * after its first busy answer. (A batch sent after a busy one may have been
 * taken before it; each event is still taken exactly once.) */
static int ingest_retry(struct ingest *g)
{
	int rc;
	while (g->nsent)
		if ((rc = ingest_collect(g)))
			return rc;
	for (size_t i = 0; i < g->nbusy; i++) {
		struct batch *b = g->busy[i];
		unsigned delay = BUSY_FIRST_MS;
		for (;;) {
			cJSON *r;
			if (mono_ms() - b->busy_since + delay > BUSY_GIVEUP_MS) {
				fprintf(stderr, "triagectl: busy: triaged is overloaded; gave up after %d s\n", BUSY_GIVEUP_MS / 1000);
				return CTL_NO;
			}
			sleep_ms(delay);
			delay = delay * 2 > BUSY_MAX_MS ? BUSY_MAX_MS : delay * 2;
			if ((rc = ctl_send(g->c, b->req.p, b->req.len)) || (rc = ctl_recv(g->c, &r, NULL)))
				return rc;
			if (resp_busy(r)) {
				cJSON_Delete(r);
				continue;
			}
			rc = ingest_answer(g, b, r);
			cJSON_Delete(r);
			if (rc)
				return rc;
			break;
		}
		batch_free(b);
		g->busy[i] = NULL;
	}
	g->nbusy = 0;
	return 0;
}

/* Sends the batch being filled, first waiting for room in the pipeline. */
static int ingest_flush(struct ingest *g)
{
	struct batch *b = g->cur;
	int rc;
	g->cur = NULL;
	if (!b || b->n == 0) {
		batch_free(b);
		return 0;
	}
	buf_adds(&b->req, "]}\n");
	for (;;) {
		if (g->nbusy && (rc = ingest_retry(g)))
			goto fail;
		if (g->nsent < INGEST_INFLIGHT)
			break;
		if ((rc = ingest_collect(g)))
			goto fail;
	}
	if ((rc = ctl_send(g->c, b->req.p, b->req.len)))
		goto fail;
	g->sent[(g->head + g->nsent) % INGEST_INFLIGHT] = b;
	g->nsent++;
	return 0;
fail:
	batch_free(b);
	return rc;
}

/* Adds one validated event (compact JSON, one line) read at line. */
static int ingest_event(struct ingest *g, long line, const char *text, size_t len)
{
	int rc;
	if (g->cur && (g->cur->n == INGEST_EVENTS || g->cur->req.len + len + 4 > INGEST_BYTES))
		if ((rc = ingest_flush(g)))
			return rc;
	if (!g->cur) {
		struct batch *b = xrealloc(NULL, sizeof(*b));
		memset(b, 0, sizeof(*b));
		b->id = ++g->next_id;
		char head[64];
		snprintf(head, sizeof(head), "{\"op\":\"ingest\",\"id\":%lu,\"events\":[", b->id);
		buf_adds(&b->req, head);
		g->cur = b;
	}
	struct batch *b = g->cur;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->lines = xrealloc(b->lines, b->cap * sizeof(*b->lines));
	}
	if (b->n)
		buf_add(&b->req, ",", 1);
	buf_add(&b->req, text, len);
	b->lines[b->n++] = line;
	return 0;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Checks that text (len bytes, NUL-terminated, writable) is one JSON object
 * and queues it compacted onto one line; anything else is rejected at line. */
static int ingest_text(struct ingest *g, long line, char *text, size_t len)
{
	const char *end = NULL;
	if (memchr(text, '\0', len)) {
		ingest_reject(g, line, "NUL byte in the event");
		return 0;
	}
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!j) {
		size_t col = end && end >= text && end <= text + len ? (size_t)(end - text) + 1 : 1;
		ingest_reject(g, line, "invalid JSON at column %zu", col);
		return 0;
	}
	bool object = cJSON_IsObject(j);
	cJSON_Delete(j);
	while (end < text + len && is_space(*end))
		end++;
	if (!object) {
		ingest_reject(g, line, "not a JSON object");
		return 0;
	}
	if (end < text + len) {
		ingest_reject(g, line, "invalid JSON at column %zu: text after the object", (size_t)(end - text) + 1);
		return 0;
	}
	cJSON_Minify(text); /* valid JSON: only drops whitespace between tokens */
	return ingest_event(g, line, text, strlen(text));
}

/* Input: a file descriptor read through a buffer, line by line or whole. */
struct reader {
	int fd;
	char *buf;
	size_t pos, end, cap;
	bool eof;
};

/* Reads more; returns bytes read, 0 at end of input, or a negative errno. */
static ssize_t reader_fill(struct reader *r)
{
	if (r->pos > 0 && r->pos == r->end)
		r->pos = r->end = 0;
	if (r->end + 1 >= r->cap && r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	if (r->end + 1 >= r->cap) {
		r->cap = r->cap ? r->cap * 2 : 65536;
		r->buf = xrealloc(r->buf, r->cap);
	}
	ssize_t n;
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end - 1); /* room for a NUL */
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		r->eof = true;
	r->end += (size_t)n;
	return n;
}

/* The next line, NUL-terminated, without "\n" or "\r\n", valid until the
 * next call. A line longer than max is skipped whole and flagged *toolong.
 * Returns 1, 0 at end of input, or a negative errno. */
static int reader_line(struct reader *r, size_t max, char **line, size_t *len, bool *toolong)
{
	size_t scanned = 0;
	*toolong = false;
	for (;;) {
		size_t have = r->end - r->pos;
		char *nl = have > scanned ? memchr(r->buf + r->pos + scanned, '\n', have - scanned) : NULL;
		if (nl || r->eof) {
			if (!nl && have == 0 && !*toolong)
				return 0;
			char *start = r->buf + r->pos, *stop = nl ? nl : r->buf + r->end;
			r->pos = nl ? (size_t)(nl - r->buf) + 1 : r->end;
			if (*toolong || (size_t)(stop - start) > max) {
				*toolong = true;
				stop = start; /* its head was dropped, or it came in one read */
			} else if (stop > start && stop[-1] == '\r') {
				stop--;
			}
			*stop = '\0'; /* reader_fill keeps a byte free for this */
			*line = start;
			*len = (size_t)(stop - start);
			return 1;
		}
		if (have > max) { /* drop what we have; keep skipping to the newline */
			*toolong = true;
			r->pos = r->end;
			have = 0;
		}
		scanned = have;
		ssize_t n = reader_fill(r);
		if (n < 0)
			return (int)n;
	}
}

/* The rest of the input, whole. Returns 0 with *data (in r->buf, NUL-
 * terminated) and *len, -EFBIG past max, or a negative errno. */
static int reader_all(struct reader *r, size_t max, char **data, size_t *len)
{
	while (!r->eof) {
		if (r->end - r->pos > max)
			return -EFBIG;
		ssize_t n = reader_fill(r);
		if (n < 0)
			return (int)n;
	}
	if (r->end - r->pos > max)
		return -EFBIG;
	if (!r->buf) {
		r->buf = xrealloc(NULL, 1);
		r->cap = 1;
	}
	r->buf[r->end] = '\0';
	*data = r->buf + r->pos;
	*len = r->end - r->pos;
	return 0;
}

static int ingest_ndjson(struct ingest *g, struct reader *r)
{
	char *line = NULL;
	size_t len = 0;
	bool toolong;
	long lineno = 0;
	int rc;
	while ((rc = reader_line(r, INGEST_LINE_MAX, &line, &len, &toolong)) == 1) {
		lineno++;
		if (lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
			line += 3, len -= 3;
		if (toolong) {
			ingest_reject(g, lineno, "line longer than %zu MiB", INGEST_LINE_MAX >> 20);
			continue;
		}
		size_t i = 0;
		while (i < len && is_space(line[i]))
			i++;
		if (i == len)
			continue; /* blank lines are allowed */
		if ((rc = ingest_text(g, lineno, line, len)))
			return rc;
	}
	if (rc < 0) {
		fprintf(stderr, "triagectl: %s: %s\n", g->label, strerror(-rc));
		return CTL_NO;
	}
	return 0;
}

static const char *skip_ws(const char *p, const char *end, long *line)
{
	for (; p < end && is_space(*p); p++)
		if (*p == '\n')
			(*line)++;
	return p;
}

/* The end of the JSON value at p (exclusive), counting newlines into *line;
 * NULL when a string or bracket runs past end. Only finds the boundary:
 * cJSON validates each value. */
static const char *json_value_end(const char *p, const char *end, long *line)
{
	int depth = 0;
	while (p < end) {
		char ch = *p;
		if (ch == '"') {
			for (p++; p < end && *p != '"'; p++) {
				if (*p == '\\' && p + 1 < end)
					p++;
				if (*p == '\n')
					(*line)++;
			}
			if (p >= end)
				return NULL;
			p++;
			if (depth == 0)
				return p;
			continue;
		}
		if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			if (depth == 0)
				return p;
			if (--depth == 0)
				return p + 1;
		} else if (depth == 0 && (ch == ',' || is_space(ch))) {
			return p;
		} else if (ch == '\n') {
			(*line)++;
		}
		p++;
	}
	return depth == 0 ? p : NULL;
}

/* One value of a .json document, at line: copied so it can be compacted. */
static int ingest_value(struct ingest *g, long line, const char *p, size_t len)
{
	g->scratch.len = 0;
	buf_add(&g->scratch, p, len);
	return ingest_text(g, line, g->scratch.p, len);
}

/* A .json document: one event object, or an array of them, each element
 * reported at the line where it starts. A broken array stops at the break
 * (what came before is ingested) and is reported there. */
static int ingest_document(struct ingest *g, const char *doc, size_t len)
{
	const char *p = doc, *end = doc + len, *e;
	long line = 1, at;
	int rc;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	p = skip_ws(p, end, &line);
	if (p == end)
		return 0;
	if (*p != '[') {
		at = line;
		e = json_value_end(p, end, &line);
		if (!e || e == p) {
			ingest_reject(g, at, "invalid JSON");
			return 0;
		}
		if (skip_ws(e, end, &line) != end) {
			ingest_reject(g, line, "invalid JSON: text after the value (want one object or an array)");
			return 0;
		}
		return ingest_value(g, at, p, (size_t)(e - p));
	}
	p = skip_ws(p + 1, end, &line);
	if (p < end && *p == ']')
		p++;
	else
		for (;;) {
			at = line;
			e = p < end ? json_value_end(p, end, &line) : NULL;
			if (!e || e == p) {
				ingest_reject(g, at, "invalid JSON%s", p < end ? "" : ": the array is not closed");
				return 0;
			}
			if ((rc = ingest_value(g, at, p, (size_t)(e - p))))
				return rc;
			p = skip_ws(e, end, &line);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end, &line);
				continue;
			}
			if (p < end && *p == ']') {
				p++;
				break;
			}
			ingest_reject(g, line, "invalid JSON: expected ',' or ']'%s", p < end ? "" : " before the end");
			return 0;
		}
	if (skip_ws(p, end, &line) != end)
		ingest_reject(g, line, "invalid JSON: text after the array");
	return 0;
}

static int cmp_rejection(const void *a, const void *b)
{
	const struct rejection *x = a, *y = b;
	long lx = x->line ? x->line : LONG_MAX, ly = y->line ? y->line : LONG_MAX;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Prints the outcome: the summary and each rejection as FILE:LINE, or with
 * --json one object shaped like the daemon's ingest answer, summed over all
 * requests, whose rejections carry "line" instead of a request's index. */
static int ingest_report(struct ingest *g)
{
	if (g->nrej > 1)
		qsort(g->rej, g->nrej, sizeof(*g->rej), cmp_rejection);
	if (g->c->json) {
		cJSON *o = jcheck(cJSON_CreateObject()), *arr;
		jcheck(cJSON_AddTrueToObject(o, "ok"));
		jcheck(cJSON_AddStringToObject(o, "file", g->label));
		jcheck(cJSON_AddNumberToObject(o, "accepted", (double)g->accepted));
		jcheck(cJSON_AddNumberToObject(o, "duplicates", (double)g->duplicates));
		arr = jcheck(cJSON_AddArrayToObject(o, "rejected"));
		for (size_t i = 0; i < g->nrej; i++) {
			cJSON *it = jcheck(cJSON_CreateObject());
			cJSON_AddItemToArray(arr, it);
			if (g->rej[i].line)
				jcheck(cJSON_AddNumberToObject(it, "line", (double)g->rej[i].line));
			jcheck(cJSON_AddStringToObject(it, "error", g->rej[i].msg));
		}
		char *s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!s)
			oom();
		puts(s);
		free(s);
	} else {
		printf("accepted %lld, duplicates %lld, rejected %zu\n", g->accepted, g->duplicates, g->nrej);
		for (size_t i = 0; i < g->nrej; i++) {
			if (g->rej[i].line)
				printf("%s:%ld: %s\n", g->label, g->rej[i].line, g->rej[i].msg);
			else
				printf("%s: %s\n", g->label, g->rej[i].msg);
		}
	}
	return g->nrej ? CTL_NO : CTL_OK;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

static int cmd_ingest(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	bool from_stdin = strcmp(argv[0], "-") == 0;
	struct ingest g = { .c = c, .label = from_stdin ? "<stdin>" : argv[0] };
	struct reader r = { .fd = STDIN_FILENO };
	bool document = has_suffix(argv[0], ".json");
	int rc = 0;
	if (!from_stdin && (r.fd = open(argv[0], O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "triagectl: %s: %s\n", argv[0], strerror(errno));
		return CTL_USAGE;
	}
	while (from_stdin) {
		/* stdin is NDJSON, unless it starts with '[': a JSON array. */
		size_t i = r.pos;
		if (r.end - i >= 3 && memcmp(r.buf + i, "\xef\xbb\xbf", 3) == 0)
			i += 3;
		while (i < r.end && is_space(r.buf[i]))
			i++;
		if (i < r.end) {
			document = r.buf[i] == '[';
			break;
		}
		if (r.eof || r.end - r.pos > INGEST_LINE_MAX)
			break;
		ssize_t n = reader_fill(&r);
		if (n < 0) {
			rc = (int)n;
			break;
		}
	}
	if (rc == 0 && document) {
		char *doc = NULL;
		size_t len = 0;
		rc = reader_all(&r, JSON_FILE_MAX, &doc, &len);
		if (rc == 0)
			rc = ingest_document(&g, doc, len);
	} else if (rc == 0) {
		rc = ingest_ndjson(&g, &r);
	}
	if (rc < 0) {
		if (rc == -EFBIG)
			fprintf(stderr, "triagectl: %s: larger than %zu MiB; use NDJSON for big inputs\n",
				g.label, JSON_FILE_MAX >> 20);
		else
			fprintf(stderr, "triagectl: %s: %s\n", g.label, strerror(-rc));
		rc = CTL_USAGE;
	}
	if (rc == 0)
		rc = ingest_flush(&g);
	while (rc == 0 && (g.nsent || g.nbusy))
		rc = g.nbusy ? ingest_retry(&g) : ingest_collect(&g);
	if (rc == 0)
		rc = ingest_report(&g);
	else if (g.accepted || g.duplicates)
		fprintf(stderr, "triagectl: stopped after accepted %lld, duplicates %lld (those are recorded)\n",
			g.accepted, g.duplicates);

	batch_free(g.cur);
	for (size_t i = 0; i < g.nsent; i++)
		batch_free(g.sent[(g.head + i) % INGEST_INFLIGHT]);
	for (size_t i = 0; i < g.nbusy; i++)
		batch_free(g.busy[i]);
	for (size_t i = 0; i < g.nrej; i++)
		free(g.rej[i].msg);
	free(g.rej);
	free(g.scratch.p);
	free(r.buf);
	if (!from_stdin)
		close(r.fd);
	return rc;
}

/* ------------------------------------------------------------------ */
/* The command table. Adding a command is adding a row and a handler. */

static const char *const timers_heads[] = { "ID", "DUE", "KIND", "TICKET", "NOTE" };

static int cmd_timers(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	cJSON *req = request("timers");
	if (c->o.limit)
		req_num(req, "limit", c->o.limit);
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *list = jget(resp, "timers"), *it;
	if (!cJSON_IsArray(list) || !list->child) {
		puts("no pending timers");
		goto out;
	}
	struct table t = { .ncols = 5, .heads = timers_heads, .fill = 4 };
	cJSON_ArrayForEach(it, list) {
		const cJSON *p = jget(it, "payload");
		char *note = jfield(p, "note");
		if (strcmp(note, "-") == 0) {
			const cJSON *ev = jget(p, "event");
			free(note);
			note = ev ? jfield(ev, "type") : jfield(p, "level");
		}
		char *row[5] = { jfield(it, "id"), jfield(it, "due_at"), jfield(it, "kind"), jfield(it, "ticket"), note };
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
	char *total = jfield(resp, "total");
	printf("%s pending in all\n", total);
	free(total);
out:
	cJSON_Delete(resp);
	return rc;
}

/* SPEC §3 retry: asks until the daemon says no more wait, one batch per
 * request (so the daemon serves others in between); a line per outcome. */
static int cmd_retry(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	static const char *const kinds[] = {"succeeded", "failed_again", "skipped", "not_retried"};
	long long total[4] = {0}, after = 0;
	int rc = 0, more = 1;
	while (rc == 0 && more) {
		cJSON *req = request("retry"), *resp;
		req_str(req, "rule", c->o.rule);
		if (c->o.seq)
			req_num(req, "seq", c->o.seq);
		req_num(req, "after", after);
		if ((rc = ctl_call(c, req, &resp)) != 0) {
			cJSON_Delete(resp);
			break;
		}
		const cJSON *it, *last = jget(resp, "last");
		more = cJSON_IsTrue(jget(resp, "more")) && cJSON_IsNumber(last) && last->valuedouble > (double)after;
		if (cJSON_IsNumber(last))
			after = (long long)last->valuedouble;
		for (int k = 0; k < 4; k++) {
			const cJSON *n = jget(resp, kinds[k]);
			total[k] += cJSON_IsNumber(n) ? (long long)n->valuedouble : 0;
		}
		cJSON_ArrayForEach(it, jget(resp, "results")) {
			if (c->json)
				break;
			char *seq = jfield(it, "seq"), *rule = jfield(it, "rule"), *result = jfield(it, "result"),
			     *reason = jfield(it, "reason");
			if (strcmp(reason, "-") != 0)
				printf("event %s, rule %s: %s (%s)\n", seq, rule, result, reason);
			else
				printf("event %s, rule %s: %s\n", seq, rule, result);
			free(seq), free(rule), free(result), free(reason);
		}
		cJSON_Delete(resp);
	}
	if (rc == 0 && !c->json)
		printf("retried %lld: %lld ok, %lld failed again, %lld skipped, %lld not retried\n",
		       total[0] + total[1] + total[2], total[0], total[1], total[2], total[3]);
	return rc;
}

static int cmd_reload(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("reload"), &resp);
	if (rc == 0 && !c->json) {
		char *n = jfield(resp, "rules");
		printf("reloaded: %s rules\n", n);
		free(n);
	}
	cJSON_Delete(resp);
	return rc;
}

/* Streams notifications until interrupted (or the daemon stops). */
static int cmd_watch(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("watch"), &resp);
	cJSON_Delete(resp);
	if (rc)
		return rc;
	if (!c->json)
		fprintf(stderr, "watching notifications; Ctrl-C to stop\n");
	for (;;) {
		char *raw = NULL;
		rc = ctl_recv(c, &resp, &raw);
		if (rc) {
			free(raw);
			return rc == CTL_NODAEMON ? 0 : rc;
		}
		const cJSON *n = jget(resp, "notification");
		if (c->json || !n) {
			puts(raw);
		} else {
			char *at = jfield(n, "at"), *out = jfield(n, "output"), *msg = jfield(n, "message");
			const cJSON *t = jget(n, "ticket");
			char *tid = t ? jfield(t, "id") : NULL, *title = t ? jfield(t, "title") : NULL;
			printf("%s  %s  %s%s%s%s%s\n", at, out, msg, tid ? "  [#" : "", tid ? tid : "",
			       tid ? " " : "", title ? title : "");
			free(at), free(out), free(msg), free(tid), free(title);
		}
		fflush(stdout);
		free(raw);
		cJSON_Delete(resp);
	}
}

static int cmd_help(struct ctl *c, int argc, char **argv);

/* Offline: never connects. Exit 0 all passed, 1 a test failed, 2 a load error. */
static int cmd_test(struct ctl *c, int argc, char **argv)
{
	int status = 0;
	for (int i = 0; i < argc; i++) {
		int rc = tr_ruletest_run(argv[i], c->config_path, stdout, stderr);
		if (rc > status)
			status = rc;
	}
	return status;
}

#define COMMON_OPTS \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ NULL, 0, NULL, 0 }

static const struct option no_opts[] = { COMMON_OPTS };
static const struct option tickets_opts[] = {
	{ "state", required_argument, NULL, OPT_STATE },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "account", required_argument, NULL, OPT_ACCOUNT },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "breached", no_argument, NULL, OPT_BREACHED },
	{ "text", required_argument, NULL, OPT_TEXT },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	COMMON_OPTS
};
static const struct option limit_opts[] = {
	{ "limit", required_argument, NULL, OPT_LIMIT },
	COMMON_OPTS
};
static const struct option retry_opts[] = {
	{ "rule", required_argument, NULL, OPT_RULE },
	{ "seq", required_argument, NULL, OPT_SEQ },
	COMMON_OPTS
};

static const struct option explain_opts[] = {
	{ "seq", required_argument, NULL, OPT_SEQ },
	COMMON_OPTS
};

static const struct ctl_cmd commands[] = {
	{ "status", "", 0, 0, 0, no_opts, cmd_status,
	  "summary: uptime, events, tickets, clients, spool" },
	{ "stats", "", 0, 0, 0, no_opts, cmd_stats,
	  "every counter, as a key/value table" },
	{ "ping", "", 0, 0, 0, no_opts, cmd_ping,
	  "check that triaged answers" },
	{ "ingest", "FILE|-", 1, 1, 0, no_opts, cmd_ingest,
	  "send events (NDJSON, or a .json array/object); report rejections by line" },
	{ "tickets", "[--state open|closed|all] [--queue Q] [--account A] [--priority P] "
	  "[--breached] [--text T] [--limit N]", 0, 0, 0, tickets_opts, cmd_tickets,
	  "list tickets (default: open ones)" },
	{ "show", "ID", 1, 1, 0, no_opts, cmd_show,
	  "a ticket with its history and pending timers" },
	{ "ack", "ID", 1, 1, 0, no_opts, cmd_update,
	  "acknowledge a ticket: pause its escalations" },
	{ "assign", "ID WHO", 2, 2, 0, no_opts, cmd_update,
	  "assign a ticket" },
	{ "comment", "ID TEXT...", 2, -1, CMD_VERBATIM, no_opts, cmd_update,
	  "add a comment to a ticket" },
	{ "close", "ID [REASON...]", 1, -1, CMD_VERBATIM, no_opts, cmd_update,
	  "close a ticket" },
	{ "reopen", "ID [REASON...]", 1, -1, CMD_VERBATIM, no_opts, cmd_update,
	  "reopen a closed ticket" },
	{ "explain", "TYPE EVENT_ID | --seq N", 0, 2, 0, explain_opts, cmd_explain,
	  "what each rule did with an event, and how long it took" },
	{ "rules", "", 0, 0, 0, no_opts, cmd_rules,
	  "loaded rules with their run and error counters" },
	{ "reload", "", 0, 0, 0, no_opts, cmd_reload,
	  "build the rules folder afresh and swap it in (the old rules stay if it fails)" },
	{ "retry", "[--rule NAME] [--seq N]", 0, 0, 0, retry_opts, cmd_retry,
	  "run failed rule outcomes again, through the rules loaded now" },
	{ "timers", "[--limit N]", 0, 0, 0, limit_opts, cmd_timers,
	  "pending nudges, escalations, due times and scheduled events" },
	{ "watch", "", 0, 0, 0, no_opts, cmd_watch,
	  "stream notifications as they are delivered" },
	{ "test", "PATH...", 1, -1, 0, no_opts, cmd_test,
	  "run rule tests (NAME.test.lua) offline, no daemon needed" },
	{ "raw", "JSON", 1, -1, CMD_VERBATIM, no_opts, cmd_raw,
	  "send one request object as is and print the answer" },
	{ "help", "[COMMAND]", 0, 1, 0, no_opts, cmd_help,
	  "this list, or one command's usage" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct ctl_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	fputs("usage: triagectl [--socket PATH] [--json] [-c CONFIG] COMMAND [ARG...]\n\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct ctl_cmd *cmd = &commands[i];
		char left[160];
		snprintf(left, sizeof(left), "%s%s%s", cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
		if (strlen(left) <= 30)
			fprintf(f, "  %-30s  %s\n", left, cmd->help);
		else
			fprintf(f, "  %s\n  %-30s  %s\n", left, "", cmd->help);
	}
	fputs("\n--json prints the daemon's answers (one JSON object a line) instead of tables.\n"
	      "socket: --socket, else $TRIAGED_SOCKET, else `socket` in the -c config, else\n"
	      "$RUNTIME_DIRECTORY/triaged.sock, else " DEFAULT_SOCKET ".\n"
	      "exit status: 0 ok, 1 the daemon said no, 2 usage, 3 no daemon.\n", f);
}

static int cmd_help(struct ctl *c, int argc, char **argv)
{
	(void)c;
	if (argc == 0) {
		usage(stdout);
		return CTL_OK;
	}
	const struct ctl_cmd *cmd = find_command(argv[0]);
	if (!cmd) {
		fprintf(stderr, "triagectl: help: unknown command '%s'\n", argv[0]);
		usage(stderr);
		return CTL_USAGE;
	}
	cmd_usage(stdout, cmd);
	printf("%s\n", cmd->help);
	return CTL_OK;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Stores the value of a command's own option; 0 or CTL_USAGE. */
static int cmd_option(struct ctl *c, int id, const char *arg)
{
	static const char *const states[] = { "open", "closed", "all", NULL };
	static const char *const priorities[] = { "low", "normal", "high", "urgent", NULL };
	switch (id) {
	case OPT_STATE:
		if (!one_of(arg, states))
			return usage_error(c, "--state takes open, closed or all, not '%s'", arg);
		c->o.state = arg;
		break;
	case OPT_PRIORITY:
		if (!one_of(arg, priorities))
			return usage_error(c, "--priority takes low, normal, high or urgent, not '%s'", arg);
		c->o.priority = arg;
		break;
	case OPT_QUEUE: c->o.queue = arg; break;
	case OPT_ACCOUNT: c->o.account = arg; break;
	case OPT_TEXT: c->o.text = arg; break;
	case OPT_RULE: c->o.rule = arg; break;
	case OPT_BREACHED: c->o.breached = true; break;
	case OPT_LIMIT:
		if (!(c->o.limit = parse_id(arg)))
			return usage_error(c, "--limit takes a positive number, not '%s'", arg);
		break;
	case OPT_SEQ:
		if (!(c->o.seq = parse_id(arg)))
			return usage_error(c, "--seq takes an event's sequence number, not '%s'", arg);
		break;
	}
	return 0;
}

/* What getopt_long's '?' was about: an unknown option, or a value given
 * to an option that takes none ("--json=yes"). */
static const char *bad_option(char *const *argv, char *buf, size_t len)
{
	const char *arg = argv[optind - 1];
	if (strncmp(arg, "--", 2) != 0)
		snprintf(buf, len, "unknown option -%c", optopt);
	else if (optopt)
		snprintf(buf, len, "option %.*s takes no value", (int)strcspn(arg, "="), arg);
	else
		snprintf(buf, len, "unknown option %s", arg);
	return buf;
}

/* Runs argv[0] with its options and operands (argv[0] is the command). */
static int dispatch(struct ctl *c, int argc, char **argv)
{
	char msg[256];
	const struct ctl_cmd *cmd = find_command(argv[0]);
	if (!cmd) {
		fprintf(stderr, "triagectl: unknown command '%s'\n", argv[0]);
		usage(stderr);
		return CTL_USAGE;
	}
	c->cmd = cmd;
	const char *optstring = cmd->flags & CMD_VERBATIM ? "+:h" : ":h";
	int ch, rc;
	optind = 0; /* glibc: start afresh */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, cmd->opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			cmd_usage(stdout, cmd);
			printf("%s\n", cmd->help);
			return CTL_OK;
		case OPT_JSON:
			c->json = true;
			break;
		case ':':
			return usage_error(c, "option %s needs a value", argv[optind - 1]);
		case '?':
			return usage_error(c, "%s", bad_option(argv, msg, sizeof(msg)));
		default:
			if ((rc = cmd_option(c, ch, optarg)))
				return rc;
		}
	}
	int n = argc - optind;
	if (n < cmd->min_args)
		return usage_error(c, "missing argument");
	if (cmd->max_args >= 0 && n > cmd->max_args)
		return usage_error(c, "too many arguments");
	return cmd->handler(c, n, argv + optind);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .conn = { .fd = -1 } };
	char msg[256];
	int ch, rc;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c.socket_opt = optarg; break;
		case 'j': c.json = true; break;
		case 'c': c.config_path = optarg; break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			puts("triagectl " TR_VERSION);
			return CTL_OK;
		case ':':
			fprintf(stderr, "triagectl: option %s needs a value\n", argv[optind - 1]);
			usage(stderr);
			return CTL_USAGE;
		default:
			fprintf(stderr, "triagectl: %s\n", bad_option(argv, msg, sizeof(msg)));
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "triagectl: no command given\n");
		usage(stderr);
		return CTL_USAGE;
	}
	rc = dispatch(&c, argc - optind, argv + optind);
	conn_close(&c.conn);
	free(c.socket_path);
	if (fflush(stdout) != 0 && rc == CTL_OK) {
		fprintf(stderr, "triagectl: writing output: %s\n", strerror(errno));
		rc = CTL_NO;
	}
	return rc;
}
