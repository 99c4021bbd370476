/* Requests, from a line read to its answer: each connection's queue in
 * arrival order, preparing long lines on the worker thread, admission
 * (limits.max_pending_events: `busy`), the fair pick across connections,
 * running a request (ingests share one group-commit transaction), and
 * answers held until the WAL flush covers their commit. Not the socket:
 * reading and line framing are server.c's, a connection's lifetime and
 * writes server_conn.c's; it calls down into server_conn.c only, and the
 * operations themselves are protocol.c's. */
#include <stdlib.h>
#include <string.h>
#include "server_internal.h"
#include "tr_error.h"
#include "tr_slice.h"
#include "tr_time.h"
#include "tr_wal_flusher.h"

/* Unread answer bytes of all clients together: past this, only a client
 * with nothing unread gets a request run, so any number of clients that
 * stop reading hold at most this plus one answer each (limits.max_clients
 * bounds how many), while a client that reads is still served. */
#define MAX_UNREAD_TOTAL (16u << 20)
#define BATCH_EVENTS 8192             /* events per transaction before the loop breathes */
#define BATCH_MS 20                   /* or this long: other clients, timers and files wait meanwhile */
/* SIGTERM: how long queued requests are still run; what is left then (and
 * what waits on a client that does not read) is dropped unanswered. */
#define DRAIN_RUN_MS 1000
/* Lines up to this long are parsed on the loop thread at once: a ping or a
 * query answered this loop iteration beats a hop to the worker and back. */
#define INLINE_PARSE_BYTES 4096

static void on_idle(uv_idle_t *h)
{
	(void)h; /* only keeps the loop from blocking while work is queued */
}

/* The offset of the first byte of s that is not well-formed UTF-8 (RFC
 * 3629: no overlong forms, no surrogates, nothing past U+10FFFF), or len. */
static size_t utf8_bad_at(const unsigned char *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		unsigned char b = s[i];
		if (b < 0x80) {
			i++;
			continue;
		}
		size_t n; /* continuation bytes */
		unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
		if (b >= 0xC2 && b <= 0xDF)
			n = 1;
		else if (b == 0xE0)
			n = 2, lo = 0xA0;
		else if (b == 0xED)
			n = 2, hi = 0x9F;
		else if (b >= 0xE1 && b <= 0xEF)
			n = 2;
		else if (b == 0xF0)
			n = 3, lo = 0x90;
		else if (b >= 0xF1 && b <= 0xF3)
			n = 3;
		else if (b == 0xF4)
			n = 3, hi = 0x8F;
		else
			return i;
		if (len - i <= n || s[i + 1] < lo || s[i + 1] > hi)
			return i;
		for (size_t k = 2; k <= n; k++)
			if ((s[i + k] & 0xC0) != 0x80)
				return i;
		i += n + 1;
	}
	return len;
}

static void prepare(struct tr_job *job)
{
	struct request *r = (struct request *)job;
	/* closing: a line not parsed yet is dropped unanswered (tr_server_close) */
	if (!atomic_load_explicit(&r->conn->srv->cancel, memory_order_relaxed)) {
		/* SPEC §6 lines are JSON, which is UTF-8 (RFC 8259 §8.1): bytes
		 * that are not would reach the database and come back inside
		 * answers (an echoed "id"), making those lines no JSON either */
		size_t bad = utf8_bad_at((const unsigned char *)r->line, r->len);
		if (bad < r->len)
			r->prep.answer = tr_protocol_error(TR_ERR_BAD_REQUEST, "request line is not UTF-8 (byte %zu)", bad + 1);
		else
			tr_protocol_prepare(&r->prep, r->line, r->len, r->event_bytes);
	}
	free(r->line);
	r->line = NULL;
}

/* Puts c in the run queue: it has a request now. */
static void list_conn(struct tr_server *srv, struct conn *c)
{
	if (c->vtime < srv->vtime)
		c->vtime = srv->vtime;
	c->listed = 1;
	srv->listed++;
	c->run_next = NULL;
	c->run_prev = srv->runq_tail;
	if (srv->runq_tail)
		srv->runq_tail->run_next = c;
	else
		srv->runq = c;
	srv->runq_tail = c;
}

