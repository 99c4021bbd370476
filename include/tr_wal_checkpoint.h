/* Background WAL checkpoints: after a commit leaves the WAL large, a worker
 * thread copies it into the database file (and fsyncs), so no commit on the
 * event loop waits for one. To let the WAL start over, the last pass of a
 * large one runs with the loop's writes held (d->writes_paused): ingests,
 * file rows, timers and deliveries wait for that pass, pings and queries
 * do not. */
#ifndef TR_WAL_CHECKPOINT_H
#define TR_WAL_CHECKPOINT_H

#include <stdint.h>
#include "tr_config.h"
#include "tr_daemon.h"

#define TR_CHECKPOINT_PAGES 4096     /* WAL frames (about 16 MiB) that start one */

/* Starts a checkpoint on the libuv thread pool if the WAL is past
 * TR_CHECKPOINT_PAGES and none is running (the loop stays alive until it
 * ends); past limits.wal_mb its end starts the last pass. Each such pass
 * holds the writes for a few milliseconds (two fsyncs), so a larger WAL
 * means rarer pauses: at 10,000 events/s in requests of 10 (28 KiB of WAL
 * an event) 256 MiB lasts about a second, 64 MiB a quarter of that.
 * Should that fail to reset the WAL (a write that did not wait, such as a
 * ticket.update), past four times wal_mb the loop runs a blocking one: a
 * rare, bounded pause instead of a WAL that grows without end. */
void tr_checkpoint_maybe(struct tr_daemon *d);

/* The size the WAL file is cut back to after it starts over: four times
 * wal_mb, where the loop checkpoints itself, so it is hardly ever cut.
 * Cutting it is an ftruncate(2) on the loop thread: 8-25 ms on ext4 for a
 * file that grew 100 MiB past wal_mb + 32 MiB, the limit before. */
int64_t tr_checkpoint_wal_file_bytes(const struct tr_config *cfg);

#endif
