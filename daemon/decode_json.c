/* NDJSON and JSON rows (SPEC §4). NDJSON: each non-blank line is one object.
 * JSON: one object, or an array streamed element by element: a small scanner
 * that follows strings, escapes and nesting depth (tr_json_scan_*, public in
 * tr_decode.h so triagectl cuts its input the same way) finds where each
 * element ends, and only that element is handed to cJSON, so a file of any size needs
 * max_row_bytes of memory. An element that is not valid JSON is a row error
 * and scanning goes on with the next element; when the structure itself is
 * broken, the rest of the file is one error. Not the encoding (charset.c)
 * nor the rows' types and ids (decode.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "decode_internal.h"
#include "tr_buf.h"

/* Where the JSON scanner is between elements. */
enum mode {
	TOP,          /* before a top-level value */
	IN_ARRAY,     /* after '[' or ',': an element or ']' */
	AFTER_ELEM,   /* after an element: ',' or ']' */
	END,          /* nothing more will be read */
};

/* How the element being scanned ends (struct tr_json_scan's kind). */
enum kind { CONTAINER, STRING, BARE };

struct json_state {
	struct tr_buf elem;   /* the element or NDJSON line being collected */
	/* The piece of text being scanned (JSON). */
	struct tr_text t;
	size_t pos;
	bool have;
	size_t col0;          /* byte column of t.data[0] in its line, 0-based; columns
	                         count bytes of the UTF-8 text, the file's own for UTF-8 */
	enum mode mode;
	/* The element being scanned. */
	bool in_elem;
	bool elem_in_array;
	struct tr_json_scan scan;
	int elem_line, elem_col;
	bool too_big;
	struct tr_error broken; /* an encoding error inside the element */
	bool is_broken;
	struct tr_error piece_error; /* the current piece has bad bytes */
	bool piece_bad;
	int last_line;
};

static bool blank(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
			return false;
	return true;
}

/* Appends n bytes to the collected element unless it would outgrow max;
 * then marks it too big and keeps nothing more. Returns 0 or -ENOMEM. */
static int collect(struct json_state *s, const char *p, size_t n, size_t max)
{
	if (s->too_big || n == 0)
		return 0;
	if (s->elem.len + n > max) {
		s->too_big = true;
		return 0;
	}
	tr_buf_add(&s->elem, p, n);
	return s->elem.oom ? -ENOMEM : 0;
}

/* Parses one complete value of n bytes that starts at line, column col into
 * a row. An error's place is worked out from where cJSON stopped. */
static int parse_row(struct tr_decoder *d, const char *text, size_t n, int line, int col,
		     struct tr_row *row)
{
	const char *end = NULL;
	cJSON *v = cJSON_ParseWithLengthOpts(text, n, &end, 0);
	const char *stop = v ? end : (end ? end : text);
	if (v && !blank(end, n - (size_t)(end - text))) {
		cJSON_Delete(v);
		v = NULL;
		while (stop < text + n && (*stop == ' ' || *stop == '\t' || *stop == '\n' || *stop == '\r'))
			stop++;
	}
	if (!v) {
		int l = line, c = col;
		for (const char *p = text; p < stop; p++, c++)
			if (*p == '\n')
				l++, c = 0;
		tr_decode_fail(d, row, line, c, NULL, "invalid JSON");
		row->err.line = l;
		return 1;
	}
	if (!cJSON_IsObject(v)) {
		cJSON_Delete(v);
		return tr_decode_fail(d, row, line, col, NULL, "not an object");
	}
	int rc = tr_decode_rename(d, v, line, row);
	if (rc != 0) {
		cJSON_Delete(v);
		return rc;
	}
	return tr_decode_emit(d, v, line, row);
}

static struct json_state *new_state(struct tr_decoder *d)
{
	struct json_state *s = calloc(1, sizeof(*s));
	d->state = s;
	return s;
}

int tr_decode_ndjson_open(struct tr_decoder *d, struct tr_errors *errs)
{
	(void)errs;
	return new_state(d) ? 0 : -ENOMEM;
}