static void unlist_conn(struct tr_server *srv, struct conn *c)
{
	if (c->run_prev)
		c->run_prev->run_next = c->run_next;
	else
		srv->runq = c->run_next;
	if (c->run_next)
		c->run_next->run_prev = c->run_prev;
	else
		srv->runq_tail = c->run_prev;
	c->run_prev = c->run_next = NULL;
	c->listed = 0;
	srv->listed--;
}

void tr_queue_add(struct tr_server *srv, struct conn *c, char *line, size_t len, cJSON *answer)
{
	struct request *r = calloc(1, sizeof(*r));
	if (!r) {
		free(line);
		cJSON_Delete(answer);
		tr_conn_close(c);
		return;
	}
	r->conn = c;
	r->line = line;
	r->len = len;
	r->event_bytes = srv->d->cfg.limits.event_bytes;
	r->answer = answer;
	r->taken_us = tr_mono_us();
	c->refs++;
	c->queued++;
	c->queued_bytes += len;
	if (c->qtail)
		c->qtail->next = r;
	else
		c->qhead = r;
	c->qtail = r;
	if (!c->unadmitted)
		c->unadmitted = r;
	if (!c->listed)
		list_conn(srv, c);
	r->job.run = prepare;
	if (line && len > INLINE_PARSE_BYTES) {
		r->on_worker = 1;
		srv->preparing++;
		tr_worker_push(&srv->worker, &r->job);
	} else {
		if (line)
			prepare(&r->job);
		atomic_store(&r->job.done, 1);
		uv_idle_start(&srv->idle, on_idle);
	}
}

/* Takes c's requests whose preparation finished, in order, counting their
 * events as pending; past limits.max_pending_events an ingest is answered
 * busy rather than queued without bound (SPEC §6 overload). */
static void admit_conn(struct tr_server *srv, struct conn *c)
{
	struct request *r;
	while ((r = c->unadmitted) && tr_job_done(&r->job)) {
		c->unadmitted = r->next;
		r->admitted = 1;
		if (r->on_worker)
			srv->preparing--;
		if (r->answer)
			continue;
		if (!r->prep.req) {
			r->answer = r->prep.answer;
			r->prep.answer = NULL;
			continue;
		}
		if (!r->prep.ingest)
			continue;
		size_t n = r->prep.nevents;
		if (srv->pending_events + n > (size_t)srv->d->cfg.limits.max_pending_events && srv->pending_events > 0) {
			srv->busy_answers++;
			r->answer = tr_protocol_error(TR_ERR_BUSY, "the daemon is saturated (%zu events queued); retry shortly",
						      srv->pending_events);
			cJSON *id = cJSON_GetObjectItemCaseSensitive(r->prep.req, "id");
			if (r->answer && id)
				cJSON_AddItemToObject(r->answer, "id", cJSON_Duplicate(id, 1));
			tr_prepared_free(&r->prep);
			continue;
		}
		r->nevents = n;
		srv->pending_events += n;
	}
}

static void drop_for_gone(struct tr_server *srv, struct conn *c);

/* Admits what finished preparing on every listed connection, and drops
 * what gone clients queued that changes nothing. */
static void admit(struct tr_server *srv)
{
	struct conn *next;
	for (struct conn *c = srv->runq; c; c = next) {
		c->refs++; /* dropping its last request must not free it under us */
		admit_conn(srv, c);
		drop_for_gone(srv, c);
		next = c->run_next;
		if (!c->qhead)
			unlist_conn(srv, c);
		tr_conn_release(c);
	}
}

static void request_free(struct tr_job *job)
{
	struct request *r = (struct request *)job;
	cJSON_Delete(r->answer);
	tr_prepared_free(&r->prep);
	free(r->line);
	free(r);
}

/* The end of a request, answered or dropped: its count, its events, its
 * memory and its hold on the connection go. */
