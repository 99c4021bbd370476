/* Fuzz target for the socket protocol's request parser (tr_protocol.h) and
 * the event validation behind `ingest` (tr_event.h): each input is one
 * request line for tr_protocol_prepare, as the server's worker runs it; a
 * request that parses is an object with a string "op" and no error
 * response, one that does not comes with an error response and no request.
 * An ingest's events (however many, whatever they hold) are each either
 * rejected with an index and a reason or accepted, and every accepted event
 * must be whole: a valid type, an id of 1 to 256 bytes, an object
 * payload whose printed text is payload_text and reads back as the same
 * event. Everything is freed; no daemon, store or rules are needed. Built
 * with libFuzzer under clang, or with replay_main.c under gcc. Not a test of
 * the operations themselves (tests/integration). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>
#include "tr_event.h"
#include "tr_json.h"
#include "tr_protocol.h"

#define NOW 1795500000 /* 2026-11-24T06:00:00Z */

/* Stops the run with a message: the fuzzer reports the input. */
static void broken(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_protocol: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

/* Checks an accepted event against the contract of tr_event.h. */
static void check_event(const struct tr_event *ev)
{
	if (!ev->type || !tr_event_type_valid(ev->type))
		broken("accepted an event with an invalid type", ev->type);
	if (!ev->id || !ev->id[0] || strlen(ev->id) > TR_EVENT_ID_MAX)
		broken("accepted an event without a usable id", ev->id);
	if (!cJSON_IsObject(ev->payload) || !ev->payload_text || !ev->source)
		broken("accepted event is incomplete", NULL);
	if (strcmp(ev->source, "socket") != 0)
		broken("source not kept", ev->source);
	char *text = tr_json_print(ev->payload);
	if (!text || strcmp(text, ev->payload_text) != 0)
		broken("payload_text is not the payload", ev->payload_text);
	free(text);
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(ev->payload, "id");
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(ev->payload, "type");
	const cJSON *at = cJSON_GetObjectItemCaseSensitive(ev->payload, "occurred_at");
	if (!cJSON_IsString(id) || strcmp(id->valuestring, ev->id) != 0)
		broken("payload id differs from the event's", ev->id);
	if (!cJSON_IsString(type) || strcmp(type->valuestring, ev->type) != 0)
		broken("payload type differs from the event's", ev->type);
	if (!cJSON_IsString(at) || strlen(at->valuestring) != 20 || at->valuestring[19] != 'Z')
		broken("occurred_at is not RFC 3339 UTC", cJSON_IsString(at) ? at->valuestring : "(none)");

	/* The normalised event is a fixed point: validating it again gives the
	 * same event (what is stored and replayed is what rules saw). */
	struct tr_event again;
	char err[256] = "";
	cJSON *copy = cJSON_Parse(ev->payload_text);
	if (!copy)
		broken("payload_text does not parse", ev->payload_text);
	if (tr_event_init(&again, copy, NULL, "fuzz", NOW + 1, err, sizeof(err)) != 0)
		broken("a normalised event is refused", err);
	if (strcmp(again.payload_text, ev->payload_text) != 0 || strcmp(again.id, ev->id) != 0 ||
	    again.occurred_at != ev->occurred_at)
		broken("normalising twice changes the event", again.payload_text);
	tr_event_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tr_prepared p;
	tr_protocol_prepare(&p, (const char *)data, size, 1 << 20);
	if (!p.req) {
		/* a refusal always says why, as a bad_request error response */
		const cJSON *e = cJSON_GetObjectItemCaseSensitive(p.answer, "error");
		const cJSON *code = cJSON_GetObjectItemCaseSensitive(e, "code");
		if (!p.answer || !cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(p.answer, "ok")) ||
		    !cJSON_IsString(code) || strcmp(code->valuestring, TR_ERR_BAD_REQUEST) != 0 ||
		    !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(e, "message")))
			broken("malformed error response", NULL);
		tr_prepared_free(&p);
		return 0;
	}
	if (p.answer)
		broken("a request and an error response", NULL);
	if (!cJSON_IsObject(p.req) || !cJSON_IsString(cJSON_GetObjectItemCaseSensitive(p.req, "op")))
		broken("a request without a string op", NULL);

	if (p.ingest && p.rejected) {
		/* every event is either valid and whole, or rejected with a reason */
		for (size_t i = 0; i < p.nvalid; i++)
			check_event(&p.events[i]);
		size_t rejected = 0;
		for (const cJSON *r = p.rejected->child; r; r = r->next, rejected++) {
			const cJSON *msg = cJSON_GetObjectItemCaseSensitive(r, "error");
			if (!cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(r, "index")) || !cJSON_IsString(msg) ||
			    !msg->valuestring[0])
				broken("an event refused without an index and a message", NULL);
		}
		if (p.nvalid + rejected != p.nevents)
			broken("valid and rejected events do not add up to the request's", NULL);
	} else if (p.ingest && (p.nvalid || p.nevents)) {
		broken("events counted in an ingest without an events array", NULL);
	}
	tr_prepared_free(&p);
	return 0;
}
