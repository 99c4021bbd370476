/* YAML rows (SPEC §4) through libyaml's event parser: a document that is a
 * list of mappings gives one row per mapping (a document that is one mapping
 * gives one row). Scalars become strings, plain or quoted alike, so a YAML
 * file reads like the CSV it replaces; a plain null (~, null, empty) becomes
 * JSON null, as in a JSON file. Nested mappings and lists become objects and
 * arrays, MAX_DEPTH deep at most; far deeper input stops the file early,
 * before libyaml spends quadratic time on it. Aliases are refused (no
 * billion laughs). libyaml cannot resume
 * after a syntax error, so the first one is the file's last row error. Not
 * the encoding (charset.c) nor the rows' types and ids (decode.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>
#include "decode_internal.h"

#define MAX_DEPTH 64
/* libyaml's scanner looks over every open level at each token, so its time
 * grows with the square of the nesting: a flow list 100,000 deep took 27 s
 * to become a row error, holding up the spool. Past this depth the file
 * stops at once (libyaml cannot resume); up to it a too-deep item is a row
 * error of its own (MAX_DEPTH) and the next item is read. */
#define SCAN_MAX_DEPTH (4 * MAX_DEPTH)
/* The most feed hands libyaml at a time, so the scanner's depth is looked
 * at this often: it gets at most this many levels past SCAN_MAX_DEPTH. */
#define FEED_BYTES 1024
/* libyaml reads ahead of the event it returns; what it may hold of the next
 * item on top of max_row_bytes. */
#define READ_SLACK (64 * 1024)

struct yaml_state {
	struct tr_decoder *d;
	yaml_parser_t parser;
	bool parser_ready;
	struct tr_text t;     /* the piece being fed to libyaml */
	size_t pos;
	bool have;
	size_t fed, mark;     /* bytes fed in all, and when the current item began */
	int input_rc;         /* why feeding stopped: 0, TR_EPARSE (input_err) or -errno */
	struct tr_error input_err;
	bool root_seen;       /* the current document's root node has begun */
	bool in_root_list;
	bool done;
};

/* Length of the prefix of UTF-8 text s that YAML accepts as printable: no
 * C0 controls but tab and line breaks, no DEL, no C1 controls but NEL, no
 * U+FFFE or U+FFFF. Checked here so the error has its line and column. */
static size_t printable(const unsigned char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned c = s[i];
		if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
			return i;
		if (c == 0xC2 && i + 1 < n && s[i + 1] >= 0x80 && s[i + 1] <= 0x9F && s[i + 1] != 0x85)
			return i;
		if (c == 0xEF && i + 2 < n && s[i + 1] == 0xBF && (s[i + 2] == 0xBE || s[i + 2] == 0xBF))
			return i;
	}
	return n;
}

/* libyaml's read handler: the file's text, converted and checked. Returns 0
 * (an error for libyaml) with input_rc set when reading must stop. */
