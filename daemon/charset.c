/* The encoding layer under the file decoders (tr_charset.h): reads a file
 * through one fixed buffer, splits it into physical lines and hands each one
 * out as UTF-8, validated, with its line number. Splitting before converting
 * works because LF and CR never occur inside a multi-byte character in UTF-8,
 * GB18030 or CP932; it keeps an invalid byte confined to its line and lets a
 * decoder come back to any line start. Valid UTF-8 and pure-ASCII lines are
 * handed out from the read buffer without a copy. Not CSV or JSON syntax:
 * see decode_*.c. */
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <wchar.h>
#include "tr_charset.h"
#include "tr_error.h"

#if !defined(__STDC_ISO_10646__)
#error "iconv's WCHAR_T must be UCS-4 (glibc)"
#endif
_Static_assert(sizeof(wchar_t) == 4, "iconv's WCHAR_T must be UCS-4 (glibc)");

#define RAW_SIZE (64 * 1024)
/* A CP932 half-width katakana byte becomes 3 UTF-8 bytes, and so does a bad
 * byte (U+FFFD); nothing grows more (4 GB18030 bytes give at most 4). */
#define OUT_SIZE (3 * RAW_SIZE + 8)

struct tr_charset_reader {
	int fd;
	iconv_t cd;           /* (iconv_t)-1 for UTF-8 */
	const char *name;
	char *raw;            /* RAW_SIZE + 1: room for the '\n' of a last line without one */
	size_t start, end;    /* unread bytes are raw[start..end) */
	off_t raw_off;        /* file offset of raw[0] */
	bool eof;             /* nothing more to read after raw[end) */
	int line;             /* line of the next piece */
	bool mid_line;        /* the last piece did not end its line */
	size_t line_done;     /* raw bytes of the current line in earlier pieces */
	bool skip;            /* drop input up to the end of the current line */
	uint32_t *wide;       /* RAW_SIZE code points from iconv */
	char *out;            /* converted text when it cannot be handed out in place */
	char msg[160];
};

enum { LINE_COMPLETE, LINE_NEED_MORE };

/* Length of the longest prefix of s that is valid UTF-8 without NUL bytes
 * (no overlongs, surrogates or code points above U+10FFFF). */
