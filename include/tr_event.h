/* An event as the engine sees it (SPEC §2): a validated, normalised JSON
 * object plus the fields every layer needs (type, id, times, source). Built
 * from a socket request or a decoded file row; not stored here (tr_store.h). */
#ifndef TR_EVENT_H
#define TR_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#define TR_EVENT_ID_MAX 256
#define TR_EVENT_TYPE_MAX 64
/* Deepest nesting an event may have; rules get it as Lua tables, whose
 * conversion is capped the same way (tr_lua.h). */
#define TR_EVENT_MAX_DEPTH 64
#define TR_STR_(x) #x
#define TR_STR(x) TR_STR_(x)

/* All pointers are owned by the event and freed by tr_event_free. type, id
 * and account point into strings owned by payload or by the event. */
struct tr_event {
	int64_t seq;          /* database sequence number; 0 until stored */
	char *type;           /* dotted lowercase name */
	char *id;             /* unique per type; derived from content when absent ("h:<hex>") */
	char *account;        /* NULL when absent */
	char *marketplace;    /* NULL when absent */
	int64_t occurred_at;  /* seconds since the epoch */
	int64_t received_at;  /* seconds since the epoch */
	char *source;         /* "socket", "file:NAME:LINE", "timer:N" */
	cJSON *payload;       /* the normalised object: id and occurred_at (RFC 3339 UTC) filled in */
	char *payload_text;   /* cJSON_PrintUnformatted(payload), for the store and the hash */
};

/* Validates obj and turns it into ev. Takes ownership of obj in every case.
 * zone: the IANA zone for an occurred_at without offset (NULL = UTC).
 * Returns 0, or TR_EPARSE with a sentence naming the field in err; on error
 * ev holds nothing to free. */
int tr_event_init(struct tr_event *ev, cJSON *obj, const char *zone, const char *source,
		  int64_t now, char *err, size_t errlen);

void tr_event_free(struct tr_event *ev);

/* *out = v when v is a whole number that fits an int64 (casting any other
 * double is undefined behaviour); returns 1, else 0. */
int tr_whole_number(double v, int64_t *out);

/* Member key of object o when it is such a whole number, else def (absent,
 * not a number, a fraction). o may be NULL. */
int64_t tr_json_whole(const cJSON *o, const char *key, int64_t def);

/* True if s is a valid event type name. */
int tr_event_type_valid(const char *s);

#endif