static void request_done(struct tr_server *srv, struct request *r)
{
	struct conn *c = r->conn;
	c->queued--;
	srv->pending_events -= r->nevents;
	if (r->on_worker && r->prep.nvalid && !srv->worker_stopped) {
		/* the events were allocated on the worker: freed there too */
		r->job.run = request_free;
		r->job.detached = 1;
		tr_worker_push(&srv->worker, &r->job);
	} else {
		request_free(&r->job);
	}
	tr_conn_maybe_done(c);
	tr_conn_release(c);
}

static void deliver(struct tr_server *srv, struct request *r)
{
	if (r->prep.ingest)
		tr_latency_add(&srv->ingest_latency, tr_mono_us() - r->taken_us);
	tr_conn_send_answer(r->conn, r->answer);
	if (r->watch) /* its lines come after its answer, never before */
		tr_conn_watch(r->conn);
	request_done(srv, r);
}

static int is_op(const cJSON *req, const char *name)
{
	const cJSON *op = cJSON_GetObjectItemCaseSensitive(req, "op");
	return cJSON_IsString(op) && strcmp(op->valuestring, name) == 0;
}

/* SPEC §3 acknowledged means durable: an answer goes once the last commit
 * it could have seen is durable (a ping sees none), and after the answers
 * its connection is owed before it. */
static void finish(struct tr_server *srv, struct request *r)
{
	struct conn *c = r->conn;
	r->commit = r->prep.req && is_op(r->prep.req, "ping") ? 0 : srv->d->ingest.txn.commits;
	if (!c->held && tr_flusher_durable(srv->d->flusher, r->commit)) {
		deliver(srv, r);
		return;
	}
	c->held++;
	r->next = NULL;
	if (srv->held_tail)
		srv->held_tail->next = r;
	else
		srv->held = r;
	srv->held_tail = r;
}

void tr_server_flushed(struct tr_server *srv)
{
	struct request *r;
	while (srv && (r = srv->held) && tr_flusher_durable(srv->d->flusher, r->commit)) {
		srv->held = r->next;
		if (!srv->held)
			srv->held_tail = NULL;
		r->conn->held--;
		deliver(srv, r);
	}
}

/* SPEC §3 acknowledged means durable: the batch's answers go out only after
 * its commit (and its flush: finish); if the commit fails, every ingest in
 * it is answered with an error and nothing of it remains. The group commit
 * spans the many requests of a turn, each ingest joining the transaction
 * that the first one opened: so it ends here with tr_txn_commit, not
 * inside one tr_txn_run. */
static void commit_batch(struct tr_server *srv, struct request **batch)
{
	struct request *r = *batch;
	if (!r)
		return;
	if (tr_txn_commit(&srv->d->ingest.txn) != 0) {
		for (struct request *x = r; x; x = x->next) {
			cJSON_Delete(x->answer);
			x->answer = tr_protocol_error(TR_ERR_INTERNAL, "commit failed: %s; nothing of this request was kept",
						      tr_store_errmsg(srv->d->store));
		}
	}
	while (r) {
		struct request *next = r->next;
		finish(srv, r);
		r = next;
	}
	*batch = NULL;
}

/* Takes c's first queued request off its queue. */
static struct request *dequeue(struct conn *c)
{
	struct request *r = c->qhead;
	c->qhead = r->next;
	if (!c->qhead)
		c->qtail = NULL;
	r->next = NULL;
	c->queued_bytes -= r->len;
	return r;
}

/* Whether running r changes something: what a gone client asked for that
 * changes nothing is not run (nobody would read the answer). An ingest,
 * once its line arrived whole, still runs and commits whole in its own
 * group-commit transaction (SPEC §3 exactly-once; never half-done) even
 * though nobody reads its answer: a sender that does not wait for answers
 * (a shell pipe into the socket) must not lose events, a client that did
 * wait and retries gets them counted as duplicates, and the work is
 * bounded by limits.max_pending_events. Ticket updates, reload and retry
 * are kept for the same reason (which operations change state is a column
 * of the protocol's op table). */
