/* Firing durable timers (SPEC §3 Time): one libuv timer armed for the
 * earliest row; firing deletes the row and runs its effect and its event
 * through the rules in one transaction, so each timer fires exactly once,
 * also when it fell due while the daemon was down. */
#ifndef TR_TIMERS_H
#define TR_TIMERS_H

#include "tr_daemon.h"

struct tr_timers;

/* Arms for the earliest pending timer (firing at once what is overdue).
 * *out owned by the caller: tr_timers_close, run the loop, tr_timers_free. */
int tr_timers_start(struct tr_daemon *d, struct tr_timers **out);
/* After any commit: re-arms if the commit added an earlier timer. */
void tr_timers_poke(struct tr_timers *t);
/* Re-arms for the earliest timer after d->writes_paused ends. */
void tr_timers_resume(struct tr_timers *t);
void tr_timers_close(struct tr_timers *t);
/* Fires the timers due at now (earliest first) for up to budget_ms, in
 * transactions of up to a thousand; *more says some are still due. The
 * loop's timer and the offline rule tests both call this. */
int tr_timers_fire(struct tr_daemon *d, int64_t now, uint64_t budget_ms, int *more);
void tr_timers_free(struct tr_timers *t);
/* For `metrics`: how many seconds after its due time the last timer fired
 * (0 before any fired, and for NULL). A backlog or a stalled loop shows as
 * a lag that grows. */
int64_t tr_timers_lag(const struct tr_timers *t);

#endif
