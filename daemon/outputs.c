/* Delivering the outbox (SPEC §5 notify): a libuv timer runs passes that
 * read the due, undelivered rows in batches and hand each to its output —
 * the journal (a log line), watch (the socket's live subscribers, at most
 * once), a dir output (one file per notification, named by the row's id and
 * written atomically, so a re-delivery after a crash overwrites the same
 * file: exactly once) or an exec output (an argv with placeholders, no
 * shell, the payload on stdin, a timeout, at most MAX_CHILDREN at a time:
 * at least once). Success marks the row delivered (delivered rows are kept
 * KEEP_DELIVERED, then pruned); a failure records the error and schedules a
 * retry with exponential backoff, so nothing is ever dropped. Not what is
 * notified or when (notify.c and the rules queue rows in their event's
 * transaction), nor how watch lines reach clients (server.c). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "tr_buf.h"
#include "tr_error.h"
#include "tr_fs.h"
#include "tr_log.h"
#include "tr_outputs.h"
#include "tr_silences.h"
#include "tr_time.h"

#define BATCH 64                 /* rows read per pass */
#define MAX_CHILDREN 4           /* exec outputs running at once */
#define PASS_MS 20               /* synchronous deliveries per pass; then the loop breathes */
#define DEFAULT_TIMEOUT_MS 10000 /* exec timeout when the config gives none */
#define MAX_BACKOFF 3600         /* seconds: retries slow down to once an hour */
#define GONE_RETRY 3600          /* seconds: a row whose output left the config */
#define KEEP_DELIVERED (7 * 86400) /* seconds a delivered row stays in the outbox */
#define HOLD_MS 1000             /* after a store error, the next pass waits this long */
#define POLL_MS 1000             /* re-check while due rows wait for a child or a slot */
#define MAX_SLEEP_MS 60000       /* never sleep longer: wall-clock steps are caught up */
#define CLOSE_GRACE_MS 4000      /* at close, children get this long (under main.c's 5 s drain) */
#define ERRLEN 256

/* One exec child. The handles are embedded; the slot is free again only
 * when both close callbacks have run (handles == 0). */
struct child {
	struct tr_outputs *o;
	uv_process_t proc;
	uv_timer_t timer;     /* the timeout */
	int handles;          /* initialised and not yet closed-back handles */
	int running;          /* spawned and its exit not seen yet */
	int64_t id;           /* the row in flight; 0 when none */
	int attempts;         /* the row's attempts before this one */
	int timeout_ms;
	int timed_out;        /* killed at its timeout: a failure */
	int cut_short;        /* its timer was shortened by close */
	int shutdown_kill;    /* killed by close or free: not the output's fault */
	char output[64];
};

/* The outcome of one synchronous delivery, recorded with the others of
 * its pass in one transaction. */
struct result {
	int64_t id;
	int ok;
	int64_t next_at;      /* failures: when to try again */
	const char *watch;    /* payload to broadcast once the commit holds */
	char error[ERRLEN];
};

struct tr_outputs {
	struct tr_daemon *d;     /* borrowed; not touched once freed is set */
	uv_timer_t timer;        /* the next pass */
	int armed;
	uint64_t armed_due;      /* uv_now() ms the pass is armed for */
	uint64_t hold_until;     /* uv_now() ms: no pass before (store trouble) */
	int handles;             /* open handles: the timer and the children's */
	int closing, freed;
	void (*broadcast)(void *ud, const char *json);
	void *broadcast_ud;
	uint64_t rng;
	struct child children[MAX_CHILDREN];
	struct tr_notification rows[BATCH];
	struct result results[BATCH];
};

static void on_pass(uv_timer_t *t);

/* ---- lifetimes ---------------------------------------------------------- */

/* o is freed only here, once the owner has let go and the last handle is
 * closed: a close callback may still arrive after tr_outputs_free. */
static void release(struct tr_outputs *o)
{
	if (--o->handles == 0 && o->freed)
		free(o);
}

static void timer_closed(uv_handle_t *h)
{
	release(h->data);
}

static void arm_ms(struct tr_outputs *o, uint64_t ms);

static void child_closed(uv_handle_t *h)
{
	struct child *c = h->data;
	struct tr_outputs *o = c->o;
	if (--c->handles == 0 && !o->closing)
		arm_ms(o, 0); /* a free slot: rows waiting for one can go */
	release(o);
}

/* ---- arming ------------------------------------------------------------- */

