/* Unix-socket transport: connections, line framing with bounded buffers,
 * per-connection request queues, fair scheduling across connections, group
 * commit and in-order answers. Operations themselves live in protocol.c.
 *
 * Every limit here is per connection and for all of them together (SPEC §6:
 * overload answers `busy`, memory never grows without bound, one client
 * never starves another):
 * - a connection with too many requests or request bytes queued, or too
 *   many answer bytes its client has not taken, is not read from;
 * - a connection's next request is not run while its client leaves too many
 *   answer bytes unread, so a client that pipelines and never reads costs a
 *   bounded amount of memory and CPU, and then nothing;
 * - requests are run one at a time, next the one that would finish first
 *   if every client with requests had an equal share of the loop's time
 *   (fair queuing, each request's cost guessed from the previous one of its
 *   connection), within a time slice that ends early when other I/O is
 *   waiting: a client that sends a cheap request and waits for its answer
 *   goes ahead of clients that keep the loop busy, and a ping waits for at
 *   most about one other request;
 * - a client that has gone gets no more answers, and what it queued that
 *   only reads is not run;
 * - SIGTERM runs what is queued for a bounded time, then drops the rest.
 * An ingest that would push the admitted events past
 * limits.max_pending_events is answered `busy`. Long request lines are
 * parsed (and an ingest's events normalised) on a worker thread while the
 * loop thread runs rules. Under durability full an answer waits until the
 * WAL flush covers the last commit it could have seen (tr_wal_flusher.h), and a
 * connection's later answers wait behind it. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tr_json.h"
#include "tr_error.h"
#include "tr_wal_flusher.h"
#include "tr_log.h"
#include "tr_slice.h"
#include "tr_protocol.h"
#include "tr_server.h"
#include "tr_time.h"
#include "tr_worker.h"

#define READ_CHUNK 65536
#define MAX_QUEUED_PER_CONN 64        /* requests a client may have in flight */
/* Bytes of request lines a client may have queued: one longer line is
 * still taken, alone (limits.request_bytes bounds it). */
#define MAX_QUEUED_BYTES_PER_CONN (4u << 20)
/* Bytes of answers a client has not taken: past this it is not read from
 * and none of its requests runs. One answer may overshoot it (a `tickets`
 * answer can be megabytes); it is never split. A client that reads is not
 * slowed by it: it takes its answers as fast as the loop writes them. */
#define MAX_UNREAD_ANSWERS (1u << 20)
/* Unread answer bytes of all clients together: past this, only a client
 * with nothing unread gets a request run, so any number of clients that
 * stop reading hold at most this plus one answer each (limits.max_clients
 * bounds how many), while a client that reads is still served. */
#define MAX_UNREAD_TOTAL (16u << 20)
/* Notifications a `watch` client has not taken: past this it misses them
 * (counted); a burst of events can make many in one loop turn. */
#define MAX_UNREAD_WATCH (8u << 20)
/* Fair queuing. A request costs at least REQUEST_COST_US of its
 * connection's share (a flood of pings still takes turns). A request's cost
 * is guessed before it runs as its connection's previous one, and as
 * UNKNOWN_COST_US (a large query) for a connection's first: a new client is
 * not trusted to be cheap, nor does it wait behind a crowd of them. */
#define REQUEST_COST_US 50
#define UNKNOWN_COST_US 20000
#define BATCH_EVENTS 8192             /* events per transaction before the loop breathes */
#define BATCH_MS 20                   /* or this long: other clients, timers and files wait meanwhile */
/* SIGTERM: how long queued requests are still run; what is left then (and
 * what waits on a client that does not read) is dropped unanswered. */
#define DRAIN_RUN_MS 1000
/* Lines up to this long are parsed on the loop thread at once: a ping or a
 * query answered this loop iteration beats a hop to the worker and back. */
#define INLINE_PARSE_BYTES 4096

struct conn;

struct request {
	struct tr_job job;     /* first: the job is the request */
	struct request *next;  /* its connection's queue; then a batch or the held list */
	struct conn *conn;
	char *line;            /* the request line, until prepared */
	size_t len;
	int64_t event_bytes;   /* limits.event_bytes when it arrived */
	struct tr_prepared prep;
	cJSON *answer;
	size_t nevents;        /* counted in pending_events once admitted */
	int admitted;          /* prepared and counted (or answered busy) */
	uint64_t commit;       /* the answer goes once this commit is durable */
	uint64_t taken_us;     /* tr_mono_us() when its line was read */
	int on_worker;         /* prepared on the worker thread */
};

