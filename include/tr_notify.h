/* Notifications: a rule (or a timer) asks for a message to reach an output;
 * it is written to the outbox in the event's transaction and delivered
 * after the commit (outputs.c), so nothing is lost or sent twice by a crash
 * between deciding and committing. */
#ifndef TR_NOTIFY_H
#define TR_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include "tr_buf.h"
#include "tr_config.h"
#include "tr_store.h"

/* True if name is a configured output or a built-in one ("journal",
 * "watch"). */
int tr_notify_output_known(const struct tr_config *cfg, const char *name);

/* Queues {"output","message","note","at","by","ticket":{…} (when ticket_id
 * > 0), "event":{"type","id"} (when given)} for output. message is the
 * caller's note; about a ticket, the payload's "message" is the line a
 * person reads (tr_notify_line: the ticket's title, account, marketplace,
 * order or case, due time and time left, then the note) and "note" the
 * caller's words alone; the ticket object adds marketplace, order_id,
 * case_id, buyer, zone, due_local and time_left_s for scripts that format
 * their own. Returns 0, -ENOENT for an unknown output (err says which
 * exist), or a store error. */
int tr_notify(struct tr_store *s, const struct tr_config *cfg, const char *output, int64_t ticket_id,
	      const char *message, const char *event_type, const char *event_id, const char *actor,
	      int64_t now, char *err, size_t errlen);
/* tr_notify for a rule's run: the event's type and id, and its marketplace
 * when the ticket's fields keep none (ev may be NULL). */
struct tr_event;
int tr_notify_ev(struct tr_store *s, const struct tr_config *cfg, const char *output, int64_t ticket_id,
		 const char *message, const struct tr_event *ev, const char *actor, int64_t now, char *err,
		 size_t errlen);

/* ---- the words (notify_text.c) ---- */

#define TR_NOTIFY_PART_MAX 128 /* a field shown in the line: longer ones are cut */

/* What a notification's line says about its ticket (borrowed: the ticket). */
struct tr_notify_about {
	const struct tr_ticket *ticket;
	const char *zone;                         /* the due time's zone; NULL: UTC */
	char marketplace[TR_NOTIFY_PART_MAX], order_id[TR_NOTIFY_PART_MAX],
	     case_id[TR_NOTIFY_PART_MAX], buyer[TR_NOTIFY_PART_MAX]; /* "" when unknown */
	char due_local[96];                       /* "Fri 27 Nov 12:00 Asia/Shanghai"; "" when no due time */
	char left[48];                            /* "in 3 h 12 min", "overdue by 40 min" */
	int64_t time_left;                        /* due_at - now, seconds */
};

/* Fills a from t's fields (marketplace, order_id, case_id, buyer; the
 * event's marketplace when t keeps none, may be NULL) and its due time in
 * zone at now. */
void tr_notify_about_fill(struct tr_notify_about *a, const struct tr_ticket *t, const char *marketplace,
			  const char *zone, int64_t now);
/* Appends the line "[priority] title — account (marketplace), order X —
 * due Fri 27 Nov 12:00 Asia/Shanghai (in 3 h 12 min) — note" to b, leaving
 * out what the title already says (check b->oom). */
void tr_notify_line(struct tr_buf *b, const struct tr_notify_about *a, const char *note);
/* The zone to show ticket_id's times in: the zone of the calendar its due
 * time counts in (else of the first pending step that names one), else the
 * config's display_timezone; NULL means UTC. Borrowed from cfg. */
const char *tr_notify_ticket_zone(struct tr_store *s, const struct tr_config *cfg, int64_t ticket_id);
/* t as "Fri 27 Nov 12:00 Asia/Shanghai" in zone (NULL: UTC). 0, -EINVAL
 * (unknown zone), -ERANGE or -ENOSPC. */
int tr_notify_local_time(int64_t t, const char *zone, char *buf, size_t len);
/* A notification about a ticket delivered later than it was made (a
 * retry, a silence's end, a digest's wait): rewrites the time left in its
 * payload's "message" and "ticket.time_left_s" as of now, so a person never
 * reads "in 4 h" an hour before the deadline. *payload (malloc'd JSON
 * text) is replaced by a new malloc'd text and the old one freed when
 * something changed; left as it is otherwise, and on any error (the old
 * words are still true of the due time they name). */
void tr_notify_refresh(char **payload, int64_t now);
/* left seconds as "in 3 h 12 min", "in 4 h", "in 2 d 5 h", "overdue by 40 min",
 * "now" (within a minute past). */
void tr_notify_time_left(int64_t left, char *buf, size_t len);

#endif
