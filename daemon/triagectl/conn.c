/* triagectl's side of the socket protocol (SPEC §6): where the socket is,
 * connecting on first use (so usage errors are found before a missing
 * daemon), one request line out and one answer line in, "busy" retried with
 * backoff, and the exit code each failure means (SPEC §7: 1 the daemon said
 * no, 3 no daemon). The connection is a non-blocking Unix stream socket with
 * a bounded buffer for answers; writing also drains answers that arrive
 * meanwhile, so pipelined requests cannot deadlock against a daemon blocked
 * on writing. Not the pipelining of ingest batches (ingest.c) nor what an
 * answer means to a command (cmd_*.c). */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/un.h>
#include "tr_config.h"
#include "tr_error.h"
#include "triagectl.h"

#define ANSWER_MAX       ((size_t)64 << 20)  /* longest answer line accepted */

static int connect_finish(int fd)
{
	/* A connect(2) interrupted by a signal completes asynchronously. */
	struct pollfd p = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t len = sizeof(err);
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return errno;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return errno;
	return err;
}

/* Returns 0, or a negative errno (-ENAMETOOLONG for a path sun_path cannot hold). */
static int conn_open(struct conn *k, const char *path)
{
	struct sockaddr_un sa;
	size_t n = strlen(path);
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno == EINTR ? connect_finish(fd) : errno;
		if (err) {
			close(fd);
			return -err;
		}
	}
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	k->fd = fd;
	return 0;
}

void conn_close(struct conn *k)
{
	if (k->fd >= 0)
		close(k->fd);
	free(k->buf);
	memset(k, 0, sizeof(*k));
	k->fd = -1;
}

/* Waits for events on the socket; returns the revents or a negative errno. */
static int conn_wait(struct conn *k, short events)
{
	struct pollfd p = { .fd = k->fd, .events = events };
	while (poll(&p, 1, -1) < 0)
		if (errno != EINTR)
			return -errno;
	return p.revents;
}

/* Reads what has arrived. Returns the byte count, 0 at end of stream,
 * -EAGAIN when nothing is ready, -EMSGSIZE when the buffer would pass one
 * answer's limit, or a negative errno. */
static ssize_t conn_fill(struct conn *k)
{
	if (k->end == k->cap && k->pos > 0) {
		memmove(k->buf, k->buf + k->pos, k->end - k->pos);
		k->end -= k->pos;
		k->pos = 0;
	}
	if (k->end == k->cap) {
		if (k->cap >= ANSWER_MAX + 1)
			return -EMSGSIZE;
		size_t cap = k->cap ? k->cap * 2 : 65536;
		if (cap > ANSWER_MAX + 1)
			cap = ANSWER_MAX + 1;
		k->buf = xrealloc(k->buf, cap);
		k->cap = cap;
	}
	ssize_t n;
	do
		n = read(k->fd, k->buf + k->end, k->cap - k->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? -EAGAIN : -errno;
	k->end += (size_t)n;
	return n;
}

/* The next answer line, NUL-terminated without its newline, valid until the
 * next conn_ call. Returns 0, -ECONNRESET at end of stream (also inside a
 * line), -EMSGSIZE for a line over ANSWER_MAX, or a negative errno. */
static int conn_read_line(struct conn *k, char **line, size_t *len)
{
	for (;;) {
		size_t have = k->end - k->pos;
		char *nl = have > k->scanned ? memchr(k->buf + k->pos + k->scanned, '\n', have - k->scanned) : NULL;
		if (nl) {
			*nl = '\0';
			*line = k->buf + k->pos;
			*len = (size_t)(nl - *line);
			k->pos = (size_t)(nl - k->buf) + 1;
			k->scanned = 0;
			return 0;
		}
		k->scanned = have;
		ssize_t n = conn_fill(k);
		if (n == -EAGAIN) {
			int r = conn_wait(k, POLLIN);
			if (r < 0)
				return r;
			continue;
		}
		if (n < 0)
			return (int)n;
		if (n == 0)
			return -ECONNRESET;
	}
}

/* Writes all of p, handling partial writes and EINTR. Returns 0 or a
 * negative errno (-EPIPE when the daemon hung up). */
static int conn_write_all(struct conn *k, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = send(k->fd, p, len, MSG_NOSIGNAL);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int r = conn_wait(k, POLLOUT | POLLIN);
		if (r < 0)
			return r;
		if (r & (POLLIN | POLLHUP)) {
			ssize_t m = conn_fill(k);
			if (m == 0)
				return -EPIPE;
			if (m < 0 && m != -EAGAIN)
				return (int)m;
		}
	}
	return 0;
}

