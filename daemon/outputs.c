/* Delivering the outbox (SPEC §5 notify): a libuv timer runs passes that
 * read the due, undelivered rows in batches and hand each to its output —
 * the journal (a log line), watch (the socket's live subscribers, at most
 * once), a dir output (one file per notification, named by the row's id and
 * written atomically, so a re-delivery after a crash overwrites the same
 * file: exactly once) or an exec output (an argv with placeholders, no
 * shell, the payload on stdin, a timeout, at most MAX_CHILDREN at a time:
 * at least once). Success marks the row delivered (delivered rows are kept
 * KEEP_DELIVERED, then pruned); a failure records the error and schedules a
 * retry with exponential backoff, until the output's `attempts` or
 * `max_age` runs out: then the row is parked as failed (kept, not dropped,
 * until `outbox retry` puts it back) with one warning line, and the output
 * counts as degraded. An output with a `group_wait` sends what gathers
 * within it as one digest. Each output's counters live here (struct
 * out_state). Not what one delivery looks like to each kind of output
 * (output_kinds.c), what is notified or when (notify.c and the rules queue
 * rows in their event's transaction), nor how watch lines reach clients
 * (server.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "outputs_internal.h"
#include "tr_buf.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_notify.h"
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
#define GROUP_MAX 100            /* a digest holds at most this many; that many waiting go at once */
#define RESULTS_MAX (BATCH + GROUP_MAX) /* a pass's outcomes: its batch, and one digest */
#define MAX_TRACKED 128          /* outputs with counters: the config's, the two built in, a few gone */

/* A row a delivery carries: what deciding its failure needs. */
struct member {
	int64_t id;
	int attempts;         /* before this try */
	int64_t since;        /* when its age began (tr_notification.since) */
};

/* One output's counters and state, since start (struct tr_output_stats
 * adds what the table holds). */
struct out_state {
	char name[64];
	uint64_t delivered, failed_attempts, parked;
	int failing;          /* its last try failed, none succeeded since */
	char last_error[ERRLEN];
	int64_t group_at;     /* a digest forming: when it goes (0 none) */
	uint64_t pass_seen;   /* the pass that last looked at its group */
};

/* One exec child. The handles are embedded; the slot is free again only
 * when both close callbacks have run (handles == 0). */
