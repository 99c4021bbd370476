/* Background WAL checkpoints: after a commit leaves the WAL large, a worker
 * thread copies it into the database file (and fsyncs, with durability
 * full), so no commit on the event loop ever waits for one. */
#ifndef TR_CHECKPOINT_H
#define TR_CHECKPOINT_H

#include "tr_daemon.h"

#define TR_CHECKPOINT_PAGES 4096     /* WAL frames (about 16 MiB) that start one */
#define TR_CHECKPOINT_FORCE 65536    /* frames (256 MiB) past which the loop checkpoints itself */

/* Starts a checkpoint on the libuv thread pool if the WAL is past
 * TR_CHECKPOINT_PAGES and none is running (the loop stays alive until it
 * ends). A passive checkpoint cannot reset a WAL that is written to all the
 * time, so past TR_CHECKPOINT_FORCE the loop runs a blocking one: a rare,
 * bounded pause instead of a WAL that grows without end. */
void tr_checkpoint_maybe(struct tr_daemon *d);

#endif
