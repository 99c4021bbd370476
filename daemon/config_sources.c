/* The `sources:` entries of the config file (SPEC §4): how dropped files
 * whose name matches become events. Reads each entry's keys with its key
 * table (match, type, encoding, timezone, time_format, format, the column
 * map and the id fields), checks each value and fills struct tr_source with
 * the defaults an entry leaves out; tr_config_source_for picks the entry for
 * a file. Not the decoding of the files themselves (decode*.c, charset.c)
 * nor the walk and the shared value types (config.c). */
#include <fnmatch.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include "config_internal.h"
#include "tr_config.h"

/* ^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$ : SPEC §2 event type names. */
static bool valid_type(const char *s)
{
	const char *p = s;
	for (;;) {
		if (*p < 'a' || *p > 'z')
			return false;
		p++;
		while ((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')
			p++;
		if (*p == '\0')
			return true;
		if (*p++ != '.')
			return false;
	}
}

static void apply_match(struct ctx *c, const struct node *v, void *dst, const char *key,
			const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	if (strchr(s, '/'))
		problem(c, v, key, "\"%s\" is matched against the file's base name: it cannot contain '/'", s);
	else
		set_str(c, dst, s);
}

static void apply_type(struct ctx *c, const struct node *v, void *dst, const char *key,
		       const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	if (!valid_type(s))
		problem(c, v, key, "\"%s\" is not an event type: dotted lowercase like feedback.new", s);
	else
		set_str(c, dst, s);
}

struct alias {
	const char *name, *canonical;
};

/* Looks s up in a NULL-terminated alias table and stores the canonical name. */
static void apply_alias(struct ctx *c, const struct node *v, void *dst, const char *key,
			const struct alias *table, bool nocase, const char *what)
{
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	for (const struct alias *a = table; a->name; a++) {
		if (nocase ? strcasecmp(s, a->name) == 0 : strcmp(s, a->name) == 0) {
			set_str(c, dst, a->canonical);
			return;
		}
	}
	char known[160] = "";
	size_t len = 0;
	for (const struct alias *a = table; a->name && len < sizeof(known); a++)
		len += snprintf(known + len, sizeof(known) - len, "%s%s", a == table ? "" : ", ", a->name);
	problem(c, v, key, "\"%s\" is not %s: use one of %s", s, what, known);
}

static void apply_encoding(struct ctx *c, const struct node *v, void *dst, const char *key,
			   const struct key_def *def)
{
	(void)def;
	/* SPEC §4: what exporters write is what users mean; the decoder reads
	 * gbk as GB18030 and shift_jis as CP932. */
	static const struct alias encodings[] = {
		{"utf-8", "utf-8"}, {"utf8", "utf-8"}, {"gbk", "gbk"}, {"gb18030", "gb18030"},
		{"shift_jis", "shift_jis"}, {"sjis", "shift_jis"}, {"cp932", "shift_jis"}, {NULL, NULL},
	};
	apply_alias(c, v, dst, key, encodings, true, "a supported encoding");
}

static void apply_format(struct ctx *c, const struct node *v, void *dst, const char *key,
			 const struct key_def *def)
{
	(void)def;
	static const struct alias formats[] = {
		{"ndjson", "ndjson"}, {"jsonl", "ndjson"}, {"json", "json"}, {"csv", "csv"},
		{"tsv", "tsv"}, {"yaml", "yaml"}, {"yml", "yaml"}, {NULL, NULL},
	};
	apply_alias(c, v, dst, key, formats, false, "a file format");
}

static void apply_time_format(struct ctx *c, const struct node *v, void *dst, const char *key,
			      const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	if (!strchr(s, '%'))
		problem(c, v, key, "\"%s\" is not a strptime(3) format such as \"%%d.%%m.%%Y %%H:%%M\"", s);
	else
		set_str(c, dst, s);
}

static void apply_columns(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def)
{
	(void)def;
	struct tr_source *src = dst;
	if (v->kind != NODE_MAP) {
		problem(c, v, key, "expected a mapping of header: field, got %s", kind_name(v));
		return;
	}
	size_t n = v->nkids / 2;
	if (n == 0)
		return;
	struct tr_column *cols = calloc(n, sizeof(*cols));
	if (!cols) {
		c->oom = true;
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i + 1 < v->nkids; i += 2) {
		const char *header = tr_config_pair_key(c, v, i, key);
		const struct node *f = v->kids[i + 1];
		if (!header)
			continue;
		if (f->kind != NODE_SCALAR || is_null(f) || !f->text[0]) {
			problem(c, f, key, "column \"%s\": expected a field name, got %s", header, kind_name(f));
			continue;
		}
		cols[k].header = dup_str(c, header);
		cols[k].field = dup_str(c, f->text);
		k++;
	}
	src->columns = cols;
	src->ncolumns = k;
}

static void apply_id(struct ctx *c, const struct node *v, void *dst, const char *key,
		     const struct key_def *def)
{
	(void)def;
	struct tr_source *src = dst;
	tr_config_apply_list(c, v, key, false, &src->id_fields, &src->nid_fields);
}

static const struct key_def source_keys[] = {
	{"match", apply_match, offsetof(struct tr_source, match), 0, NULL, 0},
	{"type", apply_type, offsetof(struct tr_source, type), 0, NULL, 0},
	{"encoding", apply_encoding, offsetof(struct tr_source, encoding), 0, NULL, 0},
	{"timezone", tr_config_apply_zone, offsetof(struct tr_source, timezone), 0, NULL, 0},
	{"time_format", apply_time_format, offsetof(struct tr_source, time_format), 0, NULL, 0},
	{"format", apply_format, offsetof(struct tr_source, format), 0, NULL, 0},
	{"columns", apply_columns, 0, 0, NULL, 0},
	{"id", apply_id, 0, 0, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

void tr_config_apply_sources(struct ctx *c, const struct node *v, void *dst, const char *key,
			     const struct key_def *def)
{
	(void)def;
	struct tr_config *cfg = dst;
	if (is_null(v))
		return;
	if (v->kind != NODE_SEQ) {
		problem(c, v, key, "expected a list of sources (- match: ...), got %s", kind_name(v));
		return;
	}
	if (v->nkids == 0)
		return;
	cfg->sources = calloc(v->nkids, sizeof(*cfg->sources));
	if (!cfg->sources) {
		c->oom = true;
		return;
	}
	for (size_t i = 0; i < v->nkids; i++) {
		const struct node *it = v->kids[i];
		struct tr_source *src = &cfg->sources[cfg->nsources++];
		src->line = it->line;
		src->encoding = dup_str(c, "utf-8");
		src->timezone = dup_str(c, "UTC");
		char where[64];
		snprintf(where, sizeof(where), "%s[%zu]", key, i);
		if (it->kind != NODE_MAP) {
			problem(c, it, where, "expected a mapping (match, type, encoding, ...), got %s",
				kind_name(it));
			continue;
		}
		tr_config_walk_map(c, it, source_keys, src, where);
		if (!map_get(it, "match"))
			problem(c, it, where, "match is required (a file name pattern such as \"feedback_*.csv\")");
	}
}

const struct tr_source *tr_config_source_for(const struct tr_config *cfg, const char *basename)
{
	for (size_t i = 0; i < cfg->nsources; i++) {
		const struct tr_source *s = &cfg->sources[i];
		if (s->match && fnmatch(s->match, basename, 0) == 0)
			return s;  /* SPEC §4: sources are tried in order, the first match wins */
	}
	return NULL;
}