/* Arms a pass in ms, unless one is armed sooner (repeated pokes coalesce).
 * At least 1 ms: libuv 1.44 runs a 0 ms timer re-armed from its own
 * callback again in the same pass, which would starve the socket. */
static void arm_ms(struct tr_outputs *o, uint64_t ms)
{
	if (o->closing)
		return;
	if (ms == 0)
		ms = 1;
	uint64_t now = uv_now(o->d->loop);
	if (o->hold_until > now + ms)
		ms = o->hold_until - now;
	uint64_t due = now + ms;
	if (o->armed && o->armed_due <= due)
		return;
	o->armed = 1;
	o->armed_due = due;
	uv_timer_start(&o->timer, on_pass, ms, 0);
}

static int64_t realtime_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Arms a pass for next_at (seconds, wall clock). */
static void arm_at(struct tr_outputs *o, int64_t next_at)
{
	int64_t ms = next_at * 1000 - realtime_ms() + 5;
	if (ms < 0)
		ms = 0;
	if (ms > MAX_SLEEP_MS)
		ms = MAX_SLEEP_MS;
	arm_ms(o, (uint64_t)ms);
}

/* After a store error: nothing is lost (the rows stay as they were), the
 * next pass just waits a little. */
static void hold(struct tr_outputs *o)
{
	uv_update_time(o->d->loop); /* the failure may have waited out the busy timeout */
	o->hold_until = uv_now(o->d->loop) + HOLD_MS;
	arm_ms(o, HOLD_MS);
}

/* ---- retries ------------------------------------------------------------ */

static uint64_t next_random(struct tr_outputs *o)
{
	o->rng ^= o->rng << 13;
	o->rng ^= o->rng >> 7;
	o->rng ^= o->rng << 17;
	return o->rng;
}

/* Seconds until the next try after a failure of a row tried `attempts`
 * times before: 2^attempts s capped at an hour, plus up to 10 % jitter so
 * many rows failing together do not retry together. */
static int64_t backoff(struct tr_outputs *o, int attempts)
{
	int64_t delay = attempts < 12 && attempts >= 0 ? (int64_t)1 << attempts : MAX_BACKOFF;
	if (delay > MAX_BACKOFF)
		delay = MAX_BACKOFF;
	if (delay >= 10)
		delay += (int64_t)(next_random(o) % (uint64_t)(delay / 10));
	return delay;
}

/* Fills r as a failure to be retried; logs it once for this attempt. */
static void failed(struct result *r, const char *output, int attempts, int64_t delay, int64_t now)
{
	r->ok = 0;
	r->next_at = now + delay;
	log_warnx("notify %s: notification %lld failed (attempt %d): %s; next try in %lld s", output,
		  (long long)r->id, attempts + 1, r->error, (long long)delay);
}

struct outcome_row {
	struct tr_store *store;
	int64_t id, next_at, now;
	int ok;
	const char *error;
};

static int write_outcome(void *ud)
{
	const struct outcome_row *x = ud;
	return x->ok ? tr_store_outbox_done(x->store, x->id, x->now, x->now - KEEP_DELIVERED)
		     : tr_store_outbox_retry(x->store, x->id, x->next_at, x->error);
}

/* Records one row's outcome in its own small transaction (exec children
 * finish one at a time). Returns 0 or a store error (then logged, and the
 * row is left as it was: it will be tried again). */
static int record(struct tr_outputs *o, int64_t id, int ok, int64_t next_at, const char *error,
		  int64_t now)
{
	struct tr_txn *txn = &o->d->ingest.txn;
	if (TR_FAILS(!txn->open))
		return TR_ESTORE; /* never commit someone else's half-done work */
	struct outcome_row x = {.store = o->d->store, .id = id, .next_at = next_at, .now = now, .ok = ok,
			       .error = error};
	int rc = tr_txn_run(txn, write_outcome, &x);
	if (rc) {
		log_errx("outputs: cannot record notification %lld (%s); it stays pending", (long long)id,
			 tr_strerror(rc));
		hold(o);
	}
	return rc;
}

/* ---- journal, dir ------------------------------------------------------- */

static void deliver_journal(const struct tr_notification *x)
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
static int deliver_dir(const char *dir, const struct tr_notification *x, char *err, size_t errlen)
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

/* ---- exec --------------------------------------------------------------- */

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
static char *substitute(const char *arg, const cJSON *p, const struct tr_notification *x)
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
static int payload_fd(const char *payload, char *err, size_t errlen)
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