static int feed(void *data, unsigned char *buf, size_t size, size_t *size_read)
{
	struct yaml_state *s = data;
	struct tr_decoder *d = s->d;
	const yaml_parser_t *p = &s->parser;
	*size_read = 0;
	int depth = p->flow_level + (int)(p->indents.top - p->indents.start);
	if (depth > SCAN_MAX_DEPTH) {
		s->input_rc = TR_EPARSE;
		s->input_err.line = (int)p->mark.line + 1;
		s->input_err.column = (int)p->mark.column + 1;
		snprintf(s->input_err.message, sizeof(s->input_err.message),
			 "nested deeper than %d levels", SCAN_MAX_DEPTH);
		return 0;
	}
	if (size > FEED_BYTES)
		size = FEED_BYTES;
	if (s->fed - s->mark > d->max_row_bytes + READ_SLACK) {
		s->input_rc = TR_EPARSE;
		s->input_err.line = s->t.line;
		s->input_err.column = 0;
		snprintf(s->input_err.message, sizeof(s->input_err.message),
			 "item is larger than %zu bytes", d->max_row_bytes);
		return 0;
	}
	while (!s->have || s->pos == s->t.len) {
		s->have = false;
		if (s->input_rc)
			return 0; /* the text before the problem has been read */
		int rc = tr_charset_read(d->in, &s->t);
		if (rc == 0)
			return 1; /* the end: nothing read */
		if (rc < 0 && rc != TR_EPARSE) {
			s->input_rc = rc;
			return 0;
		}
		size_t ok = printable((const unsigned char *)s->t.data, s->t.len);
		const char *bad = rc == TR_EPARSE ? memmem(s->t.data, s->t.len, "\xEF\xBF\xBD", 3) : NULL;
		if (bad && (size_t)(bad - s->t.data) <= ok) {
			/* The first bad byte sequence, now U+FFFD (or a real one
			 * before it, which only stops us a little earlier). */
			ok = (size_t)(bad - s->t.data);
			s->input_rc = TR_EPARSE;
			s->input_err.line = s->t.line;
			s->input_err.column = s->t.column;
			snprintf(s->input_err.message, sizeof(s->input_err.message), "%s", s->t.error);
		} else if (ok < s->t.len) {
			s->input_rc = TR_EPARSE;
			s->input_err.line = s->t.line;
			s->input_err.column = (int)ok + 1;
			const unsigned char *b = (const unsigned char *)s->t.data + ok;
			unsigned cp = b[0] < 0x80 ? b[0] : b[0] == 0xC2 ? b[1] :
				      (unsigned)(0xF000 | (b[1] & 0x3F) << 6 | (b[2] & 0x3F));
			snprintf(s->input_err.message, sizeof(s->input_err.message),
				 "control character U+%04X is not allowed in YAML", cp);
		}
		if (s->input_rc) {
			/* Hand over the text before the problem first, so that the
			 * item before it can still end. */
			s->t.len = ok;
			if (ok == 0)
				return 0;
		}
		s->have = true;
		s->pos = 0;
	}
	size_t n = s->t.len - s->pos < size ? s->t.len - s->pos : size;
	memcpy(buf, s->t.data + s->pos, n);
	s->pos += n;
	s->fed += n;
	*size_read = n;
	return 1;
}

/* libyaml stopped, inside the item that began at item_line (0: between
 * items): the file's last row error, or an I/O error. libyaml cannot go on,
 * so the message says what was not read. */
static int parse_failed(struct yaml_state *s, int item_line, struct tr_row *row)
{
	struct tr_decoder *d = s->d;
	const yaml_parser_t *p = &s->parser;
	int line, column;
	char what[sizeof(row->err.message)];
	s->done = true;
	if (s->input_rc < 0 && s->input_rc != TR_EPARSE)
		return s->input_rc;
	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (s->input_rc == TR_EPARSE) {
		line = s->input_err.line;
		column = s->input_err.column;
		snprintf(what, sizeof(what), "%s", s->input_err.message);
	} else {
		yaml_mark_t m = p->error == YAML_READER_ERROR ? p->mark : p->problem_mark;
		line = (int)m.line + 1;
		column = (int)m.column + 1;
		snprintf(what, sizeof(what), "invalid YAML: %s%s%s",
			 p->problem ? p->problem : "syntax error", p->context ? ", " : "",
			 p->context ? p->context : "");
	}
	if (item_line > 0 && item_line < line)
		tr_decode_fail(d, row, item_line, column, NULL,
			       "%s (the item from line %d on and the rest of the file were not read)",
			       what, item_line);
	else
		tr_decode_fail(d, row, line, column, NULL, "%s (the rest of the file was not read)", what);
	row->err.line = line;
	return 1;
}

