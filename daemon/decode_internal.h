/* What the format decoders (decode_csv.c, decode_json.c, decode_yaml.c) share
 * with decode.c: the decoder struct, the per-format entry points and the
 * helpers that turn an object into a row (column map, source type, id) or
 * report a row error. Private to the decoders; the public contract is
 * tr_decode.h. */
#ifndef TR_DECODE_INTERNAL_H
#define TR_DECODE_INTERNAL_H

#include <cjson/cJSON.h>
#include "tr_charset.h"
#include "tr_decode.h"

struct tr_decoder {
	enum tr_format format;
	char *path;                  /* for error locations */
	size_t max_row_bytes;
	struct tr_charset_reader *in;
	/* What rows need from the source, copied so a config reload cannot pull
	 * it away mid-file. */
	char *type;                  /* NULL: rows carry their own */
	struct tr_column *columns;
	size_t ncolumns;
	char **id_fields;
	size_t nid_fields;
	char *time_format;           /* NULL: occurred_at is left to event validation */
	char *timezone;
	void *state;                 /* the format decoder's own */
};

/* Each format: open reads what it must up front (the CSV header) and may add
 * to errs; next has tr_decoder_next's contract; close frees d->state. */
int tr_decode_csv_open(struct tr_decoder *d, struct tr_errors *errs);
int tr_decode_csv_next(struct tr_decoder *d, struct tr_row *row);
void tr_decode_csv_close(struct tr_decoder *d);
int tr_decode_ndjson_open(struct tr_decoder *d, struct tr_errors *errs);
int tr_decode_ndjson_next(struct tr_decoder *d, struct tr_row *row);
int tr_decode_json_open(struct tr_decoder *d, struct tr_errors *errs);
int tr_decode_json_next(struct tr_decoder *d, struct tr_row *row);
void tr_decode_json_close(struct tr_decoder *d);
int tr_decode_yaml_open(struct tr_decoder *d, struct tr_errors *errs);
int tr_decode_yaml_next(struct tr_decoder *d, struct tr_row *row);
void tr_decode_yaml_close(struct tr_decoder *d);

/* Whether decode_csv.c splits simple lines itself rather than through libcsv
 * (true; tests turn it off to check both give the same rows). */
extern bool tr_decode_csv_split;

/* The event field a column header maps to, or NULL when it is not mapped. */
const char *tr_decode_field(const struct tr_decoder *d, const char *header);

/* Renames obj's mapped keys to their fields (a mapped key replaces an
 * unmapped one of the same name). A key that obj has twice is a row error
 * at line first: renaming would keep one of the two without a word (deeper
 * levels are checked with the event, tr_event_init). Returns 0, 1 with the
 * row error in *row, or -ENOMEM; obj stays the caller's on every path. */
int tr_decode_rename(const struct tr_decoder *d, cJSON *obj, int line, struct tr_row *row);

/* Makes obj (taken: freed on every path but success, where the row owns it)
 * the row that starts at line: sets the source's type and, when the row has
 * no id, the id from the source's id fields. Returns 1 (an event or a row
 * error in *row) or -ENOMEM. */
int tr_decode_emit(const struct tr_decoder *d, cJSON *obj, int line, struct tr_row *row);

/* Fills *row as a row error at line (and column, 0 when unknown; field may be
 * NULL). Always returns 1, the value tr_decoder_next returns for it. */
int tr_decode_fail(const struct tr_decoder *d, struct tr_row *row, int line, int column,
		   const char *field, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

#endif