static void on_child_exit(uv_process_t *proc, int64_t exit_status, int term_signal);

static void on_child_timeout(uv_timer_t *t)
{
	struct child *c = t->data;
	if (!c->running)
		return;
	if (c->cut_short)
		c->shutdown_kill = 1;
	else
		c->timed_out = 1;
	/* the child leads its own process group (UV_PROCESS_DETACHED): take
	 * what it started along with it */
	kill(-c->proc.pid, SIGKILL);
	uv_process_kill(&c->proc, SIGKILL);
}

/* Starts row x on output out in slot c. Returns 0 (the row is in flight;
 * on_child_exit records it), or -1 with err set (the caller records the
 * failure; the slot frees itself once its handle is closed). */
static int spawn(struct tr_outputs *o, struct child *c, const struct tr_output *out,
		 const struct tr_notification *x, char *err, size_t errlen)
{
	char **argv = calloc(out->nexec_argv + 1, sizeof(*argv));
	cJSON *p = cJSON_Parse(x->payload);
	int oom = !argv;
	for (size_t i = 0; !oom && i < out->nexec_argv; i++)
		oom = !(argv[i] = substitute(out->exec_argv[i], p, x));
	cJSON_Delete(p);
	int fd = -1;
	if (oom)
		snprintf(err, errlen, "out of memory");
	else if (out->nexec_argv == 0)
		snprintf(err, errlen, "empty exec command");
	else
		fd = payload_fd(x->payload, err, errlen);
	int rc = -1;
	if (fd >= 0) {
		uv_stdio_container_t stdio[3] = {
			{.flags = UV_INHERIT_FD, .data.fd = fd},
			{.flags = UV_IGNORE},
			{.flags = UV_INHERIT_FD, .data.fd = STDERR_FILENO}, /* its complaints reach the journal */
		};
		uv_process_options_t opt = {
			.exit_cb = on_child_exit,
			.file = argv[0],
			.args = argv,
			.flags = UV_PROCESS_DETACHED,
			.stdio_count = 3,
			.stdio = stdio,
		};
		memset(c, 0, sizeof(*c));
		c->o = o;
		c->proc.data = c;
		rc = uv_spawn(o->d->loop, &c->proc, &opt);
		close(fd);
		/* the process handle is initialised whether or not the spawn
		 * worked: it is closed either way */
		c->handles = 1;
		o->handles++;
		if (rc < 0) {
			snprintf(err, errlen, "cannot run %s: %s", argv[0], strerror(-rc));
			uv_close((uv_handle_t *)&c->proc, child_closed);
			rc = -1;
		} else {
			uv_timer_init(o->d->loop, &c->timer);
			c->timer.data = c;
			c->handles = 2;
			o->handles++;
			c->running = 1;
			c->id = x->id;
			c->attempts = x->attempts;
			c->timeout_ms = out->timeout_ms > 0 ? out->timeout_ms : DEFAULT_TIMEOUT_MS;
			snprintf(c->output, sizeof(c->output), "%s", x->output);
			uv_timer_start(&c->timer, on_child_timeout, (uint64_t)c->timeout_ms, 0);
			log_debug("notify %s: notification %lld: started %s (pid %d)", x->output,
				  (long long)x->id, argv[0], c->proc.pid);
		}
	}
	for (size_t i = 0; argv && i < out->nexec_argv; i++)
		free(argv[i]);
	free(argv);
	return rc;
}

/* Exit 0 confirms the row; anything else (a status, a signal, the
 * timeout) schedules a retry. Also while closing: what finishes during the
 * drain is recorded, so a restart does not run it again. */
static void on_child_exit(uv_process_t *proc, int64_t exit_status, int term_signal)
{
	struct child *c = proc->data;
	struct tr_outputs *o = c->o;
	c->running = 0;
	uv_timer_stop(&c->timer);
	int64_t id = c->id;
	c->id = 0;
	if (c->shutdown_kill) {
		log_warnx("notify %s: notification %lld was still running at shutdown; killed, it stays pending",
			  c->output, (long long)id);
	} else if (!o->freed) {
		struct result r = {.id = id, .ok = 1};
		if (c->timed_out)
			snprintf(r.error, sizeof(r.error), "timed out after %d ms", c->timeout_ms);
		else if (term_signal)
			snprintf(r.error, sizeof(r.error), "killed by signal %d (%s)", term_signal,
				 strsignal(term_signal));
		else if (exit_status != 0)
			snprintf(r.error, sizeof(r.error), "exit status %lld", (long long)exit_status);
		int64_t now = tr_time_now();
		if (r.error[0])
			failed(&r, c->output, c->attempts, backoff(o, c->attempts), now);
		if (record(o, id, r.error[0] == 0, r.next_at, r.error, now) == 0 && r.error[0] == 0)
			log_debug("notify %s: notification %lld delivered", c->output, (long long)id);
	}
	uv_close((uv_handle_t *)&c->proc, child_closed);
	uv_close((uv_handle_t *)&c->timer, child_closed);
}

