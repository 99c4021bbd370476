/* CSV and TSV rows (SPEC §4) through libcsv: the first row is the header,
 * each later row becomes an object of strings keyed by the mapped header.
 * RFC 4180 quoting, doubled quotes and line breaks inside quotes; libcsv
 * trims spaces and tabs around unquoted fields. A header ending in an empty
 * name (spreadsheet exports) drops that column. Lines come one at a time from
 * the encoding layer, so a quote left open does not swallow the file: when
 * the row outgrows max_row_bytes or the file ends inside it, it is reported
 * at the line where the quote opened and reading goes back to the next line.
 * Not the encoding (charset.c) nor the rows' types and ids (decode.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <csv.h>
#include "decode_internal.h"

/* Going back after an unclosed quote re-reads part of the file. A file full
 * of them could make that quadratic; past this many re-read bytes per
 * max_row_bytes, the rest is reported as skipped instead. */
#define RESCAN_ROWS 16

/* The most columns a header may have: Excel's own limit (XFD), so no
 * spreadsheet export is refused. A header far wider is refused as soon as
 * it is read, with no per-column work past this many (100,000 columns took
 * 11 s to check for repeated names one pair at a time). */
#define MAX_COLUMNS 16384

/* split_line's answer for a line it leaves to libcsv. */
#define NEED_LIBCSV 2

struct csv_state {
	struct csv_parser parser;
	struct tr_decoder *d;
	bool have_header;    /* false for an empty file: no rows */
	char **keys;         /* per column: the field, or NULL when dropped */
	size_t ncols;        /* without a trailing unnamed column */
	bool unnamed_last;   /* the header ends with an empty name */
	/* Collecting the header's names. */
	bool header;
	bool too_wide;       /* the header has more than MAX_COLUMNS names */
	char **names;
	size_t nnames, names_cap;
	/* The record in progress. */
	cJSON *obj;
	size_t nfields;
	bool extra_value;    /* a value under the unnamed last column */
	bool done;           /* libcsv ended the record */
	bool oom;
	bool in_row;
	int row_line;
	size_t row_bytes;
	bool line_start;     /* the next piece starts a line */
	bool fields_this_line;
	int open_line;       /* where the quoted field still open began */
	struct tr_charset_pos resume; /* the line after open_line */
	off_t rescan_budget;
	char *scratch;       /* one field of split_line */
	size_t scratch_size;
	/* The first bad byte sequence in the record: the record is an error. */
	int bad_line, bad_column;
	char bad_message[160];
};

bool tr_decode_csv_split = true;

static void on_field(void *s, size_t len, void *data)
{
	struct csv_state *c = data;
	size_t i = c->nfields++;
	c->fields_this_line = true;
	if (c->oom)
		return;
	if (c->header) {
		if (c->nnames == MAX_COLUMNS) {
			c->too_wide = true; /* counted in nfields, not kept */
			return;
		}
		if (c->nnames == c->names_cap) {
			size_t cap = c->names_cap ? 2 * c->names_cap : 16;
			char **names = realloc(c->names, cap * sizeof(*names));
			if (!names) {
				c->oom = true;
				return;
			}
			c->names = names;
			c->names_cap = cap;
		}
		if (!(c->names[c->nnames] = strdup(s)))
			c->oom = true;
		else
			c->nnames++;
		return;
	}
	if (i >= c->ncols) {
		if (len > 0)
			c->extra_value = true;
		return;
	}
	if (!c->keys[i])
		return;
	cJSON *v = cJSON_CreateString(s); /* CSV_APPEND_NULL: s ends with NUL */
	if (!v || !cJSON_AddItemToObject(c->obj, c->keys[i], v)) {
		cJSON_Delete(v);
		c->oom = true;
	}
}

static void on_record(int ch, void *data)
{
	(void)ch;
	((struct csv_state *)data)->done = true;
}

static void free_names(struct csv_state *c)
{
	for (size_t i = 0; i < c->nnames; i++)
		free(c->names[i]);
	free(c->names);
	c->names = NULL;
	c->nnames = c->names_cap = 0;
	c->too_wide = false;
}

/* Forgets the record in progress, including libcsv's half-parsed field. */
static void reset_record(struct csv_state *c)
{
	cJSON_Delete(c->obj);
	c->obj = NULL;
	c->nfields = 0;
	c->extra_value = c->done = c->in_row = false;
	c->bad_line = 0;
	c->line_start = true; /* every caller goes on at a line start */
	csv_fini(&c->parser, NULL, NULL, NULL);
	if (c->header)
		free_names(c);
}