struct child {
	struct tr_outputs *o;
	uv_process_t proc;
	uv_timer_t timer;     /* the timeout */
	int handles;          /* initialised and not yet closed-back handles */
	int running;          /* spawned and its exit not seen yet */
	int64_t id;           /* the (first) row in flight; 0 when none */
	struct member m[GROUP_MAX]; /* the rows it carries: one, or a digest's */
	int nm;
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
	int park;             /* failed for the last time: parked, not retried */
	int defer;            /* not tried: its group goes at next_at */
	int64_t next_at;      /* failures: when to try again */
	const char *watch;    /* payload to broadcast once the commit holds */
	const char *output;   /* borrowed for the pass or the child's exit */
	int attempts;         /* before this try */
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
	int held_in_pass;        /* this pass held a row for a silence */
	void (*broadcast)(void *ud, const char *json);
	void *broadcast_ud;
	uint64_t rng;
	struct child children[MAX_CHILDREN];
	struct tr_notification rows[BATCH];
	struct tr_notification group[GROUP_MAX]; /* a digest's rows, read in a pass */
	struct result results[RESULTS_MAX];
	struct result child_results[GROUP_MAX]; /* an exec child's outcomes, at its exit */
	struct out_state track[MAX_TRACKED];
	int ntrack;
	uint64_t passes;
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

/* ---- each output's state ------------------------------------------------ */

/* The counters of output name, added on first sight; NULL when
 * MAX_TRACKED outputs have some already (its rows are still delivered,
 * parked and shown from the table, only not counted since start). */
static struct out_state *track(struct tr_outputs *o, const char *name)
{
	for (int i = 0; i < o->ntrack; i++)
		if (strcmp(o->track[i].name, name) == 0)
			return &o->track[i];
	if (o->ntrack == MAX_TRACKED)
		return NULL;
	struct out_state *st = &o->track[o->ntrack++];
	memset(st, 0, sizeof(*st));
	/* a copy by length: gcc -O3 cannot tell that name is not inside o */
	size_t n = strnlen(name, sizeof(st->name) - 1);
	memcpy(st->name, name, n);
	st->name[n] = '\0';
	return st;
}

/* Fills r as a failure of the row m: parked when this was its last
 * allowed try (the output's `attempts`) or it has outlived `max_age` (an
 * output the config no longer names keeps the defaults), else retried
 * after delay (< 0: the backoff). Each retry is a debug line only: the
 * lines for people are the output's state changes and the parked rows
 * (settled). */
static void failed(struct tr_outputs *o, struct result *r, const struct member *m, int64_t delay, int64_t now)
{
	const struct tr_output *out = tr_config_output(&o->d->cfg, r->output);
	/* 0: not set (an output built by hand rather than read from a file) */
	int attempts = out && out->attempts > 0 ? out->attempts : TR_OUTPUT_ATTEMPTS;
	int64_t max_age = out && out->max_age > 0 ? out->max_age : TR_OUTPUT_MAX_AGE;
	r->ok = 0;
	r->attempts = m->attempts;
	if (m->attempts + 1 >= attempts || now - m->since >= max_age) {
		r->park = 1;
		return;
	}
	if (delay < 0)
		delay = backoff(o, m->attempts);
	r->next_at = now + delay;
	log_debug("notify %s: notification %lld failed (attempt %d): %s; next try in %lld s", r->output,
		  (long long)r->id, m->attempts + 1, r->error, (long long)delay);
}

/* The outcome of one delivery for each row it carried (one, or a
 * digest's): delivered when err is empty, else failed (see failed). */
static void outcomes(struct tr_outputs *o, const char *output, const struct member *m, int nm, const char *err,
		     int64_t delay, const char *watch, int64_t now, struct result *res)
{
	for (int k = 0; k < nm; k++) {
		struct result *r = &res[k];
		memset(r, 0, sizeof(*r));
		r->id = m[k].id;
		r->output = output;
		r->ok = 1;
		if (!err || !err[0]) {
			r->watch = k == 0 ? watch : NULL;
			continue;
		}
		snprintf(r->error, sizeof(r->error), "%s", err);
		failed(o, r, &m[k], delay, now);
	}
}

/* Once the commit holds: the watchers get what was delivered (SPEC §5
 * watch, at most once), each output's counters move, and the log gets
 * one line when an output starts failing, one when it recovers, and one
 * per delivery parked (a digest's rows in one line), never one per retry. */
static void settled(struct tr_outputs *o, const struct result *res, int n)
{
	for (int i = 0; i < n; i++) {
		const struct result *r = &res[i];
		if (r->defer)
			continue;
		struct out_state *st = track(o, r->output);
		if (r->ok) {
			if (r->watch && o->broadcast)
				o->broadcast(o->broadcast_ud, r->watch);
			if (st && st->failing)
				log_info("output %s recovered: notification %lld delivered", r->output, (long long)r->id);
			if (st) {
				st->delivered++;
				st->failing = 0;
			}
			continue;
		}
		if (st) {
			if (!st->failing && !r->park)
				log_warnx("output %s failing: %s (retrying)", r->output, r->error);
			st->failing = 1;
			st->failed_attempts++;
			st->parked += r->park != 0;
			snprintf(st->last_error, sizeof(st->last_error), "%s", r->error);
		}
		if (!r->park || (i > 0 && res[i - 1].park && strcmp(res[i - 1].output, r->output) == 0))
			continue; /* the line of the row before says it */
		int more = 0;
		while (i + 1 + more < n && res[i + 1 + more].park && strcmp(res[i + 1 + more].output, r->output) == 0)
			more++;
		if (more)
			log_warnx("output %s: %d notifications (%lld and the next) parked as failed: %s; "
				  "`triagectl outbox retry --all` sends them again", r->output, more + 1,
				  (long long)r->id, r->error);
		else
			log_warnx("output %s: notification %lld parked as failed after %d attempts: %s; "
				  "`triagectl outbox retry %lld` sends it again", r->output, (long long)r->id,
				  r->attempts + 1, r->error, (long long)r->id);
	}
}

struct results_txn {
	struct tr_store *store;
	const struct result *res;
	int n;
	int64_t now;
};

static int write_results(void *ud)
{
	const struct results_txn *x = ud;
	int rc = 0;
	for (int i = 0; rc == 0 && i < x->n; i++) {
		const struct result *r = &x->res[i];
		if (r->defer)
			rc = tr_store_outbox_defer(x->store, r->id, r->next_at);
		else if (r->ok)
			rc = tr_store_outbox_done(x->store, r->id, x->now, x->now - KEEP_DELIVERED);
		else if (r->park)
			rc = tr_store_outbox_park(x->store, r->id, x->now, r->error);
		else
			rc = tr_store_outbox_retry(x->store, r->id, r->next_at, r->error);
	}
	return rc;
}

/* Records n outcomes in one transaction, then settles them. Returns 0, or
 * a store error (logged; the rows are left as they were: they will be
 * tried again). */
static int record(struct tr_outputs *o, const struct result *res, int n, int64_t now)
{
	struct tr_txn *txn = &o->d->ingest.txn;
	if (n == 0)
		return 0;
	if (TR_FAILS(!txn->open))
		return TR_ESTORE; /* never commit someone else's half-done work */
	struct results_txn x = {.store = o->d->store, .res = res, .n = n, .now = now};
	int rc = tr_txn_run(txn, write_results, &x);
	if (rc) {
		log_errx("outputs: cannot record %d deliveries (%s); they stay pending", n, tr_strerror(rc));
		return rc;
	}
	settled(o, res, n);
	return 0;
}

/* ---- exec --------------------------------------------------------------- */

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

/* Starts x (a row, or a digest standing for the rows m) on output out in
 * slot c. Returns 0 (in flight; on_child_exit records it), or -1 with err
 * set (the caller records the failure; the slot frees itself once its
 * handle is closed). */
static int spawn(struct tr_outputs *o, struct child *c, const struct tr_output *out,
		 const struct tr_notification *x, const struct member *m, int nm, char *err, size_t errlen)
{
	char **argv = calloc(out->nexec_argv + 1, sizeof(*argv));
	cJSON *p = cJSON_Parse(x->payload);
	int oom = !argv;
	for (size_t i = 0; !oom && i < out->nexec_argv; i++)
		oom = !(argv[i] = tr_output_arg(out->exec_argv[i], p, x));
	cJSON_Delete(p);
	int fd = -1;
	if (oom)
		snprintf(err, errlen, "out of memory");
	else if (out->nexec_argv == 0)
		snprintf(err, errlen, "empty exec command");
	else
		fd = tr_output_stdin(x->payload, err, errlen);
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
			memcpy(c->m, m, (size_t)nm * sizeof(*m));
			c->nm = nm;
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
		char error[ERRLEN] = "";
		if (c->timed_out)
			snprintf(error, sizeof(error), "timed out after %d ms", c->timeout_ms);
		else if (term_signal)
			snprintf(error, sizeof(error), "killed by signal %d (%s)", term_signal, strsignal(term_signal));
		else if (exit_status != 0)
			snprintf(error, sizeof(error), "exit status %lld", (long long)exit_status);
		int64_t now = tr_time_now();
		outcomes(o, c->output, c->m, c->nm, error, -1, NULL, now, o->child_results);
		if (record(o, o->child_results, c->nm, now) != 0)
			hold(o);
		else if (!error[0])
			log_debug("notify %s: notification %lld delivered (%d rows)", c->output, (long long)id, c->nm);
	}
	uv_close((uv_handle_t *)&c->proc, child_closed);
	uv_close((uv_handle_t *)&c->timer, child_closed);
}

