/* Durations counted into fixed buckets since start, the shape Prometheus
 * histograms take (tr_metrics.h prints them): rule runs, commits, WAL
 * flushes. Unlike tr_latency.h's ring of recent answers, nothing is
 * forgotten and nothing is sorted: an add is a few compares, no
 * allocation, so the hot paths can afford it. The bounds are one table for
 * every histogram (100 µs to 10 s), so that their buckets line up on a
 * dashboard. Not thread-safe: the owner's thread adds, or its lock covers
 * both the add and the copy that is read. */
#ifndef TR_HISTOGRAM_H
#define TR_HISTOGRAM_H

#include <stdint.h>

#define TR_HISTOGRAM_BUCKETS 16

/* The buckets' upper bounds in microseconds, ascending; above the last is
 * the +Inf bucket. */
extern const uint64_t tr_histogram_bounds_us[TR_HISTOGRAM_BUCKETS];

struct tr_histogram {
	/* durations per bucket, not cumulative: counts[i] took at most
	 * bounds[i] and more than bounds[i - 1]; counts[TR_HISTOGRAM_BUCKETS]
	 * took longer than the last bound */
	uint64_t counts[TR_HISTOGRAM_BUCKETS + 1];
	uint64_t n;       /* durations added */
	uint64_t sum_us;  /* their sum */
};

void tr_histogram_add(struct tr_histogram *h, uint64_t us);
/* Adds every count of from into into (a rule set's counters carried over
 * a reload). */
void tr_histogram_merge(struct tr_histogram *into, const struct tr_histogram *from);

#endif