/* A scalar's value: a string, or null for a plain, untagged null. */
static cJSON *scalar(const yaml_event_t *ev)
{
	const char *v = (const char *)ev->data.scalar.value;
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && !ev->data.scalar.tag &&
	    (!v[0] || !strcmp(v, "~") || !strcmp(v, "null") || !strcmp(v, "Null") || !strcmp(v, "NULL")))
		return cJSON_CreateNull();
	return cJSON_CreateString(v);
}

/* Puts v under key at the end of an object or at the end of an array. v
 * is taken. A repeated key is kept twice, not replaced: the event check
 * (tr_event_init, or tr_decode_rename first) refuses the row naming it,
 * one sorted pass instead of a lookup per key. Returns 0 or -ENOMEM. */
static int attach(cJSON *parent, const char *key, cJSON *v)
{
	if (!v)
		return -ENOMEM;
	if (cJSON_IsArray(parent) ? cJSON_AddItemToArray(parent, v) : cJSON_AddItemToObject(parent, key, v))
		return 0;
	cJSON_Delete(v);
	return -ENOMEM;
}

/* Builds the item whose start event (a mapping or a list) was just read,
 * and makes it a row at line, col. Problems inside the item make it a row
 * error once the whole item is read, so the next item starts clean. */
static int build_item(struct yaml_state *s, yaml_event_type_t start, int line, int col,
		      struct tr_row *row)
{
	struct tr_decoder *d = s->d;
	cJSON *stack[MAX_DEPTH];
	char *keys[MAX_DEPTH]; /* a mapping's key waiting for its value; NULL: a key is next */
	char problem[160] = "";
	int depth = 1;    /* stack[0..depth) are being built */
	int skipped = 0;  /* levels opened after a problem, read only to find their end */
	int pline = 0, pcol = 0, rc = 0;
	stack[0] = start == YAML_MAPPING_START_EVENT ? cJSON_CreateObject() : cJSON_CreateArray();
	keys[0] = NULL;
	if (!stack[0])
		return -ENOMEM;
	while (depth > 0 && rc == 0) {
		yaml_event_t ev;
		if (!yaml_parser_parse(&s->parser, &ev)) {
			rc = parse_failed(s, line, row);
			break;
		}
		yaml_event_type_t type = ev.type;
		bool opens = type == YAML_MAPPING_START_EVENT || type == YAML_SEQUENCE_START_EVENT;
		bool closes = type == YAML_MAPPING_END_EVENT || type == YAML_SEQUENCE_END_EVENT;
		cJSON *parent = stack[depth - 1];
		bool wants_key = cJSON_IsObject(parent) && !keys[depth - 1];
		bool had_problem = problem[0] != 0;
		if (closes && skipped > 0) {
			skipped--;
		} else if (closes) {
			depth--;
			free(keys[depth]);
			keys[depth] = NULL;
		} else if (had_problem) {
			skipped += opens; /* only looking for the end of the item */
		} else if (type == YAML_ALIAS_EVENT) {
			snprintf(problem, sizeof(problem), "aliases are not supported");
		} else if (type == YAML_SCALAR_EVENT &&
			   memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
			snprintf(problem, sizeof(problem), "NUL character in a value");
		} else if (type == YAML_SCALAR_EVENT && wants_key) {
			if (!(keys[depth - 1] = strdup((const char *)ev.data.scalar.value)))
				rc = -ENOMEM;
		} else if (type == YAML_SCALAR_EVENT) {
			rc = attach(parent, keys[depth - 1], scalar(&ev));
			free(keys[depth - 1]);
			keys[depth - 1] = NULL;
		} else if (opens && wants_key) {
			snprintf(problem, sizeof(problem), "a mapping or list as a key is not supported");
			skipped = 1;
		} else if (opens && depth == MAX_DEPTH) {
			snprintf(problem, sizeof(problem), "nested deeper than %d levels", MAX_DEPTH);
			skipped = 1;
		} else if (opens) {
			cJSON *node = type == YAML_MAPPING_START_EVENT ? cJSON_CreateObject() : cJSON_CreateArray();
			rc = attach(parent, keys[depth - 1], node);
			free(keys[depth - 1]);
			keys[depth - 1] = NULL;
			if (rc == 0) {
				stack[depth] = node;
				keys[depth++] = NULL;
			}
		}
		if (problem[0] && !had_problem) {
			pline = (int)ev.start_mark.line + 1;
			pcol = (int)ev.start_mark.column + 1;
		}
		yaml_event_delete(&ev);
	}
	for (int i = 0; i < depth; i++)
		free(keys[i]);
	if (rc != 0 || problem[0] || !cJSON_IsObject(stack[0])) {
		cJSON_Delete(stack[0]);
		if (rc != 0)
			return rc;
		if (problem[0]) {
			tr_decode_fail(d, row, line, col, NULL, "%s", problem);
			row->err.line = pline;
			row->err.column = pcol;
			return 1;
		}
		return tr_decode_fail(d, row, line, col, NULL, "not a mapping");
	}
	rc = tr_decode_rename(d, stack[0], line, row);
	if (rc != 0) {
		cJSON_Delete(stack[0]);
		return rc;
	}
	return tr_decode_emit(d, stack[0], line, row);
}

