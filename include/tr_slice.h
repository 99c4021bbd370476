/* A bounded piece of work on the loop thread, shared by the parts that do
 * long work in steps (spool, timers, the server's group commit). */
#ifndef TR_SLICE_H
#define TR_SLICE_H

#include <stdint.h>
#include "tr_daemon.h"

/* A bounded piece of work on the loop thread (a step of a file's rows, a
 * slice of timers): it ends at its deadline, or once it has run
 * TR_SLICE_MIN_US when the loop has I/O waiting (a request, a new client, a
 * worker's wake-up), so that a ping waits for about a millisecond, not for
 * the whole step, while a client that keeps the socket busy cannot starve
 * it. The I/O check is a poll(2) of libuv's epoll descriptor (a few
 * microseconds here), so it is made every TR_SLICE_CHECK_US at most. */
#define TR_SLICE_MIN_US 500
#define TR_SLICE_CHECK_US 250
struct tr_slice {
	const struct tr_daemon *d;
	uint64_t deadline_us, next_check_us;
};
void tr_slice_start(struct tr_slice *sl, const struct tr_daemon *d, uint64_t budget_us);
/* True once the slice should end; reads the clock: call it after each unit. */
int tr_slice_over(struct tr_slice *sl);
/* True when the loop has I/O waiting. A step about to start checks it too
 * and lets the loop serve the client first (instead of one more short
 * transaction before it), but never twice in a row: *deferred remembers. */
int tr_slice_io_first(const struct tr_daemon *d, int *deferred);

#endif
