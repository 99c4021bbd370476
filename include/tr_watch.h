/* The live stream (SPEC §6 watch; §9's GET /api/events carries the same
 * lines): every notification, whatever its output, and every ticket change
 * (history lines, steps that fired or were skipped), one JSON object per
 * line, as commits make them. After commits it reads what they added
 * (tr_store_watch_rows) in bounded batches, only while someone listens, and
 * hands each line to its sinks: the socket's watchers now, the board's
 * event stream later. A sink bounds what its own clients leave unread;
 * the stream itself holds no more than one batch.
 *
 * The lines:
 *   {"notification":{"id":N,"output":"lead","message":"…","at":"RFC 3339",
 *                    "ticket":{…},…}}                    (the outbox row's payload)
 *   {"ticket":{"id","key","title","queue","priority","state","account","due_at"},
 *    "change":{"at","action","actor","detail"[,"due_at"]}}
 * A change's ticket is as it is when the line is made (its state may be
 * newer than the change). */
#ifndef TR_WATCH_H
#define TR_WATCH_H

#include <stddef.h>
#include "tr_daemon.h"

struct tr_watch;

/* Who gets the lines. Both callbacks run on the loop thread. */
struct tr_watch_sink {
	size_t (*listeners)(void *ud);             /* how many want lines now */
	void (*send)(void *ud, const char *line);  /* one line, no newline; borrowed */
	void (*flush)(void *ud);   /* a pass ended: write what send gathered (may be NULL) */
	void *ud;
};

/* Starts the stream, idle until a listener joins. *out is owned by the
 * caller: tr_watch_close, run the loop, tr_watch_free. 0 or -ENOMEM. */
int tr_watch_start(struct tr_daemon *d, struct tr_watch **out);
/* Adds a sink (copied); at most TR_WATCH_SINKS. 0 or -ENOSPC. */
#define TR_WATCH_SINKS 4
int tr_watch_add_sink(struct tr_watch *w, const struct tr_watch_sink *sink);
/* A listener joined (ud is the stream): with none before, the stream
 * starts at the newest rows, so it shows what happens from now on. */
void tr_watch_join(void *ud);
/* A commit is durable: a pass soon reads what it added (coalesced: one
 * pass for many commits). NULL is a no-op. */
void tr_watch_poke(struct tr_watch *w);
/* Lines made since start, for `stats`. */
uint64_t tr_watch_lines(const struct tr_watch *w);
/* SIGTERM: no more passes; the timer's handle closes. */
void tr_watch_close(struct tr_watch *w);
/* After the loop ended. NULL is a no-op. */
void tr_watch_free(struct tr_watch *w);

#endif
