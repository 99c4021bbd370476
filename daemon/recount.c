/* The recount after a calendar changed (tr_recount.h): a cursor over the
 * waiting tickets, slices of them recounted each in the loop's write
 * transaction, and a timer that runs the next slice on a later turn. Not
 * when a recount is asked for (reload.c) nor how one step is recounted
 * (ticket_plan.c). */
#include <errno.h>
#include <stdlib.h>
#include "tr_engine.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_plan.h"
#include "tr_recount.h"
#include "tr_time.h"
#include "tr_timers.h"

#define SLICE_TICKETS 250 /* waiting tickets a slice recounts: a few ms */
#define SLICES_AT_ONCE 4  /* slices a reload runs before it answers */
#define PAUSED_MS 5       /* a checkpoint holds the writes: look again then */
/* Between slices. At least 1 ms: libuv runs a 0 ms timer re-armed from its
 * own callback again in the same pass, which would starve the socket. */
#define BREATHE_MS 1

struct tr_recount {
	struct tr_daemon *d;   /* borrowed */
	uv_timer_t timer;      /* the next slice */
	struct tr_wake_cursor after;
	int pending;           /* slices are left */
	int closed;
	int64_t moved;         /* steps moved since the recount began */
};

struct slice {
	struct tr_recount *r;
	int moved, last;
};

static int run_slice(void *ud)
{
	struct slice *x = ud;
	struct tr_daemon *d = x->r->d;
	return tr_plan_recalendar(d->store, tr_engine_calendars(d->engine), tr_time_now(), &x->r->after,
				  SLICE_TICKETS, &x->moved, &x->last);
}

/* One slice: 0 done or more to come (r->pending), or the error that ended it. */
static int slice(struct tr_recount *r, int *moved)
{
	struct slice x = {.r = r};
	int rc = tr_txn_run(&r->d->ingest.txn, run_slice, &x);
	if (rc) {
		r->pending = 0;
		log_errx("reload: the steps counted in calendars could not all be recounted (%s); those not reached"
			 " keep their times", tr_strerror(rc));
		return rc;
	}
	*moved += x.moved;
	r->moved += x.moved;
	r->pending = !x.last;
	tr_timers_poke(r->d->timers); /* a step may now be due sooner */
	return 0;
}

static void said_done(const struct tr_recount *r)
{
	if (r->moved)
		log_info("reload: %lld pending step%s moved to where the new calendars put them", (long long)r->moved,
			 r->moved == 1 ? "" : "s");
}

static void on_timer(uv_timer_t *t)
{
	struct tr_recount *r = t->data;
	if (r->closed || !r->pending)
		return;
	if (r->d->writes_paused) {
		uv_timer_start(&r->timer, on_timer, PAUSED_MS, 0);
		return;
	}
	int moved = 0;
	if (slice(r, &moved) == 0 && r->pending)
		uv_timer_start(&r->timer, on_timer, BREATHE_MS, 0); /* the loop breathes between slices */
	else if (!r->pending)
		said_done(r);
}

int tr_recount_begin(struct tr_daemon *d, int *moved)
{
	struct tr_recount *r = d->recount;
	*moved = 0;
	if (!r || r->closed)
		return 0;
	r->after = (struct tr_wake_cursor){0, 0};
	r->moved = 0;
	r->pending = 1;
	for (int i = 0; i < SLICES_AT_ONCE && r->pending; i++)
		if (slice(r, moved))
			return 0;
	if (r->pending)
		uv_timer_start(&r->timer, on_timer, BREATHE_MS, 0);
	else
		said_done(r);
	return 0;
}

int tr_recount_pending(const struct tr_daemon *d)
{
	return d->recount && d->recount->pending;
}

int tr_recount_start(struct tr_daemon *d, struct tr_errors *errs)
{
	(void)errs;
	struct tr_recount *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->d = d;
	uv_timer_init(d->loop, &r->timer);
	r->timer.data = r;
	d->recount = r;
	return 0;
}

void tr_recount_close(struct tr_daemon *d)
{
	struct tr_recount *r = d->recount;
	if (!r || r->closed)
		return;
	if (r->pending)
		log_warnx("reload: stopping with the recount unfinished; the steps not reached keep their times");
	r->closed = 1;
	r->pending = 0;
	uv_close((uv_handle_t *)&r->timer, NULL);
}

void tr_recount_free(struct tr_daemon *d)
{
	/* the loop has ended: the timer's close has completed */
	free(d->recount);
	d->recount = NULL;
}
