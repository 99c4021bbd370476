/* `triagectl ingest FILE|-`: events from a file or stdin, NDJSON
 * (streamed) or a .json document (one object or an array, read whole up to
 * JSON_FILE_MAX and cut into elements by the JSON decoder's own scanner,
 * tr_json_scan_* in tr_decode.h; stdin is an array when it starts with '['),
 * sent in requests of INGEST_EVENTS events, up to INGEST_INFLIGHT of them in
 * flight (answers come back in order), batches answered "busy" sent again
 * with backoff. Every event remembers its input line so the daemon's
 * rejected[].index maps back to "FILE:LINE: message"; lines that are not
 * JSON objects are rejected here, with their line. Memory stays bounded
 * whatever the input size. Not the daemon's decoding of dropped files
 * (decode*.c), nor the socket (conn.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include "tr_decode.h"
#include "triagectl.h"

#define INGEST_EVENTS    500                 /* events per ingest request */
#define INGEST_BYTES     ((size_t)8 << 20)   /* and at most this much JSON (daemon's request_bytes default is 16 MiB) */
#define INGEST_INFLIGHT  4                   /* ingest requests awaiting an answer */
#define INGEST_LINE_MAX  ((size_t)8 << 20)   /* longest NDJSON line read */
#define JSON_FILE_MAX    ((size_t)256 << 20) /* largest .json document read whole */

struct batch {
	struct buf req;       /* {"op":"ingest","id":N,"events":[...]}\n */
	long *lines;          /* input line of each event */
	size_t n, cap;
	unsigned long id;
	uint64_t busy_since;  /* mono_ms of its first busy answer, 0: none */
};

struct rejection {
	long line;            /* 0: unknown */
	size_t order;         /* keeps the sort stable */
	char *msg;
};

struct ingest {
	struct ctl *c;
	const char *label;                        /* file name in messages */
	struct batch *cur;                        /* being filled */
	struct batch *sent[INGEST_INFLIGHT];      /* awaiting answers, oldest first */
	size_t head, nsent;
	struct batch *busy[INGEST_INFLIGHT];      /* answered busy, to send again */
	size_t nbusy;
	unsigned long next_id;
	long long accepted, duplicates;
	struct rejection *rej;
	size_t nrej, caprej;
	struct buf scratch;
};

static void batch_free(struct batch *b)
{
	if (!b)
		return;
	free(b->req.p);
	free(b->lines);
	free(b);
}

