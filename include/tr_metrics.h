/* SPEC §6 `metrics` (and §9's GET /metrics, later): the daemon's counters
 * and gauges as Prometheus text exposition format 0.0.4, named by
 * Prometheus conventions (triaged_ prefix, base units in the name,
 * counters ending in _total), with HELP and TYPE for every family. One
 * function builds the text; the socket op and any HTTP listener hand it
 * out as it is. Counters count since the daemon started (a rule's since
 * its rule set was loaded); Prometheus takes a reset as one. Not where
 * the counts are kept: each module keeps its own. */
#ifndef TR_METRICS_H
#define TR_METRICS_H

#include "tr_buf.h"
#include "tr_daemon.h"

/* The exposition of the running daemon d, read on the loop thread (the
 * gauges of open tickets and timers are read from the store: see
 * tr_store_metrics.h for their cost). Returns 0 with *out a NUL-terminated
 * text the caller frees (free()), or -ENOMEM or TR_ESTORE with *out NULL. */
int tr_metrics_text(struct tr_daemon *d, char **out);

/* Appends v as the inside of a label value: backslash, double quote and
 * newline escaped (\\, \", \n) as the format asks, and every byte that is
 * not part of valid UTF-8 as U+FFFD, since rule names and event types come
 * from users. */
void tr_metrics_label_value(struct tr_buf *b, const char *v);

#endif
