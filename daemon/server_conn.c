/* A socket client's connection, its lifetime and its writes: references and
 * libuv close discipline (a connection is freed only after its handle's
 * close callback and its last reference), answers and notifications
 * written with the count of bytes its client has not taken yet, the
 * peer's going, and the server's counters. Not reading or line framing (server.c), nor what a request
 * is or when it runs (server_queue.c); it calls neither. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "server_internal.h"
#include "tr_json.h"
#include "tr_log.h"

/* SPEC §6 watch, memory never grows without bound: stream lines a `watch`
 * client has not taken. A burst of events makes many lines in one loop
 * turn, so a client that reads gets some slack; one that stays past this
 * is dropped with a last line saying so, not left to miss lines silently
 * (it would believe it saw everything). */
#define MAX_UNREAD_WATCH (4u << 20)
/* A dropped watcher's time to take what was written to it and the line
 * that says why it goes (a person who paused a pager comes back to the
 * reason, not a bare end of stream); then it is closed, taken or not. It
 * gets nothing new meanwhile: its cost stays what it was at the drop. */
#define DROP_GRACE_MS 10000

struct write_req {
	uv_write_t req;
	struct conn *conn;
	size_t len;
	int stream;  /* watch lines: c->unread, not the server's answer total */
	char data[];
};

void tr_conn_release(struct conn *c)
{
	if (--c->refs > 0)
		return;
	free(c->buf);
	free(c->wbuf);
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
	tr_conn_release(c);
}

static void on_drop_timer_closed(uv_handle_t *h)
{
	tr_conn_release(h->data);
}

/* Stops c's stream (it left, or was dropped). */
static void unwatch(struct conn *c)
{
	if (!c->watching)
		return;
	c->watching = 0;
	c->srv->watchers--;
}

void tr_conn_close(struct conn *c)
{
	unwatch(c);
	if (c->dropped && !uv_is_closing((uv_handle_t *)&c->drop_timer))
		uv_close((uv_handle_t *)&c->drop_timer, on_drop_timer_closed);
	/* the drain deadline closes every handle of the loop directly */
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

void tr_conn_maybe_done(struct conn *c)
{
	if ((c->eof || c->dropped || c->srv->closing) && c->queued == 0 && c->unread == 0)
		tr_conn_close(c);
}

void tr_conn_gone(struct conn *c)
{
	c->gone = 1;
	tr_conn_close(c);
}

static void on_written(uv_write_t *req, int status)
{
	struct write_req *w = (struct write_req *)req;
	struct conn *c = w->conn;
	c->unread -= w->len;
	if (!w->stream)
		c->srv->unread -= w->len;
	if (status < 0 && status != UV_ECANCELED) {
		log_debug("client write: %s", uv_strerror(status));
		tr_conn_gone(c);
	}
	free(w);
	tr_conn_maybe_done(c);
	tr_conn_release(c);
}

/* Queues len bytes of data, then a newline when nl, to c as one write.
 * stream: lines of the watch stream, which each watcher bounds for itself
 * (MAX_UNREAD_WATCH), so that watchers that do not read never hold back
 * the answers of other clients (MAX_UNREAD_TOTAL, server_queue.c). */
static void send_bytes(struct conn *c, const char *data, size_t len, int nl, int stream)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	struct write_req *w = malloc(sizeof(*w) + len + 1);
	if (!w) {
		tr_conn_close(c);
		return;
	}
	memcpy(w->data, data, len);
	if (nl)
		w->data[len++] = '\n';
	w->len = len;
	w->conn = c;
	w->stream = stream;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)w->len);
	c->refs++;
	c->unread += w->len;
	if (!stream)
		c->srv->unread += w->len;
	int rc = uv_write(&w->req, (uv_stream_t *)&c->pipe, &buf, 1, on_written);
	if (rc < 0) {
		c->unread -= w->len;
		if (!stream)
			c->srv->unread -= w->len;
		free(w);
		tr_conn_release(c);
		tr_conn_close(c);
	}
}

/* Queues body and a newline to c. */
static void send_line(struct conn *c, const char *body)
{
	send_bytes(c, body, strlen(body), 1, 0);
}

void tr_conn_send_answer(struct conn *c, cJSON *answer)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	char *text = answer ? tr_json_print(answer) : NULL;
	send_line(c, text ? text : "{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	free(text);
}

