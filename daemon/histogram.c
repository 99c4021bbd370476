/* Durations counted into fixed buckets (tr_histogram.h). Not the printing
 * (metrics.c). */
#include "tr_histogram.h"

/* 100 µs (a rule that returns at once) to 10 s (a commit on a stalled
 * disk), about three buckets a decade, as Prometheus' defaults space them. */
const uint64_t tr_histogram_bounds_us[TR_HISTOGRAM_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000,
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000,
};

void tr_histogram_add(struct tr_histogram *h, uint64_t us)
{
	int i = 0;
	while (i < TR_HISTOGRAM_BUCKETS && us > tr_histogram_bounds_us[i])
		i++;
	h->counts[i]++;
	h->n++;
	h->sum_us += us;
}

void tr_histogram_merge(struct tr_histogram *into, const struct tr_histogram *from)
{
	for (int i = 0; i <= TR_HISTOGRAM_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->n += from->n;
	into->sum_us += from->sum_us;
}
