/* The file decoders' front (tr_decode.h): picks the format, opens the file
 * through the encoding layer (charset.c), dispatches to the format decoder
 * and finishes every row the same way whatever its format: the source's
 * column map, its event type and the id made from its id fields. Not the
 * syntax of any format (decode_csv.c, decode_json.c, decode_yaml.c) nor what
 * an event must contain (the event layer validates types, ids and times). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "decode_internal.h"
#include "tr_json.h"
#include "tr_time.h"

#define DEFAULT_ROW_BYTES (1024 * 1024)

static const struct { const char *name; enum tr_format format; } formats[] = {
	{"ndjson", TR_FMT_NDJSON}, {"jsonl", TR_FMT_NDJSON}, {"json", TR_FMT_JSON},
	{"csv", TR_FMT_CSV}, {"tsv", TR_FMT_TSV}, {"yaml", TR_FMT_YAML}, {"yml", TR_FMT_YAML},
};

/* Each format's entry points (decode_internal.h), by enum tr_format. */
static const struct {
	int (*open)(struct tr_decoder *d, struct tr_errors *errs);
	int (*next)(struct tr_decoder *d, struct tr_row *row);
	void (*close)(struct tr_decoder *d);
} decoders[] = {
	[TR_FMT_NDJSON] = {tr_decode_ndjson_open, tr_decode_ndjson_next, tr_decode_json_close},
	[TR_FMT_JSON] = {tr_decode_json_open, tr_decode_json_next, tr_decode_json_close},
	[TR_FMT_CSV] = {tr_decode_csv_open, tr_decode_csv_next, tr_decode_csv_close},
	[TR_FMT_TSV] = {tr_decode_csv_open, tr_decode_csv_next, tr_decode_csv_close},
	[TR_FMT_YAML] = {tr_decode_yaml_open, tr_decode_yaml_next, tr_decode_yaml_close},
};

static int format_named(const char *name)
{
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		if (strcasecmp(name, formats[i].name) == 0)
			return (int)formats[i].format;
	return -1;
}

int tr_format_for(const char *path, const struct tr_source *src)
{
	if (src && src->format)
		return format_named(src->format);
	const char *base = strrchr(path, '/');
	const char *dot = strrchr(base ? base + 1 : path, '.');
	return dot ? format_named(dot + 1) : -1;
}

const char *tr_decode_field(const struct tr_decoder *d, const char *header)
{
	for (size_t i = 0; i < d->ncolumns; i++)
		if (strcmp(d->columns[i].header, header) == 0)
			return d->columns[i].field;
	return NULL;
}

int tr_decode_fail(const struct tr_decoder *d, struct tr_row *row, int line, int column,
		   const char *field, const char *fmt, ...)
{
	row->line = line;
	row->event = NULL;
	memset(&row->err, 0, sizeof(row->err));
	snprintf(row->err.file, sizeof(row->err.file), "%s", d->path);
	snprintf(row->err.field, sizeof(row->err.field), "%s", field ? field : "");
	row->err.line = line;
	row->err.column = column;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(row->err.message, sizeof(row->err.message), fmt, ap);
	va_end(ap);
	return 1;
}

/* Renames item's key in place, keeping its position in the object. */
static int set_key(cJSON *item, const char *key)
{
	size_t n = strlen(key) + 1;
	char *copy = cJSON_malloc(n);
	if (!copy)
		return -ENOMEM;
	memcpy(copy, key, n);
	if (!(item->type & cJSON_StringIsConst))
		cJSON_free(item->string);
	item->string = copy;
	item->type &= ~cJSON_StringIsConst;
	return 0;
}

