/* Streaming conversion of a dropped file to UTF-8, one physical line at a
 * time (SPEC §4 encodings): UTF-8 (validated; a BOM is stripped and wins over
 * the declared encoding), GBK read as GB18030, Shift_JIS read as CP932.
 * Lines end at LF, CRLF or a lone CR and are handed out with one '\n'. An
 * invalid byte sequence is reported with its line and column, and the text
 * comes with U+FFFD in its place so that a parser can find where the row
 * holding it ends, report that row and go on; it is never data. Memory is
 * a fixed buffer whatever the file or line size: a line longer than the
 * buffer comes in several pieces. Not parsing: decode_*.c turn lines into
 * rows. */
#ifndef TR_CHARSET_H
#define TR_CHARSET_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tr_charset_reader;

/* One piece of text: a whole line, or part of a line longer than the buffer. */
struct tr_text {
	char *data;        /* UTF-8 without NUL bytes; valid until the next call on the reader,
	                      which lets the caller change it in place meanwhile */
	size_t len;
	int line;          /* 1-based physical line the piece belongs to */
	bool eol;          /* the piece ends its line: data ends with one '\n' (added after a
	                      last line without one) */
	/* Set when tr_charset_read returns TR_EPARSE: */
	int column;        /* 1-based byte column (in the file) of the piece's first bad sequence */
	const char *error; /* what it is, owned by the reader, valid until the next call */
};

/* A line start, to come back to with tr_charset_seek. */
struct tr_charset_pos {
	off_t offset;      /* in the file */
	int line;
};

/* Opens path for reading in encoding ("utf-8" when NULL or ""; also "gbk",
 * "gb18030", "gb2312", "shift_jis", "sjis", "cp932", any case, '-' or '_'
 * optional). On success *out is the caller's (tr_charset_close). Returns 0,
 * -errno when the file cannot be read, or -EINVAL for an unknown encoding or
 * a UTF-16 file; why (may be NULL) then says what went wrong. */
int tr_charset_open(const char *path, const char *encoding, struct tr_charset_reader **out,
		    char *why, size_t whylen);

/* The next piece of text. Returns 1 with *t filled, 0 at the end of the file,
 * TR_EPARSE with *t filled when the piece held an invalid byte sequence or a
 * NUL byte (t->column and t->error say which; each bad byte is U+FFFD in
 * t->data, to be used only to keep one's place in the syntax), or -errno on
 * a read error. */
int tr_charset_read(struct tr_charset_reader *r, struct tr_text *t);

/* Drops the rest of the current line when the last piece did not end it. */
void tr_charset_skip_line(struct tr_charset_reader *r);

/* The position of the next line; only meaningful right after a piece that
 * ended its line. */
void tr_charset_tell(const struct tr_charset_reader *r, struct tr_charset_pos *pos);

/* Goes back (or forward) to a position from tr_charset_tell. Returns 0. */
int tr_charset_seek(struct tr_charset_reader *r, const struct tr_charset_pos *pos);

/* How many bytes of the file have been consumed so far. */
off_t tr_charset_offset(const struct tr_charset_reader *r);

/* The encoding actually read: "UTF-8", "GB18030" or "CP932" (static). */
const char *tr_charset_name(const struct tr_charset_reader *r);

/* Closes the file and frees r; NULL is fine. */
void tr_charset_close(struct tr_charset_reader *r);

#endif
