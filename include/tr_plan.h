/* A ticket's plan: the steps it waits on (nudges, escalations, ladder
 * levels, its due time), what an ack, a new due time or a calendar's
 * change does to them, and which of several late steps still fire (SPEC
 * §3 Time, "No deadline silently lost"; §5 acknowledgement). The steps are
 * rows of the store (tr_store_timer_add with a ticket, store_steps.c);
 * this is the policy over them, shared by the rules' bindings
 * (lua_ticket.c), people's changes (ticket.c) and the timer loop
 * (timers.c). */
#ifndef TR_PLAN_H
#define TR_PLAN_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "tr_buf.h"
#include "tr_store.h"

struct tr_calendars;

/* A step's payload, as stored (JSON keys in brackets). Strings borrowed. */
struct tr_step_note {
	const char *note;       /* [note] what the step says */
	const char *notify;     /* [notify] the output told when it fires */
	const char *ladder;     /* [ladder] the ladder it is a level of */
	const char *cal;        /* [cal] counted in this calendar's open time: */
	int64_t base, off;      /* [base] + [off] seconds of it; a reload recounts */
	int64_t level;          /* [level] escalation level it sets */
	int64_t repeat;         /* [repeat] which repeat of the ladder's top level */
	int64_t before_due;     /* [before_due] anchored this long before the due time */
	int64_t paused_from;    /* [paused_from] where it was before an ack moved it */
	int64_t paused_at;      /* [paused_at] when that ack came */
};
/* Appends p as a JSON object (NULL strings and 0 numbers left out). */
void tr_plan_payload(struct tr_buf *b, const struct tr_step_note *p);
/* Reads a payload; the strings point into payload, which must outlive p. */
void tr_plan_payload_read(const cJSON *payload, struct tr_step_note *p);

/* A step is late when it could first fire more than this after its time. */
#define TR_PLAN_LATE_S 60

/* SPEC §3: of a ticket's steps due together (due[0..n), earliest first),
 * which are superseded. skip[i] = 0 fires step i; j + 1 skips it for
 * step j: a step before the due time when the due time has passed too (no
 * "time left" after the deadline), or a late step with a later one due. */
void tr_plan_late(const struct tr_timer *due, int n, int64_t now, int *skip);

/* Ladders (declared with ladder{}, JSON as the engine keeps them:
 * {"name","calendar","ack_timeout","repeat","repeat_times","levels":[{"level",
 * "after" | "before_due","notify","note"}]}). Adds a step for each level
 * above after_level: an `after` level counted from the one before it (the
 * first from base) in the ladder's calendar; a `before_due` level at the
 * ticket's due time less that (due_at 0: an error, in err). */
int tr_plan_arm_ladder(struct tr_store *s, const struct tr_calendars *cals, int64_t ticket_id, const char *ladder_json,
		       int64_t after_level, int64_t base, int64_t due_at, int64_t event_seq, char *err, size_t errlen);
/* After the step `fired` of the ladder, due at fired_due, fired at now:
 * the next repeat of the top level, when the ladder repeats and it is the
 * top (a due-anchored top repeats from its own time, up to the deadline). */
int tr_plan_ladder_fired(struct tr_store *s, const struct tr_calendars *cals, int64_t ticket_id,
			 const char *ladder_json, const struct tr_step_note *fired, int64_t fired_due, int64_t now,
			 int64_t event_seq);

/* SPEC §5 ack: the ticket's pending escalations not anchored to its due
 * time wait until ack_timeout after now (the ladder's, else default_timeout),
 * never later than halfway from now to the due time. *paused: how many
 * moved. */
int tr_plan_pause(struct tr_store *s, const struct tr_ticket *t, int64_t default_timeout, int64_t now,
		  int *paused);
/* The ticket's due time is now due_at: steps anchored to it follow. */
int tr_plan_due_moved(struct tr_store *s, int64_t ticket_id, int64_t due_at);

/* SPEC §3: after the calendars changed, every pending step counted in a
 * calendar's open time is recounted in the new one; a moved due time
 * moves the ticket's. Each move is a line of the ticket's history. One
 * slice: the next `tickets` waiting tickets after *after, earliest first
 * (a recount a step already had changes nothing, so a ticket met again
 * costs a read); *moved: how many steps moved, *last: none is left. */
int tr_plan_recalendar(struct tr_store *s, const struct tr_calendars *cals, int64_t now,
		       struct tr_wake_cursor *after, int tickets, int *moved, int *last);

#endif
