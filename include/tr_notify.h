/* Notifications: a rule (or a timer) asks for a message to reach an output;
 * it is written to the outbox in the event's transaction and delivered
 * after the commit (outputs.c), so nothing is lost or sent twice by a crash
 * between deciding and committing. */
#ifndef TR_NOTIFY_H
#define TR_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include "tr_config.h"
#include "tr_store.h"

/* True if name is a configured output or a built-in one ("journal",
 * "watch"). */
int tr_notify_output_known(const struct tr_config *cfg, const char *name);

/* Queues {"output","message","at","ticket":{…} (when ticket_id > 0),
 * "event":{"type","id"} (when given), "rule"} for output. Returns 0,
 * -ENOENT for an unknown output (err says which exist), or a store error. */
int tr_notify(struct tr_store *s, const struct tr_config *cfg, const char *output, int64_t ticket_id,
	      const char *message, const char *event_type, const char *event_id, const char *actor,
	      int64_t now, char *err, size_t errlen);

#endif