/* The socket path, in this order: --socket, $TRIAGED_SOCKET, the `socket`
 * key of the -c config, $RUNTIME_DIRECTORY/triaged.sock (SPEC §1; the first
 * of a colon-separated list, as systemd sets it), /run/triaged/triaged.sock.
 * Returns 0 or CTL_USAGE when the config cannot be read (errors printed). */
static int resolve_socket(struct ctl *c)
{
	const char *env = getenv("TRIAGED_SOCKET");
	if (c->socket_opt) {
		c->socket_path = xstrdup(c->socket_opt);
	} else if (env && *env) {
		c->socket_path = xstrdup(env);
	} else if (c->config_path) {
		struct tr_config cfg;
		struct tr_errors errs = {0};
		int rc = tr_config_load(c->config_path, &cfg, &errs);
		if (rc == 0 && cfg.socket_path)
			c->socket_path = xstrdup(cfg.socket_path);
		for (size_t i = 0; rc != 0 && i < errs.n; i++) {
			char msg[1024];
			tr_error_format(&errs.items[i], msg, sizeof(msg));
			fprintf(stderr, "triagectl: %s\n", msg);
		}
		if (rc != 0 && errs.n == 0)
			fprintf(stderr, "triagectl: %s: %s\n", c->config_path, tr_strerror(rc));
		tr_config_free(&cfg);
		tr_errors_free(&errs);
		if (rc != 0)
			return CTL_USAGE;
	}
	if (!c->socket_path) {
		env = getenv("RUNTIME_DIRECTORY");
		if (env && *env)
			c->socket_path = xasprintf("%.*s/triaged.sock", (int)strcspn(env, ":"), env);
		else
			c->socket_path = xstrdup(DEFAULT_SOCKET);
	}
	return 0;
}

/* Connects on first use, so usage errors are found before a missing daemon. */
static int ctl_connect(struct ctl *c)
{
	if (c->conn.fd >= 0)
		return 0;
	if (!c->socket_path) {
		int rc = resolve_socket(c);
		if (rc)
			return rc;
	}
	int rc = conn_open(&c->conn, c->socket_path);
	if (rc < 0) {
		const char *hint = rc == -EACCES || rc == -EPERM ? " (is your user in triaged's group?)" :
				   rc == -ENAMETOOLONG ? "" : " (is triaged running?)";
		fprintf(stderr, "triagectl: cannot connect to %s: %s%s\n", c->socket_path, strerror(-rc), hint);
		return CTL_NODAEMON;
	}
	return 0;
}

/* Sends one request line (text ends in '\n'). Returns 0 or an exit code. */
int ctl_send(struct ctl *c, const char *text, size_t len)
{
	int rc = ctl_connect(c);
	if (rc)
		return rc;
	rc = conn_write_all(&c->conn, text, len);
	if (rc < 0) {
		if (rc == -EMSGSIZE) {
			fprintf(stderr, "triagectl: answer from triaged longer than %zu MiB\n", ANSWER_MAX >> 20);
			return CTL_NO;
		}
		fprintf(stderr, "triagectl: lost connection to triaged: %s\n", strerror(-rc));
		return CTL_NODAEMON;
	}
	return 0;
}

/* Reads the next answer into *resp (an object; the caller deletes it) and,
 * when raw is not NULL, a heap copy of its line into *raw. Returns 0 or an
 * exit code, with nothing to free. */