/* ---- passes ------------------------------------------------------------- */

static int in_flight(const struct tr_outputs *o, int64_t id)
{
	for (int i = 0; i < MAX_CHILDREN; i++) {
		const struct child *c = &o->children[i];
		for (int k = 0; c->handles && c->id && k < c->nm; k++)
			if (c->m[k].id == id)
				return 1;
	}
	return 0;
}

static struct child *free_slot(struct tr_outputs *o)
{
	for (int i = 0; i < MAX_CHILDREN; i++)
		if (o->children[i].handles == 0)
			return &o->children[i];
	return NULL;
}

/* Whether due row x goes now: 1, or 0 when it waits (already in flight).
 * The one place a pass picks a row for delivery, a single row or a
 * digest's member alike. */
static int goes_now(struct tr_outputs *o, const struct tr_notification *x)
{
	if (in_flight(o, x->id))
		return 0;
	/* SPEC §6 silence: a row a silence matches is held until it ends */
	if (tr_silences_hold(o->d, x, tr_time_now())) {
		o->held_in_pass = 1;
		return 0;
	}
	return 1;
}

/* Rows going out a while after they were made (a retry, a silence's end,
 * a digest's wait) say the time left as of now, not as of then. */
#define STALE_AFTER 60 /* seconds: "in 4 h" is still true a minute later */
static void freshen(struct tr_notification *rows, int n, int64_t now)
{
	for (int i = 0; i < n; i++)
		if (now - rows[i].created_at >= STALE_AFTER)
			tr_notify_refresh(&rows[i].payload, now);
}