static void ingest_reject(struct ingest *g, long line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void ingest_reject(struct ingest *g, long line, const char *fmt, ...)
{
	if (g->nrej == g->caprej) {
		g->caprej = g->caprej ? g->caprej * 2 : 16;
		g->rej = xrealloc(g->rej, g->caprej * sizeof(*g->rej));
	}
	va_list ap;
	char *msg;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		oom();
	va_end(ap);
	g->rej[g->nrej] = (struct rejection){ .line = line, .order = g->nrej, .msg = clean(msg) };
	g->nrej++;
}

/* Takes in one batch's answer: counts, and rejections mapped to lines. */
static int ingest_answer(struct ingest *g, struct batch *b, const cJSON *r)
{
	const cJSON *id = jget(r, "id"), *it;
	if (cJSON_IsNumber(id) && id->valuedouble != (double)b->id) {
		fprintf(stderr, "triagectl: answer out of order (id %g, expected %lu)\n", id->valuedouble, b->id);
		return CTL_NO;
	}
	if (!resp_ok(r)) {
		/* The whole request was refused (bad_request, too_large, …): every
		 * event in it is rejected, each at its line. */
		char *msg = resp_error(r);
		for (size_t i = 0; i < b->n; i++)
			ingest_reject(g, b->lines[i], "%s", msg);
		free(msg);
		return 0;
	}
	g->accepted += (long long)jnum(r, "accepted");
	g->duplicates += (long long)jnum(r, "duplicates");
	const cJSON *rej = jget(r, "rejected");
	cJSON_ArrayForEach(it, jarray(rej)) {
		long long idx;
		const cJSON *err = jget(it, "error");
		const char *msg = cJSON_IsString(err) ? err->valuestring : jstr(err, "message");
		long line = jint(jget(it, "index"), &idx) && idx >= 0 && (size_t)idx < b->n ? b->lines[idx] : 0;
		ingest_reject(g, line, "%s", msg ? msg : "rejected");
	}
	return 0;
}

/* Reads the answer to the oldest request in flight. A busy batch is set
 * aside for ingest_retry. */
static int ingest_collect(struct ingest *g)
{
	struct batch *b = g->sent[g->head];
	cJSON *r;
	g->sent[g->head] = NULL;
	g->head = (g->head + 1) % INGEST_INFLIGHT;
	g->nsent--;
	int rc = ctl_recv(g->c, &r, NULL);
	if (rc) {
		batch_free(b);
		return rc;
	}
	if (resp_busy(r)) {
		if (!b->busy_since)
			b->busy_since = mono_ms();
		g->busy[g->nbusy++] = b;
		cJSON_Delete(r);
		return 0;
	}
	rc = ingest_answer(g, b, r);
	cJSON_Delete(r);
	batch_free(b);
	return rc;
}

/* The daemon is overloaded: let the pipeline drain, then send the busy
 * batches again, one at a time with backoff, each for up to BUSY_GIVEUP_MS
 * after its first busy answer. (A batch sent after a busy one may have been
 * taken before it; each event is still taken exactly once.) */
static int ingest_retry(struct ingest *g)
{
	int rc;
	while (g->nsent)
		if ((rc = ingest_collect(g)))
			return rc;
	for (size_t i = 0; i < g->nbusy; i++) {
		struct batch *b = g->busy[i];
		unsigned delay = BUSY_FIRST_MS;
		for (;;) {
			cJSON *r;
			if (mono_ms() - b->busy_since + delay > BUSY_GIVEUP_MS) {
				fprintf(stderr, "triagectl: busy: triaged is overloaded; gave up after %d s\n", BUSY_GIVEUP_MS / 1000);
				return CTL_NO;
			}
			sleep_ms(delay);
			delay = delay * 2 > BUSY_MAX_MS ? BUSY_MAX_MS : delay * 2;
			if ((rc = ctl_send(g->c, b->req.p, b->req.len)) || (rc = ctl_recv(g->c, &r, NULL)))
				return rc;
			if (resp_busy(r)) {
				cJSON_Delete(r);
				continue;
			}
			rc = ingest_answer(g, b, r);
			cJSON_Delete(r);
			if (rc)
				return rc;
			break;
		}
		batch_free(b);
		g->busy[i] = NULL;
	}
	g->nbusy = 0;
	return 0;
}

/* Sends the batch being filled, first waiting for room in the pipeline. */
static int ingest_flush(struct ingest *g)
{
	struct batch *b = g->cur;
	int rc;
	g->cur = NULL;
	if (!b || b->n == 0) {
		batch_free(b);
		return 0;
	}
	buf_adds(&b->req, "]}\n");
	for (;;) {
		if (g->nbusy && (rc = ingest_retry(g)))
			goto fail;
		if (g->nsent < INGEST_INFLIGHT)
			break;
		if ((rc = ingest_collect(g)))
			goto fail;
	}
	if ((rc = ctl_send(g->c, b->req.p, b->req.len)))
		goto fail;
	g->sent[(g->head + g->nsent) % INGEST_INFLIGHT] = b;
	g->nsent++;
	return 0;
fail:
	batch_free(b);
	return rc;
}

/* Adds one validated event (compact JSON, one line) read at line. */
static int ingest_event(struct ingest *g, long line, const char *text, size_t len)
{
	int rc;
	if (g->cur && (g->cur->n == INGEST_EVENTS || g->cur->req.len + len + 4 > INGEST_BYTES))
		if ((rc = ingest_flush(g)))
			return rc;
	if (!g->cur) {
		struct batch *b = xrealloc(NULL, sizeof(*b));
		memset(b, 0, sizeof(*b));
		b->id = ++g->next_id;
		char head[64];
		snprintf(head, sizeof(head), "{\"op\":\"ingest\",\"id\":%lu,\"events\":[", b->id);
		buf_adds(&b->req, head);
		g->cur = b;
	}
	struct batch *b = g->cur;
	if (b->n == b->cap) {
		b->cap = b->cap ? b->cap * 2 : 64;
		b->lines = xrealloc(b->lines, b->cap * sizeof(*b->lines));
	}
	if (b->n)
		buf_add(&b->req, ",", 1);
	buf_add(&b->req, text, len);
	b->lines[b->n++] = line;
	return 0;
}

static bool is_space(char ch)
{
	return ch == ' ' || ch == '\t' || ch == '\r' || ch == '\n';
}

/* Checks that text (len bytes, NUL-terminated, writable) is one JSON object
 * and queues it compacted onto one line; anything else is rejected at line. */
static int ingest_text(struct ingest *g, long line, char *text, size_t len)
{
	const char *end = NULL;
	if (memchr(text, '\0', len)) {
		ingest_reject(g, line, "NUL byte in the event");
		return 0;
	}
	cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, false);
	if (!j) {
		size_t col = end && end >= text && end <= text + len ? (size_t)(end - text) + 1 : 1;
		ingest_reject(g, line, "invalid JSON at column %zu", col);
		return 0;
	}
	bool object = cJSON_IsObject(j);
	cJSON_Delete(j);
	while (end < text + len && is_space(*end))
		end++;
	if (!object) {
		ingest_reject(g, line, "not a JSON object");
		return 0;
	}
	if (end < text + len) {
		ingest_reject(g, line, "invalid JSON at column %zu: text after the object", (size_t)(end - text) + 1);
		return 0;
	}
	cJSON_Minify(text); /* valid JSON: only drops whitespace between tokens */
	return ingest_event(g, line, text, strlen(text));
}