static int start_record(struct csv_state *c, int line)
{
	c->in_row = true;
	c->row_line = c->open_line = line;
	c->row_bytes = 0;
	c->nfields = 0;
	c->extra_value = false;
	c->bad_line = 0;
	if (!c->header && !(c->obj = cJSON_CreateObject()))
		return -ENOMEM;
	return 0;
}

/* Goes back to the line after the one where the open quote began, unless
 * that would re-read more than the budget allows. Returns true when it did. */
static bool back_to_resume(struct csv_state *c)
{
	off_t cost = tr_charset_offset(c->d->in) - c->resume.offset;
	if (cost > c->rescan_budget)
		return false;
	c->rescan_budget -= cost;
	tr_charset_seek(c->d->in, &c->resume);
	return true;
}

/* The file ended inside a quoted field. SPEC §4: report it where the quote
 * opened and read on from the next line. */
static int unclosed_quote(struct csv_state *c, struct tr_row *row)
{
	int last = c->resume.line; /* at least the line after the quote */
	tr_decode_fail(c->d, row, c->row_line, 0, NULL, "unclosed quote");
	row->err.line = c->open_line;
	if (!back_to_resume(c))
		snprintf(row->err.message, sizeof(row->err.message),
			 "unclosed quote (lines %d to the end were read as part of it)", last);
	reset_record(c);
	return 2;
}

/* The record outgrew max_row_bytes while reading the piece t. */
static int too_long(struct csv_state *c, const struct tr_text *t, struct tr_row *row)
{
	tr_decode_fail(c->d, row, c->row_line, 0, NULL, "row is larger than %zu bytes",
		       c->d->max_row_bytes);
	if (!c->done) {
		/* In a quoted field begun on an earlier line, this is likely an
		 * unclosed quote: go back to the line after it, as at the end of
		 * the file. Otherwise drop the rest of this line. */
		bool earlier = c->row_line < t->line && !c->fields_this_line;
		if (earlier && back_to_resume(c)) {
			row->err.line = c->open_line;
			snprintf(row->err.message, sizeof(row->err.message),
				 "unclosed quote (or a row larger than %zu bytes)", c->d->max_row_bytes);
		} else if (!t->eol) {
			tr_charset_skip_line(c->d->in);
		}
	}
	reset_record(c);
	return 2;
}

/* Makes libcsv's field buffer room for n more bytes at once: its own growth
 * is a fixed 128 bytes per step, quadratic on a large field. */
static void reserve(struct csv_parser *p, size_t n)
{
	size_t need = p->entry_pos + n + 1;
	if (p->entry_size >= need)
		return;
	size_t grow = need - p->entry_size;
	if (grow < p->entry_size)
		grow = p->entry_size;
	csv_set_blk_size(p, grow < 4096 ? 4096 : grow);
}

/* Copies text[0..n) to the scratch buffer with a NUL after it. */
static char *scratch_copy(struct csv_state *c, const char *text, size_t n)
{
	memcpy(c->scratch, text, n);
	c->scratch[n] = 0;
	return c->scratch;
}

/* The common case: a complete line holding a whole record, with every quoted
 * field closed on it. Splits it exactly as libcsv would (spaces and tabs
 * around fields trimmed, doubled quotes undone) with memchr instead of
 * feeding libcsv byte by byte, which was most of the decoder's time. Returns
 * 1 with the record complete, 0 for a blank line, NEED_LIBCSV for anything
 * else (the line is left untouched), or -ENOMEM. */
