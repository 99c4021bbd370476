/* What one delivery looks like to each kind of output, apart from the
 * loop that makes them (outputs.c): the journal's line, a dir output's
 * file written atomically, an exec output's arguments with their
 * placeholders and its stdin, and a digest's payload. Each function works
 * on one notification (or a digest's rows) and keeps nothing. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "outputs_internal.h"
#include "tr_buf.h"
#include "tr_fs.h"
#include "tr_log.h"

#define SUMMARY_MAX 1024 /* bytes of a digest's {message}: the first messages, then "…" */

/* ---- journal, dir ------------------------------------------------------- */

void tr_output_journal(const struct tr_notification *x)
{
	cJSON *p = cJSON_Parse(x->payload);
	const cJSON *m = cJSON_GetObjectItemCaseSensitive(p, "message");
	log_info("notify %s: %s", x->output, cJSON_IsString(m) ? m->valuestring : x->payload);
	cJSON_Delete(p);
}

static int write_all(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* SPEC §3 exactly-once for dir outputs: <dir>/<id, 12 digits>.json is
 * written under a dot-name readers ignore, flushed, renamed into place and
 * the folder flushed; the name depends only on the row, so a re-delivery
 * (crash before the row was marked) replaces the file, never adds one.
 * The file holds the payload and a newline. 0, or -1 with err set. */
int tr_output_dir(const char *dir, const struct tr_notification *x, char *err, size_t errlen)
{
	int rc = tr_mkdirs(dir, 0750);
	if (rc) {
		snprintf(err, errlen, "cannot create %s: %s", dir, strerror(-rc));
		return -1;
	}
	char path[PATH_MAX], tmp[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%012lld.json", dir, (long long)x->id) >= (int)sizeof(path) ||
	    snprintf(tmp, sizeof(tmp), "%s/.%012lld.json.tmp", dir, (long long)x->id) >= (int)sizeof(tmp)) {
		snprintf(err, errlen, "%s: path too long", dir);
		return -1;
	}
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0640);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		return -1;
	}
	if (write_all(fd, x->payload, strlen(x->payload)) < 0 || write_all(fd, "\n", 1) < 0 ||
	    fsync(fd) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		return -1;
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
		return -1;
	}
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 || (fsync(dfd) < 0 && errno != EINVAL && errno != ENOTSUP)) {
		/* the file is in place but maybe not durably: try again (same name) */
		snprintf(err, errlen, "cannot flush %s: %s", dir, strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return -1;
	}
	close(dfd);
	return 0;
}

/* ---- exec: its arguments and its stdin ----------------------------------- */

/* The text of a payload value for an argument: strings as they are,
 * integers without a fraction, null or absent as "". */
static void add_value(struct tr_buf *b, const cJSON *v)
{
	char num[64];
	if (cJSON_IsString(v)) {
		tr_buf_add(b, v->valuestring, strlen(v->valuestring));
	} else if (cJSON_IsNumber(v)) {
		if (v->valuedouble == (double)(long long)v->valuedouble)
			snprintf(num, sizeof(num), "%lld", (long long)v->valuedouble);
		else
			snprintf(num, sizeof(num), "%.17g", v->valuedouble);
		tr_buf_add(b, num, strlen(num));
	} else if (cJSON_IsBool(v)) {
		tr_buf_add(b, cJSON_IsTrue(v) ? "true" : "false", cJSON_IsTrue(v) ? 4 : 5);
	}
}

static const char *const ticket_keys[] = {"id", "key", "title", "priority", "account", "due_at"};
static const char *const event_keys[] = {"type", "id"};

static int name_is(const char *name, size_t len, const char *want)
{
	return strlen(want) == len && memcmp(name, want, len) == 0;
}

/* Appends the value of placeholder name (without braces) and returns 1,
 * or returns 0 when the name is not a placeholder (left as written). */
static int add_placeholder(struct tr_buf *b, const char *name, size_t len, const cJSON *p,
			   const struct tr_notification *x)
{
	char num[32];
	if (name_is(name, len, "id")) {
		snprintf(num, sizeof(num), "%lld", (long long)x->id);
		tr_buf_add(b, num, strlen(num));
		return 1;
	}
	if (name_is(name, len, "output")) {
		tr_buf_add(b, x->output, strlen(x->output));
		return 1;
	}
	if (name_is(name, len, "message")) {
		add_value(b, cJSON_GetObjectItemCaseSensitive(p, "message"));
		return 1;
	}
	if (len > 7 && memcmp(name, "ticket.", 7) == 0) {
		for (size_t i = 0; i < sizeof(ticket_keys) / sizeof(ticket_keys[0]); i++)
			if (name_is(name + 7, len - 7, ticket_keys[i])) {
				const cJSON *t = cJSON_GetObjectItemCaseSensitive(p, "ticket");
				add_value(b, cJSON_GetObjectItemCaseSensitive(t, ticket_keys[i]));
				return 1;
			}
	}
	if (len > 6 && memcmp(name, "event.", 6) == 0) {
		for (size_t i = 0; i < sizeof(event_keys) / sizeof(event_keys[0]); i++)
			if (name_is(name + 6, len - 6, event_keys[i])) {
				const cJSON *e = cJSON_GetObjectItemCaseSensitive(p, "event");
				add_value(b, cJSON_GetObjectItemCaseSensitive(e, event_keys[i]));
				return 1;
			}
	}
	return 0;
}