/* Input: a file descriptor read through a buffer, line by line or whole. */
struct reader {
	int fd;
	char *buf;
	size_t pos, end, cap;
	bool eof;
};

/* Reads more; returns bytes read, 0 at end of input, or a negative errno. */
static ssize_t reader_fill(struct reader *r)
{
	if (r->pos > 0 && r->pos == r->end)
		r->pos = r->end = 0;
	if (r->end + 1 >= r->cap && r->pos > 0) {
		memmove(r->buf, r->buf + r->pos, r->end - r->pos);
		r->end -= r->pos;
		r->pos = 0;
	}
	if (r->end + 1 >= r->cap) {
		r->cap = r->cap ? r->cap * 2 : 65536;
		r->buf = xrealloc(r->buf, r->cap);
	}
	ssize_t n;
	do
		n = read(r->fd, r->buf + r->end, r->cap - r->end - 1); /* room for a NUL */
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (n == 0)
		r->eof = true;
	r->end += (size_t)n;
	return n;
}

/* The next line, NUL-terminated, without "\n" or "\r\n", valid until the
 * next call. A line longer than max is skipped whole and flagged *toolong.
 * Returns 1, 0 at end of input, or a negative errno. */
static int reader_line(struct reader *r, size_t max, char **line, size_t *len, bool *toolong)
{
	size_t scanned = 0;
	*toolong = false;
	for (;;) {
		size_t have = r->end - r->pos;
		char *nl = have > scanned ? memchr(r->buf + r->pos + scanned, '\n', have - scanned) : NULL;
		if (nl || r->eof) {
			if (!nl && have == 0 && !*toolong)
				return 0;
			char *start = r->buf + r->pos, *stop = nl ? nl : r->buf + r->end;
			r->pos = nl ? (size_t)(nl - r->buf) + 1 : r->end;
			if (*toolong || (size_t)(stop - start) > max) {
				*toolong = true;
				stop = start; /* its head was dropped, or it came in one read */
			} else if (stop > start && stop[-1] == '\r') {
				stop--;
			}
			*stop = '\0'; /* reader_fill keeps a byte free for this */
			*line = start;
			*len = (size_t)(stop - start);
			return 1;
		}
		if (have > max) { /* drop what we have; keep skipping to the newline */
			*toolong = true;
			r->pos = r->end;
			have = 0;
		}
		scanned = have;
		ssize_t n = reader_fill(r);
		if (n < 0)
			return (int)n;
	}
}

/* The rest of the input, whole. Returns 0 with *data (in r->buf, NUL-
 * terminated) and *len, -EFBIG past max, or a negative errno. */
static int reader_all(struct reader *r, size_t max, char **data, size_t *len)
{
	while (!r->eof) {
		if (r->end - r->pos > max)
			return -EFBIG;
		ssize_t n = reader_fill(r);
		if (n < 0)
			return (int)n;
	}
	if (r->end - r->pos > max)
		return -EFBIG;
	if (!r->buf) {
		r->buf = xrealloc(NULL, 1);
		r->cap = 1;
	}
	r->buf[r->end] = '\0';
	*data = r->buf + r->pos;
	*len = r->end - r->pos;
	return 0;
}

