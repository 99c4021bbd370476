/* SPEC §3: after a reload changed a calendar, every waiting ticket's steps
 * counted in a calendar's open time are recounted in the new calendars —
 * in slices of tickets, earliest wake first, the first ones at once (a
 * small installation's reload answers with every step moved) and the rest
 * on later turns of the loop, so that acknowledgements never wait for a
 * recount of a hundred thousand tickets. A part of the daemon (daemon.c's
 * table). Not what a recount of one step is (ticket_plan.c). */
#ifndef TR_RECOUNT_H
#define TR_RECOUNT_H

#include "tr_daemon.h"

struct tr_recount;

/* The part's hooks: d->recount owned from start to free. */
int tr_recount_start(struct tr_daemon *d, struct tr_errors *errs);
void tr_recount_close(struct tr_daemon *d);
void tr_recount_free(struct tr_daemon *d);

/* Recounts every waiting ticket afresh, in the calendars d's rules hold
 * now (one under way starts over). *moved: the steps moved by the slices
 * run at once. Returns 0; a slice that fails ends the recount, logged
 * (the steps not reached keep their times). */
int tr_recount_begin(struct tr_daemon *d, int *moved);
/* True while slices are left for later turns. */
int tr_recount_pending(const struct tr_daemon *d);

#endif
