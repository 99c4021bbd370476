/* Fuzz target for event validation (tr_event_init, include/tr_event.h):
 * each input is read as one JSON value and validated twice, in UTC and in
 * Asia/Shanghai (the zone of a dropped file's source). A refusal must say
 * why and leave nothing behind; an accepted event must be whole (a valid
 * type, an id of 1 to 256 bytes, occurred_at as RFC 3339 UTC, payload_text
 * the printed payload), its derived id must be the same on every run (the
 * same row dropped twice is the same event), and validating its normalised
 * payload again must give the same event. Under the sanitizers a crash,
 * leak or undefined behaviour stops the run: tr_event_init takes ownership
 * of the object on every path. Built with libFuzzer under clang, or with
 * replay_main.c under gcc. Not a test of what particular events mean:
 * tests/unit/test_event.c. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_event.h"
#include "tr_json.h"

#define NOW 1795500000 /* 2026-11-24T06:00:00Z */

static void broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_event: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

/* Validates value (a fresh parse of the input, taken) in zone. Returns the
 * payload text of the accepted event (caller frees) or NULL. */
static char *validate(const uint8_t *data, size_t size, const char *zone)
{
	cJSON *obj = cJSON_ParseWithLength((const char *)data, size);
	if (!obj)
		return NULL;
	struct tr_event ev;
	char err[200];
	err[0] = 0;
	int rc = tr_event_init(&ev, obj, zone, "fuzz", NOW, err, sizeof(err));
	if (rc != 0) {
		if (!err[0])
			broken("refused without a message", NULL);
		if (ev.payload || ev.payload_text || ev.source || ev.type || ev.id)
			broken("a refused event still holds something", err);
		return NULL;
	}
	if (!ev.type || !tr_event_type_valid(ev.type))
		broken("accepted an invalid type", ev.type);
	if (!ev.id || !ev.id[0] || strlen(ev.id) > TR_EVENT_ID_MAX)
		broken("accepted without a usable id", ev.id);
	if (!cJSON_IsObject(ev.payload) || !ev.payload_text || !ev.source || ev.received_at != NOW)
		broken("accepted event is incomplete", NULL);
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(ev.payload, "occurred_at");
	if (!cJSON_IsString(at) || strlen(at->valuestring) != 20 || at->valuestring[19] != 'Z')
		broken("occurred_at is not RFC 3339 UTC", cJSON_IsString(at) ? at->valuestring : "(none)");
	if (ev.account && !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(ev.payload, "account")))
		broken("account does not come from the payload", NULL);
	char *text = tr_json_print(ev.payload); /* the daemon's printer, not cJSON's */
	if (!text || strcmp(text, ev.payload_text) != 0)
		broken("payload_text is not the payload", ev.payload_text);
	free(text);

	/* a fixed point: the normalised event validates to itself */
	struct tr_event again;
	cJSON *copy = cJSON_Parse(ev.payload_text);
	if (!copy)
		broken("payload_text does not parse", ev.payload_text);
	if (tr_event_init(&again, copy, zone, "fuzz", NOW + 3600, err, sizeof(err)) != 0)
		broken("a normalised event is refused", err);
	if (strcmp(again.payload_text, ev.payload_text) != 0)
		broken("normalising twice changes the event", again.payload_text);
	tr_event_free(&again);

	char *out = strdup(ev.payload_text);
	tr_event_free(&ev);
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const zones[] = {NULL, "Asia/Shanghai"};
	for (size_t i = 0; i < sizeof(zones) / sizeof(zones[0]); i++) {
		char *first = validate(data, size, zones[i]);
		/* the same input, validated again, is the same event */
		char *second = validate(data, size, zones[i]);
		if ((first == NULL) != (second == NULL) || (first && strcmp(first, second) != 0))
			broken("the same input gave two different events", first);
		free(first);
		free(second);
	}
	return 0;
}