int tr_decode_ndjson_next(struct tr_decoder *d, struct tr_row *row)
{
	struct json_state *s = d->state;
	struct tr_text t;
	for (;;) {
		int rc = tr_charset_read(d->in, &t);
		if (rc == 0)
			return 0;
		if (rc == TR_EPARSE) {
			s->elem.len = 0;
			if (!t.eol)
				tr_charset_skip_line(d->in);
			return tr_decode_fail(d, row, t.line, t.column, NULL, "%s", t.error);
		}
		if (rc < 0)
			return rc;
		const char *text = t.data;
		size_t n = t.len;
		if (s->elem.len + n > d->max_row_bytes) {
			s->elem.len = 0;
			if (!t.eol)
				tr_charset_skip_line(d->in);
			return tr_decode_fail(d, row, t.line, 0, NULL, "line is longer than %zu bytes",
					      d->max_row_bytes);
		}
		if (!t.eol || s->elem.len > 0) { /* a line in several pieces */
			if (collect(s, t.data, t.len, d->max_row_bytes) < 0)
				return -ENOMEM;
			if (!t.eol)
				continue;
			text = s->elem.p;
			n = s->elem.len;
			s->elem.len = 0;
		}
		if (blank(text, n))
			continue;
		return parse_row(d, text, n, t.line, 1, row);
	}
}

/* When the current piece has bad bytes and text[0..n) of the element holds
 * one of them (a U+FFFD: a real one there makes it an error too, which errs
 * on the safe side), the element will be a row error. */
static void check_broken(struct json_state *s, const char *text, size_t n)
{
	if (s->piece_bad && !s->is_broken && memmem(text, n, "\xEF\xBF\xBD", 3)) {
		s->is_broken = true;
		s->broken = s->piece_error;
	}
}

void tr_json_scan_begin(struct tr_json_scan *s, char first)
{
	s->kind = first == '{' || first == '[' ? CONTAINER : first == '"' ? STRING : BARE;
	s->depth = s->max_depth = s->kind == CONTAINER;
	s->in_str = s->kind == STRING;
	s->esc = false;
}

size_t tr_json_scan_next(struct tr_json_scan *s, const char *p, size_t n, bool *done)
{
	const char *end = p + n, *q = p;
	*done = false;
	if (s->kind == BARE) {
		while (q < end && *q != ',' && *q != ']' && *q != '}' && *q != ' ' && *q != '\t' &&
		       *q != '\n' && *q != '\r')
			q++;
		*done = q < end;
		return (size_t)(q - p);
	}
	while (q < end) {
		char ch = *q++;
		if (s->in_str) {
			if (s->esc)
				s->esc = false;
			else if (ch == '\\')
				s->esc = true;
			else if (ch == '"') {
				s->in_str = false;
				if (s->kind == STRING) {
					*done = true;
					break;
				}
			}
		} else if (ch == '"') {
			s->in_str = true;
		} else if (ch == '{' || ch == '[') {
			if (++s->depth > s->max_depth)
				s->max_depth = s->depth;
		} else if ((ch == '}' || ch == ']') && --s->depth == 0) {
			*done = true;
			break;
		}
	}
	return (size_t)(q - p);
}

bool tr_json_scan_whole_at_end(const struct tr_json_scan *s)
{
	return s->kind == BARE;
}

/* Starts an element at s->t.data[s->pos]; its first byte is taken. */
static int start_element(struct tr_decoder *d, struct json_state *s)
{
	char ch = s->t.data[s->pos];
	s->in_elem = true;
	s->elem_in_array = s->mode != TOP;
	tr_json_scan_begin(&s->scan, ch);
	s->elem_line = s->t.line;
	s->elem_col = (int)(s->col0 + s->pos + 1);
	s->too_big = s->is_broken = false;
	check_broken(s, s->t.data + s->pos, s->t.len - s->pos < 3 ? s->t.len - s->pos : 3);
	s->elem.len = 0;
	s->pos++;
	return collect(s, &ch, 1, d->max_row_bytes);
}

/* Scans the current piece on from s->pos, collecting the element's bytes.
 * Returns 1 when the element ended, 0 when the piece ran out first, or
 * -ENOMEM. */
static int scan_element(struct tr_decoder *d, struct json_state *s)
{
	const char *p = s->t.data + s->pos, *q;
	bool done;
	q = p + tr_json_scan_next(&s->scan, p, s->t.len - s->pos, &done);
	s->pos = (size_t)(q - s->t.data);
	check_broken(s, p, (size_t)(q - p));
	if (collect(s, p, (size_t)(q - p), d->max_row_bytes) < 0)
		return -ENOMEM;
	return done;
}

