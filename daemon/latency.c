/* Recent answer times (tr_latency.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "tr_latency.h"

void tr_latency_add(struct tr_latency *l, uint64_t us)
{
	l->us[l->count % TR_LATENCY_WINDOW] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
	l->count++;
}

static int by_value(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

/* The nearest-rank percentile of n sorted values. */
static double rank_ms(const uint32_t *v, size_t n, double p)
{
	size_t k = (size_t)(p * (double)n + 0.999999);
	return v[(k ? k : 1) - 1] / 1e3;
}

int tr_latency_summarize(const struct tr_latency *l, struct tr_latency_summary *out)
{
	memset(out, 0, sizeof(*out));
	size_t n = l->count < TR_LATENCY_WINDOW ? (size_t)l->count : TR_LATENCY_WINDOW;
	if (n == 0)
		return 0;
	uint32_t *v = malloc(n * sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, l->us, n * sizeof(*v));
	qsort(v, n, sizeof(*v), by_value);
	out->n = n;
	out->p50_ms = rank_ms(v, n, 0.50);
	out->p99_ms = rank_ms(v, n, 0.99);
	out->max_ms = v[n - 1] / 1e3;
	free(v);
	return 0;
}
