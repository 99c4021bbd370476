/* Delivering notifications from the outbox (SPEC §5): exec (an argv, no
 * shell, with a timeout), dir (one JSON file per notification, written
 * atomically), watch (live `triagectl watch` subscribers) and journal (the
 * log). A failing output is retried with backoff; a delivered one is marked
 * in the database, so a restart resends only what was not delivered. */
#ifndef TR_OUTPUTS_H
#define TR_OUTPUTS_H

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
/* Stops new deliveries; running exec children are left to finish or are
 * killed at their timeout; their rows stay pending if not confirmed. */
void tr_outputs_close(struct tr_outputs *o);
void tr_outputs_free(struct tr_outputs *o);

#endif