static size_t utf8_valid(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		while (i + 8 <= n) { /* 8 ASCII bytes, none of them NUL, at a time */
			uint64_t v;
			memcpy(&v, s + i, 8);
			if ((v & 0x8080808080808080ULL) ||
			    ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		unsigned c = s[i];
		if (c < 0x80) {
			if (c == 0)
				return i;
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if (c >= 0xC2 && c <= 0xDF)
			len = 2, cp = c & 0x1F;
		else if (c >= 0xE0 && c <= 0xEF)
			len = 3, cp = c & 0x0F;
		else if (c >= 0xF0 && c <= 0xF4)
			len = 4, cp = c & 0x07;
		else
			return i;
		if (i + len > n)
			return i;
		for (size_t k = 1; k < len; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
			return i;
		i += len;
	}
	return n;
}

/* True when s[0..n) is the beginning of a UTF-8 sequence cut short by the end
 * of the buffer rather than an invalid one. */
static bool utf8_cut_short(const unsigned char *s, size_t n)
{
	size_t need = s[0] >= 0xC2 && s[0] <= 0xDF ? 2 : s[0] >= 0xE0 && s[0] <= 0xEF ? 3 :
		      s[0] >= 0xF0 && s[0] <= 0xF4 ? 4 : 0;
	if (n >= need)
		return false;
	for (size_t k = 1; k < n; k++)
		if ((s[k] & 0xC0) != 0x80)
			return false;
	return true;
}

/* True when s[0..n) is ASCII without NUL bytes: the same text in every
 * supported encoding. */
static bool plain_ascii(const unsigned char *s, size_t n)
{
	size_t i = 0;
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, s + i, 8);
		if ((v & 0x8080808080808080ULL) ||
		    ((v - 0x0101010101010101ULL) & ~v & 0x8080808080808080ULL))
			return false;
	}
	for (; i < n; i++)
		if (s[i] == 0 || s[i] >= 0x80)
			return false;
	return true;
}

/* Encodes n code points as UTF-8 into out, which has room for 3 bytes per
 * input byte they came from (no character grows more). A NUL,
 * or a value that is no character (which the converters never give), is
 * replaced by U+FFFD and sets *bad. Returns the length. */
static size_t utf8_encode(const uint32_t *in, size_t n, unsigned char *out, bool *bad)
{
	unsigned char *o = out;
	for (size_t i = 0; i < n; i++) {
		uint32_t c = in[i];
		if (c == 0 || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) {
			*bad = true;
			c = 0xFFFD;
		}
		if (c < 0x80) {
			*o++ = (unsigned char)c;
		} else if (c < 0x800) {
			*o++ = (unsigned char)(0xC0 | c >> 6);
			*o++ = (unsigned char)(0x80 | (c & 0x3F));
		} else if (c < 0x10000) {
			*o++ = (unsigned char)(0xE0 | c >> 12);
			*o++ = (unsigned char)(0x80 | (c >> 6 & 0x3F));
			*o++ = (unsigned char)(0x80 | (c & 0x3F));
		} else {
			*o++ = (unsigned char)(0xF0 | c >> 18);
			*o++ = (unsigned char)(0x80 | (c >> 12 & 0x3F));
			*o++ = (unsigned char)(0x80 | (c >> 6 & 0x3F));
			*o++ = (unsigned char)(0x80 | (c & 0x3F));
		}
	}
	return (size_t)(o - out);
}

/* The iconv name for a configured encoding, "UTF-8", or NULL when unknown.
 * SPEC §4: what exporters write is what users mean, so GBK decodes as its
 * superset GB18030 and Shift_JIS as CP932 (0x8160 is U+FF5E). */
static const char *iconv_name(const char *encoding)
{
	static const struct { const char *alias, *name; } names[] = {
		{"utf8", "UTF-8"}, {"gbk", "GB18030"}, {"gb18030", "GB18030"},
		{"gb2312", "GB18030"}, {"cp936", "GB18030"}, {"shiftjis", "CP932"},
		{"sjis", "CP932"}, {"cp932", "CP932"}, {"windows31j", "CP932"},
		{"mskanji", "CP932"},
	};
	char key[32];
	size_t n = 0;
	if (!encoding || !*encoding)
		return "UTF-8";
	for (const char *p = encoding; *p; p++) {
		if (*p == '-' || *p == '_')
			continue;
		if (n + 1 >= sizeof(key))
			return NULL;
		key[n++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
	}
	key[n] = 0;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(key, names[i].alias) == 0)
			return names[i].name;
	return NULL;
}

/* Moves the unread bytes to the front and reads more after them. Sets eof
 * when the file has nothing more. Returns 0 or -errno. */
static int refill(struct tr_charset_reader *r)
{
	if (r->start > 0) {
		memmove(r->raw, r->raw + r->start, r->end - r->start);
		r->raw_off += (off_t)r->start;
		r->end -= r->start;
		r->start = 0;
	}
	while (r->end < RAW_SIZE && !r->eof) {
		ssize_t n = pread(r->fd, r->raw + r->end, RAW_SIZE - r->end, r->raw_off + (off_t)r->end);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			r->eof = true;
		r->end += (size_t)n;
		break;
	}
	return 0;
}

/* Finds the end of the line at raw[start]: *stop is the index of its
 * terminator (or of the end of the data), *term the terminator's length (0
 * at the end of the file, 1 for LF or CR, 2 for CRLF). LINE_NEED_MORE when
 * the buffer does not hold the whole line yet; *stop then excludes a final
 * CR, which may be the first half of a CRLF. */
static int find_line(const struct tr_charset_reader *r, size_t *stop, size_t *term)
{
	const char *b = r->raw + r->start;
	size_t n = r->end - r->start;
	const char *lf = memchr(b, '\n', n);
	size_t lim = lf ? (size_t)(lf - b) : n;
	const char *cr = memchr(b, '\r', lim);
	if (cr) {
		size_t i = (size_t)(cr - b);
		*stop = r->start + i;
		if (i + 1 < n || r->eof) {
			*term = i + 1 < n && b[i + 1] == '\n' ? 2 : 1;
			return LINE_COMPLETE;
		}
		return LINE_NEED_MORE;
	}
	*stop = r->start + lim;
	*term = lf ? 1 : 0;
	return lf || r->eof ? LINE_COMPLETE : LINE_NEED_MORE;
}

/* Notes a bad sequence at raw[at] (the piece's line ends at raw[stop]) for
 * t, keeping the first one of the piece. */
static void note_bad(struct tr_charset_reader *r, struct tr_text *t, size_t at, size_t stop)
{
	int column = (int)(r->line_done + (at - r->start) + 1);
	if (t->error && t->column <= column)
		return;
	const unsigned char *b = (const unsigned char *)r->raw + at;
	t->column = column;
	t->error = r->msg;
	if (at < stop && b[0] == 0) {
		snprintf(r->msg, sizeof(r->msg), "NUL byte in text");
		return;
	}
	int len = snprintf(r->msg, sizeof(r->msg), "invalid %s byte sequence", r->name);
	for (size_t i = 0; at + i < stop && i < 4 && len > 0 && (size_t)len < sizeof(r->msg); i++)
		len += snprintf(r->msg + len, sizeof(r->msg) - (size_t)len, " 0x%02X", b[i]);
}

/* UTF-8 input holding a bad sequence: copies raw[start..stop) to out with
 * each bad byte replaced by U+FFFD, noting the first in t. Returns the
 * length; *used is what was taken of the input (a partial piece stops
 * before a character cut by the end of the buffer). */
static size_t utf8_repair(struct tr_charset_reader *r, struct tr_text *t, size_t stop, bool complete,
			  size_t *used)
{
	const unsigned char *b = (const unsigned char *)r->raw + r->start;
	unsigned char *o = (unsigned char *)r->out;
	size_t n = stop - r->start, i = 0;
	while (i < n) {
		size_t ok = utf8_valid(b + i, n - i);
		memcpy(o, b + i, ok);
		o += ok;
		i += ok;
		if (i == n || (!complete && utf8_cut_short(b + i, n - i)))
			break;
		note_bad(r, t, r->start + i, stop);
		memcpy(o, "\xEF\xBF\xBD", 3);
		o += 3;
		i++;
	}
	*used = i;
	return (size_t)(o - (unsigned char *)r->out);
}

/* Converts raw[start..stop) with iconv into out, each bad byte replaced by
 * U+FFFD and the first noted in t. Returns the length; *used as above. */
static size_t iconv_repair(struct tr_charset_reader *r, struct tr_text *t, size_t stop, bool complete,
			   size_t *used)
{
	char *b = r->raw + r->start, *in = b, *o = (char *)r->wide;
	size_t inleft = stop - r->start, oleft = RAW_SIZE * sizeof(*r->wide);
	while (inleft > 0 && iconv(r->cd, &in, &inleft, &o, &oleft) == (size_t)-1) {
		if (errno == EINVAL && !complete)
			break; /* a character cut by the end of the buffer: next time */
		/* EILSEQ, or a character cut by the end of the line */
		note_bad(r, t, (size_t)(in - r->raw), stop);
		iconv(r->cd, NULL, NULL, NULL, NULL);
		uint32_t replacement = 0xFFFD; /* each input byte gives at most one: o has room */
		memcpy(o, &replacement, sizeof(replacement));
		o += sizeof(replacement);
		oleft -= sizeof(replacement);
		in++;
		inleft--;
	}
	*used = (size_t)(in - b);
	bool nul = false;
	size_t n = utf8_encode(r->wide, (size_t)(o - (char *)r->wide) / sizeof(*r->wide),
			       (unsigned char *)r->out, &nul);
	if (nul) {
		const char *z = memchr(b, 0, *used);
		note_bad(r, t, z ? r->start + (size_t)(z - b) : r->start, stop);
	}
	return n;
}

/* Hands out raw[start..stop) (complete: the whole rest of the line, ended by
 * term bytes) as UTF-8: in place when it is valid UTF-8 or plain ASCII,
 * else converted or repaired into out. A partial piece may stop short of
 * stop, before a character cut by the end of the buffer. */
static int deliver(struct tr_charset_reader *r, struct tr_text *t, size_t stop, size_t term,
		   bool complete)
{
	char *b = r->raw + r->start;
	size_t n = stop - r->start, used = n;
	char *data = b;
	if (r->cd == (iconv_t)-1) {
		size_t ok = utf8_valid((const unsigned char *)b, n);
		if (ok == n || (!complete && utf8_cut_short((const unsigned char *)b + ok, n - ok))) {
			used = n = ok; /* in place; raw has a spare byte past end for the '\n' */
		} else {
			n = utf8_repair(r, t, stop, complete, &used);
			data = r->out;
		}
	} else if (!plain_ascii((const unsigned char *)b, n)) {
		n = iconv_repair(r, t, stop, complete, &used);
		data = r->out;
	}
	t->data = data;
	t->line = r->line;
	if (complete) {
		data[n++] = '\n';
		r->start = stop + term;
		r->line++;
		r->mid_line = false;
		r->line_done = 0;
	} else {
		r->start += used;
		r->mid_line = true;
		r->line_done += used;
	}
	t->len = n;
	t->eol = complete;
	return t->error ? TR_EPARSE : 1;
}

/* Drops input up to the end of the current line. Returns 1 when done, 0
 * when more must be read first. */
static int skip_rest(struct tr_charset_reader *r)
{
	size_t stop, term;
	if (find_line(r, &stop, &term) == LINE_COMPLETE) {
		r->start = stop + term;
		r->skip = false;
		r->mid_line = false;
		r->line_done = 0;
		r->line++;
		return 1;
	}
	r->start = stop; /* keeps a final CR that may pair with the next LF */
	return 0;
}

int tr_charset_read(struct tr_charset_reader *r, struct tr_text *t)
{
	memset(t, 0, sizeof(*t));
	for (;;) {
		size_t stop, term;
		if (r->skip) {
			if (r->start == r->end && r->eof) {
				r->skip = r->mid_line = false;
				return 0;
			}
			if (!skip_rest(r)) {
				int rc = refill(r);
				if (rc < 0)
					return rc;
			}
			continue;
		}
		if (r->start == r->end && !r->eof) {
			int rc = refill(r);
			if (rc < 0)
				return rc;
			continue;
		}
		if (r->start == r->end) { /* end of file */
			if (!r->mid_line)
				return 0;
			return deliver(r, t, r->start, 0, true); /* ends a long last line */
		}
		if (find_line(r, &stop, &term) == LINE_COMPLETE)
			return deliver(r, t, stop, term, true);
		if (r->start > 0 || r->end < RAW_SIZE) {
			int rc = refill(r);
			if (rc < 0)
				return rc;
			continue;
		}
		/* The buffer is full and holds no line end: hand out part of the line. */
		return deliver(r, t, stop, 0, false);
	}
}

void tr_charset_skip_line(struct tr_charset_reader *r)
{
	if (r->mid_line)
		r->skip = true;
}

void tr_charset_tell(const struct tr_charset_reader *r, struct tr_charset_pos *pos)
{
	pos->offset = r->raw_off + (off_t)r->start;
	pos->line = r->line;
}

int tr_charset_seek(struct tr_charset_reader *r, const struct tr_charset_pos *pos)
{
	r->raw_off = pos->offset;
	r->start = r->end = 0;
	r->eof = false;
	r->line = pos->line;
	r->mid_line = r->skip = false;
	r->line_done = 0;
	if (r->cd != (iconv_t)-1)
		iconv(r->cd, NULL, NULL, NULL, NULL);
	return 0;
}

off_t tr_charset_offset(const struct tr_charset_reader *r)
{
	return r->raw_off + (off_t)r->start;
}

const char *tr_charset_name(const struct tr_charset_reader *r)
{
	return r->name;
}

void tr_charset_close(struct tr_charset_reader *r)
{
	if (!r)
		return;
	if (r->fd >= 0)
		close(r->fd);
	if (r->cd != (iconv_t)-1)
		iconv_close(r->cd);
	free(r->raw);
	free(r->wide);
	free(r->out);
	free(r);
}

int tr_charset_open(const char *path, const char *encoding, struct tr_charset_reader **out,
		    char *why, size_t whylen)
{
	char dummy[8];
	if (!why)
		why = dummy, whylen = sizeof(dummy);
	*out = NULL;
	const char *name = iconv_name(encoding);
	if (!name) {
		snprintf(why, whylen, "unknown encoding \"%s\" (utf-8, gbk, gb18030 or shift_jis)", encoding);
		return -EINVAL;
	}
	struct tr_charset_reader *r = calloc(1, sizeof(*r));
	if (!r) {
		snprintf(why, whylen, "out of memory");
		return -ENOMEM;
	}
	r->fd = -1;
	r->cd = (iconv_t)-1;
	r->line = 1;
	r->name = name;
	int rc = -ENOMEM;
	r->raw = malloc(RAW_SIZE + 1);
	if (!r->raw) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	r->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (r->fd < 0) {
		rc = -errno;
		snprintf(why, whylen, "cannot open: %s", strerror(errno));
		goto fail;
	}
	rc = refill(r);
	if (rc < 0) {
		snprintf(why, whylen, "cannot read: %s", strerror(-rc));
		goto fail;
	}
	const unsigned char *b = (const unsigned char *)r->raw;
	if (r->end >= 2 && ((b[0] == 0xFF && b[1] == 0xFE) || (b[0] == 0xFE && b[1] == 0xFF))) {
		snprintf(why, whylen, "UTF-16 text is not supported: save the file as UTF-8");
		rc = -EINVAL;
		goto fail;
	}
	if (r->end >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF) {
		r->start = 3; /* SPEC §4: a BOM says UTF-8, whatever the source declares */
		r->name = name = "UTF-8";
	}
	r->out = malloc(OUT_SIZE);
	if (!r->out) {
		snprintf(why, whylen, "out of memory");
		goto fail;
	}
	if (strcmp(name, "UTF-8") != 0) {
		/* One glibc step to UCS-4 and UTF-8 encoded here: glibc's own second
		 * step (UCS-4 to UTF-8) took 12% of the decoders' time. */
		r->cd = iconv_open("WCHAR_T", name);
		r->wide = malloc(RAW_SIZE * sizeof(*r->wide));
		if (r->cd == (iconv_t)-1 || !r->wide) {
			rc = r->cd == (iconv_t)-1 ? -errno : -ENOMEM;
			snprintf(why, whylen, "cannot convert from %s: %s", name, strerror(-rc));
			goto fail;
		}
	}
	*out = r;
	return 0;
fail:
	tr_charset_close(r);
	return rc;
}
