/* A socket client's connection, its lifetime and its writes: references and
 * libuv close discipline (a connection is freed only after its handle's
 * close callback and its last reference), answers and notifications
 * written with the count of bytes its client has not taken yet, and the
 * peer's going. Not reading or line framing (server.c), nor what a request
 * is or when it runs (server_queue.c); it calls neither. */
#include <stdlib.h>
#include <string.h>
#include "server_internal.h"
#include "tr_json.h"
#include "tr_log.h"

/* Notifications a `watch` client has not taken: past this it misses them
 * (counted); a burst of events can make many in one loop turn. */
#define MAX_UNREAD_WATCH (8u << 20)

struct write_req {
	uv_write_t req;
	struct conn *conn;
	size_t len;
	char data[];
};

void tr_conn_release(struct conn *c)
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
	tr_conn_release(c);
}

void tr_conn_close(struct conn *c)
{
	/* the drain deadline closes every handle of the loop directly */
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	c->closing = 1;
	uv_close((uv_handle_t *)&c->pipe, on_conn_closed);
}

void tr_conn_maybe_done(struct conn *c)
{
	if ((c->eof || c->srv->closing) && c->queued == 0 && c->unread == 0)
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
	c->srv->unread -= w->len;
	if (status < 0 && status != UV_ECANCELED) {
		log_debug("client write: %s", uv_strerror(status));
		tr_conn_gone(c);
	}
	free(w);
	tr_conn_maybe_done(c);
	tr_conn_release(c);
}

/* Queues body and a newline to c. */
static void send_line(struct conn *c, const char *body)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	size_t len = strlen(body);
	struct write_req *w = malloc(sizeof(*w) + len + 1);
	if (!w) {
		tr_conn_close(c);
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
		tr_conn_release(c);
		tr_conn_close(c);
	}
}

void tr_conn_send_answer(struct conn *c, cJSON *answer)
{
	if (c->closing || uv_is_closing((uv_handle_t *)&c->pipe))
		return;
	char *text = answer ? tr_json_print(answer) : NULL;
	send_line(c, text ? text : "{\"ok\":false,\"error\":{\"code\":\"internal\",\"message\":\"out of memory\"}}");
	free(text);
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
