/* Recent answer times: a ring of the last TR_LATENCY_WINDOW durations and
 * their percentiles on demand, so that `stats` can say how long the daemon
 * took to answer ingests lately: from the moment it read the request line
 * to its answer handed to the socket (queueing, rules, commit and flush).
 * Not in it: time the line waited in the socket before the loop read it,
 * and whatever the client and its machine add. Loop thread only; no
 * allocation until a summary is asked for. */
#ifndef TR_LATENCY_H
#define TR_LATENCY_H

#include <stdint.h>

#define TR_LATENCY_WINDOW 10000

struct tr_latency {
	uint32_t us[TR_LATENCY_WINDOW];  /* microseconds, capped at UINT32_MAX */
	uint64_t count;                  /* added so far; the ring holds the last ones */
};

struct tr_latency_summary {
	uint64_t n;           /* durations summarised: min(count, window) */
	double p50_ms, p99_ms, max_ms;
};

void tr_latency_add(struct tr_latency *l, uint64_t us);
/* Fills *out (zeros when nothing was added). Returns 0, or -ENOMEM (the
 * percentiles need a sorted copy). */
int tr_latency_summarize(const struct tr_latency *l, struct tr_latency_summary *out);

#endif