/* One argument with its placeholders replaced: a malloc'd string the
 * caller frees, or NULL when out of memory. "{name}" is replaced when
 * name is known, anything else (also "{{id}}" around a known one) is kept
 * as written. p (the parsed payload) may be NULL: values are then "". */
char *tr_output_arg(const char *arg, const cJSON *p, const struct tr_notification *x)
{
	struct tr_buf b = {0};
	tr_buf_add(&b, "", 0);
	for (const char *s = arg; *s;) {
		const char *end = s[0] == '{' ? strpbrk(s + 1, "{}") : NULL;
		if (end && *end == '}' && add_placeholder(&b, s + 1, (size_t)(end - s - 1), p, x)) {
			s = end + 1;
			continue;
		}
		const char *next = strchr(s + 1, '{');
		size_t n = next ? (size_t)(next - s) : strlen(s);
		tr_buf_add(&b, s, n);
		s += n;
	}
	if (b.oom) {
		tr_buf_free(&b);
		return NULL;
	}
	return b.p;
}

/* The child's stdin: an anonymous file holding the payload, read from its
 * start. A file rather than a pipe: a child that never reads cannot block
 * us, and one that exits early cannot raise SIGPIPE here. The fd (close on
 * exec; uv_spawn dups it onto 0), or -1 with err set. */
int tr_output_stdin(const char *payload, char *err, size_t errlen)
{
	int fd = memfd_create("triaged-notification", MFD_CLOEXEC);
	if (fd < 0) {
		FILE *f = tmpfile();
		if (f) {
			fd = fcntl(fileno(f), F_DUPFD_CLOEXEC, 0);
			fclose(f);
		}
	}
	if (fd < 0 || write_all(fd, payload, strlen(payload)) < 0 || lseek(fd, 0, SEEK_SET) < 0) {
		snprintf(err, errlen, "cannot prepare stdin: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* ---- digests -------------------------------------------------------------- */

/* The digest of rows g: {"digest": true, "count": N, "message": "N
 * notifications: first; second; …", "notifications": [each payload]}, the
 * message short enough for an argument ({message}) and the journal. A
 * malloc'd text the caller frees, or NULL when out of memory. */
char *tr_output_digest(const struct tr_notification *g, int ng)
{
	struct tr_buf sum = {0};
	char head[64];
	snprintf(head, sizeof(head), "%d notifications: ", ng);
	tr_buf_add(&sum, head, strlen(head));
	cJSON *d = cJSON_CreateObject(), *list = cJSON_CreateArray();
	for (int k = 0; k < ng; k++) {
		cJSON *p = cJSON_Parse(g[k].payload);
		const cJSON *msg = cJSON_GetObjectItemCaseSensitive(p, "message");
		const char *text = cJSON_IsString(msg) ? msg->valuestring : "";
		if (sum.len < SUMMARY_MAX) {
			if (k)
				tr_buf_add(&sum, "; ", 2);
			size_t room = SUMMARY_MAX - sum.len, len = strlen(text);
			tr_buf_add(&sum, text, len < room ? len : room);
			if (len >= room)
				tr_buf_add(&sum, "…", strlen("…"));
		} else if (k == ng - 1) {
			tr_buf_add(&sum, "; …", strlen("; …"));
		}
		cJSON_AddItemToArray(list, p ? p : cJSON_CreateString(g[k].payload));
	}
	tr_buf_add(&sum, "", 1);
	char *text = NULL;
	if (d && list && !sum.oom) {
		cJSON_AddBoolToObject(d, "digest", 1);
		cJSON_AddNumberToObject(d, "count", ng);
		cJSON_AddStringToObject(d, "output", g[0].output);
		cJSON_AddStringToObject(d, "message", sum.p);
		cJSON_AddItemToObject(d, "notifications", list);
		list = NULL;
		text = cJSON_PrintUnformatted(d);
	}
	cJSON_Delete(list);
	cJSON_Delete(d);
	tr_buf_free(&sum);
	return text;
}
