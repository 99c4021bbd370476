/* The Unix-socket server's front: the listener and accepting clients (peer
 * credentials, limits.max_clients), reading each connection with bounded
 * buffers and splitting it into request lines, pausing and resuming reads
 * when a client has too much queued or unread, and the server's start,
 * drain on SIGTERM and close. Not what happens to a line once read (queues,
 * scheduling, group commit, held answers: server_queue.c), nor a
 * connection's lifetime and writes (server_conn.c), nor the operations
 * (protocol.c). The limits of all three files are listed together in
 * server_internal.h. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <unistd.h>
#include "server_internal.h"
#include "tr_log.h"

#define READ_CHUNK 65536
#define MAX_QUEUED_PER_CONN 64        /* requests a client may have in flight */
/* Bytes of request lines a client may have queued: one longer line is
 * still taken, alone (limits.request_bytes bounds it). */
#define MAX_QUEUED_BYTES_PER_CONN (4u << 20)

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

static void take_line(struct conn *c, const char *line, size_t len)
{
	while (len && (line[len - 1] == '\r' || line[len - 1] == ' ' || line[len - 1] == '\t'))
		len--;
	if (len == 0)
		return;
	char *copy = malloc(len);
	if (!copy) {
		tr_conn_close(c);
		return;
	}
	memcpy(copy, line, len);
	tr_queue_add(c->srv, c, copy, len, NULL);
}

/* Whether c may have more of its requests taken (SPEC §6 overload: past
 * these it is paused, and its client's writes wait in its own socket). */
static int may_read(const struct conn *c)
{
	return !c->closing && c->queued < MAX_QUEUED_PER_CONN && c->queued_bytes < MAX_QUEUED_BYTES_PER_CONN &&
	       c->unread < MAX_UNREAD_ANSWERS;
}

/* Queues the complete lines in c's buffer while c may take more; the rest
 * stays in the buffer until it may (resume_reads). */
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
			tr_queue_add(srv, c, NULL, 0,
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
			tr_conn_gone(c);
		tr_conn_maybe_done(c);
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
		tr_conn_close(c);
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
		tr_conn_send_answer(c, busy);
		cJSON_Delete(busy);
		c->eof = 1;
		tr_conn_maybe_done(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->pipe, on_alloc, on_read);
}

/* Reads again from the connections paused for having too much queued or
 * unread, once that is down to half (so a client near a limit is not
 * paused and resumed on every request). */
static void resume_reads(struct tr_server *srv)
{
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
}

static void on_check(uv_check_t *h)
{
	struct tr_server *srv = h->data;
	tr_queue_run(srv);
	resume_reads(srv);
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
	/* SPEC §8 SIGTERM drains: what was read is still run and answered for
	 * a bounded time, the rest dropped unanswered (tr_queue_drain) */
	tr_queue_drain(srv);
	for (struct conn *c = srv->conns; c; c = c->next)
		tr_conn_maybe_done(c);
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
		tr_conn_close(c);
	tr_queue_answer_held(srv);
}

void tr_server_free(struct tr_server *srv)
{
	free(srv);
}

