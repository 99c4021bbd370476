/* Delivering notifications from the outbox (SPEC §5): exec (an argv, no
 * shell, with a timeout), dir (one JSON file per notification, written
 * atomically), watch (live `triagectl watch` subscribers) and journal (the
 * log). A failing output is retried with backoff, until its `attempts` or
 * `max_age` run out: then the delivery is parked as failed until `outbox
 * retry`; an output with a `group_wait` sends what gathers as one digest.
 * A delivered one is marked in the database, so a restart resends only
 * what was not delivered. */
#ifndef TR_OUTPUTS_H
#define TR_OUTPUTS_H

#include <stddef.h>
#include <stdint.h>
#include "tr_daemon.h"

struct tr_outputs;

/* Starts delivering what is pending (also what a previous run left).
 * *out owned by the caller: tr_outputs_close, run the loop, tr_outputs_free. */
int tr_outputs_start(struct tr_daemon *d, struct tr_outputs **out);
/* After a commit that may have queued notifications: deliver soon. */
void tr_outputs_poke(struct tr_outputs *o);
/* Looks at the outbox again after d->writes_paused ends. */
void tr_outputs_resume(struct tr_outputs *o);
/* Where "watch" notifications go: broadcast(ud, json_line) for each, with
 * the notification object as JSON text (no newline). May be unset. */
void tr_outputs_set_watch(struct tr_outputs *o, void (*broadcast)(void *ud, const char *json), void *ud);
/* One output's deliveries, for `status`, `stats` and the metrics. The
 * since-start counters reset when the daemon starts; the others are read
 * from the outbox table, so they survive a restart. */
struct tr_output_stats {
	const char *name;           /* the output ("journal", "watch" or a config output) */
	uint64_t delivered;         /* since start: notifications delivered (a digest counts each) */
	uint64_t failed_attempts;   /* since start: tries that failed (each retry counts) */
	uint64_t parked;            /* since start: deliveries parked as failed */
	int64_t pending;            /* now, from the table: waiting to be delivered (not parked) */
	int64_t parked_now;         /* now, from the table: parked, waiting for `outbox retry` */
	int64_t oldest_pending_at;  /* now: created_at (Unix s) of the oldest pending one, 0 none */
	int failing;                /* its last try failed and none has succeeded since */
	const char *last_error;     /* the last failure's words ("" none), even after a recovery */
};
/* Calls fn once per output: every configured one, "journal", "watch", and
 * any output that still has undelivered rows though the config no longer
 * names it. st and its strings are valid only during the call. Stops at
 * the first non-zero fn answer and returns it; 0 when all were called;
 * TR_ESTORE (nothing called) when the outbox cannot be read. Runs on the
 * loop thread: one grouped read of the undelivered rows. */
int tr_outputs_stats_each(struct tr_outputs *o, int (*fn)(void *ud, const struct tr_output_stats *st), void *ud);
/* Whether the output st counts needs a look: 1 with reason filled (it
 * has parked deliveries, or is failing), else 0 and reason untouched. */
int tr_output_degraded(const struct tr_output_stats *st, char *reason, size_t len);

/* Stops new deliveries; running exec children are left to finish or are
 * killed at their timeout; their rows stay pending if not confirmed. */
void tr_outputs_close(struct tr_outputs *o);
void tr_outputs_free(struct tr_outputs *o);

#endif