static struct member member_of(const struct tr_notification *x)
{
	return (struct member){.id = x->id, .attempts = x->attempts, .since = x->since};
}

/* Delivers x (a row, or a digest standing for the rows m) to its output.
 * Returns 0 when done here, with err empty (delivered) or set (failed;
 * *delay: how long until the next try, -1 for the backoff), 1 when an exec
 * child took it (its exit records it), 2 when every exec slot is busy (it
 * waits for the next pass). *watch: what the watchers get once recorded. */
static int deliver(struct tr_outputs *o, const struct tr_notification *x, const struct member *m, int nm,
		   const char **watch, int64_t *delay, char *err, size_t errlen)
{
	const struct tr_output *out = tr_config_output(&o->d->cfg, x->output);
	*delay = -1;
	if (strcmp(x->output, "journal") == 0) {
		tr_output_journal(x);
	} else if (strcmp(x->output, "watch") == 0) {
		*watch = x->payload; /* watchers are a live stream: nobody listening is fine */
	} else if (out && out->dir) {
		tr_output_dir(out->dir, x, err, errlen);
	} else if (out && out->exec_argv) {
		struct child *c = free_slot(o);
		if (!c)
			return 2; /* a freed slot arms the next pass */
		if (spawn(o, c, out, x, m, nm, err, errlen) == 0)
			return 1; /* on_child_exit records it */
	} else {
		/* SPEC §5 retried until it succeeds: the config changed under a
		 * queued row; keep it and look again in an hour */
		snprintf(err, errlen, "output %s is no longer configured", x->output);
		*delay = GONE_RETRY;
	}
	return 0;
}

/* Delivers one row, or the rows g as one digest (more than one), and
 * fills their outcomes at res (none when an exec child took them: its
 * exit does). *filled: how many. Returns 1 when tried, 0 when every exec
 * slot is busy (nothing tried). */
static int deliver_rows(struct tr_outputs *o, const char *output, const struct tr_notification *g, int ng,
			int64_t now, struct result *res, int *filled)
{
	struct member m[GROUP_MAX];
	for (int k = 0; k < ng; k++)
		m[k] = member_of(&g[k]);
	struct tr_notification digest = g[0];
	char err[ERRLEN] = "";
	const char *watch = NULL;
	int64_t delay = -1;
	int rc = 0;
	if (ng > 1 && !(digest.payload = tr_output_digest(g, ng)))
		snprintf(err, sizeof(err), "out of memory");
	else
		rc = deliver(o, &digest, m, ng, &watch, &delay, err, sizeof(err));
	*filled = 0;
	if (rc == 0) {
		/* watch is the batch's row, alive until the pass has recorded
		 * it; a digest's text is not (and watch is not a grouped output) */
		outcomes(o, output, m, ng, err, delay, ng == 1 ? watch : NULL, now, res);
		*filled = ng;
	}
	if (ng > 1)
		free(digest.payload);
	return rc != 2;
}

