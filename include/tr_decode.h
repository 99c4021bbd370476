/* Streaming decoders for dropped files (SPEC §4): NDJSON, JSON (object or
 * array), CSV/TSV, YAML, in UTF-8 (BOM detected), GBK/GB18030 or Shift_JIS
 * (CP932). A decoder yields one row at a time as a cJSON object already mapped
 * through the source's columns, or a row error with its line; memory stays
 * bounded whatever the file size. Not validation of event semantics (that is
 * tr_event.h) nor the spool's file handling (spool.c). */
#ifndef TR_DECODE_H
#define TR_DECODE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "tr_config.h"
#include "tr_error.h"

enum tr_format { TR_FMT_NDJSON, TR_FMT_JSON, TR_FMT_CSV, TR_FMT_TSV, TR_FMT_YAML };

/* The format named by src->format, else by the file name's extension
 * (.ndjson/.jsonl, .json, .csv, .tsv, .yaml/.yml). -1 when unknown. */
int tr_format_for(const char *path, const struct tr_source *src);

struct tr_row {
	int line;          /* 1-based line where the row starts in the file */
	cJSON *event;      /* the row as an event object; caller owns it (cJSON_Delete); NULL on a row error */
	struct tr_error err; /* set when event == NULL: file, line, column/field, reason */
};

struct tr_decoder;

/* Opens path for decoding with src (may be NULL: UTF-8, UTC, no mapping,
 * format from the extension). max_row_bytes bounds one row (config
 * limits.event_bytes). On success *out is owned by the caller
 * (tr_decoder_close). Returns 0, or a negative code with the reason appended
 * to errs when the file cannot be decoded at all (unknown format, unreadable,
 * a CSV header that is not valid in the declared encoding, ...). */
int tr_decoder_open(const char *path, const struct tr_source *src, size_t max_row_bytes,
		    struct tr_decoder **out, struct tr_errors *errs);

/* Next row. Returns 1 with *row filled (an event or a row error), 0 at the
 * end of the file, or a negative code on an I/O error. Row errors never end
 * the file: reading resumes at the next row. */
int tr_decoder_next(struct tr_decoder *d, struct tr_row *row);

void tr_decoder_close(struct tr_decoder *d);

/* Where one JSON value ends, found without parsing it: the scanner the JSON
 * decoder cuts an array into elements with, so that any caller splitting a
 * JSON text into values before cJSON sees them (triagectl's ingest) cuts it
 * the same way. It follows strings, escapes and bracket depth, nothing more:
 * cJSON judges each value. A value is a container ('{' or '[' up to the
 * bracket that brings the depth back to 0, of either shape), a string (up to
 * its closing quote) or a bare word (a number, true, false, null, or junk)
 * that ends before the next ',', ']', '}', space, tab, CR or LF. The text may
 * come in pieces of any size. No allocation; the struct is the caller's. */
struct tr_json_scan {
	int kind;             /* container, string or bare word (private) */
	int depth;            /* brackets open now (private) */
	int max_depth;        /* the deepest nesting seen: 1 for {} or [] */
	bool in_str, esc;     /* (private) */
};

/* Starts a value whose first byte is first, which the caller has taken; it
 * must not be whitespace. */
void tr_json_scan_begin(struct tr_json_scan *s, char first);

/* Scans the n bytes at p, which follow the value's bytes scanned so far.
 * Returns how many of them belong to the value, with *done true when the
 * value ended there (a bare word's delimiter is not counted), or n with
 * *done false when the value may go on in the next piece. */
size_t tr_json_scan_next(struct tr_json_scan *s, const char *p, size_t n, bool *done);

/* Whether the value is whole if the text ends where scanning stopped: true
 * for a bare word ("[1" ends its 1), false for a string or a container left
 * open. */
bool tr_json_scan_whole_at_end(const struct tr_json_scan *s);

#endif
