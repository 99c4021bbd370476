/* Event validation and normalisation (SPEC §2): no key given twice at any
 * depth and no nesting past TR_EVENT_MAX_DEPTH (tr_json_check), type name,
 * id (derived from content when absent, so the same row dropped twice is
 * the same event), occurred_at in the source's zone, well-known field
 * checks. Every event passes here, from the socket and from files. Not
 * storage. */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_json.h"
#include "tr_error.h"
#include "tr_event.h"
#include "tr_time.h"

int tr_whole_number(double v, int64_t *out)
{
	/* 2^63 is exactly representable; everything below it fits. NaN fails both. */
	if (!(v >= -9223372036854775808.0 && v < 9223372036854775808.0) || v != floor(v))
		return 0;
	*out = (int64_t)v;
	return 1;
}

int64_t tr_json_whole(const cJSON *o, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	int64_t out;
	return cJSON_IsNumber(v) && tr_whole_number(v->valuedouble, &out) ? out : def;
}

int tr_event_type_valid(const char *s)
{
	size_t n = strlen(s);
	if (n == 0 || n > TR_EVENT_TYPE_MAX)
		return 0;
	int start = 1; /* at the start of a dotted segment */
	for (const char *p = s; *p; p++) {
		if (start) {
			if (*p < 'a' || *p > 'z')
				return 0;
			start = 0;
		} else if (*p == '.') {
			start = 1;
		} else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
			return 0;
		}
	}
	return !start;
}

/* 128-bit FNV-1a over the content, as two 64-bit lanes with different
 * offsets: stable across runs and machines, which is all dedup needs. */
static void content_id(const char *text, char *out, size_t len)
{
	uint64_t a = 0xcbf29ce484222325ULL, b = 0x84222325cbf29ce4ULL;
	for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
		a = (a ^ *p) * 0x100000001b3ULL;
		b = (b ^ *p) * 0x100000001b3ULL;
		b ^= b >> 29;
	}
	snprintf(out, len, "h:%016" PRIx64 "%016" PRIx64, a, b);
}

static int fail(char *err, size_t len, const char *fmt, const char *arg)
{
	snprintf(err, len, fmt, arg);
	return TR_EPARSE;
}

/* A string member or NULL; -1 when present with another type. */
static int optional_string(cJSON *obj, const char *name, char **out)
{
	cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
	*out = NULL;
	if (!v || cJSON_IsNull(v))
		return 0;
	if (!cJSON_IsString(v))
		return -1;
	*out = v->valuestring;
	return 0;
}

/* Well-known types carry fields the shipped rules compute with: check them
 * here so bad rows are rejected with a reason instead of failing in a rule. */
static int check_known_fields(cJSON *obj, const char *type, char *err, size_t len)
{
	if (strcmp(type, "feedback.new") == 0) {
		cJSON *r = cJSON_GetObjectItemCaseSensitive(obj, "rating");
		if (!r)
			return fail(err, len, "field \"rating\": required for %s", type);
		double v;
		if (cJSON_IsNumber(r)) {
			v = r->valuedouble;
		} else if (cJSON_IsString(r)) {
			char *end;
			errno = 0;
			v = strtod(r->valuestring, &end);
			if (end == r->valuestring || *end || errno)
				return fail(err, len, "field \"rating\": \"%.40s\" is not a number", r->valuestring);
		} else {
			return fail(err, len, "field \"rating\": must be a number from 1 to 5%s", "");
		}
		int64_t whole;
		if (!tr_whole_number(v, &whole) || whole < 1 || whole > 5)
			return fail(err, len, "field \"rating\": must be a whole number from 1 to 5%s", "");
		cJSON_ReplaceItemInObjectCaseSensitive(obj, "rating", cJSON_CreateNumber(v));
	}
	return 0;
}