/* The element is complete: makes it a row. */
static int finish_element(struct tr_decoder *d, struct json_state *s, struct tr_row *row)
{
	int rc;
	s->in_elem = false;
	s->mode = s->elem_in_array ? AFTER_ELEM : TOP;
	if (s->is_broken) {
		rc = tr_decode_fail(d, row, s->elem_line, s->broken.column, NULL, "%s", s->broken.message);
		row->err.line = s->broken.line;
	} else if (s->too_big) {
		rc = tr_decode_fail(d, row, s->elem_line, s->elem_col, NULL,
				    "element is larger than %zu bytes", d->max_row_bytes);
	} else if (s->scan.max_depth > CJSON_NESTING_LIMIT) {
		rc = tr_decode_fail(d, row, s->elem_line, s->elem_col, NULL,
				    "nested deeper than %d levels", CJSON_NESTING_LIMIT);
	} else {
		rc = parse_row(d, s->elem.p, s->elem.len, s->elem_line, s->elem_col, row);
	}
	s->elem.len = 0;
	return rc;
}

/* The file ended: an element or array left open is the last row error. */
static int at_end(struct tr_decoder *d, struct json_state *s, struct tr_row *row)
{
	enum mode mode = s->mode;
	s->mode = END;
	if (s->in_elem) {
		s->in_elem = false;
		return tr_decode_fail(d, row, s->elem_line, s->elem_col, NULL,
				      "the file ends inside this element (truncated or unbalanced JSON)");
	}
	if (mode == IN_ARRAY || mode == AFTER_ELEM)
		return tr_decode_fail(d, row, s->last_line, 0, NULL,
				      "the file ends before the JSON array is closed");
	return 0;
}

int tr_decode_json_open(struct tr_decoder *d, struct tr_errors *errs)
{
	(void)errs;
	return new_state(d) ? 0 : -ENOMEM;
}

int tr_decode_json_next(struct tr_decoder *d, struct tr_row *row)
{
	struct json_state *s = d->state;
	for (;;) {
		if (s->mode == END)
			return 0;
		if (!s->have || s->pos == s->t.len) {
			if (s->have)
				s->col0 = s->t.eol ? 0 : s->col0 + s->t.len;
			s->have = false;
			int rc = tr_charset_read(d->in, &s->t);
			if (rc == 0)
				return at_end(d, s, row);
			if (rc < 0 && rc != TR_EPARSE)
				return rc;
			/* Scan on to find where the elements holding the bad
			 * bytes (each one U+FFFD now) end: they are row errors,
			 * the other elements of the line are not. */
			s->piece_bad = rc == TR_EPARSE;
			if (s->piece_bad) {
				s->piece_error.line = s->t.line;
				s->piece_error.column = s->t.column;
				snprintf(s->piece_error.message, sizeof(s->piece_error.message), "%s",
					 s->t.error);
			}
			s->have = true;
			s->pos = 0;
			s->last_line = s->t.line;
		}
		if (s->in_elem) {
			int rc = scan_element(d, s);
			if (rc < 0)
				return rc;
			if (rc == 1)
				return finish_element(d, s, row);
			continue;
		}
		char ch = s->t.data[s->pos];
		if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') {
			s->pos++;
			continue;
		}
		switch (s->mode) {
		case TOP:
			if (ch == '[') {
				s->mode = IN_ARRAY;
				s->pos++;
				continue;
			}
			if (ch != '{') {
				s->mode = END;
				if (s->piece_bad)
					return tr_decode_fail(d, row, s->t.line, s->piece_error.column, NULL,
							      "%s", s->piece_error.message);
				return tr_decode_fail(d, row, s->t.line, (int)(s->col0 + s->pos + 1), NULL,
						      "not JSON: expected an object or an array");
			}
			break;
		case IN_ARRAY:
			if (ch == ']' || ch == ',') { /* tolerates [a,] and [a,,b] */
				s->mode = ch == ']' ? TOP : IN_ARRAY;
				s->pos++;
				continue;
			}
			break;
		case AFTER_ELEM:
			if (ch == ',' || ch == ']') {
				s->mode = ch == ']' ? TOP : IN_ARRAY;
				s->pos++;
				continue;
			}
			/* A missing comma: say so, then read on from here. */
			s->mode = IN_ARRAY;
			return tr_decode_fail(d, row, s->t.line, (int)(s->col0 + s->pos + 1), NULL,
					      "expected ',' or ']' after the element");
		case END:
			return 0;
		}
		int rc = start_element(d, s);
		if (rc < 0)
			return rc;
	}
}

void tr_decode_json_close(struct tr_decoder *d)
{
	struct json_state *s = d->state;
	if (!s)
		return;
	tr_buf_free(&s->elem);
	free(s);
	d->state = NULL;
}