static int split_line(struct csv_state *c, const struct tr_text *t)
{
	char delim = (char)c->parser.delim_char;
	const char *p = t->data, *end = t->data + t->len - 1; /* without the '\n' */
	const char *q = p;
	while (q < end && (*q == ' ' || *q == '\t') && *q != delim)
		q++;
	if (q == end)
		return 0;
	if (c->scratch_size < t->len + 1) {
		char *s = realloc(c->scratch, t->len + 1);
		if (!s)
			return -ENOMEM;
		c->scratch = s;
		c->scratch_size = t->len + 1;
	}
	int rc = start_record(c, t->line);
	if (rc < 0)
		return rc;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\t') && *p != delim)
			p++;
		char *w = c->scratch;
		if (p < end && *p == '"') {
			for (p++;;) {
				q = memchr(p, '"', (size_t)(end - p));
				if (!q)
					goto libcsv; /* the field goes on on the next line */
				memcpy(w, p, (size_t)(q - p));
				w += q - p;
				p = q + 1;
				if (p == end || *p != '"')
					break;
				*w++ = '"';
				p++;
			}
			while (p < end && (*p == ' ' || *p == '\t') && *p != delim)
				p++;
			if (p < end && *p != delim)
				goto libcsv; /* text after the closing quote */
			*w = 0;
			on_field(c->scratch, (size_t)(w - c->scratch), c);
		} else {
			q = p < end ? memchr(p, delim, (size_t)(end - p)) : NULL;
			const char *stop = q ? q : end;
			while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
				stop--;
			on_field(scratch_copy(c, p, (size_t)(stop - p)), (size_t)(stop - p), c);
			p = q ? q : end;
		}
		if (p == end)
			break;
		p++; /* the delimiter */
	}
	if (c->oom)
		return -ENOMEM;
	c->in_row = false;
	return 1;
libcsv:
	reset_record(c);
	return NEED_LIBCSV;
}

/* Reads the next record: 1 when one is complete (c->obj, c->nfields; or the
 * names when collecting the header), 2 with a row error in *row, 0 at the end
 * of the file, or a negative code. */
static int read_record(struct csv_state *c, struct tr_row *row)
{
	struct tr_decoder *d = c->d;
	struct tr_text t;
	for (;;) {
		int rc = tr_charset_read(d->in, &t);
		bool bad = rc == TR_EPARSE;
		if (rc < 0 && !bad)
			return rc;
		if (rc == 0)
			return c->in_row ? unclosed_quote(c, row) : 0;
		if (!bad && !c->in_row && t.eol && t.len <= d->max_row_bytes && tr_decode_csv_split) {
			rc = split_line(c, &t);
			if (rc == 0)
				continue;
			if (rc != NEED_LIBCSV)
				return rc;
		}
		if (!c->in_row && (rc = start_record(c, t.line)) < 0)
			return rc;
		if (bad && !c->bad_line) {
			/* Parse on (the bad bytes are U+FFFD) to find the record's end. */
			c->bad_line = t.line;
			c->bad_column = t.column;
			snprintf(c->bad_message, sizeof(c->bad_message), "%s", t.error);
		}
		if (c->line_start)
			c->fields_this_line = false;
		c->line_start = t.eol;
		reserve(&c->parser, t.len);
		if (csv_parse(&c->parser, t.data, t.len, on_field, on_record, c) != t.len || c->oom)
			return -ENOMEM;
		c->row_bytes += t.len;
		if (c->row_bytes > d->max_row_bytes)
			return too_long(c, &t, row);
		if (c->done && c->bad_line) {
			tr_decode_fail(d, row, c->row_line, c->bad_column, NULL, "%s", c->bad_message);
			row->err.line = c->bad_line;
			reset_record(c);
			return 2;
		}
		if (c->done) {
			c->in_row = c->done = false;
			return 1;
		}
		if (!t.eol)
			continue;
		if (c->parser.pstate == 0) { /* libcsv's ROW_NOT_BEGUN: a blank line */
			reset_record(c);
			continue;
		}
		/* The line ended inside a quoted field: it opened on this line if
		 * the record or one of its fields ended or began here. */
		if (c->row_line == t.line || c->fields_this_line) {
			c->open_line = t.line;
			tr_charset_tell(d->in, &c->resume);
		}
	}
}

struct column_key {
	const char *field;
	size_t column;
};

static int compare_columns(const void *a, const void *b)
{
	const struct column_key *x = a, *y = b;
	int rc = strcmp(x->field, y->field);
	return rc ? rc : (x->column > y->column) - (x->column < y->column);
}

/* Two columns that give the same field: the rows' objects would hold the
 * key twice. Sorted, so a wide header costs n log n. Returns 0 or a
 * negative code with the problem in errs. */