static int normalise(struct tr_event *ev, const char *zone, int64_t now, char *err, size_t len)
{
	cJSON *obj = ev->payload;
	if (!cJSON_IsObject(obj))
		return fail(err, len, "an event must be a JSON object%s", "");
	/* Before any field is read: with a key given twice, what the engine
	 * reads (cJSON's first) and what rules see (a Lua table's last) would
	 * differ. One walk also bounds the nesting rules get as tables. */
	char where[128];
	int shape = tr_json_check(obj, TR_EVENT_MAX_DEPTH, where, sizeof(where));
	if (shape == TR_JSON_DUPLICATE)
		return fail(err, len, "field \"%s\": the key is given more than once in its object", where);
	if (shape == TR_JSON_TOO_DEEP)
		return fail(err, len, "the event is nested deeper than %s levels", TR_STR(TR_EVENT_MAX_DEPTH));
	if (shape < 0)
		return shape;

	cJSON *type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	if (!type)
		return fail(err, len, "field \"type\": required%s", "");
	if (!cJSON_IsString(type) || !tr_event_type_valid(type->valuestring))
		return fail(err, len, "field \"type\": %s is not a dotted lowercase name like feedback.new",
			    cJSON_IsString(type) ? "the value" : "a non-string");
	ev->type = type->valuestring;

	if (optional_string(obj, "account", &ev->account) < 0)
		return fail(err, len, "field \"account\": must be a string%s", "");
	if (optional_string(obj, "marketplace", &ev->marketplace) < 0)
		return fail(err, len, "field \"marketplace\": must be a string%s", "");

	ev->received_at = now;
	cJSON *at = cJSON_GetObjectItemCaseSensitive(obj, "occurred_at");
	int time_given = at && !cJSON_IsNull(at);
	if (at && !cJSON_IsNull(at)) {
		if (!cJSON_IsString(at))
			return fail(err, len, "field \"occurred_at\": must be an RFC 3339 string%s", "");
		int rc = tr_time_parse(at->valuestring, zone, &ev->occurred_at);
		if (rc == -EINVAL)
			return fail(err, len, "unknown time zone \"%s\"", zone);
		if (rc < 0)
			return fail(err, len, "field \"occurred_at\": \"%.64s\" is not a time (RFC 3339 or YYYY-MM-DD HH:MM:SS)",
				    at->valuestring);
	} else {
		ev->occurred_at = now;
	}
	char when[40];
	if (tr_time_format(ev->occurred_at, NULL, when, sizeof(when)))
		return fail(err, len, "field \"occurred_at\": outside the years 0000 to 9999%s", "");
	cJSON *norm = cJSON_CreateString(when);
	if (!norm)
		return -ENOMEM;
	if (at)
		cJSON_ReplaceItemInObjectCaseSensitive(obj, "occurred_at", norm);
	else
		cJSON_AddItemToObject(obj, "occurred_at", norm);

	int rc = check_known_fields(obj, ev->type, err, len);
	if (rc)
		return rc;

	cJSON *id = cJSON_GetObjectItemCaseSensitive(obj, "id");
	char buf[64];
	if (id && cJSON_IsNumber(id)) {
		int64_t whole;
		if (!tr_whole_number(id->valuedouble, &whole))
			return fail(err, len, "field \"id\": a numeric id must be a whole number%s", "");
		snprintf(buf, sizeof(buf), "%" PRId64, whole);
		cJSON_ReplaceItemInObjectCaseSensitive(obj, "id", cJSON_CreateString(buf));
	} else if (id && !cJSON_IsString(id)) {
		return fail(err, len, "field \"id\": must be a string or a number%s", "");
	} else if (id && (id->valuestring[0] == 0 || strlen(id->valuestring) > TR_EVENT_ID_MAX)) {
		return fail(err, len, "field \"id\": must be 1 to 256 bytes%s", "");
	} else if (!id) {
		/* SPEC §2: derived from the normalised content, without an
		 * occurred_at that only the receipt time filled in, so the same
		 * row dropped twice is the same event. */
		cJSON *filled = time_given ? NULL : cJSON_DetachItemFromObjectCaseSensitive(obj, "occurred_at");
		char *text = tr_json_print(obj);
		if (filled)
			cJSON_AddItemToObject(obj, "occurred_at", filled);
		if (!text)
			return -ENOMEM;
		content_id(text, buf, sizeof(buf));
		free(text);
		cJSON_AddStringToObject(obj, "id", buf);
	}
	ev->id = cJSON_GetObjectItemCaseSensitive(obj, "id")->valuestring;
	/* Re-fetch: replacing items above may have freed what we pointed at. */
	ev->type = cJSON_GetObjectItemCaseSensitive(obj, "type")->valuestring;
	optional_string(obj, "account", &ev->account);
	optional_string(obj, "marketplace", &ev->marketplace);

	ev->payload_text = tr_json_print(obj);
	if (!ev->payload_text)
		return -ENOMEM;
	return 0;
}

int tr_event_init(struct tr_event *ev, cJSON *obj, const char *zone, const char *source,
		  int64_t now, char *err, size_t errlen)
{
	memset(ev, 0, sizeof(*ev));
	ev->payload = obj;
	int rc = normalise(ev, zone, now, err, errlen);
	if (rc == 0) {
		ev->source = strdup(source ? source : "socket");
		if (!ev->source)
			rc = -ENOMEM;
	}
	if (rc == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	if (rc)
		tr_event_free(ev);
	return rc;
}

void tr_event_free(struct tr_event *ev)
{
	cJSON_Delete(ev->payload);
	free(ev->payload_text);
	free(ev->source);
	memset(ev, 0, sizeof(*ev));
}
