/* Unix-socket transport: connections, line framing with bounded buffers,
 * the request queue, group commit and in-order answers. Backpressure: a
 * connection with too many requests queued or answers unread stops being
 * read; an ingest that would push the queue past limits.max_pending_events
 * is answered `busy`. Long request lines are parsed (and an ingest's events
 * normalised) on a worker thread while the loop thread runs rules; requests
 * still run and are answered in the order they arrived. Under durability
 * full an answer waits until the WAL flush covers the last commit it could
 * have seen (tr_flusher.h), and a connection's later answers wait behind
 * it. Operations themselves live in protocol.c. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>
#include "tr_json.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_protocol.h"
#include "tr_server.h"
#include "tr_time.h"
#include "tr_worker.h"

#define READ_CHUNK 65536
#define MAX_QUEUED_PER_CONN 64        /* requests a client may have in flight */
#define MAX_UNREAD_ANSWERS (8u << 20) /* bytes of answers a client has not read */
#define BATCH_EVENTS 8192             /* events per transaction before the loop breathes */
#define BATCH_MS 20                   /* or this long: other clients, timers and files wait meanwhile */
/* Lines up to this long are parsed on the loop thread at once: a ping or a
 * query answered this loop iteration beats a hop to the worker and back. */
#define INLINE_PARSE_BYTES 4096

struct conn;

struct request {
	struct tr_job job;     /* first: the job is the request */
	struct request *next;
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
	int refs;         /* the handle, queued requests, pending writes */
	int queued;       /* requests not yet answered, held ones included */
	int held;         /* answers waiting for a flush */
	int paused;
	int watching;     /* subscribed to notifications (`watch`) */
	size_t unread;    /* answer bytes written but not yet taken by the client */
	struct tr_peer peer;
	struct conn *prev, *next;
};

struct tr_server {
	struct tr_daemon *d;
	uv_pipe_t listener;
	uv_check_t check;
	uv_idle_t idle;
	struct request *head, *tail;
	struct request *unadmitted;  /* first request not yet admitted */
	struct request *held, *held_tail; /* answered, waiting for a flush, in order */
	struct tr_worker worker;
	int worker_stopped;
	size_t pending_events;
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

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;
	c->unread -= w->len;
	if (status < 0 && status != UV_ECANCELED)
		log_debug("client write: %s", uv_strerror(status));
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
	int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written);
	if (rc < 0) {
		c->unread -= w->len;
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

static void prepare(struct tr_job *job)
{
	struct request *r = (struct request *)job;
	tr_protocol_prepare(&r->prep, r->line, r->len, r->event_bytes);
	free(r->line);
	r->line = NULL;
}

/* Queues a request: a line to prepare (on the worker when it is long), or
 * (line NULL) an answer already decided. Takes ownership of line and
 * answer. */
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
	if (srv->tail)
		srv->tail->next = r;
	else
		srv->head = r;
	srv->tail = r;
	if (!srv->unadmitted)
		srv->unadmitted = r;
	r->job.run = prepare;
	if (line && len > INLINE_PARSE_BYTES) {
		r->on_worker = 1;
		tr_worker_push(&srv->worker, &r->job);
	} else {
		if (line)
			prepare(&r->job);
		atomic_store(&r->job.done, 1);
		uv_idle_start(&srv->idle, on_idle);
	}
}

/* Takes the requests whose preparation finished, in order, counting their
 * events as pending; past limits.max_pending_events an ingest is answered
 * busy rather than queued without bound (SPEC §6 overload). */
