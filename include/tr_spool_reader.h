/* Reads a claimed file ahead of the loop: a thread of its own decodes rows
 * and builds their events (tr_event_init: mapping, validation, the payload
 * text) while the loop thread runs the rules of the rows before them, so
 * the file's CPU work stays off the loop's hot path (issue 4). Rows come in
 * file order through two chunks that the loop and the thread swap; memory
 * is bounded by those two chunks. Not the transactions, the file's
 * progress or its bad-row report (spool.c), nor the formats (decode*.c). */
#ifndef TR_SPOOL_READER_H
#define TR_SPOOL_READER_H

#include <stdint.h>
#include <uv.h>
#include "tr_decode.h"
#include "tr_error.h"
#include "tr_event.h"

/* One row of the file. Owned by the reader: valid until the next
 * tr_spool_reader_next or tr_spool_reader_end. */
struct tr_read_row {
	int line;          /* line where the row starts in the file */
	int ok;            /* 1: ev is the row's event; 0: the row is bad */
	struct tr_event ev;
	const char *field; /* when !ok: the column or field at fault, or NULL */
	struct tr_error err; /* when !ok: err.message says why */
};

enum { TR_READ_WAIT = 0, TR_READ_ROW = 1, TR_READ_END = 2 };

struct tr_spool_reader;

/* Starts the reading thread. ready(data) is called on the loop thread when
 * rows that tr_spool_reader_next said to wait for have been read. *out is
 * the caller's: tr_spool_reader_stop. Returns 0 or a negative errno (a
 * libuv error: uv_strerror names it). */
int tr_spool_reader_start(uv_loop_t *loop, void (*ready)(void *data), void *data,
			  struct tr_spool_reader **out);

/* Hands dec over (the reader closes it) and starts reading it, after
 * skipping its first skip rows (rows a committed step already handled).
 * name names the file in each event's source ("file:NAME:LINE"); zone
 * (NULL: UTC) is for times without an offset; both are copied. Any file
 * still being read is ended first. */
void tr_spool_reader_begin(struct tr_spool_reader *r, struct tr_decoder *dec, const char *name,
			   const char *zone, int64_t skip);

/* The next row in file order: TR_READ_ROW with *row set, TR_READ_WAIT when
 * it is not read yet (ready is called once it is), TR_READ_END after the
 * last row, or a negative errno when reading failed there (the rest of the
 * file cannot be read). Loop thread only. */
int tr_spool_reader_next(struct tr_spool_reader *r, struct tr_read_row **row);

/* True when tr_spool_reader_next would not answer TR_READ_WAIT; when false,
 * ready is called once it would. */
int tr_spool_reader_ready(struct tr_spool_reader *r);

/* Stops reading the current file, if any: waits for the thread to finish
 * its chunk, frees the rows not taken and closes the decoder. A later
 * tr_spool_reader_begin reads again from a row of the caller's choosing. */
void tr_spool_reader_end(struct tr_spool_reader *r);

/* Ends the current file, joins the thread and closes its wake-up handle
 * (free r with tr_spool_reader_free once the loop has run the close
 * callbacks). NULL is a no-op. */
void tr_spool_reader_stop(struct tr_spool_reader *r);
void tr_spool_reader_free(struct tr_spool_reader *r);

#endif