int ctl_recv(struct ctl *c, cJSON **resp, char **raw)
{
	char *line = NULL;
	size_t len = 0;
	int rc = conn_read_line(&c->conn, &line, &len);
	*resp = NULL;
	if (rc == -EMSGSIZE) {
		fprintf(stderr, "triagectl: answer from triaged longer than %zu MiB\n", ANSWER_MAX >> 20);
		return CTL_NO;
	}
	if (rc == -ECONNRESET) {
		fprintf(stderr, "triagectl: triaged closed the connection\n");
		return CTL_NODAEMON;
	}
	if (rc < 0) {
		fprintf(stderr, "triagectl: lost connection to triaged: %s\n", strerror(-rc));
		return CTL_NODAEMON;
	}
	cJSON *r = cJSON_ParseWithLength(line, len);
	if (!cJSON_IsObject(r)) {
		cJSON_Delete(r);
		fprintf(stderr, "triagectl: malformed answer from triaged\n");
		return CTL_NO;
	}
	*resp = r;
	if (raw)
		*raw = xstrndup(line, len);
	return 0;
}

bool resp_ok(const cJSON *r)
{
	return cJSON_IsTrue(jget(r, "ok"));
}

bool resp_busy(const cJSON *r)
{
	const char *code = jstr(jget(r, "error"), "code");
	return !resp_ok(r) && code && strcmp(code, "busy") == 0;
}

/* "code: message" of an error answer, for the terminal; the caller frees it. */
char *resp_error(const cJSON *r)
{
	const cJSON *e = jget(r, "error");
	const char *code = jstr(e, "code"), *msg = jstr(e, "message");
	if (cJSON_IsString(e))
		return clean(xasprintf("error: %s", e->valuestring));
	return clean(xasprintf("%s: %s", code ? code : "error", msg ? msg : "request failed"));
}

/* One request, one answer, retrying "busy" with backoff for about
 * BUSY_GIVEUP_MS. With print_raw the final answer line goes to stdout as
 * received. An error answer is reported as "triagectl: code: message".
 * Returns 0 with *out set (the caller deletes it), or an exit code with
 * *out NULL. */
int ctl_exchange(struct ctl *c, const char *text, size_t len, bool print_raw, cJSON **out)
{
	uint64_t start = mono_ms();
	unsigned delay = BUSY_FIRST_MS;
	*out = NULL;
	for (;;) {
		cJSON *r;
		char *raw = NULL;
		int rc = ctl_send(c, text, len);
		if (!rc)
			rc = ctl_recv(c, &r, print_raw ? &raw : NULL);
		if (rc)
			return rc;
		if (resp_busy(r) && mono_ms() - start + delay <= BUSY_GIVEUP_MS) {
			cJSON_Delete(r);
			free(raw);
			sleep_ms(delay);
			delay = delay * 2 > BUSY_MAX_MS ? BUSY_MAX_MS : delay * 2;
			continue;
		}
		if (raw) {
			puts(raw);
			free(raw);
		}
		if (!resp_ok(r)) {
			char *msg = resp_error(r);
			fprintf(stderr, "triagectl: %s\n", msg);
			free(msg);
			cJSON_Delete(r);
			return CTL_NO;
		}
		*out = r;
		return 0;
	}
}

cJSON *request(const char *op)
{
	cJSON *req = jcheck(cJSON_CreateObject());
	jcheck(cJSON_AddStringToObject(req, "op", op));
	return req;
}

void req_str(cJSON *req, const char *key, const char *value)
{
	if (value)
		jcheck(cJSON_AddStringToObject(req, key, value));
}

void req_num(cJSON *req, const char *key, long long value)
{
	jcheck(cJSON_AddNumberToObject(req, key, (double)value));
}

/* Sends req (consumed) and waits for its answer; with --json the answer is
 * printed as received. Returns 0 with *resp, or an exit code. */
int ctl_call(struct ctl *c, cJSON *req, cJSON **resp)
{
	char *text = cJSON_PrintUnformatted(req);
	cJSON_Delete(req);
	if (!text)
		oom();
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	text[n] = '\n';
	text[n + 1] = '\0';
	int rc = ctl_exchange(c, text, n + 1, c->json, resp);
	free(text);
	return rc;
}
