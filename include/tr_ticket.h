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
	int ack;  /* pauses pending escalations (tr_plan_pause) for: */
	int64_t ack_timeout;      /* the config's tickets.ack_timeout; 0: TR_ACK_TIMEOUT_DEFAULT */
	const char *due_calendar; /* due_at counted in this calendar: due_base + due_off of open time */
	int64_t due_base, due_off;
};

/* SPEC §1 tickets.ack_timeout's default: 4 h. */
#define TR_ACK_TIMEOUT_DEFAULT (4 * 3600)

/* Applies c to ticket id in the open transaction. actor: "rule:NAME", a user name or
 * "uid:N"; event_seq 0 when no event caused it. Returns 0, -ENOENT (no such
 * ticket), -EINVAL (the change does not apply: closing a closed ticket,
 * reopening when another ticket holds the key; err says why), -ENOMEM or
 * TR_ESTORE. */
int tr_ticket_apply(struct tr_store *s, int64_t id, const struct tr_ticket_change *c,
		    const char *actor, int64_t event_seq, int64_t now, char *err, size_t errlen);

/* A person's action on a ticket (SPEC §6 ticket.update, triagectl ack|
 * assign|comment|close|reopen, the rule tests' ack() …): the name of the
 * one argument it takes ("assignee", "text", "reason"; "" for ack; NULL
 * for an unknown action), and the change it makes into c, arg borrowed.
 * ack_timeout: the config's tickets.ack_timeout. -EINVAL when an assignee
 * or a comment's text is missing, or the action is unknown. */
const char *tr_ticket_action_field(const char *action);
int tr_ticket_action(const char *action, const char *arg, int64_t ack_timeout, struct tr_ticket_change *c);

/* True for low, normal, high, urgent. */
int tr_ticket_priority_valid(const char *p);

#endif
