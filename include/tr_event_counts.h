/* Events accepted since start, by type and by where they came from (the
 * socket, a dropped file, a timer), for `metrics`. Counted inside the
 * loop's write transaction, so a count joins the totals only when its
 * transaction commits (tr_event_counts_end), like the ingest's own totals.
 * Event types come from users: at most TR_EVENT_COUNTS_TYPES distinct
 * (type, source) pairs are kept, and every later type is counted under
 * TR_EVENT_COUNTS_OTHER, so a sender inventing types cannot grow memory or
 * the metrics without bound. Loop thread only. Not the store's events. */
#ifndef TR_EVENT_COUNTS_H
#define TR_EVENT_COUNTS_H

#include <stddef.h>
#include <stdint.h>

#define TR_EVENT_COUNTS_TYPES 200
/* Not a valid event type (a segment starts with a letter): never mixed up
 * with one. */
#define TR_EVENT_COUNTS_OTHER "_other"

struct tr_event_count_slot;

/* Zeroed is empty; nothing is allocated until the first add. */
struct tr_event_counts {
	struct tr_event_count_slot *slots; /* open addressing; owned */
	size_t pairs;                      /* pairs named by their type */
	uint16_t *touched;                 /* slots the open transaction counted in; owned */
	size_t ntouched;
};

/* Counts one event of type from source ("socket", "file:NAME:LINE",
 * "timer:N": the part before ':' names it; an unknown one is "other") in
 * the open transaction. Returns 0, or -ENOMEM: the event is not counted
 * (the event itself goes on; a metric one short beats a failed event). */
int tr_event_counts_add(struct tr_event_counts *c, const char *type, const char *source);
/* The transaction ended: its counts join the totals (committed) or go. */
void tr_event_counts_end(struct tr_event_counts *c, int committed);
/* Calls fn for each counted pair's committed total, in no set order; stops
 * at fn's first non-zero return and returns it, else 0. The strings live
 * as long as c. */
int tr_event_counts_each(const struct tr_event_counts *c,
			 int (*fn)(void *ud, const char *type, const char *source, uint64_t n), void *ud);
/* Frees what c holds and empties it. */
void tr_event_counts_free(struct tr_event_counts *c);

#endif