static int check_repeats(struct csv_state *c, int line, struct tr_errors *errs)
{
	struct column_key *keys = malloc((c->ncols ? c->ncols : 1) * sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	size_t n = 0;
	for (size_t i = 0; i < c->ncols; i++)
		if (c->keys[i])
			keys[n++] = (struct column_key){c->keys[i], i};
	qsort(keys, n, sizeof(*keys), compare_columns);
	int rc = 0;
	for (size_t i = 1; i < n && rc == 0; i++) {
		if (strcmp(keys[i - 1].field, keys[i].field) == 0) {
			tr_errors_add(errs, c->d->path, line, 0, keys[i].field,
				      "header: columns %zu and %zu both give field \"%s\"", keys[i - 1].column + 1,
				      keys[i].column + 1, keys[i].field);
			rc = TR_EPARSE;
		}
	}
	free(keys);
	return rc;
}

/* Turns the header's names into the columns' keys. Returns 0 or a negative
 * code with the problem in errs. */
static int take_header(struct csv_state *c, int line, struct tr_errors *errs)
{
	struct tr_decoder *d = c->d;
	size_t n = c->nnames;
	if (c->too_wide) {
		tr_errors_add(errs, d->path, line, 0, NULL, "header: %zu columns, more than the %d allowed",
			      c->nfields, MAX_COLUMNS);
		return TR_EPARSE;
	}
	if (n > 1 && c->names[n - 1][0] == 0) {
		c->unnamed_last = true;
		n--;
	}
	c->keys = calloc(n, sizeof(*c->keys));
	if (!c->keys)
		return -ENOMEM;
	c->ncols = n;
	for (size_t i = 0; i < n; i++) {
		const char *name = c->names[i];
		const char *field = tr_decode_field(d, name);
		if (!name[0]) {
			tr_errors_add(errs, d->path, line, 0, NULL, "header: column %zu has no name", i + 1);
			return TR_EPARSE;
		}
		if (!field)
			field = name;
		if (d->type && strcmp(field, "type") == 0)
			continue; /* the source's type wins over a type column */
		if (!(c->keys[i] = strdup(field)))
			return -ENOMEM;
	}
	return check_repeats(c, line, errs);
}

int tr_decode_csv_open(struct tr_decoder *d, struct tr_errors *errs)
{
	struct csv_state *c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	d->state = c;
	c->d = d;
	c->line_start = true;
	c->rescan_budget = (off_t)(RESCAN_ROWS * d->max_row_bytes) + 16 * 1024 * 1024;
	csv_init(&c->parser, CSV_APPEND_NULL);
	csv_set_delim(&c->parser, d->format == TR_FMT_TSV ? '\t' : ',');
	c->header = true;
	struct tr_row row;
	int rc = read_record(c, &row);
	if (rc == 2) {
		tr_errors_add(errs, d->path, row.err.line, row.err.column, NULL, "header: %s",
			      row.err.message);
		return TR_EPARSE;
	}
	if (rc == 1) {
		c->have_header = true;
		rc = take_header(c, c->row_line, errs);
	}
	free_names(c);
	c->header = false;
	if (rc == -ENOMEM)
		tr_errors_add(errs, d->path, 0, 0, NULL, "out of memory");
	return rc < 0 ? rc : 0;
}

int tr_decode_csv_next(struct tr_decoder *d, struct tr_row *row)
{
	struct csv_state *c = d->state;
	if (!c->have_header)
		return 0;
	int rc = read_record(c, row);
	if (rc != 1)
		return rc == 2 ? 1 : rc;
	cJSON *obj = c->obj;
	size_t n = c->nfields;
	bool extra = c->extra_value;
	c->obj = NULL;
	c->nfields = 0;
	c->extra_value = false;
	if (n == c->ncols || (c->unnamed_last && n == c->ncols + 1 && !extra))
		return tr_decode_emit(d, obj, c->row_line, row);
	cJSON_Delete(obj);
	if (c->unnamed_last && n == c->ncols + 1)
		return tr_decode_fail(d, row, c->row_line, 0, NULL,
				      "a value in the last column, which has no name in the header");
	return tr_decode_fail(d, row, c->row_line, 0, NULL, "expected %zu fields, found %zu",
			      c->ncols, n);
}

void tr_decode_csv_close(struct tr_decoder *d)
{
	struct csv_state *c = d->state;
	if (!c)
		return;
	cJSON_Delete(c->obj);
	csv_free(&c->parser);
	free(c->scratch);
	free_names(c);
	for (size_t i = 0; i < c->ncols; i++)
		free(c->keys[i]);
	free(c->keys);
	free(c);
	d->state = NULL;
}
