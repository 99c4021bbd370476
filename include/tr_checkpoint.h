/* Background WAL checkpoints: after a commit leaves the WAL large, a worker
 * thread copies it into the database file (and fsyncs, with durability
 * full), so no commit on the event loop ever waits for one. */
#ifndef TR_CHECKPOINT_H
#define TR_CHECKPOINT_H

#include "tr_daemon.h"

#define TR_CHECKPOINT_PAGES 4096  /* WAL frames (about 16 MiB) that start one */

/* Starts a checkpoint on the libuv thread pool if the WAL is past
 * TR_CHECKPOINT_PAGES and none is running. The loop stays alive until it ends. */
void tr_checkpoint_maybe(struct tr_daemon *d);

#endif