static int ingest_ndjson(struct ingest *g, struct reader *r)
{
	char *line = NULL;
	size_t len = 0;
	bool toolong;
	long lineno = 0;
	int rc;
	while ((rc = reader_line(r, INGEST_LINE_MAX, &line, &len, &toolong)) == 1) {
		lineno++;
		if (lineno == 1 && len >= 3 && memcmp(line, "\xef\xbb\xbf", 3) == 0)
			line += 3, len -= 3;
		if (toolong) {
			ingest_reject(g, lineno, "line longer than %zu MiB", INGEST_LINE_MAX >> 20);
			continue;
		}
		size_t i = 0;
		while (i < len && is_space(line[i]))
			i++;
		if (i == len)
			continue; /* blank lines are allowed */
		if ((rc = ingest_text(g, lineno, line, len)))
			return rc;
	}
	if (rc < 0) {
		fprintf(stderr, "triagectl: %s: %s\n", g->label, strerror(-rc));
		return CTL_NO;
	}
	return 0;
}

static const char *skip_ws(const char *p, const char *end, long *line)
{
	for (; p < end && is_space(*p); p++)
		if (*p == '\n')
			(*line)++;
	return p;
}

/* The end of the JSON value at p (exclusive), with the newlines in it
 * counted into *line: cut by the core library's scanner, the one the
 * daemon's JSON decoder cuts arrays with (tr_decode.h). p itself when no
 * value starts there (',', ']' or '}': an empty element); NULL when a string
 * or bracket runs past end. Only finds the boundary: cJSON validates each
 * value. p < end, and *p is not whitespace. */
static const char *json_value_end(const char *p, const char *end, long *line)
{
	struct tr_json_scan s;
	bool done;
	if (*p == ',' || *p == ']' || *p == '}')
		return p;
	tr_json_scan_begin(&s, *p);
	const char *e = p + 1 + tr_json_scan_next(&s, p + 1, (size_t)(end - p - 1), &done);
	if (!done && !tr_json_scan_whole_at_end(&s))
		return NULL;
	for (const char *q = p; (q = memchr(q, '\n', (size_t)(e - q))) != NULL; q++)
		(*line)++;
	return e;
}

/* One value of a .json document, at line: copied so it can be compacted. */
static int ingest_value(struct ingest *g, long line, const char *p, size_t len)
{
	g->scratch.len = 0;
	buf_add(&g->scratch, p, len);
	return ingest_text(g, line, g->scratch.p, len);
}

/* A .json document: one event object, or an array of them, each element
 * reported at the line where it starts. A broken array stops at the break
 * (what came before is ingested) and is reported there. */
static int ingest_document(struct ingest *g, const char *doc, size_t len)
{
	const char *p = doc, *end = doc + len, *e;
	long line = 1, at;
	int rc;
	if (len >= 3 && memcmp(p, "\xef\xbb\xbf", 3) == 0)
		p += 3;
	p = skip_ws(p, end, &line);
	if (p == end)
		return 0;
	if (*p != '[') {
		at = line;
		e = json_value_end(p, end, &line);
		if (!e || e == p) {
			ingest_reject(g, at, "invalid JSON");
			return 0;
		}
		if (skip_ws(e, end, &line) != end) {
			ingest_reject(g, line, "invalid JSON: text after the value (want one object or an array)");
			return 0;
		}
		return ingest_value(g, at, p, (size_t)(e - p));
	}
	p = skip_ws(p + 1, end, &line);
	if (p < end && *p == ']')
		p++;
	else
		for (;;) {
			at = line;
			e = p < end ? json_value_end(p, end, &line) : NULL;
			if (!e || e == p) {
				ingest_reject(g, at, "invalid JSON%s", p < end ? "" : ": the array is not closed");
				return 0;
			}
			if ((rc = ingest_value(g, at, p, (size_t)(e - p))))
				return rc;
			p = skip_ws(e, end, &line);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end, &line);
				continue;
			}
			if (p < end && *p == ']') {
				p++;
				break;
			}
			ingest_reject(g, line, "invalid JSON: expected ',' or ']'%s", p < end ? "" : " before the end");
			return 0;
		}
	if (skip_ws(p, end, &line) != end)
		ingest_reject(g, line, "invalid JSON: text after the array");
	return 0;
}

