/* Unit tests of the spool's read-ahead (tr_spool_reader.h): rows come in
 * file order across many chunk swaps, with their lines, sources and bad
 * rows; a resumed file skips exactly the rows asked; a file ended halfway
 * and begun again reads from the row asked; the loop is woken when the rows
 * it waited for are read; and the loop closes clean. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "tr_spool_reader.h"

static char path[] = "/tmp/test_spool_reader.XXXXXX.ndjson";
static uv_loop_t loop;
static int woken;

static void on_ready(void *data)
{
	(void)data;
	woken++;
}

/* n rows of NDJSON, ids r1..rn; every row whose number is a multiple of
 * bad_every (0: none) is not JSON. */
static void write_file(int n, int bad_every)
{
	int fd = mkstemps(path, 7);
	assert_true(fd >= 0);
	FILE *f = fdopen(fd, "w");
	for (int i = 1; i <= n; i++) {
		if (bad_every && i % bad_every == 0)
			fprintf(f, "{not json\n");
		else
			fprintf(f, "{\"type\":\"order.new\",\"id\":\"r%d\",\"account\":\"a\",\"n\":%d}\n", i, i);
	}
	fclose(f);
}

static struct tr_decoder *open_file(void)
{
	struct tr_decoder *dec = NULL;
	struct tr_errors errs = {0};
	assert_int_equal(tr_decoder_open(path, NULL, 1 << 20, &dec, &errs), 0);
	tr_errors_free(&errs);
	return dec;
}

/* Begins reading the file after its first skip rows. */
static void begin(struct tr_spool_reader *r, int64_t skip)
{
	tr_spool_reader_begin(r, open_file(), "orders.ndjson", NULL, skip);
}

/* Next row, running the loop while the reader says to wait; checks that
 * every wait ends with a wake-up. */
static int next_row(struct tr_spool_reader *r, struct tr_read_row **row)
{
	for (;;) {
		int got = tr_spool_reader_next(r, row);
		if (got != TR_READ_WAIT)
			return got;
		int before = woken;
		while (woken == before)
			uv_run(&loop, UV_RUN_ONCE);
	}
}

/* Reads the rest of the file; checks each row is the one after `from`.
 * Returns the number of rows read. */
static int read_all(struct tr_spool_reader *r, int from, int bad_every, int stop_after)
{
	struct tr_read_row *row;
	int i = from, got;
	while ((stop_after == 0 || i - from < stop_after) && (got = next_row(r, &row)) == TR_READ_ROW) {
		i++;
		assert_int_equal(row->line, i);
		if (bad_every && i % bad_every == 0) {
			assert_false(row->ok);
			assert_true(row->err.message[0] != '\0');
			continue;
		}
		assert_true(row->ok);
		char id[32], source[64];
		snprintf(id, sizeof(id), "r%d", i);
		snprintf(source, sizeof(source), "file:orders.ndjson:%d", i);
		assert_string_equal(row->ev.id, id);
		assert_string_equal(row->ev.source, source);
	}
	if (stop_after == 0)
		assert_int_equal(got, TR_READ_END);
	return i - from;
}

/* A loop, a file of n rows (see write_file) and a reader started on it. */
static struct tr_spool_reader *start(int n, int bad_every)
{
	woken = 0;
	assert_int_equal(uv_loop_init(&loop), 0);
	write_file(n, bad_every);
	struct tr_spool_reader *r;
	assert_int_equal(tr_spool_reader_start(&loop, on_ready, NULL, &r), 0);
	return r;
}

static void finish(struct tr_spool_reader *r)
{
	tr_spool_reader_stop(r);
	uv_run(&loop, UV_RUN_DEFAULT);
	tr_spool_reader_free(r);
	assert_int_equal(uv_loop_close(&loop), 0);
	unlink(path);
	strcpy(path, "/tmp/test_spool_reader.XXXXXX.ndjson");
}

static void test_rows_in_order_across_chunks(void **state)
{
	(void)state;
	struct tr_spool_reader *r = start(5000, 7);
	begin(r, 0);
	assert_int_equal(read_all(r, 0, 7, 0), 5000);
	/* the end stays the end */
	struct tr_read_row *row;
	assert_int_equal(tr_spool_reader_next(r, &row), TR_READ_END);
	assert_true(tr_spool_reader_ready(r));
	finish(r);
}

static void test_resume_skips_the_rows_asked(void **state)
{
	(void)state;
	struct tr_spool_reader *r = start(1000, 0);
	begin(r, 777);
	assert_int_equal(read_all(r, 777, 0, 0), 223);
	/* skipping past the end is the end, not an error */
	begin(r, 5000);
	struct tr_read_row *row;
	assert_int_equal(next_row(r, &row), TR_READ_END);
	finish(r);
}

static void test_ended_halfway_and_begun_again(void **state)
{
	(void)state;
	struct tr_spool_reader *r = start(3000, 0);
	begin(r, 0);
	assert_int_equal(read_all(r, 0, 0, 1234), 1234);
	/* as after a failed transaction: read again from the last commit */
	tr_spool_reader_end(r);
	struct tr_read_row *row;
	assert_int_equal(tr_spool_reader_next(r, &row), TR_READ_END); /* no file */
	begin(r, 1000);
	assert_int_equal(read_all(r, 1000, 0, 0), 2000);
	/* stopped with a file open and chunks full: nothing leaks */
	begin(r, 0);
	assert_int_equal(read_all(r, 0, 0, 10), 10);
	finish(r);
}

static void test_waits_are_woken(void **state)
{
	(void)state;
	struct tr_spool_reader *r = start(2000, 0);
	begin(r, 0);
	/* as the spool does: ask whether rows are there, else sleep in the loop */
	int rows = 0, waits = 0;
	struct tr_read_row *row;
	for (;;) {
		if (!tr_spool_reader_ready(r)) {
			int before = woken;
			waits++;
			while (woken == before)
				uv_run(&loop, UV_RUN_ONCE);
			assert_true(tr_spool_reader_ready(r));
			continue;
		}
		int got = tr_spool_reader_next(r, &row);
		assert_int_not_equal(got, TR_READ_WAIT);
		if (got == TR_READ_END)
			break;
		rows++;
	}
	assert_int_equal(rows, 2000);
	assert_true(waits >= 1);
	finish(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_in_order_across_chunks),
		cmocka_unit_test(test_resume_skips_the_rows_asked),
		cmocka_unit_test(test_ended_halfway_and_begun_again),
		cmocka_unit_test(test_waits_are_woken),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
