/* Between outputs.c (the delivery loop) and output_kinds.c (what one
 * delivery looks like to each kind of output). Private to the two. */
#ifndef TR_OUTPUTS_INTERNAL_H
#define TR_OUTPUTS_INTERNAL_H

#include <stddef.h>
#include <cjson/cJSON.h>
#include "tr_store.h"

/* The journal's line for x: "notify OUTPUT: message" at info. */
void tr_output_journal(const struct tr_notification *x);
/* SPEC §3 exactly-once: writes x to dir as <id, 12 digits>.json, atomically
 * and flushed (a re-delivery replaces the same file). 0, or -1 with err set. */
int tr_output_dir(const char *dir, const struct tr_notification *x, char *err, size_t errlen);
/* An exec argument with its placeholders ({id}, {output}, {message},
 * {ticket.*}, {event.*}) replaced from x and p, its parsed payload (may be
 * NULL: values are ""); anything else kept as written. Malloc'd (the
 * caller frees), NULL when out of memory. */
char *tr_output_arg(const char *arg, const cJSON *p, const struct tr_notification *x);
/* An exec child's stdin: a close-on-exec fd of an anonymous file holding
 * payload, read from its start (the caller closes it), or -1 with err set. */
int tr_output_stdin(const char *payload, char *err, size_t errlen);
/* The payload of a digest of the rows g (ng > 1): {"digest": true, "count",
 * "output", "message": "N notifications: first; second; …",
 * "notifications": [each payload]}. Malloc'd, NULL when out of memory. */
char *tr_output_digest(const struct tr_notification *g, int ng);

#endif