struct conn {
	uv_pipe_t pipe;   /* pipe.data points back here */
	struct tr_server *srv;
	char *buf;
	size_t len, cap, scanned;
	int discarding;   /* skipping the rest of an over-long line */
	int eof, closing;
	int gone;         /* the peer closed: nothing more is sent to it */
	int refs;         /* the handle, queued requests, pending writes */
	int queued;       /* requests not yet answered, held ones included */
	size_t queued_bytes; /* line bytes of the requests in its queue */
	struct request *qhead, *qtail; /* read, not yet run, in arrival order */
	struct request *unadmitted;    /* the first of those not yet admitted */
	int held;         /* answers waiting for a flush */
	int paused;
	int watching;     /* subscribed to notifications (`watch`) */
	size_t unread;    /* answer bytes written but not yet taken by the client */
	struct tr_peer peer;
	struct conn *prev, *next;
	struct conn *run_prev, *run_next; /* in srv->runq */
	int listed;       /* in srv->runq: its queue is not empty */
	uint64_t vtime;   /* its share used: loop microseconds (fair queuing) */
	uint64_t cost_us; /* what its previous request took (its next one's guess) */
};

struct tr_server {
	struct tr_daemon *d;
	uv_pipe_t listener;
	uv_check_t check;
	uv_idle_t idle;
	/* SPEC §6 one client never starves another: the connections with
	 * requests queued, in the order they were listed; the next request
	 * run is the one expected to finish first: its connection's vtime
	 * plus its guessed cost (expected_end). vtime is the least share used
	 * among them when last looked at: new and idle connections come in
	 * there, level with the one that has had least, not at their own old
	 * (possibly much earlier) share, which would let them run alone for
	 * long. */
	struct conn *runq, *runq_tail;
	size_t listed;               /* connections in runq */
	uint64_t vtime;
	struct request *held, *held_tail; /* answered, waiting for a flush, in order */
	struct tr_worker worker;
	int worker_stopped;
	size_t preparing;            /* requests on the worker, not yet admitted */
	atomic_int cancel;           /* closing: the worker skips lines not yet parsed */
	size_t pending_events;
	size_t unread;               /* every connection's unread answer bytes */
	int clients;
	int closing;
	struct conn *conns;
	uint64_t busy_answers;
	struct tr_latency ingest_latency; /* read to answered, for `stats` */
	uint64_t watch_dropped;  /* notifications a slow watcher did not get */
	size_t max_line;
};

struct write_req {
	uv_write_t req;
	struct conn *conn;
	size_t len;
	char data[];
};

static void conn_release(struct conn *c)
{
	if (--c->refs > 0)
		return;
	free(c->buf);
	free(c);
}

static void on_conn_closed(uv_handle_t *h)
{
	struct conn *c = h->data;
	struct tr_server *srv = c->srv;
	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	srv->clients--;
	conn_release(c);
}

static void conn_close(struct conn *c)
{
	/* the drain deadline closes every handle of the loop directly */
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

/* Closes a half-closed or finished connection once nothing is owed to it. */
static void conn_maybe_done(struct conn *c)
{
	if ((c->eof || c->srv->closing) && c->queued == 0 && c->unread == 0)
		conn_close(c);
}

/* The peer is gone (it closed, or a write to it failed): its pending
 * answers are dropped with the handle (their writes are cancelled), later
 * ones are never made, and process() skips what it queued that only
 * reads. */
static void conn_gone(struct conn *c)
{
	c->gone = 1;
	conn_close(c);
}

/* True when the peer closed its end entirely, not just for writing
 * (shutdown(SHUT_WR)): a Unix socket whose peer is gone polls POLLHUP. */
static int peer_gone(struct conn *c)
{
	uv_os_fd_t fd;
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) != 0)
		return 1;
	struct pollfd p = {.fd = fd, .events = 0};
	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;
	c->unread -= w->len;
	c->srv->unread -= w->len;
	if (status < 0 && status != UV_ECANCELED) {
		log_debug("client write: %s", uv_strerror(status));
		conn_gone(c);
	}
	free(w);
	conn_maybe_done(c);
	conn_release(c);
}

