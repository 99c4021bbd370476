/* Output for people: UTF-8 aware widths and truncation, so Chinese and
 * Japanese titles line up in tables (a CJK character takes two terminal
 * columns; the locale is not consulted: triaged's text is UTF-8 whatever LANG
 * says), text from the daemon made safe for a terminal, accessors for
 * answers whose shape we do not control (every one accepts NULL and wrong
 * types; what is missing shows as "-"), and tables whose fill column is cut
 * to the terminal's width. Not the --json passthrough (ctl_exchange in
 * conn.c prints the answer line as received) nor any command's layout
 * (cmd_*.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include "triagectl.h"

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
char *u8_truncate(const char *s, size_t max)
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
char *clean(char *s)
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

/* Reading answers whose shape we do not control: every accessor accepts
 * NULL and wrong types, and what is missing is shown as "-". */

const cJSON *jget(const cJSON *obj, const char *key)
{
	return cJSON_IsObject(obj) ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
}

/* v if it is an array (an object), else NULL: safe to iterate either way. */
const cJSON *jarray(const cJSON *v)
{
	return cJSON_IsArray(v) ? v : NULL;
}

const cJSON *jobject(const cJSON *v)
{
	return cJSON_IsObject(v) ? v : NULL;
}

/* Follows a dotted path ("events.total") through nested objects. */
const cJSON *jpath(const cJSON *obj, const char *path)
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

const char *jstr(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

double jnum(const cJSON *obj, const char *key)
{
	const cJSON *v = jget(obj, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

bool jint(const cJSON *v, long long *out)
{
	if (!cJSON_IsNumber(v) || !(v->valuedouble > -9.0e15 && v->valuedouble < 9.0e15))
		return false;
	*out = (long long)v->valuedouble;
	return (double)*out == v->valuedouble;
}

/* Text for a cell or a field: strings as they are, integers without a
 * decimal point, objects and arrays as compact JSON, missing or null as "-".
 * Cleaned for the terminal; the caller frees it. */
char *jtext(const cJSON *v)
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

char *jfield(const cJSON *obj, const char *key)
{
	return jtext(jget(obj, key));
}

/* An array of strings as "a, b, c"; "-" when empty or missing. */
char *jjoin(const cJSON *arr)
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
char *duration_text(long long s)
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

/* Tables: columns sized to their widest cell in terminal columns. One
 * column may be the "fill" column (a title, an error): it is cut to what is
 * left of the terminal's width, or to TITLE_COLUMNS when stdout is not a
 * terminal, so a long Chinese title never wraps the table. */

/* Adds one row of t->ncols cells; takes ownership of each (heap) string. */
void table_add(struct table *t, char *const *row)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 16;
		t->cells = xrealloc(t->cells, t->cap * t->ncols * sizeof(*t->cells));
	}
	for (size_t i = 0; i < t->ncols; i++)
		t->cells[t->nrows * t->ncols + i] = clean(row[i]);
	t->nrows++;
}

void table_add2(struct table *t, const char *key, char *value)
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

void table_print(struct table *t)
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

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i]);
	free(t->cells);
	t->cells = NULL;
	t->nrows = t->cap = 0;
}