/* ---- passes ------------------------------------------------------------- */

static int in_flight(const struct tr_outputs *o, int64_t id)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (o->children[i].handles && o->children[i].id == id)
			return 1;
	return 0;
}

static struct child *free_slot(struct tr_outputs *o)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (o->children[i].handles == 0)
			return &o->children[i];
	return NULL;
}

struct pass_rows {
	struct tr_outputs *o;
	int nres;
	int64_t now;
};

static int write_pass(void *ud)
{
	const struct pass_rows *x = ud;
	int rc = 0;
	for (int i = 0; rc == 0 && i < x->nres; i++) {
		const struct result *r = &x->o->results[i];
		rc = r->ok ? tr_store_outbox_done(x->o->d->store, r->id, x->now, x->now - KEEP_DELIVERED)
			   : tr_store_outbox_retry(x->o->d->store, r->id, r->next_at, r->error);
	}
	return rc;
}

/* Records the synchronous outcomes of a pass in one transaction, then
 * tells the watchers. SPEC §5 watch, at most once: only what the commit
 * marked delivered is broadcast. Returns 0 or a store error. */
static int record_pass(struct tr_outputs *o, int nres, int64_t now)
{
	struct tr_daemon *d = o->d;
	if (nres == 0)
		return 0;
	if (TR_FAILS(!d->ingest.txn.open))
		return TR_ESTORE;
	struct pass_rows x = {.o = o, .nres = nres, .now = now};
	int rc = tr_txn_run(&d->ingest.txn, write_pass, &x);
	if (rc) {
		log_errx("outputs: cannot record %d deliveries (%s); they stay pending", nres, tr_strerror(rc));
		return rc;
	}
	for (int i = 0; i < nres; i++)
		if (o->results[i].watch && o->broadcast)
			o->broadcast(o->broadcast_ud, o->results[i].watch);
	return 0;
}

/* One pass: the due rows not already in flight, oldest first, each to its
 * output, for up to PASS_MS; then re-armed for what is left. */
static void run_pass(struct tr_outputs *o)
{
	struct tr_daemon *d = o->d;
	int64_t now = tr_time_now();
	uint64_t deadline = tr_mono_ms() + PASS_MS;
	int n = 0;
	if (tr_store_outbox_pending(d->store, now, BATCH, o->rows, &n)) {
		log_errx("outputs: cannot read the outbox: %s", tr_store_errmsg(d->store));
		hold(o);
		return;
	}
	int nres = 0, progress = 0, more = 0;
	for (int i = 0; i < n; i++) {
		const struct tr_notification *x = &o->rows[i];
		/* SPEC §6 silence: a row a silence matches is held until it ends */
		if (in_flight(o, x->id) || tr_silences_hold(d, x, now))
			continue;
		if (progress && tr_mono_ms() > deadline) {
			more = 1;
			break;
		}
		struct result *r = &o->results[nres];
		memset(r, 0, sizeof(*r));
		r->id = x->id;
		r->ok = 1;
		const struct tr_output *out = tr_config_output(&d->cfg, x->output);
		if (strcmp(x->output, "journal") == 0) {
			deliver_journal(x);
		} else if (strcmp(x->output, "watch") == 0) {
			r->watch = x->payload; /* watchers are a live stream: nobody listening is fine */
		} else if (out && out->dir) {
			if (deliver_dir(out->dir, x, r->error, sizeof(r->error)))
				failed(r, x->output, x->attempts, backoff(o, x->attempts), now);
		} else if (out && out->exec_argv) {
			struct child *c = free_slot(o);
			if (!c)
				continue; /* a freed slot arms the next pass */
			progress++;
			if (spawn(o, c, out, x, r->error, sizeof(r->error)) == 0)
				continue; /* on_child_exit records it */
			failed(r, x->output, x->attempts, backoff(o, x->attempts), now);
		} else {
			/* SPEC §5 retried until it succeeds: the config changed under a
			 * queued row; keep it and look again in an hour */
			snprintf(r->error, sizeof(r->error), "output %s is no longer configured", x->output);
			failed(r, x->output, x->attempts, GONE_RETRY, now);
		}
		progress++;
		nres++;
	}
	int rc = record_pass(o, nres, now);
	tr_notifications_free(o->rows, n);
	if (rc) {
		hold(o);
		return;
	}
	if (more || (n == BATCH && progress)) {
		arm_ms(o, 0); /* the rest after the loop breathes */
		return;
	}
	int64_t next = 0;
	if (tr_store_outbox_next(d->store, &next)) {
		log_errx("outputs: cannot read the outbox: %s", tr_store_errmsg(d->store));
		hold(o);
		return;
	}
	if (next > now)
		arm_at(o, next);
	else if (next > 0)
		arm_ms(o, POLL_MS); /* due rows are in flight or wait for a slot */
}