static int changes_state(const struct request *r)
{
	if (r->answer || !r->prep.req)
		return 0;
	return tr_protocol_changes_state(r->prep.req);
}

/* Drops what a gone client queued that changes nothing (changes_state). */
static void drop_for_gone(struct tr_server *srv, struct conn *c)
{
	while (c->gone && c->qhead && c->qhead->admitted && !changes_state(c->qhead))
		request_done(srv, dequeue(c));
}

/* Whether c's next request may run now: it is prepared and admitted, and
 * its client takes its answers (SPEC §6: a client that does not read gets
 * nothing more run until it does, so it can neither grow memory nor keep
 * the loop busy). Taking means its earlier answers have all gone into its
 * socket's buffer: a client that pipelines and reads is not held back, one
 * that stops reading has one answer made for it, not a queue of them. */
static int may_run(const struct tr_server *srv, const struct conn *c)
{
	const struct request *r = c->qhead;
	if (!r || !r->admitted)
		return 0;
	if (r->prep.ingest && !r->answer && srv->d->writes_paused && !srv->closing)
		return 0; /* it waits, in order; tr_server_resume (a drain does not wait) */
	if (c->gone)
		return 1;
	if (uv_stream_get_write_queue_size((const uv_stream_t *)&c->pipe) > 0 || c->unread >= MAX_UNREAD_ANSWERS)
		return 0;
	return c->unread == 0 || srv->unread < MAX_UNREAD_TOTAL;
}

/* When c's next request would end in the fair share's time (see runq): a
 * ping costs nothing worth guessing, anything else what c's previous
 * request took. */
static uint64_t expected_end(const struct conn *c)
{
	const struct request *r = c->qhead;
	int ping = !r->answer && r->prep.req && is_op(r->prep.req, "ping");
	return c->vtime + (ping ? 0 : c->cost_us);
}

/* The first member of a watch request other than op and id, or NULL: a
 * filter it does not have is an error, not a stream of everything. */
static const cJSON *watch_extra_field(const cJSON *req)
{
	const cJSON *m;
	cJSON_ArrayForEach(m, req)
		if (strcmp(m->string, "op") != 0 && strcmp(m->string, "id") != 0)
			return m;
	return NULL;
}

/* Runs r, taken off its connection's queue: an ingest joins the open
 * transaction (its answer waits for the commit), anything else commits
 * that first and is answered (in order: finish). */
static void run(struct tr_server *srv, struct request *r, struct request **batch, struct request ***batch_tail,
		size_t *events)
{
	if (r->answer) {
		if (*batch) {
			/* keep the connection's order: answer after the batch */
			**batch_tail = r;
			*batch_tail = &r->next;
		} else {
			finish(srv, r);
		}
		return;
	}
	if (r->prep.ingest) {
		r->answer = tr_protocol_handle(srv->d, &r->prep, &r->conn->peer);
		**batch_tail = r;
		*batch_tail = &r->next;
		*events += r->nevents;
		return;
	}
	commit_batch(srv, batch);
	*batch_tail = batch;
	const cJSON *extra = NULL;
	if (is_op(r->prep.req, "watch") && (extra = watch_extra_field(r->prep.req)) != NULL) {
		r->answer = tr_protocol_error(TR_ERR_BAD_REQUEST, "field \"%s\": watch takes none (it streams every "
					      "notification and ticket change)", extra->string);
		cJSON *id = cJSON_GetObjectItemCaseSensitive(r->prep.req, "id");
		if (id)
			cJSON_AddItemToObject(r->answer, "id", cJSON_Duplicate(id, 1));
	} else if (is_op(r->prep.req, "watch")) {
		/* SPEC §6 watch: every notification and ticket change streams to
		 * this client until it leaves (tr_watch.h), from its answer on. */
		r->watch = 1;
		r->answer = cJSON_CreateObject();
		cJSON_AddTrueToObject(r->answer, "ok");
		cJSON_AddTrueToObject(r->answer, "watching");
		cJSON *id = cJSON_GetObjectItemCaseSensitive(r->prep.req, "id");
		if (id)
			cJSON_AddItemToObject(r->answer, "id", cJSON_Duplicate(id, 1));
	} else {
		r->answer = tr_protocol_handle(srv->d, &r->prep, &r->conn->peer);
	}
	finish(srv, r);
}

