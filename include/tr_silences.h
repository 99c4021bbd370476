/* Silences (SPEC §6 `silence`): during a known outage or a holiday, an
 * operator holds the notifications that match an account, a queue, an
 * output, a priority or a marketplace until a time. Tickets, timers and escalations go on
 * as ever; only delivery waits. A held notification gets one line in its
 * ticket's history and is delivered when the silence ends (its time passes,
 * or `expire` ends it early). Silences are rows of the database (they
 * survive a restart) and a small list in memory that the delivery pass
 * (outputs.c) asks about each due notification. Not the delivery itself
 * (outputs.c), nor what is notified (notify.c). */
#ifndef TR_SILENCES_H
#define TR_SILENCES_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "tr_daemon.h"
#include "tr_protocol.h"
#include "tr_store.h"

/* Active (or not yet started) silences at once: each due notification is
 * checked against all of them, and a list longer than this is a mistake
 * (a script adding one per ticket), not an outage. */
#define TR_SILENCES_MAX 256
#define TR_SILENCE_MATCH_MAX 200   /* bytes of one matcher */
#define TR_SILENCE_REASON_MAX 500  /* bytes of a reason */
#define TR_SILENCE_LONGEST (366 * 86400) /* seconds: a silence ends within a year */

/* One silence. A matcher NULL matches anything; a matcher ending in '*'
 * matches every value that starts with what comes before it ("*" alone:
 * any value, but not a missing one). At least one matcher is set. In a
 * walk (tr_store_silences_each) the strings are borrowed from the
 * statement; in the daemon's list they are owned (tr_silence_free). */
struct tr_silence {
	int64_t id;
	char *account, *queue, *output, *priority, *marketplace;
	int64_t starts_at, until;  /* holds from starts_at up to (not at) until */
	char *reason, *created_by;
	int64_t created_at;
	int64_t expired_at;        /* ended early by `expire`; 0: not */
	char *expired_by;
};
void tr_silence_free(struct tr_silence *x);
/* True while x holds notifications at now. */
int tr_silence_active(const struct tr_silence *x, int64_t now);
/* True if value (NULL: absent) matches matcher (NULL: anything). */
int tr_silence_matches(const char *matcher, const char *value);

/* ---- the store (store_silences.c): table silences and outbox_held ---- */

/* Inserts x (its id is ignored) and sets *id. 0 or TR_ESTORE. */
int tr_store_silence_add(struct tr_store *s, const struct tr_silence *x, int64_t *id);
/* Ends silence id at now, by actor, and makes the notifications it holds
 * due at now; *released is how many. 0, -ENOENT when no silence id is
 * still running (never was, expired, or its time passed), or TR_ESTORE. */
int tr_store_silence_expire(struct tr_store *s, int64_t id, int64_t now, const char *actor, int64_t *released);
/* The notifications silence_id holds, in the order they were queued: each
 * gets the row (output and payload borrowed until it returns; attempts
 * 0); a nonzero return stops the walk. 0, each's stop value, TR_ESTORE. */
int tr_store_silence_held_each(struct tr_store *s, int64_t silence_id,
			       int (*each)(void *ud, const struct tr_notification *x), void *ud);
/* Holds notification outbox_id for silence_id: due again at until. */
int tr_store_silence_hold(struct tr_store *s, int64_t outbox_id, int64_t silence_id, int64_t until);
/* Silences newest first: id > 0 that one only; all 0: only those not
 * ended at now (running or yet to start), else every one kept. each gets
 * the silence (strings borrowed until it returns) and how many
 * notifications it holds now; a nonzero return stops the walk. Returns 0,
 * each's stop value, or TR_ESTORE. */
int tr_store_silences_each(struct tr_store *s, int64_t id, int all, int64_t now, int limit,
			   int (*each)(void *ud, const struct tr_silence *x, int64_t held), void *ud);
/* Notifications held now by a running silence. 0 or TR_ESTORE. */
int tr_store_silences_held(struct tr_store *s, int64_t now, int64_t *held);
/* Forgets what no longer matters: the hold records of ended silences, and
 * silences that ended more than keep seconds before now. 0 or TR_ESTORE. */
int tr_store_silences_prune(struct tr_store *s, int64_t now, int64_t keep);

/* ---- the daemon's silences (silences.c) ---- */

/* The parts-table hooks (daemon.c): start loads the silences not yet
 * ended; stats adds silences_active, notifications_held and
 * notifications_held_total; free lets the list go. */
int tr_silences_start(struct tr_daemon *d, struct tr_errors *errs);
void tr_silences_stats(struct tr_daemon *d, cJSON *stats, cJSON *answer);
void tr_silences_free(struct tr_daemon *d);

/* SPEC §6 silence: called by the delivery pass for each due notification
 * x before it is delivered. Returns 0: deliver it. Returns 1: do not
 * deliver it now, because a running silence matches it (then it is
 * recorded as held, in its own transaction: due again when the silence
 * ends, one line in its ticket's history), or because that record could
 * not be written (logged; it stays due and is looked at again next pass).
 * No transaction may be open. */
int tr_silences_hold(struct tr_daemon *d, const struct tr_notification *x, int64_t now);

/* For `stats` and the metrics: silences holding now (not those yet to
 * start), the notifications held now (read from the database; 0 when it cannot be
 * read), and those held since the daemon started. */
struct tr_silence_counts {
	uint64_t active;
	uint64_t held_now;
	uint64_t held_total;
};
void tr_silences_counts(struct tr_daemon *d, int64_t now, struct tr_silence_counts *out);

/* Adds x (created_at, created_by set by the caller) in a transaction of its
 * own and to the list. 0 with x->id set; -ENOSPC when TR_SILENCES_MAX are
 * running or waiting; TR_ESTORE. x stays the caller's. */
int tr_silences_add(struct tr_daemon *d, struct tr_silence *x);
/* Ends silence id now (see tr_store_silence_expire), and delivery looks at
 * what it released. 0, -ENOENT, TR_ESTORE. */
int tr_silences_expire(struct tr_daemon *d, int64_t id, const char *actor, int64_t *released);

/* ---- the op (protocol_silence.c) ---- */

/* {"op":"silence","action":"add"|"list"|"expire",...}: the answer (caller
 * owns; NULL only when out of memory). Every malformed field is a
 * bad_request that names it. */
cJSON *tr_protocol_silence(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer);

#endif
