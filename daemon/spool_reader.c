/* Reads a claimed file ahead of the loop (tr_spool_reader.h). Two chunks
 * take turns: the loop takes rows from one while the thread fills the
 * other. A chunk is filled by a job on the reader's own worker thread, which
 * first frees the rows the loop took from it last time, so their memory is
 * freed by the thread that allocated it and off the loop. The worker runs
 * jobs in push order, so chunks are filled in the order the loop reads
 * them. Not the spool's transactions (spool.c). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "tr_spool_reader.h"
#include "tr_time.h"
#include "tr_worker.h"

#define CHUNK_ROWS 256            /* rows a chunk holds */
#define CHUNK_BYTES (256 * 1024)  /* payload text a chunk holds, at least one row */

struct chunk {
	struct tr_job job;              /* fill(): the reader's thread */
	struct tr_spool_reader *r;
	struct tr_read_row rows[CHUNK_ROWS];
	size_t n;                       /* rows filled */
	size_t taken;                   /* rows the loop took */
	int end;                        /* the file ends after these rows */
	int failed;                     /* reading failed after these rows: -errno */
	int filling;                    /* pushed and not yet seen done by the loop */
};

struct tr_spool_reader {
	struct tr_worker worker;
	struct chunk chunks[2];
	int current;                    /* the chunk the loop takes rows from */
	void (*ready)(void *data);
	void *ready_data;
	int waiting;                    /* next() said TR_READ_WAIT: call ready */
	/* the file; written by begin/end on the loop while no job runs, read
	 * by jobs (and eof/skip written by them) */
	struct tr_decoder *dec;
	char name[256];
	char zone[128];                 /* "": UTC */
	int64_t skip;
	int eof;
};

static void free_rows(struct chunk *c)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->rows[i].ok)
			tr_event_free(&c->rows[i].ev);
	c->n = c->taken = 0;
}

/* One row as the loop will take it: an event, or why the row is bad. */
static void build_row(struct tr_spool_reader *r, struct tr_row *in, struct tr_read_row *out, int64_t now)
{
	out->line = in->line;
	if (!in->event) {
		out->ok = 0;
		out->err = in->err;
		out->field = out->err.field;
		return;
	}
	char source[400];
	snprintf(source, sizeof(source), "file:%s:%d", r->name, in->line);
	out->ok = tr_event_init(&out->ev, in->event, r->zone[0] ? r->zone : NULL, source, now,
				out->err.message, sizeof(out->err.message)) == 0;
	out->field = NULL;
}

/* Reader thread: frees what the loop took, then reads the next rows,
 * passing over those still to skip. */
static void fill(struct tr_job *job)
{
	struct chunk *c = (struct chunk *)job;
	struct tr_spool_reader *r = c->r;
	free_rows(c);
	c->failed = 0;
	int64_t now = tr_time_now();
	size_t bytes = 0;
	while (!r->eof && c->n < CHUNK_ROWS && bytes < CHUNK_BYTES) {
		struct tr_row row;
		int got = tr_decoder_next(r->dec, &row);
		if (got <= 0) {
			r->eof = 1;
			c->failed = got; /* 0 at the end of the file */
			break;
		}
		if (r->skip > 0) {
			r->skip--;
			cJSON_Delete(row.event);
			continue;
		}
		struct tr_read_row *out = &c->rows[c->n++];
		build_row(r, &row, out, now);
		if (out->ok)
			bytes += strlen(out->ev.payload_text);
	}
	c->end = r->eof;
}

static void push_fill(struct tr_spool_reader *r, struct chunk *c)
{
	c->filling = 1;
	tr_worker_push(&r->worker, &c->job);
}

static void on_wake(void *data)
{
	struct tr_spool_reader *r = data;
	if (r->waiting && tr_spool_reader_ready(r)) {
		r->waiting = 0;
		r->ready(r->ready_data);
	}
}

int tr_spool_reader_start(uv_loop_t *loop, void (*ready)(void *data), void *data,
			  struct tr_spool_reader **out)
{
	struct tr_spool_reader *r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	int rc = tr_worker_start(&r->worker, loop);
	if (rc) {
		uv_run(loop, UV_RUN_NOWAIT); /* its wake-up handle may be closing: let it go first */
		free(r);
		return rc;
	}
	tr_worker_on_wake(&r->worker, on_wake, r);
	r->ready = ready;
	r->ready_data = data;
	for (int i = 0; i < 2; i++) {
		r->chunks[i].r = r;
		r->chunks[i].job.run = fill;
	}
	*out = r;
	return 0;
}

void tr_spool_reader_begin(struct tr_spool_reader *r, struct tr_decoder *dec, const char *name,
			   const char *zone, int64_t skip)
{
	tr_spool_reader_end(r);
	r->dec = dec;
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->zone, sizeof(r->zone), "%s", zone ? zone : "");
	r->skip = skip;
	r->eof = 0;
	r->current = 0;
	push_fill(r, &r->chunks[0]);
	push_fill(r, &r->chunks[1]);
}

/* The current chunk once its fill is done, else NULL. */
static struct chunk *current(struct tr_spool_reader *r)
{
	struct chunk *c = &r->chunks[r->current];
	if (c->filling) {
		if (!tr_job_done(&c->job))
			return NULL;
		c->filling = 0;
	}
	return c;
}

int tr_spool_reader_next(struct tr_spool_reader *r, struct tr_read_row **row)
{
	if (!r->dec)
		return TR_READ_END;
	for (int turn = 0; turn < 2; turn++) {
		struct chunk *c = current(r);
		if (!c) {
			r->waiting = 1;
			return TR_READ_WAIT;
		}
		if (c->taken < c->n) {
			*row = &c->rows[c->taken++];
			return TR_READ_ROW;
		}
		if (c->failed)
			return c->failed;
		if (c->end)
			return TR_READ_END;
		/* Taken whole: refill it behind the other chunk, read that. */
		push_fill(r, c);
		r->current ^= 1;
	}
	r->waiting = 1;
	return TR_READ_WAIT;
}

int tr_spool_reader_ready(struct tr_spool_reader *r)
{
	if (!r->dec)
		return 1;
	struct chunk *c = current(r);
	int ready = c && (c->taken < c->n || c->failed || c->end);
	if (c && !ready) {
		struct chunk *other = &r->chunks[r->current ^ 1];
		ready = !other->filling || tr_job_done(&other->job);
	}
	if (!ready)
		r->waiting = 1; /* on_wake calls ready once it is */
	return ready;
}

void tr_spool_reader_end(struct tr_spool_reader *r)
{
	if (!r || !r->dec)
		return;
	tr_worker_drain(&r->worker);
	for (int i = 0; i < 2; i++) {
		r->chunks[i].filling = 0;
		free_rows(&r->chunks[i]); /* rows not taken; the next fill resets the rest */
	}
	tr_decoder_close(r->dec);
	r->dec = NULL;
	r->waiting = 0;
}

void tr_spool_reader_stop(struct tr_spool_reader *r)
{
	if (!r)
		return;
	tr_spool_reader_end(r);
	tr_worker_stop(&r->worker);
}

void tr_spool_reader_free(struct tr_spool_reader *r)
{
	free(r);
}