/* Queues body and a newline to c. */
static void send_line(struct conn *c, const char *body)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	size_t len = strlen(body);
	struct write_req *w = malloc(sizeof(*w) + len + 1);
	if (!w) {
		conn_close(c);
		return;
	}
	memcpy(w->data, body, len);
	w->data[len] = '\n';
	w->len = len + 1;
	w->conn = c;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
	c->refs++;
	c->unread += w->len;
	c->srv->unread += w->len;
	int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written);
	if (rc < 0) {
		c->unread -= w->len;
		c->srv->unread -= w->len;
		free(w);
		conn_release(c);
		conn_close(c);
	}
}

static void send_answer(struct conn *c, cJSON *answer)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	char *text = answer ? tr_json_print(answer) : NULL;
	send_line(c, text ? text : "{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	free(text);
}

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

/* Queues a request on c: a line to prepare (on the worker when it is
 * long), or (line NULL) an answer already decided. Takes ownership of line
 * and answer. */
static void enqueue(struct tr_server *srv, struct conn *c, char *line, size_t len, cJSON *answer)
{
	struct request *r = calloc(1, sizeof(*r));
	if (!r) {
		free(line);
		cJSON_Delete(answer);
		conn_close(c);
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
		conn_release(c);
	}
}

static void take_line(struct conn *c, const char *line, size_t len)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return;
	char *copy = malloc(len);
	if (!copy) {
		conn_close(c);
		return;
	}
	memcpy(copy, line, len);
	enqueue(c->srv, c, copy, len, NULL);
}

/* Whether c may have more of its requests taken (SPEC §6 overload: past
 * these it is paused, and its client's writes wait in its own socket). */
static int may_read(const struct conn *c)
{
	return !c->closing && c->queued < MAX_QUEUED_PER_CONN && c->queued_bytes < MAX_QUEUED_BYTES_PER_CONN &&
	       c->unread < MAX_UNREAD_ANSWERS;
}

/* Queues the complete lines in c's buffer while c may take more; the rest
 * stays in the buffer until it may (process() resumes it). */
static void take_lines(struct conn *c)
{
	struct tr_server *srv = c->srv;
	size_t start = 0;
	while (c->scanned < c->len && may_read(c)) {
		char *nl = memchr(c->buf + c->scanned, '\n', c->len - c->scanned);
		if (!nl) {
			c->scanned = c->len;
			break;
		}
		size_t end = (size_t)(nl - c->buf);
		if (c->discarding)
			c->discarding = 0;
		else
			take_line(c, c->buf + start, end - start);
		start = c->scanned = end + 1;
	}
	if (start) {
		memmove(c->buf, c->buf + start, c->len - start);
		c->len -= start;
		c->scanned -= start;
	}
	if (c->scanned == c->len && (c->discarding || c->len > srv->max_line)) {
		/* Bounded buffers: an over-long line is answered and skipped, the
		 * rest of it as it arrives (never buffered). */
		if (!c->discarding)
			enqueue(srv, c, NULL, 0,
				tr_protocol_error(TR_ERR_TOO_LARGE, "request line longer than %zu bytes (limits.request_bytes)",
						  srv->max_line));
		c->discarding = 1;
		c->len = c->scanned = 0;
	}
	if (c->cap > 4 * READ_CHUNK && c->len < READ_CHUNK) {
		char *p = realloc(c->buf, 2 * READ_CHUNK);
		if (p) {
			c->buf = p;
			c->cap = 2 * READ_CHUNK;
		}
	}
}

