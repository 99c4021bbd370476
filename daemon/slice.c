/* Bounded pieces of work on the loop thread (tr_slice.h): a deadline, and
 * whether the loop has I/O waiting, read without consuming it. Not what the
 * work is (spool steps, timer slices, group commits). */
#include <poll.h>
#include "tr_slice.h"
#include "tr_time.h"

static int io_waiting(const struct tr_daemon *d)
{
	if (!d->loop)
		return 0;
	/* libuv's epoll descriptor is readable while a descriptor it watches
	 * is ready; polling it consumes nothing. */
	struct pollfd p = { .fd = uv_backend_fd(d->loop), .events = POLLIN };
	return poll(&p, 1, 0) > 0;
}

void tr_slice_start(struct tr_slice *sl, const struct tr_daemon *d, uint64_t budget_us)
{
	uint64_t now = tr_mono_us();
	sl->d = d;
	sl->deadline_us = now + budget_us;
	sl->next_check_us = now + TR_SLICE_MIN_US;
}

int tr_slice_over(struct tr_slice *sl)
{
	uint64_t now = tr_mono_us();
	if (now >= sl->deadline_us)
		return 1;
	if (now < sl->next_check_us)
		return 0;
	sl->next_check_us = now + TR_SLICE_CHECK_US;
	return io_waiting(sl->d);
}

int tr_slice_io_first(const struct tr_daemon *d, int *deferred)
{
	*deferred = !*deferred && io_waiting(d);
	return *deferred;
}