/* The first due row x (at i of the batch) of an output with a group_wait
 * in a pass (group_decided) decides for its group, which goes as one
 * digest once its oldest row is group_wait old or GROUP_MAX rows wait;
 * until then the output's due rows of this batch are deferred to that
 * moment (so the batch reads past them and the pass wakes then).
 * Outcomes are added at *nres. Returns 1 when something was done, 0 when
 * nothing could be (every row of the group in flight or held), -1 when the
 * results have no room for a digest (the next pass does it), or a store
 * error. */
/* Whether the group of x's output was decided by an earlier row of this
 * pass: then x went with it, was deferred with it, or waits for the next
 * pass; it is not looked at again (a silence would hold it twice). */
static int group_decided(struct tr_outputs *o, const struct tr_notification *x)
{
	const struct out_state *st = track(o, x->output);
	return st && st->pass_seen == o->passes;
}

static int gather(struct tr_outputs *o, const struct tr_output *out, int i, int n, int64_t now, int *nres)
{
	const struct tr_notification *x = &o->rows[i];
	struct out_state *st = track(o, x->output), none = {0};
	if (!st)
		st = &none; /* uncounted: decided from this row alone */
	if (*nres + GROUP_MAX > RESULTS_MAX)
		return -1;
	st->pass_seen = o->passes;
	if (st->group_at == 0 || st->group_at > x->created_at + out->group_wait)
		st->group_at = x->created_at + out->group_wait;
	int64_t horizon = st->group_at > now ? st->group_at : now;
	int ng = 0, added = 0;
	if (tr_store_outbox_group(o->d->store, x->output, horizon, GROUP_MAX, o->group, &ng))
		return TR_ESTORE;
	freshen(o->group, ng, now);
	if (now < st->group_at && ng < GROUP_MAX) {
		for (int j = i; j < n; j++) {
			const struct tr_notification *y = &o->rows[j];
			if (strcmp(y->output, x->output) != 0 || in_flight(o, y->id))
				continue;
			struct result *r = &o->results[(*nres)++];
			memset(r, 0, sizeof(*r));
			r->id = y->id;
			r->output = y->output;
			r->defer = 1;
			r->next_at = st->group_at;
			added++;
		}
		tr_notifications_free(o->group, ng);
		return added > 0;
	}
	int kept = 0;
	for (int k = 0; k < ng; k++) {
		if (goes_now(o, &o->group[k])) {
			struct tr_notification tmp = o->group[kept];
			o->group[kept++] = o->group[k];
			o->group[k] = tmp;
		}
	}
	added = 0;
	/* no free exec slot: the group stays as it is; a slot freed arms a pass */
	if (!kept || deliver_rows(o, x->output, o->group, kept, now, &o->results[*nres], &added))
		st->group_at = 0;
	*nres += added;
	tr_notifications_free(o->group, ng);
	return kept ? 1 : 0;
}

/* One pass: the due rows not already in flight, oldest first, each to its
 * output (or its output's digest), for up to PASS_MS; then re-armed for
 * what is left. */
