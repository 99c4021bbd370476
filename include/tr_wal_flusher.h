/* SPEC §3 acknowledged means durable, under durability full, without the
 * loop thread waiting for the disk. The store commits with SQLite's
 * synchronous = NORMAL (a commit's WAL frames reach the OS, not the disk)
 * and this thread fdatasyncs the WAL file; whatever promises durability (an
 * ingest's answer, a file's move to done/, a notification) waits for the
 * flush that covers its commit, while the loop runs the next events' rules.
 * One flush covers every commit made before it started, so commits group
 * themselves: the next flush covers all that were made while one ran.
 *
 * Commits are counted by the caller (tr_ingest's commits); the flusher is
 * told the latest one and reports, on the loop thread, the latest one on
 * disk. A failed fdatasync is fatal: after it, Linux may have dropped the
 * dirty pages, and acknowledging anything more would be a lie (the restart
 * recovers what the WAL holds). Not used under durability normal. */
#ifndef TR_WAL_FLUSHER_H
#define TR_WAL_FLUSHER_H

#include <stdint.h>
#include <uv.h>
#include "tr_histogram.h"

struct tr_flusher;

/* Opens wal_path (the store's "<db>-wal", which exists once the store is
 * open and lives as long as it) and starts the thread. on_flushed runs on
 * the loop thread after each flush; its handle keeps the loop running
 * until tr_flusher_close. *out is the caller's, freed by tr_flusher_close.
 * Returns 0 or a negative errno. */
int tr_flusher_start(uv_loop_t *loop, const char *wal_path, void (*on_flushed)(void *ud), void *ud,
		     struct tr_flusher **out);
/* Asks for a flush covering commit number commit (loop thread). */
void tr_flusher_request(struct tr_flusher *f, uint64_t commit);
/* The latest commit number known to be on disk (loop thread). */
uint64_t tr_flusher_flushed(const struct tr_flusher *f);
/* SPEC §3 acknowledged means durable: true once commit number commit is on
 * disk; at once when f is NULL (durability normal, or synchronous commits). */
int tr_flusher_durable(const struct tr_flusher *f, uint64_t commit);
/* Flushes done and how long they took, for `stats` (loop thread). */
struct tr_flusher_stats {
	uint64_t flushes;
	uint64_t total_us, max_us;
	struct tr_histogram seconds; /* each flush's time, for `metrics` */
};
void tr_flusher_get_stats(struct tr_flusher *f, struct tr_flusher_stats *st);
/* Lets the thread flush what was asked, joins it and closes the handle;
 * the memory goes in the close callback. on_flushed runs once more, before
 * this returns, if that last flush covered anything new. Commits after this
 * are the caller's to make durable (SQLite's synchronous = FULL again). NULL
 * is a no-op. */
void tr_flusher_close(struct tr_flusher *f);

#endif