static int cmp_rejection(const void *a, const void *b)
{
	const struct rejection *x = a, *y = b;
	long lx = x->line ? x->line : LONG_MAX, ly = y->line ? y->line : LONG_MAX;
	if (lx != ly)
		return lx < ly ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

/* Prints the outcome: the summary and each rejection as FILE:LINE, or with
 * --json one object shaped like the daemon's ingest answer, summed over all
 * requests, whose rejections carry "line" instead of a request's index. */
static int ingest_report(struct ingest *g)
{
	if (g->nrej > 1)
		qsort(g->rej, g->nrej, sizeof(*g->rej), cmp_rejection);
	if (g->c->json) {
		cJSON *o = jcheck(cJSON_CreateObject()), *arr;
		jcheck(cJSON_AddTrueToObject(o, "ok"));
		jcheck(cJSON_AddStringToObject(o, "file", g->label));
		jcheck(cJSON_AddNumberToObject(o, "accepted", (double)g->accepted));
		jcheck(cJSON_AddNumberToObject(o, "duplicates", (double)g->duplicates));
		arr = jcheck(cJSON_AddArrayToObject(o, "rejected"));
		for (size_t i = 0; i < g->nrej; i++) {
			cJSON *it = jcheck(cJSON_CreateObject());
			cJSON_AddItemToArray(arr, it);
			if (g->rej[i].line)
				jcheck(cJSON_AddNumberToObject(it, "line", (double)g->rej[i].line));
			jcheck(cJSON_AddStringToObject(it, "error", g->rej[i].msg));
		}
		char *s = cJSON_PrintUnformatted(o);
		cJSON_Delete(o);
		if (!s)
			oom();
		puts(s);
		free(s);
	} else {
		printf("accepted %lld, duplicates %lld, rejected %zu\n", g->accepted, g->duplicates, g->nrej);
		for (size_t i = 0; i < g->nrej; i++) {
			if (g->rej[i].line)
				printf("%s:%ld: %s\n", g->label, g->rej[i].line, g->rej[i].msg);
			else
				printf("%s: %s\n", g->label, g->rej[i].msg);
		}
	}
	return g->nrej ? CTL_NO : CTL_OK;
}

static bool has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcasecmp(s + n - m, suffix) == 0;
}

int cmd_ingest(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	bool from_stdin = strcmp(argv[0], "-") == 0;
	struct ingest g = { .c = c, .label = from_stdin ? "<stdin>" : argv[0] };
	struct reader r = { .fd = STDIN_FILENO };
	bool document = has_suffix(argv[0], ".json");
	int rc = 0;
	if (!from_stdin && (r.fd = open(argv[0], O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "triagectl: %s: %s\n", argv[0], strerror(errno));
		return CTL_USAGE;
	}
	while (from_stdin) {
		/* stdin is NDJSON, unless it starts with '[': a JSON array. */
		size_t i = r.pos;
		if (r.end - i >= 3 && memcmp(r.buf + i, "\xef\xbb\xbf", 3) == 0)
			i += 3;
		while (i < r.end && is_space(r.buf[i]))
			i++;
		if (i < r.end) {
			document = r.buf[i] == '[';
			break;
		}
		if (r.eof || r.end - r.pos > INGEST_LINE_MAX)
			break;
		ssize_t n = reader_fill(&r);
		if (n < 0) {
			rc = (int)n;
			break;
		}
	}
	if (rc == 0 && document) {
		char *doc = NULL;
		size_t len = 0;
		rc = reader_all(&r, JSON_FILE_MAX, &doc, &len);
		if (rc == 0)
			rc = ingest_document(&g, doc, len);
	} else if (rc == 0) {
		rc = ingest_ndjson(&g, &r);
	}
	if (rc < 0) {
		if (rc == -EFBIG)
			fprintf(stderr, "triagectl: %s: larger than %zu MiB; use NDJSON for big inputs\n",
				g.label, JSON_FILE_MAX >> 20);
		else
			fprintf(stderr, "triagectl: %s: %s\n", g.label, strerror(-rc));
		rc = CTL_USAGE;
	}
	if (rc == 0)
		rc = ingest_flush(&g);
	while (rc == 0 && (g.nsent || g.nbusy))
		rc = g.nbusy ? ingest_retry(&g) : ingest_collect(&g);
	if (rc == 0)
		rc = ingest_report(&g);
	else if (g.accepted || g.duplicates)
		fprintf(stderr, "triagectl: stopped after accepted %lld, duplicates %lld (those are recorded)\n",
			g.accepted, g.duplicates);

	batch_free(g.cur);
	for (size_t i = 0; i < g.nsent; i++)
		batch_free(g.sent[(g.head + i) % INGEST_INFLIGHT]);
	for (size_t i = 0; i < g.nbusy; i++)
		batch_free(g.busy[i]);
	for (size_t i = 0; i < g.nrej; i++)
		free(g.rej[i].msg);
	free(g.rej);
	free(g.scratch.p);
	free(r.buf);
	if (!from_stdin)
		close(r.fd);
	return rc;
}