static void run_pass(struct tr_outputs *o)
{
	struct tr_daemon *d = o->d;
	int64_t now = tr_time_now();
	uint64_t deadline = tr_mono_ms() + PASS_MS;
	int n = 0;
	o->passes++;
	o->held_in_pass = 0;
	if (tr_store_outbox_pending(d->store, now, BATCH, o->rows, &n)) {
		log_errx("outputs: cannot read the outbox: %s", tr_store_errmsg(d->store));
		hold(o);
		return;
	}
	freshen(o->rows, n, now);
	int nres = 0, progress = 0, more = 0, rc = 0;
	for (int i = 0; i < n; i++) {
		const struct tr_notification *x = &o->rows[i];
		const struct tr_output *out = tr_config_output(&d->cfg, x->output);
		int grouped = out && out->group_wait > 0;
		if ((grouped && group_decided(o, x)) || !goes_now(o, x))
			continue;
		if (progress && tr_mono_ms() > deadline) {
			more = 1;
			break;
		}
		int did, filled = 0;
		if (grouped) {
			did = gather(o, out, i, n, now, &nres);
		} else {
			did = deliver_rows(o, x->output, x, 1, now, &o->results[nres], &filled);
			nres += filled;
		}
		if (did == -1) {
			more = 1;
			break;
		}
		if (did < 0) {
			rc = did;
			break;
		}
		progress += did;
	}
	if (rc == 0)
		rc = record(o, o->results, nres, now);
	tr_notifications_free(o->rows, n);
	if (rc) {
		hold(o);
		return;
	}
	/* a held row is progress too: a flood being held must not make every
	 * other row behind it wait for the poll */
	if (more || (n == BATCH && (progress || o->held_in_pass))) {
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

/* ---- what `status`, `stats` and the metrics see ---------------------------- */

/* One output being shown: its counters joined with the table's counts. */
struct shown {
	struct tr_output_stats st;
	char name[64];
};

struct shown_list {
	struct shown *v;
	size_t n, cap;
};

static struct shown *shown_find(struct shown_list *l, const char *name, int add)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].st.name, name) == 0)
			return &l->v[i];
	if (!add || l->n == l->cap)
		return NULL;
	struct shown *s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	s->st.name = s->name;
	s->st.last_error = "";
	return s;
}

static int count_each(void *ud, const char *output, int64_t pending, int64_t parked, int64_t oldest)
{
	struct shown_list *l = ud;
	struct shown *s = shown_find(l, output, 1); /* also an output gone from the config */
	if (!s)
		return 0;
	s->st.pending = pending;
	s->st.parked_now = parked;
	s->st.oldest_pending_at = oldest;
	return 0;
}

/* SPEC §6 stats: each output, the counters since start joined with what
 * the outbox holds now (so pending and parked survive a restart). */
int tr_outputs_stats_each(struct tr_outputs *o, int (*fn)(void *ud, const struct tr_output_stats *st), void *ud)
{
	if (!o)
		return 0;
	const struct tr_config *cfg = &o->d->cfg;
	struct shown_list l = {.cap = cfg->noutputs + 2 + MAX_TRACKED};
	if (!(l.v = calloc(l.cap, sizeof(*l.v))))
		return -ENOMEM;
	shown_find(&l, "journal", 1);
	shown_find(&l, "watch", 1);
	for (size_t i = 0; i < cfg->noutputs; i++)
		shown_find(&l, cfg->outputs[i].name, 1);
	/* outputs gone from the config still count while they have rows; the
	 * tracked ones are all those a pass has seen since start */
	for (int i = 0; i < o->ntrack; i++)
		shown_find(&l, o->track[i].name, 1);
	int rc = tr_store_outbox_counts(o->d->store, count_each, &l);
	for (size_t i = 0; rc == 0 && i < l.n; i++) {
		struct tr_output_stats *st = &l.v[i].st;
		for (int k = 0; k < o->ntrack; k++) {
			const struct out_state *t = &o->track[k];
			if (strcmp(t->name, st->name) != 0)
				continue;
			st->delivered = t->delivered;
			st->failed_attempts = t->failed_attempts;
			st->parked = t->parked;
			st->failing = t->failing;
			st->last_error = t->last_error;
		}
		rc = fn(ud, st);
	}
	free(l.v);
	return rc;
}

int tr_output_degraded(const struct tr_output_stats *st, char *reason, size_t len)
{
	if (st->parked_now > 0)
		snprintf(reason, len, "output %s has %lld parked deliver%s (last error: %s)", st->name,
			 (long long)st->parked_now, st->parked_now == 1 ? "y" : "ies",
			 st->last_error[0] ? st->last_error : "not seen since start");
	else if (st->failing)
		snprintf(reason, len, "output %s is failing: %s", st->name, st->last_error);
	else
		return 0;
	return 1;
}