int tr_decode_yaml_open(struct tr_decoder *d, struct tr_errors *errs)
{
	struct yaml_state *s = calloc(1, sizeof(*s));
	if (!s || !yaml_parser_initialize(&s->parser)) {
		free(s);
		tr_errors_add(errs, d->path, 0, 0, NULL, "out of memory");
		return -ENOMEM;
	}
	s->d = d;
	s->parser_ready = true;
	yaml_parser_set_input(&s->parser, feed, s);
	yaml_parser_set_encoding(&s->parser, YAML_UTF8_ENCODING);
	d->state = s;
	return 0;
}

int tr_decode_yaml_next(struct tr_decoder *d, struct tr_row *row)
{
	struct yaml_state *s = d->state;
	while (!s->done) {
		yaml_event_t ev;
		s->mark = s->fed; /* between items: what libyaml holds now is the next one */
		if (!yaml_parser_parse(&s->parser, &ev))
			return parse_failed(s, 0, row);
		yaml_event_type_t type = ev.type;
		int line = (int)ev.start_mark.line + 1, col = (int)ev.start_mark.column + 1;
		bool root = !s->root_seen && !s->in_root_list;
		bool null_scalar = type == YAML_SCALAR_EVENT && ev.data.scalar.length == 0 &&
				   ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
		yaml_event_delete(&ev);
		switch (type) {
		case YAML_STREAM_END_EVENT:
			s->done = true;
			return 0;
		case YAML_DOCUMENT_START_EVENT:
			s->root_seen = s->in_root_list = false;
			continue;
		case YAML_SEQUENCE_START_EVENT:
			if (root) {
				s->root_seen = s->in_root_list = true;
				continue;
			}
			return build_item(s, type, line, col, row);
		case YAML_SEQUENCE_END_EVENT:
			s->in_root_list = false;
			continue;
		case YAML_MAPPING_START_EVENT:
			s->root_seen = true;
			return build_item(s, type, line, col, row);
		case YAML_SCALAR_EVENT:
			s->root_seen = true;
			if (root && null_scalar)
				continue; /* an empty document */
			return tr_decode_fail(d, row, line, col, NULL, root ?
					      "not a YAML list of mappings" : "not a mapping");
		case YAML_ALIAS_EVENT:
			return tr_decode_fail(d, row, line, col, NULL, "aliases are not supported");
		default:
			continue;
		}
	}
	return 0;
}

void tr_decode_yaml_close(struct tr_decoder *d)
{
	struct yaml_state *s = d->state;
	if (!s)
		return;
	if (s->parser_ready)
		yaml_parser_delete(&s->parser);
	free(s);
	d->state = NULL;
}
