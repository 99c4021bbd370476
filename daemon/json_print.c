/* Compact JSON output of cJSON trees (tr_json.h). Whole numbers in the
 * int64 range print as integers; other finite numbers with %.15g, or %.17g
 * when that is needed to read back the same double (as cJSON does);
 * non-finite numbers as null. */
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