/* One turn of the scheduler: runs, one at a time, the request expected to
 * end first among those that may run, until the slice ends (its time, BATCH_EVENTS, or other I/O
 * waiting) or none may run. Ingests of one turn share a transaction.
 * Returns how many requests it ran. */
size_t tr_queue_run(struct tr_server *srv)
{
	struct request *batch = NULL, **batch_tail = &batch;
	size_t events = 0, done = 0;
	int more = 0;
	struct tr_slice slice;
	tr_slice_start(&slice, srv->d, BATCH_MS * 1000u);
	admit(srv);
	for (;;) {
		if (done && (events >= BATCH_EVENTS || tr_slice_over(&slice))) {
			more = 1;
			break;
		}
		/* a scan: the run queue is as long as the clients with requests */
		struct conn *c = NULL;
		uint64_t end = 0;
		if (srv->runq)
			srv->vtime = srv->runq->vtime;
		for (struct conn *x = srv->runq; x; x = x->run_next) {
			if (x->vtime < srv->vtime)
				srv->vtime = x->vtime;
			if (!may_run(srv, x))
				continue;
			uint64_t e = expected_end(x);
			if (!c || e < end)
				c = x, end = e;
		}
		if (!c)
			break;
		struct request *r = dequeue(c);
		if (!c->qhead)
			unlist_conn(srv, c);
		c->refs++; /* answering r may drop the last other hold on c */
		uint64_t t0 = tr_mono_us();
		run(srv, r, &batch, &batch_tail, &events);
		c->cost_us = REQUEST_COST_US + (tr_mono_us() - t0);
		c->vtime += c->cost_us;
		tr_conn_release(c);
		done++;
	}
	commit_batch(srv, &batch);
	/* what is still being prepared wakes the loop when it is done; what
	 * waits on a client wakes it when its answers are written */
	if (more)
		uv_idle_start(&srv->idle, on_idle);
	else
		uv_idle_stop(&srv->idle);
	return done;
}

void tr_server_resume(struct tr_server *srv)
{
	if (srv && !srv->closing)
		uv_idle_start(&srv->idle, on_idle); /* the next pass of the loop runs tr_queue_run */
}

void tr_queue_drain(struct tr_server *srv)
{
	/* SPEC §8 SIGTERM drains: what was read is still run and answered,
	 * for DRAIN_RUN_MS at most. A request that cannot run in that time
	 * (its client does not take its answers, or there are too many) is
	 * dropped unanswered: an ingest among them never ran, so nothing of it
	 * is kept and nothing was acknowledged (SPEC §3). */
	uint64_t deadline = tr_mono_ms() + DRAIN_RUN_MS;
	while (srv->listed && tr_mono_ms() < deadline) {
		if (tr_queue_run(srv) == 0) {
			if (srv->preparing == 0)
				break; /* what is left waits on clients, which the loop is not serving now */
			uv_sleep(1); /* the worker is parsing a line */
		}
	}
	atomic_store(&srv->cancel, 1);
	tr_worker_drain(&srv->worker); /* now at most the line it was parsing */
	struct conn *c;
	while ((c = srv->runq)) {
		unlist_conn(srv, c);
		c->unadmitted = NULL;
		c->refs++; /* until its last request is dropped */
		while (c->qhead) {
			struct request *r = dequeue(c);
			if (r->on_worker && !r->admitted)
				srv->preparing--;
			request_done(srv, r);
		}
		tr_conn_release(c);
	}
	tr_worker_stop(&srv->worker);
	srv->worker_stopped = 1;
}

void tr_queue_answer_held(struct tr_server *srv)
{
	struct request *r;
	while ((r = srv->held)) {
		srv->held = r->next;
		r->conn->held--;
		deliver(srv, r);
	}
	srv->held_tail = NULL;
}