void tr_conn_watch(struct conn *c)
{
	struct tr_server *srv = c->srv;
	if (c->watching || c->dropped || c->closing)
		return;
	c->watching = 1;
	srv->watchers++;
	if (srv->watch_join)
		srv->watch_join(srv->watch_join_ud);
}

void tr_server_on_watch(struct tr_server *srv, void (*join)(void *ud), void *ud)
{
	srv->watch_join = join;
	srv->watch_join_ud = ud;
}

size_t tr_server_watchers(void *ud)
{
	struct tr_server *srv = ud;
	return srv ? srv->watchers : 0;
}

static void on_drop_deadline(uv_timer_t *t)
{
	tr_conn_close(t->data);
}

/* SPEC §6 watch: c left more than MAX_UNREAD_WATCH of the stream unread.
 * It gets no more lines but one that says why, a grace period to take
 * them, and is closed: its pending lines are the most it ever costs. */
static void drop(struct conn *c)
{
	struct tr_server *srv = c->srv;
	unwatch(c);
	c->dropped = 1;
	srv->watchers_dropped++;
	log_warnx("watch: dropping the watcher of uid %u (pid %d): it did not read %zu bytes of the stream",
		  (unsigned)c->peer.uid, (int)c->peer.pid, c->unread + c->wlen);
	c->wlen = 0; /* gathered, never sent: the last line follows what it had */
	uv_timer_init(srv->d->loop, &c->drop_timer);
	c->drop_timer.data = c;
	c->refs++; /* the timer's: released in its close callback */
	uv_timer_start(&c->drop_timer, on_drop_deadline, DROP_GRACE_MS, 0);
	char line[200];
	snprintf(line, sizeof(line), "{\"dropped\":true,\"reason\":\"the watcher did not read its stream:"
		 " more than %u MiB of lines were waiting for it\"}", MAX_UNREAD_WATCH >> 20);
	send_bytes(c, line, strlen(line), 1, 1); /* past the bound by one short line, once */
}

/* Lines are gathered per watcher and written once per pass of the stream
 * (tr_server_watch_flush): a write per line cost a loop turn each, and a
 * watcher that reads at once took 4 MiB in seconds. */
void tr_server_broadcast(void *ud, const char *line)
{
	struct tr_server *srv = ud;
	size_t len = strlen(line) + 1;
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (!c->watching || c->closing)
			continue;
		if (c->unread + c->wlen + len > MAX_UNREAD_WATCH) {
			drop(c);
			continue;
		}
		if (c->wlen + len > c->wcap) {
			size_t cap = c->wcap ? c->wcap : 16384;
			while (cap < c->wlen + len)
				cap *= 2;
			char *p = realloc(c->wbuf, cap);
			if (!p) {
				tr_conn_close(c); /* out of memory: it would miss lines */
				continue;
			}
			c->wbuf = p;
			c->wcap = cap;
		}
		memcpy(c->wbuf + c->wlen, line, len - 1);
		c->wbuf[c->wlen + len - 1] = '\n';
		c->wlen += len;
	}
}

void tr_server_watch_flush(void *ud)
{
	struct tr_server *srv = ud;
	for (struct conn *c = srv->conns; c; c = c->next) {
		if (!c->wlen)
			continue;
		if (c->watching && !c->closing)
			send_bytes(c, c->wbuf, c->wlen, 0, 1);
		c->wlen = 0;
		if (c->wcap > (1u << 20)) { /* a burst's buffer is not kept for good */
			free(c->wbuf);
			c->wbuf = NULL;
			c->wcap = 0;
		}
	}
}

/* The counters `stats` and the metrics show: kept here with the
 * connections they count, so that a reader of them (metrics.c) need not
 * reach the listener above. */
void tr_server_get_stats(struct tr_server *srv, struct tr_server_stats *st)
{
	st->clients = srv->clients;
	st->pending_events = srv->pending_events;
	st->busy_answers = srv->busy_answers;
	st->watchers = srv->watchers;
	st->watchers_dropped = srv->watchers_dropped;
	if (tr_latency_summarize(&srv->ingest_latency, &st->ingest_answer) != 0)
		memset(&st->ingest_answer, 0, sizeof(st->ingest_answer));
}