static void maybe_pause(struct conn *c)
{
	if (!c->paused && !c->closing && !may_read(c)) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->paused = 1;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = h->data;
	if (c->cap - c->len < READ_CHUNK) {
		/* doubling: a line of limits.request_bytes is not copied once per
		 * chunk read */
		size_t cap = c->len + READ_CHUNK;
		if (cap < 2 * c->cap)
			cap = 2 * c->cap;
		if (cap > c->srv->max_line + 2 * READ_CHUNK)
			cap = c->len + READ_CHUNK;
		char *p = realloc(c->buf, cap);
		if (!p) {
			*buf = uv_buf_init(NULL, 0);
			return;
		}
		c->buf = p;
		c->cap = cap;
	}
	*buf = uv_buf_init(c->buf + c->len, (unsigned)(c->cap - c->len));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct conn *c = stream->data;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("client read: %s", uv_strerror((int)nread));
		uv_read_stop(stream);
		c->eof = 1;
		/* A client that only shut down its writing end still reads its
		 * answers; one that closed (or reset) gets none. */
		if (nread != UV_EOF || peer_gone(c))
			conn_gone(c);
		conn_maybe_done(c);
		return;
	}
	c->len += (size_t)nread;
	take_lines(c);
	maybe_pause(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct tr_server *srv = listener->data;
	if (status < 0) {
		log_warnx("accept: %s", uv_strerror(status));
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	if (!c)
		return;
	c->srv = srv;
	c->refs = 1;
	c->vtime = srv->vtime;
	c->cost_us = UNKNOWN_COST_US;
	uv_pipe_init(srv->d->loop, &c->pipe, 0);
	c->pipe.data = c;
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->clients++;
	if (uv_accept(listener, (uv_stream_t *)&c->pipe) < 0) {
		conn_close(c);
		return;
	}
	uv_os_fd_t fd;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (uv_fileno((uv_handle_t *)&c->pipe, &fd) == 0 &&
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
		c->peer.uid = cred.uid;
		c->peer.pid = cred.pid;
	}
	if (srv->clients > srv->d->cfg.limits.max_clients) {
		srv->busy_answers++;
		cJSON *busy = tr_protocol_error(TR_ERR_BUSY, "too many clients (limits.max_clients = %lld)",
						(long long)srv->d->cfg.limits.max_clients);
		send_answer(c, busy);
		cJSON_Delete(busy);
		c->eof = 1;
		conn_maybe_done(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
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
	conn_maybe_done(c);
	conn_release(c);
}

static void deliver(struct tr_server *srv, struct request *r)
{
	if (r->prep.ingest)
		tr_latency_add(&srv->ingest_latency, tr_mono_us() - r->taken_us);
	send_answer(r->conn, r->answer);
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
 * it is answered with an error and nothing of it remains. */
static void commit_batch(struct tr_server *srv, struct request **batch)
{
	struct request *r = *batch;
	if (!r)
		return;
	if (tr_ingest_commit(&srv->d->ingest) != 0) {
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

void tr_server_broadcast(void *ud, const char *json)
{
	struct tr_server *srv = ud;
	char *text = NULL; /* the line, made once for every watcher */
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (!c->watching || c->closing)
			continue;
		if (c->unread >= MAX_UNREAD_WATCH) {
			srv->watch_dropped++; /* bounded: a watcher that does not read misses lines */
			continue;
		}
		if (!text) {
			cJSON *line = cJSON_CreateObject();
			cJSON *n = cJSON_Parse(json);
			cJSON_AddItemToObject(line, "notification", n ? n : cJSON_CreateString(json));
			text = tr_json_print(line);
			cJSON_Delete(line);
			if (!text)
				return;
		}
		send_line(c, text);
	}
	free(text);
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
 * are kept for the same reason. */
static int changes_state(const struct request *r)
{
	if (r->answer || !r->prep.req)
		return 0;
	return r->prep.ingest || is_op(r->prep.req, "ticket.update") || is_op(r->prep.req, "reload") ||
	       is_op(r->prep.req, "retry");
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
	if (is_op(r->prep.req, "watch")) {
		/* SPEC §6 watch: notifications stream to this client until it leaves. */
		r->conn->watching = 1;
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
static size_t process(struct tr_server *srv)
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
		conn_release(c);
		done++;
	}
	commit_batch(srv, &batch);
	/* what is still being prepared wakes the loop when it is done; what
	 * waits on a client wakes it when its answers are written */
	if (more)
		uv_idle_start(&srv->idle, on_idle);
	else
		uv_idle_stop(&srv->idle);
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (c->paused && !c->closing && !c->eof && !srv->closing && c->queued < MAX_QUEUED_PER_CONN / 2 &&
		    c->queued_bytes < MAX_QUEUED_BYTES_PER_CONN / 2 && c->unread < MAX_UNREAD_ANSWERS / 2) {
			c->paused = 0;
			take_lines(c); /* what it sent before it was paused */
			if (may_read(c))
				uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
			else
				c->paused = 1;
		}
	}
	return done;
}

static void on_check(uv_check_t *h)
{
	process(h->data);
}

void tr_server_resume(struct tr_server *srv)
{
	if (srv && !srv->closing)
		uv_idle_start(&srv->idle, on_idle); /* the next pass of the loop runs process() */
}

int tr_server_start(struct tr_daemon *d, struct tr_server **out)
{
	const char *path = d->cfg.socket_path;
	struct sockaddr_un sun;
	if (strlen(path) >= sizeof(sun.sun_path)) {
		/* libuv would cut the name short and listen somewhere else */
		log_errx("cannot listen on %s: a socket path is at most %zu bytes", path, sizeof(sun.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	struct tr_server *srv = calloc(1, sizeof(*srv));
	if (!srv)
		return -ENOMEM;
	srv->d = d;
	srv->max_line = (size_t)d->cfg.limits.request_bytes;
	int rc = tr_worker_start(&srv->worker, d->loop);
	if (rc < 0) {
		log_errx("cannot start the request worker: %s", uv_strerror(rc));
		uv_run(d->loop, UV_RUN_NOWAIT); /* its wake-up handle is closing: let it go first */
		free(srv);
		return rc;
	}
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* a stale socket from a previous run */
	uv_pipe_init(d->loop, &srv->listener, 0);
	srv->listener.data = srv;
	rc = uv_pipe_bind(&srv->listener, path);
	if (rc == 0)
		rc = chmod(path, 0660) < 0 ? -errno : 0;
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&srv->listener, 128, on_connection);
	if (rc < 0) {
		log_errx("cannot listen on %s: %s", path, uv_strerror(rc));
		uv_close((uv_handle_t *)&srv->listener, NULL);
		tr_worker_stop(&srv->worker);
		uv_run(d->loop, UV_RUN_NOWAIT);
		free(srv);
		return rc;
	}
	uv_check_init(d->loop, &srv->check);
	srv->check.data = srv;
	uv_check_start(&srv->check, on_check);
	uv_idle_init(d->loop, &srv->idle);
	srv->idle.data = srv;
	*out = srv;
	return 0;
}

void tr_server_close(struct tr_server *srv)
{
	if (srv->closing)
		return;
	srv->closing = 1;
	uv_close((uv_handle_t *)&srv->listener, NULL);
	for (struct conn *c = srv->conns; c; c = c->next)
		if (!c->closing)
			uv_read_stop((uv_stream_t *)&c->pipe);
	/* SPEC §8 SIGTERM drains: what was read is still run and answered,
	 * for DRAIN_RUN_MS at most. A request that cannot run in that time
	 * (its client does not take its answers, or there are too many) is
	 * dropped unanswered: an ingest among them never ran, so nothing of it
	 * is kept and nothing was acknowledged (SPEC §3). */
	uint64_t deadline = tr_mono_ms() + DRAIN_RUN_MS;
	while (srv->listed && tr_mono_ms() < deadline) {
		if (process(srv) == 0) {
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
		conn_release(c);
	}
	tr_worker_stop(&srv->worker);
	srv->worker_stopped = 1;
	for (c = srv->conns; c; c = c->next)
		conn_maybe_done(c);
	uv_close((uv_handle_t *)&srv->check, NULL);
	uv_close((uv_handle_t *)&srv->idle, NULL);
	unlink(srv->d->cfg.socket_path);
}

void tr_server_close_clients(struct tr_server *srv)
{
	if (!srv)
		return;
	/* the flusher is stopped: what still waits for a flush goes now, to
	 * clients closed before they could take it */
	for (struct conn *c = srv->conns; c; c = c->next)
		conn_close(c);
	struct request *r;
	while ((r = srv->held)) {
		srv->held = r->next;
		r->conn->held--;
		deliver(srv, r);
	}
	srv->held_tail = NULL;
}

void tr_server_free(struct tr_server *srv)
{
	free(srv);
}

void tr_server_get_stats(struct tr_server *srv, struct tr_server_stats *st)
{
	st->clients = srv->clients;
	st->pending_events = srv->pending_events;
	st->busy_answers = srv->busy_answers;
	if (tr_latency_summarize(&srv->ingest_latency, &st->ingest_answer) != 0)
		memset(&st->ingest_answer, 0, sizeof(st->ingest_answer));
}