int tr_decode_rename(const struct tr_decoder *d, cJSON *obj, int line, struct tr_row *row)
{
	if (d->ncolumns == 0)
		return 0;
	const cJSON *dup;
	int rc = tr_json_duplicate_key(obj, &dup);
	if (rc < 0)
		return rc;
	if (rc)
		return tr_decode_fail(d, row, line, 0, dup->string,
				      "the key \"%s\" is given more than once", dup->string);
	for (cJSON *item = obj->child; item; item = item->next) {
		const char *field = item->string ? tr_decode_field(d, item->string) : NULL;
		if (!field)
			continue;
		cJSON *other = obj->child;
		while (other) { /* the mapped column wins over a key already named like its field */
			cJSON *next = other->next;
			if (other != item && other->string && strcmp(other->string, field) == 0)
				cJSON_Delete(cJSON_DetachItemViaPointer(obj, other));
			other = next;
		}
		if (set_key(item, field) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* Sets obj[key] to the string value, replacing what was there. */
static int set_string(cJSON *obj, const char *key, const char *value)
{
	cJSON *v = cJSON_CreateString(value);
	if (!v)
		return -ENOMEM;
	cJSON *old = cJSON_GetObjectItemCaseSensitive(obj, key);
	if (old ? cJSON_ReplaceItemInObjectCaseSensitive(obj, key, v) : cJSON_AddItemToObject(obj, key, v))
		return 0;
	cJSON_Delete(v);
	return -ENOMEM;
}

/* The text of an id part: strings as they are, integral numbers without a
 * fraction, booleans as words. NULL for anything else. */
static const char *id_text(const cJSON *v, char num[40])
{
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "true" : "false";
	if (cJSON_IsNumber(v)) {
		double x = v->valuedouble;
		if (x > -1e15 && x < 1e15 && x == (double)(long long)x)
			snprintf(num, 40, "%.0f", x);
		else
			snprintf(num, 40, "%.17g", x);
		return num;
	}
	return NULL;
}

/* Sets obj's id to its id fields joined with ':'. Returns 0, 1 with a row
 * error in *row, or -ENOMEM. */
static int make_id(const struct tr_decoder *d, cJSON *obj, int line, struct tr_row *row)
{
	size_t total = 0;
	char num[40];
	for (size_t i = 0; i < d->nid_fields; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, d->id_fields[i]);
		if (!v)
			return tr_decode_fail(d, row, line, 0, d->id_fields[i], "missing id field \"%s\"",
					      d->id_fields[i]);
		const char *s = id_text(v, num);
		if (!s)
			return tr_decode_fail(d, row, line, 0, d->id_fields[i],
					      "id field \"%s\" is not a string or number", d->id_fields[i]);
		total += strlen(s) + 1;
	}
	char *id = malloc(total);
	if (!id)
		return -ENOMEM;
	char *p = id;
	for (size_t i = 0; i < d->nid_fields; i++) {
		const char *s = id_text(cJSON_GetObjectItemCaseSensitive(obj, d->id_fields[i]), num);
		size_t n = strlen(s);
		if (i > 0)
			*p++ = ':';
		memcpy(p, s, n);
		p += n;
	}
	*p = 0;
	int rc = set_string(obj, "id", id);
	free(id);
	return rc;
}

/* The source's time_format: occurred_at read with it, in the source's zone,
 * and written back as RFC 3339 UTC for event validation. */
static int apply_time_format(const struct tr_decoder *d, cJSON *obj, int line, struct tr_row *row)
{
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, "occurred_at");
	if (!cJSON_IsString(at))
		return 0;
	int64_t t;
	char utc[40];
	if (tr_time_parse_with(at->valuestring, d->time_format, d->timezone, &t) != 0 ||
	    tr_time_format(t, NULL, utc, sizeof(utc)) != 0) {
		/* a row error (1): the row is reported, not the file */
		return tr_decode_fail(d, row, line, 0, "occurred_at", "\"%s\" does not match time_format \"%s\"",
				      at->valuestring, d->time_format);
	}
	return set_string(obj, "occurred_at", utc);
}

int tr_decode_emit(const struct tr_decoder *d, cJSON *obj, int line, struct tr_row *row)
{
	int rc = 0;
	if (d->time_format) {
		rc = apply_time_format(d, obj, line, row);
		if (rc == 1) {
			cJSON_Delete(obj);
			return 1;
		}
	}
	if (d->type && rc == 0)
		rc = set_string(obj, "type", d->type);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
	if (rc == 0 && d->nid_fields > 0 && (!id || (cJSON_IsString(id) && !id->valuestring[0])))
		rc = make_id(d, obj, line, row);
	if (rc != 0) {
		cJSON_Delete(obj);
		return rc;
	}
	row->line = line;
	row->event = obj;
	return 1;
}

static void free_copy(struct tr_decoder *d)
{
	free(d->path);
	free(d->type);
	free(d->time_format);
	free(d->timezone);
	for (size_t i = 0; i < d->ncolumns; i++) {
		free(d->columns[i].header);
		free(d->columns[i].field);
	}
	free(d->columns);
	for (size_t i = 0; i < d->nid_fields; i++)
		free(d->id_fields[i]);
	free(d->id_fields);
}

/* strdup that keeps NULL. Sets *failed when a copy could not be made. */
static char *copy(const char *s, bool *failed)
{
	if (!s)
		return NULL;
	char *c = strdup(s);
	if (!c)
		*failed = true;
	return c;
}

static int copy_source(struct tr_decoder *d, const struct tr_source *src)
{
	bool failed = false;
	if (!src)
		return 0;
	d->type = copy(src->type, &failed);
	d->time_format = copy(src->time_format, &failed);
	d->timezone = copy(src->timezone, &failed);
	if (src->ncolumns > 0) {
		d->columns = calloc(src->ncolumns, sizeof(*d->columns));
		if (!d->columns)
			return -ENOMEM;
		d->ncolumns = src->ncolumns;
		for (size_t i = 0; i < src->ncolumns; i++) {
			d->columns[i].header = copy(src->columns[i].header, &failed);
			d->columns[i].field = copy(src->columns[i].field, &failed);
			if (!d->columns[i].header || !d->columns[i].field)
				failed = true;
		}
	}
	if (src->nid_fields > 0) {
		d->id_fields = calloc(src->nid_fields, sizeof(*d->id_fields));
		if (!d->id_fields)
			return -ENOMEM;
		d->nid_fields = src->nid_fields;
		for (size_t i = 0; i < src->nid_fields; i++)
			if (!(d->id_fields[i] = copy(src->id_fields[i], &failed)))
				failed = true;
	}
	return failed ? -ENOMEM : 0;
}

int tr_decoder_open(const char *path, const struct tr_source *src, size_t max_row_bytes,
		    struct tr_decoder **out, struct tr_errors *errs)
{
	*out = NULL;
	int format = tr_format_for(path, src);
	if (format < 0) {
		if (src && src->format)
			tr_errors_add(errs, path, 0, 0, "format", "unknown format \"%s\"", src->format);
		else
			tr_errors_add(errs, path, 0, 0, NULL, "unknown file type: expected .ndjson, "
				      ".jsonl, .json, .csv, .tsv, .yaml or .yml");
		return -EINVAL;
	}
	struct tr_decoder *d = calloc(1, sizeof(*d));
	if (!d || !(d->path = strdup(path)) || copy_source(d, src) < 0) {
		tr_errors_add(errs, path, 0, 0, NULL, "out of memory");
		if (d)
			free_copy(d);
		free(d);
		return -ENOMEM;
	}
	d->format = (enum tr_format)format;
	d->max_row_bytes = max_row_bytes ? max_row_bytes : DEFAULT_ROW_BYTES;
	char why[200];
	int rc = tr_charset_open(path, src ? src->encoding : NULL, &d->in, why, sizeof(why));
	if (rc < 0) {
		tr_errors_add(errs, path, 0, 0, rc == -EINVAL ? "encoding" : NULL, "%s", why);
		tr_decoder_close(d);
		return rc;
	}
	rc = decoders[d->format].open(d, errs);
	if (rc < 0) {
		tr_decoder_close(d);
		return rc;
	}
	*out = d;
	return 0;
}

int tr_decoder_next(struct tr_decoder *d, struct tr_row *row)
{
	memset(row, 0, sizeof(*row));
	return decoders[d->format].next(d, row);
}

void tr_decoder_close(struct tr_decoder *d)
{
	if (!d)
		return;
	decoders[d->format].close(d);
	tr_charset_close(d->in);
	free_copy(d);
	free(d);
}
