/* Unit tests for tr_slice and tr_slice_io_first (daemon/slice.c): a
 * bounded step on the loop thread ends at its deadline when nobody waits,
 * and soon after its minimum once a descriptor the loop watches is ready,
 * without consuming what is waiting; a step defers to a client once, never
 * twice in a row. A real libuv loop watches one end of
 * a socket pair; the test writes to the other end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>
#include "tr_daemon.h"
#include "tr_slice.h"
#include "tr_time.h"

struct fixture {
	uv_loop_t loop;
	uv_poll_t watch;
	int fds[2];
	int reads; /* bytes the loop's callback consumed */
	struct tr_daemon d;
};

static void on_readable(uv_poll_t *h, int status, int events)
{
	struct fixture *f = h->data;
	char c;
	if (status == 0 && (events & UV_READABLE) && read(f->fds[0], &c, 1) == 1)
		f->reads++;
}

static int setup(void **state)
{
	static struct fixture f;
	memset(&f, 0, sizeof(f));
	assert_int_equal(uv_loop_init(&f.loop), 0);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, f.fds), 0);
	assert_int_equal(uv_poll_init(&f.loop, &f.watch, f.fds[0]), 0);
	f.watch.data = &f;
	assert_int_equal(uv_poll_start(&f.watch, UV_READABLE, on_readable), 0);
	uv_run(&f.loop, UV_RUN_NOWAIT); /* libuv hands the descriptor to epoll here */
	f.d.loop = &f.loop;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	uv_close((uv_handle_t *)&f->watch, NULL);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	close(f->fds[0]);
	close(f->fds[1]);
	return 0;
}

static void test_io_first_defers_once_without_consuming(void **state)
{
	struct fixture *f = *state;
	int deferred = 0;
	assert_false(tr_slice_io_first(&f->d, &deferred));
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	assert_true(tr_slice_io_first(&f->d, &deferred));
	/* never twice in a row: a busy socket cannot starve the step */
	assert_false(tr_slice_io_first(&f->d, &deferred));
	assert_true(tr_slice_io_first(&f->d, &deferred));
	assert_int_equal(f->reads, 0); /* seen, not consumed */
	uv_run(&f->loop, UV_RUN_NOWAIT); /* the loop serves it */
	assert_int_equal(f->reads, 1);
	deferred = 0;
	assert_false(tr_slice_io_first(&f->d, &deferred));
}

static void test_slice_runs_to_its_deadline_when_nobody_waits(void **state)
{
	struct fixture *f = *state;
	struct tr_slice sl;
	uint64_t t0 = tr_mono_us();
	tr_slice_start(&sl, &f->d, 3000);
	while (!tr_slice_over(&sl))
		;
	assert_true(tr_mono_us() - t0 >= 3000);
}

static void test_slice_ends_early_for_a_waiting_client(void **state)
{
	struct fixture *f = *state;
	assert_int_equal(write(f->fds[1], "x", 1), 1);
	struct tr_slice sl;
	uint64_t t0 = tr_mono_us();
	tr_slice_start(&sl, &f->d, 10 * 1000 * 1000);
	int checks = 0;
	while (!tr_slice_over(&sl))
		checks++;
	uint64_t took = tr_mono_us() - t0;
	/* not before its minimum, and long before the deadline */
	assert_true(took >= TR_SLICE_MIN_US);
	assert_true(took < 1000 * 1000);
	assert_true(checks > 0);
	uv_run(&f->loop, UV_RUN_NOWAIT);
	assert_int_equal(f->reads, 1);
}

static void test_no_loop_never_waits(void **state)
{
	(void)state;
	struct tr_daemon d;
	memset(&d, 0, sizeof(d)); /* offline rule tests run without a loop */
	int deferred = 0;
	assert_false(tr_slice_io_first(&d, &deferred));
	struct tr_slice sl;
	tr_slice_start(&sl, &d, 1000);
	while (!tr_slice_over(&sl))
		;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_io_first_defers_once_without_consuming, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slice_runs_to_its_deadline_when_nobody_waits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slice_ends_early_for_a_waiting_client, setup, teardown),
		cmocka_unit_test(test_no_loop_never_waits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
