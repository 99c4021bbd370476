/* Unit tests for the WAL flusher (daemon/wal_flusher.c): a requested flush is
 * reported on the loop thread with the commit it covers, requests made
 * while one runs are covered by the next, closing flushes what was asked
 * before it returns, and the loop closes clean. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>
#include <uv.h>
#include "tr_wal_flusher.h"

struct fixture {
	uv_loop_t loop;
	char path[64];
	int reports;
	uint64_t last_seen;
	struct tr_flusher *f;
};

static void on_flushed(void *ud)
{
	struct fixture *x = ud;
	uint64_t now = tr_flusher_flushed(x->f);
	assert_true(now > x->last_seen); /* called only when something new is on disk */
	x->last_seen = now;
	x->reports++;
}

static int setup(void **state)
{
	static struct fixture x;
	x = (struct fixture){0};
	snprintf(x.path, sizeof(x.path), "/tmp/tr-flusher-XXXXXX");
	int fd = mkstemp(x.path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "wal", 3), 3);
	close(fd);
	assert_int_equal(uv_loop_init(&x.loop), 0);
	assert_int_equal(tr_flusher_start(&x.loop, x.path, on_flushed, &x, &x.f), 0);
	*state = &x;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *x = *state;
	uv_run(&x->loop, UV_RUN_DEFAULT); /* the close callback frees the flusher */
	assert_int_equal(uv_loop_close(&x->loop), 0);
	unlink(x->path);
	return 0;
}

/* Runs the loop until commit is reported flushed (or 5 s pass). */
static void wait_for(struct fixture *x, uint64_t commit)
{
	for (int i = 0; i < 5000 && tr_flusher_flushed(x->f) < commit; i++) {
		uv_run(&x->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
}

static void test_a_request_is_reported_once_flushed(void **state)
{
	struct fixture *x = *state;
	assert_int_equal(tr_flusher_flushed(x->f), 0);
	tr_flusher_request(x->f, 1);
	wait_for(x, 1);
	assert_int_equal(tr_flusher_flushed(x->f), 1);
	assert_int_equal(x->reports, 1);
	/* requests go up only: an older one asks for nothing */
	tr_flusher_request(x->f, 1);
	tr_flusher_request(x->f, 5);
	tr_flusher_request(x->f, 3);
	wait_for(x, 5);
	assert_int_equal(tr_flusher_flushed(x->f), 5);
	struct tr_flusher_stats st;
	tr_flusher_get_stats(x->f, &st);
	assert_true(st.flushes >= 2 && st.flushes <= 3);
	assert_true(st.max_us >= st.total_us / st.flushes);
	tr_flusher_close(x->f);
}

static void test_close_flushes_what_was_asked(void **state)
{
	struct fixture *x = *state;
	tr_flusher_request(x->f, 7);
	tr_flusher_close(x->f); /* without running the loop: the report comes from close */
	assert_int_equal(x->last_seen, 7);
	assert_int_equal(x->reports, 1);
}

static void test_close_with_nothing_asked_reports_nothing(void **state)
{
	struct fixture *x = *state;
	tr_flusher_close(x->f);
	assert_int_equal(x->reports, 0);
}

static void test_a_missing_wal_is_an_error(void **state)
{
	(void)state;
	uv_loop_t loop;
	assert_int_equal(uv_loop_init(&loop), 0);
	struct tr_flusher *f = NULL;
	assert_int_equal(tr_flusher_start(&loop, "/nonexistent/db-wal", on_flushed, NULL, &f), -ENOENT);
	assert_null(f);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_a_request_is_reported_once_flushed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_flushes_what_was_asked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_with_nothing_asked_reports_nothing, setup, teardown),
		cmocka_unit_test(test_a_missing_wal_is_an_error),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
