/* Background WAL checkpoints: after a commit leaves the WAL large, a worker
 * thread copies it into the database file (and fsyncs), so no commit on the
 * event loop waits for one. To let the WAL start over, the last pass of a
 * large one runs with the loop's writes held (d->writes_paused): ingests,
 * file rows, timers and deliveries wait for that pass, pings and queries
 * do not. */
#ifndef TR_CHECKPOINT_H
#define TR_CHECKPOINT_H

#include "tr_daemon.h"

#define TR_CHECKPOINT_PAGES 4096     /* WAL frames (about 16 MiB) that start one */
#define TR_CHECKPOINT_RESET 16384    /* frames (64 MiB) after which a last pass resets the WAL */
#define TR_CHECKPOINT_FORCE 65536    /* frames (256 MiB) past which the loop checkpoints itself */

/* Starts a checkpoint on the libuv thread pool if the WAL is past
 * TR_CHECKPOINT_PAGES and none is running (the loop stays alive until it
 * ends); past TR_CHECKPOINT_RESET its end starts the last pass. Should that
 * fail to reset the WAL (a write that did not wait, such as a ticket.update),
 * past TR_CHECKPOINT_FORCE the loop runs a blocking one: a rare, bounded
 * pause instead of a WAL that grows without end. */
void tr_checkpoint_maybe(struct tr_daemon *d);

#endif