static void on_pass(uv_timer_t *t)
{
	struct tr_outputs *o = t->data;
	o->armed = 0;
	if (o->closing || o->d->writes_paused)
		return; /* tr_outputs_resume arms it again */
	if (o->hold_until > uv_now(o->d->loop)) {
		arm_ms(o, o->hold_until - uv_now(o->d->loop));
		return;
	}
	run_pass(o);
}

/* ---- the interface -------------------------------------------------------- */

int tr_outputs_start(struct tr_daemon *d, struct tr_outputs **out)
{
	*out = NULL;
	struct tr_outputs *o = calloc(1, sizeof(*o));
	if (!o)
		return -ENOMEM;
	o->d = d;
	o->rng = (uv_hrtime() ^ ((uint64_t)getpid() << 32)) | 1;
	for (int i = 0; i < MAX_CHILDREN; i++)
		o->children[i].o = o;
	uv_timer_init(d->loop, &o->timer);
	o->timer.data = o;
	o->handles = 1;
	tr_store_outbox_hint(d->store); /* the first pass reads everything anyway */
	arm_ms(o, 0); /* what the last run left pending goes now */
	*out = o;
	return 0;
}

/* Arms an immediate pass when the last commits queued a notification (the
 * store's outbox hint), so the commits outputs make themselves, and those
 * that queue nothing, cost nothing. */
void tr_outputs_poke(struct tr_outputs *o)
{
	if (!o || o->closing)
		return;
	if (tr_store_outbox_hint(o->d->store))
		arm_ms(o, 0);
}

void tr_outputs_resume(struct tr_outputs *o)
{
	if (o)
		arm_ms(o, 0);
}

void tr_outputs_set_watch(struct tr_outputs *o, void (*broadcast)(void *ud, const char *json), void *ud)
{
	if (!o)
		return;
	o->broadcast = broadcast;
	o->broadcast_ud = ud;
}

/* No pass runs after this. A running child keeps its timeout, cut to
 * CLOSE_GRACE_MS so the drain ends before main.c's deadline closes every
 * handle; one killed for that reason leaves its row untouched (pending,
 * not counted as an attempt), one that finishes is recorded. */
void tr_outputs_close(struct tr_outputs *o)
{
	if (!o || o->closing)
		return;
	o->closing = 1;
	o->broadcast = NULL;
	uv_close((uv_handle_t *)&o->timer, timer_closed);
	for (int i = 0; i < MAX_CHILDREN; i++) {
		struct child *c = &o->children[i];
		if (c->running && uv_timer_get_due_in(&c->timer) > CLOSE_GRACE_MS) {
			c->cut_short = 1;
			uv_timer_start(&c->timer, on_child_timeout, CLOSE_GRACE_MS, 0);
		}
	}
}

/* Lets go of o: freed now when every handle is closed (the contract: close,
 * run the loop, free), else by the last close callback. A child still
 * running is killed, since its outcome can no longer be recorded. */
void tr_outputs_free(struct tr_outputs *o)
{
	if (!o)
		return;
	tr_outputs_close(o);
	o->freed = 1;
	for (int i = 0; i < MAX_CHILDREN; i++) {
		struct child *c = &o->children[i];
		if (c->running) {
			c->shutdown_kill = 1;
			kill(-c->proc.pid, SIGKILL);
			uv_process_kill(&c->proc, SIGKILL);
		}
	}
	if (o->handles == 0)
		free(o);
}
