/* The JSON the daemon answers with: tickets, a ticket with its history and
 * timers, an event explained with its outcomes, the pending timers. Built
 * from what the store reads (tr_store.h) and shared by every place that
 * shows them: the socket's operations (protocol.c), the notifications'
 * ticket (notify.c), the rule tests (ruletest.c). Not SQL, and not the
 * answer's envelope ("ok", errors): that is the protocol's. Every function
 * returns a new cJSON the caller owns and frees with cJSON_Delete; NULL
 * owns nothing. */
#ifndef TR_VIEWS_H
#define TR_VIEWS_H

#include <stdint.h>
#include <cjson/cJSON.h>
#include "tr_store.h"

/* Adds name: t in RFC 3339 (UTC), or null for 0 (none). */
void tr_view_add_time(cJSON *o, const char *name, int64_t t);
/* Adds name: v, or null when v is NULL. */
void tr_view_add_text(cJSON *o, const char *name, const char *v);

/* t as an object: times in RFC 3339, tags and fields as JSON. NULL when
 * out of memory. */
cJSON *tr_view_ticket(const struct tr_ticket *t);
/* Ticket id as tr_view_ticket shows it; with_history adds "history" and
 * "timers". *found is 1 when the ticket was read; NULL with *found 0 when
 * it is not there (or cannot be read), NULL with *found 1 when out of
 * memory. */
cJSON *tr_view_ticket_by_id(struct tr_store *s, int64_t id, int with_history, int *found);
/* The tickets f selects, newest first, as an array; NULL on a database
 * error (tr_store_errmsg) or when out of memory. */
cJSON *tr_view_tickets(struct tr_store *s, const struct tr_ticket_filter *f);
/* The event by (type, id), or by seq when seq > 0, as {"event", "outcomes",
 * "declined": [{"rule"}] (the rules whose `when` said no)}.
 * NULL with *found 0 when there is no such event (or it cannot be read),
 * NULL with *found 1 when out of memory. */
cJSON *tr_view_explain(struct tr_store *s, const char *type, const char *id, int64_t seq, int *found);
/* The first limit pending timers, earliest first, as an array, and in
 * *total how many are pending; NULL on a database error. */
cJSON *tr_view_timers(struct tr_store *s, int limit, int64_t *total);
/* The state keys starting with prefix and above after (either may be NULL),
 * at most limit in byte order, as at now (views_state.c): an array of
 * {"key", "value"} and {"key", "count", "window", "window_s"}; *more is 1
 * when keys are left past the last. NULL on a database error or when out
 * of memory. */
cJSON *tr_view_state(struct tr_store *s, const char *prefix, const char *after, int limit, int64_t now,
		     int *more);

/* The outbox (views_outbox.c). tr_view_outputs_stats adds "outputs" to a
 * `stats` object, and makes its "health" degraded (with the reason) when
 * an output has parked deliveries or is failing and it said ok. */
struct tr_outputs;
void tr_view_outputs_stats(struct tr_outputs *o, cJSON *stats);
/* Undelivered notifications by id above after_id (only the parked ones
 * when failed_only), at most limit: an array of {id, output, state
 * ("pending"|"failed"), created_at, attempts, last_error, next_at,
 * failed_at, ticket, message[, retried_at, retried_by]}; *more is 1 when
 * rows are left past the last. NULL on a database error or out of memory. */
cJSON *tr_view_outbox(struct tr_store *s, int failed_only, int64_t after_id, int limit, int *more);

#endif
