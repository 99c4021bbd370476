/* The store's reads for `metrics` (store_metrics.c): what is open and
 * waiting now, grouped, for gauges. Each is one read on the loop thread per
 * scrape; the cost of each is said at its function. Not the text
 * (metrics.c). */
#ifndef TR_STORE_METRICS_H
#define TR_STORE_METRICS_H

#include <stdint.h>
#include "tr_store.h"

/* Calls fn for each (queue, priority) that has open tickets, with their
 * number; stops at fn's first non-zero return and returns it. 0, or
 * TR_ESTORE (logged). The first call sets up triggers of this connection
 * that keep the counts from then on, and counts every open ticket once
 * (seconds at a million open); the later ones read the counts. Called
 * inside the loop's open transaction or outside any. */
int tr_store_open_tickets_each(struct tr_store *s,
			       int (*fn)(void *ud, const char *queue, const char *priority, int64_t n), void *ud);
/* Open tickets whose due time is before now, into *n: a count over the
 * index on (state, due_at), no row read. 0 or TR_ESTORE. */
int tr_store_breached_count(struct tr_store *s, int64_t now, int64_t *n);
/* Calls fn with the pending timers by kind: each schedule{} kind by its
 * name, and "ticket" for the tickets waiting for their next step (a nudge,
 * an escalation, a due time: once per ticket, as `timers` counts them; a
 * count of their steps would read every step a ticket ever had). Stops at
 * fn's first non-zero return and returns it. 0 or TR_ESTORE. */
int tr_store_pending_timers_each(struct tr_store *s, int (*fn)(void *ud, const char *kind, int64_t n), void *ud);

#endif
