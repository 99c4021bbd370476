/* Changing a ticket: one function applies a change (state, fields, tags,
 * assignee, due time), writes it, and appends the history line, whether a
 * rule or a person (ticket.update over the socket) asked for it. */
#ifndef TR_TICKET_H
#define TR_TICKET_H

#include <stddef.h>
#include <stdint.h>
#include "tr_buf.h"
#include "tr_store.h"

/* Every pointer is borrowed; NULL / 0 means unchanged. */
struct tr_ticket_change {
	const char *action;       /* history action: comment, tag, assign, set, close, reopen, due, ack */
	const char *detail;       /* history detail, may be NULL */
	const char *priority, *title, *queue, *assignee, *tag;
	const char *fields_json;  /* a JSON object merged into fields (null values delete) */
	const char *reason;       /* close reason */
	int64_t due_at;
	int64_t level;            /* escalation level, 0 = unchanged */
	int close, reopen;
	int ack;  /* pauses pending escalations; the ladder's ack_timeout re-arms them */
};

/* Applies c to ticket id in the open transaction. actor: "rule:NAME" or
 * "uid:N"; event_seq 0 when no event caused it. Returns 0, -ENOENT (no such
 * ticket), -EINVAL (the change does not apply: closing a closed ticket,
 * reopening when another ticket holds the key; err says why), -ENOMEM or
 * TR_ESTORE. */
int tr_ticket_apply(struct tr_store *s, int64_t id, const struct tr_ticket_change *c,
		    const char *actor, int64_t event_seq, int64_t now, char *err, size_t errlen);

/* Appends a ticket timer's payload, {"note","notify","ladder","level",
 * "repeat"} (NULL strings and 0 numbers left out), as timers.c reads it. */
void tr_ticket_timer_payload(struct tr_buf *b, const char *note, const char *notify, int64_t level,
			     const char *ladder, int64_t repeat);

/* Escalation ladders. ladder_json: {"name","calendar","ack_timeout":secs,
 * "repeat":secs,"repeat_times":N (0: until ack or close),
 * "levels":[{"level":N,"after":secs,"notify":output|null,"note":text}]},
 * each level's `after` counted from the previous one (the first from base)
 * in the ladder's calendar. Schedules an "escalate" timer for every level
 * above after_level; at the top already (an ack timed out there), the
 * next repeat of the top level. */
struct tr_calendars;
int tr_ticket_arm_ladder(struct tr_store *s, const struct tr_calendars *cals, int64_t id,
			 const char *ladder_json, int64_t after_level, int64_t base, int64_t event_seq);
/* After level `level` of the ticket's ladder fired (repeat: which repeat of
 * it, 0 for the first time): when it is the top level and the ladder has a
 * `repeat`, arms the next repeat, unless `repeat_times` are done. */
int tr_ticket_ladder_fired(struct tr_store *s, const struct tr_calendars *cals, int64_t id, const char *ladder_json,
			   int64_t level, int64_t repeat, int64_t now, int64_t event_seq);

/* True for low, normal, high, urgent. */
int tr_ticket_priority_valid(const char *p);

#endif
