/* Compact JSON output of cJSON trees (tr_json.h). Whole numbers in the
 * int64 range print as integers; other finite numbers with %.15g, or %.17g
 * when that is needed to read back the same double (as cJSON does);
 * non-finite numbers as null. Also the shape check every parsed event goes
 * through (repeated keys, nesting), which walks trees the same way. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_buf.h"
#include "tr_json.h"

void tr_json_add_int(struct tr_buf *o, int64_t v)
{
	char tmp[24], *e = tmp + sizeof(tmp), *s = e;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do
		*--s = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		*--s = '-';
	tr_buf_add(o, s, (size_t)(e - s));
}

static void put_number(struct tr_buf *o, double d)
{
	/* 2^63 exactly is out of range: the cast would be undefined */
	if (d == floor(d) && d >= -9223372036854775808.0 && d < 9223372036854775808.0) {
		tr_json_add_int(o, (int64_t)d);
		return;
	}
	if (!isfinite(d)) {
		tr_buf_add(o, "null", 4);
		return;
	}
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%1.15g", d);
	if (strtod(tmp, NULL) != d)
		n = snprintf(tmp, sizeof(tmp), "%1.17g", d);
	tr_buf_add(o, tmp, (size_t)n);
}

void tr_json_add_string(struct tr_buf *o, const char *s)
{
	static const char hex[] = "0123456789abcdef";
	tr_buf_add(o, "\"", 1);
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	for (;;) {
		const unsigned char *run = p;
		while (*p >= 0x20 && *p != '"' && *p != '\\')
			p++;
		tr_buf_add(o, (const char *)run, (size_t)(p - run));
		if (!*p)
			break;
		char esc[6] = {'\\', 0};
		size_t n = 2;
		switch (*p) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[*p >> 4];
			esc[5] = hex[*p & 15];
			n = 6;
		}
		tr_buf_add(o, esc, n);
		p++;
	}
	tr_buf_add(o, "\"", 1);
}

static void put_value(struct tr_buf *o, const cJSON *v)
{
	switch (v->type & 0xff) {
	case cJSON_NULL: tr_buf_add(o, "null", 4); break;
	case cJSON_False: tr_buf_add(o, "false", 5); break;
	case cJSON_True: tr_buf_add(o, "true", 4); break;
	case cJSON_Number: put_number(o, v->valuedouble); break;
	case cJSON_String: tr_json_add_string(o, v->valuestring); break;
	case cJSON_Raw:
		if (v->valuestring)
			tr_buf_add(o, v->valuestring, strlen(v->valuestring));
		else
			o->oom = 1;
		break;
	case cJSON_Array:
	case cJSON_Object: {
		int object = (v->type & 0xff) == cJSON_Object;
		tr_buf_add(o, object ? "{" : "[", 1);
		for (const cJSON *c = v->child; c; c = c->next) {
			if (object) {
				tr_json_add_string(o, c->string);
				tr_buf_add(o, ":", 1);
			}
			put_value(o, c);
			if (c->next)
				tr_buf_add(o, ",", 1);
		}
		tr_buf_add(o, object ? "}" : "]", 1);
		break;
	}
	default:
		o->oom = 1; /* cJSON_Invalid: cJSON refuses to print it too */
	}
}

char *tr_json_print(const cJSON *item)
{
	struct tr_buf o = {0};
	if (!item)
		return NULL;
	put_value(&o, item);
	if (o.oom || !o.p) {
		tr_buf_free(&o);
		return NULL;
	}
	return o.p;
}

/* Objects with up to this many keys are checked pairwise (at most 120
 * comparisons, most of them ending at the first byte): cheaper than
 * sorting for the few keys an event has. */
#define PAIRWISE_KEYS 16

static const char *key_of(const cJSON *item)
{
	return item->string ? item->string : "";
}

static int compare_keys(const void *a, const void *b)
{
	return strcmp(key_of(*(const cJSON *const *)a), key_of(*(const cJSON *const *)b));
}

int tr_json_duplicate_key(const cJSON *o, const cJSON **dup)
{
	*dup = NULL;
	if (!cJSON_IsObject(o))
		return 0;
	size_t n = 0;
	for (const cJSON *c = o->child; c; c = c->next)
		n++;
	if (n <= PAIRWISE_KEYS) {
		for (const cJSON *a = o->child; a; a = a->next)
			for (const cJSON *b = a->next; b; b = b->next)
				if (strcmp(key_of(a), key_of(b)) == 0) {
					*dup = b;
					return 1;
				}
		return 0;
	}
	const cJSON **items = malloc(n * sizeof(*items));
	if (!items)
		return -ENOMEM;
	size_t i = 0;
	for (const cJSON *c = o->child; c; c = c->next)
		items[i++] = c;
	qsort(items, n, sizeof(*items), compare_keys);
	for (i = 1; i < n && !*dup; i++)
		if (strcmp(key_of(items[i - 1]), key_of(items[i])) == 0)
			*dup = items[i];
	free(items);
	return *dup ? 1 : 0;
}

/* Puts text in front of the len - 1 bytes where can hold (truncating the
 * end, not the front, so the outermost part of a path stays). */
static void prepend(char *where, size_t len, const char *text)
{
	if (len == 0)
		return;
	size_t t = strlen(text), w = strnlen(where, len - 1);
	if (t > len - 1)
		t = len - 1;
	if (w > len - 1 - t)
		w = len - 1 - t;
	memmove(where + t, where, w);
	memcpy(where, text, t);
	where[t + w] = 0;
}

/* item is at nesting level `level` (1: the top). On TR_JSON_DUPLICATE,
 * where holds the path below item; callers above put their part first. */
static int check(const cJSON *item, int level, int max_depth, char *where, size_t len)
{
	if (!cJSON_IsObject(item) && !cJSON_IsArray(item))
		return TR_JSON_OK;
	if (level > max_depth)
		return TR_JSON_TOO_DEEP;
	int object = cJSON_IsObject(item);
	if (object) {
		const cJSON *dup;
		int rc = tr_json_duplicate_key(item, &dup);
		if (rc < 0)
			return rc;
		if (rc) {
			if (len)
				snprintf(where, len, "%s", key_of(dup));
			return TR_JSON_DUPLICATE;
		}
	}
	size_t index = 0;
	for (const cJSON *c = item->child; c; c = c->next, index++) {
		int rc = check(c, level + 1, max_depth, where, len);
		if (rc == TR_JSON_OK)
			continue;
		if (rc == TR_JSON_DUPLICATE && len) {
			/* "a.b" below an object's key, "a[1].b" below an array */
			char index_text[24];
			snprintf(index_text, sizeof(index_text), "[%zu]", index);
			if (where[0] != '[')
				prepend(where, len, ".");
			prepend(where, len, object ? key_of(c) : index_text);
		}
		return rc;
	}
	return TR_JSON_OK;
}

int tr_json_check(const cJSON *item, int max_depth, char *where, size_t len)
{
	if (len)
		where[0] = 0;
	return check(item, 1, max_depth, where, len);
}