static void admit(struct tr_server *srv)
{
	struct request *r;
	while ((r = srv->unadmitted) && tr_job_done(&r->job)) {
		srv->unadmitted = r->next;
		r->admitted = 1;
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

static void maybe_pause(struct conn *c)
{
	if (!c->paused && !c->closing &&
	    (c->queued >= MAX_QUEUED_PER_CONN || c->unread >= MAX_UNREAD_ANSWERS)) {
		uv_read_stop((uv_stream_t *)&c->pipe);
		c->paused = 1;
	}
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct conn *c = h->data;
	if (c->cap - c->len < READ_CHUNK) {
		size_t cap = c->len + READ_CHUNK;
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
	struct tr_server *srv = c->srv;
	if (nread < 0) {
		if (nread != UV_EOF)
			log_debug("client read: %s", uv_strerror((int)nread));
		uv_read_stop(stream);
		c->eof = 1;
		conn_maybe_done(c);
		return;
	}
	c->len += (size_t)nread;
	size_t start = 0;
	for (char *nl = c->buf + c->scanned; (nl = memchr(nl, '\n', c->len - (size_t)(nl - c->buf))); nl++) {
		size_t i = (size_t)(nl - c->buf);
		if (c->discarding)
			c->discarding = 0;
		else
			take_line(c, c->buf + start, i - start);
		start = i + 1;
	}
	memmove(c->buf, c->buf + start, c->len - start);
	c->len -= start;
	c->scanned = c->len;
	if (c->len > srv->max_line) {
		/* Bounded buffers: an over-long line is answered and skipped. */
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

static void deliver(struct tr_server *srv, struct request *r)
{
	struct conn *c = r->conn;
	if (r->prep.ingest)
		tr_latency_add(&srv->ingest_latency, tr_mono_us() - r->taken_us);
	send_answer(c, r->answer);
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
	r->commit = r->prep.req && is_op(r->prep.req, "ping") ? 0 : srv->d->ingest.commits;
	if (!c->held && tr_daemon_durable(srv->d, r->commit)) {
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
	while (srv && (r = srv->held) && tr_daemon_durable(srv->d, r->commit)) {
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
		if (c->unread >= MAX_UNREAD_ANSWERS) {
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

static void process(struct tr_server *srv)
{
	struct request *batch = NULL, **batch_tail = &batch;
	size_t events = 0;
	uint64_t deadline = tr_mono_ms() + BATCH_MS;
	admit(srv);
	while (srv->head && srv->head->admitted && events < BATCH_EVENTS && tr_mono_ms() < deadline) {
		struct request *r = srv->head;
		if (r->prep.ingest && !r->answer && srv->d->writes_paused && !srv->closing)
			break; /* it waits at the head, in order; tr_server_resume (a drain does not wait) */
		srv->head = r->next;
		if (!srv->head)
			srv->tail = NULL;
		r->next = NULL;
		if (r->answer) {
			if (batch) {
				/* keep the connection's order: answer after the batch */
				*batch_tail = r;
				batch_tail = &r->next;
			} else {
				finish(srv, r);
			}
			continue;
		}
		if (r->prep.ingest) {
			r->answer = tr_protocol_handle(srv->d, &r->prep, &r->conn->peer);
			*batch_tail = r;
			batch_tail = &r->next;
			events += r->nevents;
			continue;
		}
		commit_batch(srv, &batch);
		batch_tail = &batch;
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
	commit_batch(srv, &batch);
	admit(srv);
	/* what is still being prepared wakes the loop when it is done */
	if (srv->head && srv->head->admitted && !srv->d->writes_paused)
		uv_idle_start(&srv->idle, on_idle);
	else
		uv_idle_stop(&srv->idle);
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (c->paused && !c->closing && !c->eof && !srv->closing &&
		    c->queued < MAX_QUEUED_PER_CONN / 2 && c->unread < MAX_UNREAD_ANSWERS / 2) {
			c->paused = 0;
			uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
		}
	}
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
	/* SPEC §8 SIGTERM drains: what was read is still run and answered. */
	tr_worker_drain(&srv->worker);
	while (srv->head)
		process(srv);
	tr_worker_stop(&srv->worker);
	srv->worker_stopped = 1;
	for (struct conn *c = srv->conns; c; c = c->next)
		conn_maybe_done(c);
	uv_close((uv_handle_t *)&srv->check, NULL);
	uv_close((uv_handle_t *)&srv->idle, NULL);
	unlink(srv->d->cfg.socket_path);
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
