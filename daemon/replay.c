/* The replay (tr_replay.h). Two child processes each build a scratch world
 * (tr_scratch.h): one with the live rules folder (the baseline), one with
 * the folder to try. Each streams the same stored events from the live
 * database (read-only, up to the last seq stored when the replay began),
 * moves its fake clock to each event's received time, firing the timers
 * due on the way, and ingests the event as the daemon did. The parent then
 * walks both scratch databases' tickets in (key, id) order and prints what
 * differs. Processes, not threads: the calendars switch the C library's
 * time zone (TZ) for the whole process, so two rule sets running at once
 * must not share one; and each side is then as fast as the daemon's own
 * ingest, on a core of its own. Not the reads (store_replay.c), nor the
 * command line (daemon/triagectl/cmd_replay.c). */
#include <errno.h>
#include <fnmatch.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cjson/cJSON.h>
#include "tr_config.h"
#include "tr_json.h"
#include "tr_log.h"
#include "tr_replay.h"
#include "tr_scratch.h"
#include "tr_store_replay.h"
#include "tr_time.h"

/* Events read and ingested per transaction: the live daemon's group
 * commits are of this order, and a batch's events are held in memory. */
#define BATCH 1000
/* The least wall-clock budget of a rule run in a replay (see run_side). */
#define REPLAY_RULE_TIME_MS 10000

enum { SIDE_BASELINE, SIDE_REPLAY, NSIDES };
static const char *const side_names[NSIDES] = {"baseline", "replay"};

struct side {
	const char *name;              /* side_names[] */
	const char *rules_dir;
	char dir[4200], db_path[4300];
	pid_t pid;
	int status;                    /* the child's exit status */
	struct tr_store_reader *r;     /* its scratch database, once it finished */
	struct tr_replay_counts counts;
	int64_t tickets;
	/* the walk */
	struct tr_replay_ticket t;
	int has;                       /* t holds a ticket */
	char *prev_key;                /* of the ticket before t (heap) */
	int64_t occurrence;            /* t is the n-th ticket with its key */
};

/* ---- one side, in its own process ---------------------------------------- */

/* Runs the events into side's scratch world. Returns the child's exit
 * status: 0 done, 2 the rules do not load, 3 a database failed. */
static int run_side(const struct tr_replay_opts *o, struct tr_config *cfg, struct side *sd, int64_t upto,
		    int64_t clock_end)
{
	struct tr_daemon d = {0};
	d.cfg = *cfg; /* this process's copy; freed once, below */
	char *rules = strdup(sd->rules_dir); /* before the free: it may be cfg's own */
	free(d.cfg.rules_dir);
	d.cfg.rules_dir = rules;
	tr_log_level = TR_LOG_WARNING; /* a fresh scratch database is not news */
	/* The instruction and memory budgets hold as configured: they count the
	 * rule's own work, the same on every machine. The wall-clock one does
	 * not: a replay runs niced beside the daemon, and a rule that ran out
	 * of time on one side only (it did, at 200 ms, in a million events on
	 * a busy machine) is a difference of the machine, not of the rules. */
	if (d.cfg.limits.rule_time_ms < REPLAY_RULE_TIME_MS)
		d.cfg.limits.rule_time_ms = REPLAY_RULE_TIME_MS;
	if (!d.cfg.rules_dir || mkdir(sd->dir, 0700) != 0) {
		fprintf(o->err, "replay: cannot set up %s: %s\n", sd->dir, strerror(errno));
		tr_config_free(&d.cfg);
		return 3;
	}
	char msg[512];
	struct tr_errors errs = {0};
	int status = 0;
	int rc = tr_scratch_open(&d, sd->dir, sd->db_path, msg, sizeof(msg), &errs);
	for (size_t i = 0; i < errs.n; i++) {
		char line[1024];
		tr_error_format(&errs.items[i], line, sizeof(line));
		fprintf(o->err, "%s\n", line);
	}
	if (msg[0])
		fprintf(o->err, "replay: %s\n", msg);
	if (rc)
		status = errs.n ? 2 : 3;
	tr_errors_free(&errs);
	if (status == 0 && tr_store_replay_scratch(d.store)) {
		fprintf(o->err, "replay: cannot set up the scratch database: %s\n", tr_store_errmsg(d.store));
		status = 3;
	}
	struct tr_store_reader *r = NULL;
	if (status == 0 && tr_store_reader_open(d.cfg.db_path, &r, msg, sizeof(msg))) {
		fprintf(o->err, "replay: %s\n", msg);
		status = 3;
	}
	struct tr_event *batch = status == 0 ? calloc(BATCH, sizeof(*batch)) : NULL;
	if (status == 0 && !batch)
		status = 3;
	struct tr_replay_range range = {.after = 0, .upto = upto, .since = o->since, .until = o->until};
	struct tr_replay_counts c = {0};
	int64_t now = 0;
	int more = status == 0;
	while (more) {
		int n = 0;
		if (tr_store_reader_events(r, &range, BATCH, batch, &n, &more, &range.after, &c.skipped, msg,
					   sizeof(msg))) {
			fprintf(o->err, "replay: %s\n", msg);
			status = 3;
			break;
		}
		rc = 0;
		for (int i = 0; i < n; i++) {
			struct tr_event *ev = &batch[i];
			if (rc == 0 && (!o->type || fnmatch(o->type, ev->type, 0) == 0)) {
				/* the clock as it was when the daemon received it */
				if (ev->received_at > now)
					rc = tr_scratch_advance(&d, &now, ev->received_at, NULL);
				if (rc == 0) {
					rc = tr_ingest_event(&d.ingest, ev, now);
					rc = rc == TR_EDUP ? 0 : rc;
					c.events++;
					c.last_at = ev->received_at;
				}
			}
			tr_event_free(ev);
		}
		if (rc == 0)
			rc = tr_txn_commit(&d.ingest.txn);
		if (rc) {
			fprintf(o->err, "replay: the %s scratch database failed: %s\n", sd->name,
				tr_store_errmsg(d.store));
			status = 3;
			break;
		}
	}
	free(batch);
	tr_store_reader_close(r);
	/* The timers due after the last event, up to the end of the clock. */
	if (status == 0 && (tr_scratch_advance(&d, &now, clock_end, NULL) || tr_txn_commit(&d.ingest.txn))) {
		fprintf(o->err, "replay: firing the last timers failed: %s\n", tr_store_errmsg(d.store));
		status = 3;
	}
	c.rule_errors = (int64_t)d.ingest.rule_errors;
	if (status == 0 && tr_store_replay_finish(d.store, &c))
		status = 3;
	tr_scratch_close(&d, NULL);
	tr_config_free(&d.cfg);
	return status;
}

/* ---- the comparison, in the parent ------------------------------------------ */

/* What is compared of a ticket: a table, so a new field is one row. */
enum field_kind { F_TEXT, F_TIME, F_INT };
static const struct field {
	const char *name;
	enum field_kind kind;
	size_t offset;
} fields[] = {
	{"state", F_TEXT, offsetof(struct tr_replay_ticket, state)},
	{"close_reason", F_TEXT, offsetof(struct tr_replay_ticket, close_reason)},
	{"priority", F_TEXT, offsetof(struct tr_replay_ticket, priority)},
	{"queue", F_TEXT, offsetof(struct tr_replay_ticket, queue)},
	{"due_at", F_TIME, offsetof(struct tr_replay_ticket, due_at)},
	{"level", F_INT, offsetof(struct tr_replay_ticket, level)},
	{"escalations", F_INT, offsetof(struct tr_replay_ticket, escalations)},
	{"notified", F_TEXT, offsetof(struct tr_replay_ticket, notified)},
	{"title", F_TEXT, offsetof(struct tr_replay_ticket, title)},
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

struct compare {
	const struct tr_replay_opts *o;
	struct side *sides;
	int64_t compared, differing;
	int64_t only[NSIDES];          /* tickets only one side opened */
	int64_t changed[NFIELDS];      /* tickets that differ in each field */
	int failed;
};

static const char *text_of(const struct tr_replay_ticket *t, const struct field *f)
{
	return *(const char *const *)((const char *)t + f->offset);
}

static int64_t int_of(const struct tr_replay_ticket *t, const struct field *f)
{
	return *(const int64_t *)((const char *)t + f->offset);
}

/* A field's value for people and scripts: times in RFC 3339 (UTC), none
 * as "-". buf of 48 bytes at least. */
static const char *shown(const struct tr_replay_ticket *t, const struct field *f, char *buf, size_t len)
{
	if (f->kind == F_TEXT)
		return text_of(t, f)[0] ? text_of(t, f) : "-";
	int64_t v = int_of(t, f);
	if (f->kind == F_TIME && (v == 0 || tr_time_format(v, NULL, buf, len)))
		snprintf(buf, len, v ? "%lld" : "-", (long long)v);
	else if (f->kind == F_INT)
		snprintf(buf, len, "%lld", (long long)v);
	return buf;
}

static int same_field(const struct tr_replay_ticket *a, const struct tr_replay_ticket *b, const struct field *f)
{
	return f->kind == F_TEXT ? strcmp(text_of(a, f), text_of(b, f)) == 0 : int_of(a, f) == int_of(b, f);
}

/* Moves a side's walk to its next ticket. 0, or -1 after saying why. */
static int step(struct compare *cmp, struct side *sd)
{
	if (sd->has) {
		free(sd->prev_key);
		sd->prev_key = strdup(sd->t.key);
		if (!sd->prev_key) {
			fprintf(cmp->o->err, "replay: out of memory\n");
			return -1;
		}
	}
	int rc = tr_store_reader_ticket_next(sd->r, &sd->t);
	if (rc < 0) {
		fprintf(cmp->o->err, "replay: cannot read the %s scratch database\n", sd->name);
		sd->has = 0;
		return -1;
	}
	sd->has = rc;
	if (rc) {
		sd->tickets++;
		sd->occurrence = sd->prev_key && strcmp(sd->prev_key, sd->t.key) == 0 ? sd->occurrence + 1 : 1;
	}
	return 0;
}

static void print_json_line(struct compare *cmp, cJSON *o)
{
	char *text = o ? tr_json_print(o) : NULL;
	if (text)
		fprintf(cmp->o->out, "%s\n", text);
	else
		cmp->failed = 1;
	free(text);
	cJSON_Delete(o);
}

static cJSON *ticket_json(const struct tr_replay_ticket *t)
{
	cJSON *o = cJSON_CreateObject();
	for (size_t i = 0; o && i < NFIELDS; i++) {
		char buf[48];
		if (fields[i].kind == F_INT)
			cJSON_AddNumberToObject(o, fields[i].name, (double)int_of(t, &fields[i]));
		else if (fields[i].kind == F_TIME && int_of(t, &fields[i]) == 0)
			cJSON_AddNullToObject(o, fields[i].name);
		else
			cJSON_AddStringToObject(o, fields[i].name, shown(t, &fields[i], buf, sizeof(buf)));
	}
	return o;
}

/* "KEY" or "KEY (#2)": which ticket of a key, when a key was reopened as a
 * new ticket after the first closed. */
static void ticket_name(const struct side *sd, char *buf, size_t len)
{
	if (sd->occurrence > 1)
		snprintf(buf, len, "%s (#%lld)", sd->t.key, (long long)sd->occurrence);
	else
		snprintf(buf, len, "%s", sd->t.key);
}

/* A ticket only one side opened. */
static void report_only(struct compare *cmp, struct side *sd, int which)
{
	cmp->differing++;
	cmp->only[which]++;
	const struct tr_replay_ticket *t = &sd->t;
	if (cmp->o->json) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", t->key);
		cJSON_AddNumberToObject(o, "n", (double)sd->occurrence);
		cJSON_AddStringToObject(o, "title", t->title);
		cJSON_AddStringToObject(o, "only_in", sd->name);
		cJSON_AddItemToObject(o, "ticket", ticket_json(t));
		print_json_line(cmp, o);
		return;
	}
	char name[600], due[48];
	ticket_name(sd, name, sizeof(name));
	const struct field due_at = {"due_at", F_TIME, offsetof(struct tr_replay_ticket, due_at)};
	fprintf(cmp->o->out, "%s  %s: opened only by the %s rules (%s, %s, queue %s, due %s)\n", name, t->title,
		which == SIDE_BASELINE ? "live" : "new", t->state, t->priority, t->queue,
		shown(t, &due_at, due, sizeof(due)));
}

/* A ticket both sides opened: the fields that differ, if any. */
static void report_pair(struct compare *cmp, struct side *a, struct side *b)
{
	int differ = 0;
	for (size_t i = 0; i < NFIELDS; i++)
		differ |= !same_field(&a->t, &b->t, &fields[i]);
	if (!differ)
		return;
	cmp->differing++;
	cJSON *o = NULL, *changes = NULL;
	char name[600];
	ticket_name(a, name, sizeof(name));
	if (cmp->o->json) {
		o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "key", a->t.key);
		cJSON_AddNumberToObject(o, "n", (double)a->occurrence);
		cJSON_AddStringToObject(o, "title", a->t.title);
		cJSON_AddNullToObject(o, "only_in");
		changes = cJSON_AddObjectToObject(o, "changes");
	} else {
		fprintf(cmp->o->out, "%s  %s:", name, a->t.title);
	}
	const char *sep = " ";
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (same_field(&a->t, &b->t, f))
			continue;
		cmp->changed[i]++;
		char x[48], y[48];
		const char *from = shown(&a->t, f, x, sizeof(x)), *to = shown(&b->t, f, y, sizeof(y));
		if (changes) {
			cJSON *c = cJSON_AddObjectToObject(changes, f->name);
			cJSON_AddStringToObject(c, "baseline", from);
			cJSON_AddStringToObject(c, "replay", to);
		} else {
			fprintf(cmp->o->out, "%s%s %s → %s", sep, f->name, from, to);
			sep = "; ";
		}
	}
	if (o)
		print_json_line(cmp, o);
	else
		fputc('\n', cmp->o->out);
}

/* Walks both sides' tickets in (key, occurrence) order. 0, or -1. */
static int compare_tickets(struct compare *cmp)
{
	struct side *a = &cmp->sides[SIDE_BASELINE], *b = &cmp->sides[SIDE_REPLAY];
	if (step(cmp, a) || step(cmp, b))
		return -1;
	while (a->has || b->has) {
		int order = !a->has ? 1 : !b->has ? -1 : strcmp(a->t.key, b->t.key);
		if (order == 0)
			order = (a->occurrence > b->occurrence) - (a->occurrence < b->occurrence);
		cmp->compared++;
		if (order < 0)
			report_only(cmp, a, SIDE_BASELINE);
		else if (order > 0)
			report_only(cmp, b, SIDE_REPLAY);
		else
			report_pair(cmp, a, b);
		if ((order <= 0 && step(cmp, a)) || (order >= 0 && step(cmp, b)))
			return -1;
	}
	return 0;
}

struct notified_text {
	struct tr_buf b;
	cJSON *o;
};

static void add_notified(void *ud, const char *output, int64_t n)
{
	struct notified_text *x = ud;
	char line[300];
	snprintf(line, sizeof(line), "%s%s %lld", x->b.len ? ", " : "", output, (long long)n);
	tr_buf_add(&x->b, line, strlen(line));
	if (x->o)
		cJSON_AddNumberToObject(x->o, output, (double)n);
}

static void print_summary(struct compare *cmp, int64_t upto, int64_t clock_end)
{
	const struct tr_replay_opts *o = cmp->o;
	const struct side *s0 = &cmp->sides[0];
	char end[48] = "";
	tr_time_format(clock_end, NULL, end, sizeof(end));
	cJSON *sum = o->json ? cJSON_CreateObject() : NULL;
	if (sum) {
		cJSON_AddBoolToObject(sum, "summary", 1);
		cJSON_AddNumberToObject(sum, "events", (double)s0->counts.events);
		cJSON_AddNumberToObject(sum, "skipped", (double)s0->counts.skipped);
		cJSON_AddNumberToObject(sum, "last_seq", (double)upto);
		cJSON_AddStringToObject(sum, "clock_end", end);
		cJSON_AddNumberToObject(sum, "tickets", (double)cmp->compared);
		cJSON_AddNumberToObject(sum, "differing", (double)cmp->differing);
	} else {
		fprintf(o->out, "%s%lld events replayed (stored up to seq %lld%s), timers fired up to %s\n",
			cmp->differing ? "\n" : "", (long long)s0->counts.events, (long long)upto,
			s0->counts.skipped ? ", some no longer valid: skipped" : "", end);
	}
	for (int i = 0; i < NSIDES; i++) {
		const struct side *sd = &cmp->sides[i];
		struct notified_text x = {.o = sum ? cJSON_CreateObject() : NULL};
		tr_store_reader_notified(sd->r, add_notified, &x);
		if (sum) {
			cJSON *side = cJSON_AddObjectToObject(sum, sd->name);
			cJSON_AddStringToObject(side, "rules", sd->rules_dir);
			cJSON_AddNumberToObject(side, "tickets", (double)sd->tickets);
			cJSON_AddNumberToObject(side, "rule_errors", (double)sd->counts.rule_errors);
			cJSON_AddItemToObject(side, "notified", x.o);
		} else {
			fprintf(o->out, "%-8s %s: %lld tickets, %lld rule errors, notified %s\n", sd->name, sd->rules_dir,
				(long long)sd->tickets, (long long)sd->counts.rule_errors,
				x.b.len && !x.b.oom ? x.b.p : "nothing");
		}
		tr_buf_free(&x.b);
	}
	cJSON *kinds = sum ? cJSON_AddObjectToObject(sum, "kinds") : NULL;
	struct tr_buf b = {0};
	const char *only_names[NSIDES] = {"only_baseline", "only_replay"};
	for (int i = 0; i < NSIDES + (int)NFIELDS; i++) {
		const char *name = i < NSIDES ? only_names[i] : fields[i - NSIDES].name;
		int64_t n = i < NSIDES ? cmp->only[i] : cmp->changed[i - NSIDES];
		if (!n)
			continue;
		if (kinds)
			cJSON_AddNumberToObject(kinds, name, (double)n);
		char part[80];
		snprintf(part, sizeof(part), "%s%s %lld", b.len ? ", " : "", name, (long long)n);
		tr_buf_add(&b, part, strlen(part));
	}
	if (sum)
		print_json_line(cmp, sum);
	else if (cmp->differing)
		fprintf(o->out, "%lld of %lld tickets differ: %s\n", (long long)cmp->differing, (long long)cmp->compared,
			b.p && !b.oom ? b.p : "");
	else
		fprintf(o->out, "no difference in %lld tickets\n", (long long)cmp->compared);
	tr_buf_free(&b);
}

/* ---- the run ------------------------------------------------------------------ */

static int load_config(const struct tr_replay_opts *o, struct tr_config *cfg)
{
	struct tr_errors errs = {0};
	int rc = !o->explicit && access(o->config, F_OK) != 0 ? tr_config_defaults(cfg)
							       : tr_config_load(o->config, cfg, &errs);
	for (size_t i = 0; i < errs.n; i++) {
		char line[1024];
		tr_error_format(&errs.items[i], line, sizeof(line));
		fprintf(o->err, "%s\n", line);
	}
	if (rc && errs.n == 0)
		fprintf(o->err, "replay: %s: %s\n", o->config, tr_strerror(rc));
	tr_errors_free(&errs);
	return rc;
}

static int is_dir(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int tr_replay_run(const struct tr_replay_opts *o)
{
	struct tr_config cfg = {0};
	if (load_config(o, &cfg)) {
		tr_config_free(&cfg);
		return 2;
	}
	const char *bad = !is_dir(o->rules_dir) ? o->rules_dir : !is_dir(cfg.rules_dir) ? cfg.rules_dir : NULL;
	if (bad) {
		fprintf(o->err, "replay: %s: not a rules folder\n", bad);
		tr_config_free(&cfg);
		return 2;
	}
	/* The snapshot: every event stored up to now, whatever comes later. */
	char msg[512];
	struct tr_store_reader *live;
	int64_t upto = 0;
	if (tr_store_reader_open(cfg.db_path, &live, msg, sizeof(msg)) || tr_store_reader_last_seq(live, &upto)) {
		if (live)
			snprintf(msg, sizeof(msg), "cannot read the events of %s", cfg.db_path);
		fprintf(o->err, "replay: %s\n", msg);
		tr_store_reader_close(live);
		tr_config_free(&cfg);
		return 3;
	}
	tr_store_reader_close(live);
	int64_t clock_end = o->until > 0 ? o->until : tr_time_now();

	const char *tmp = getenv("TMPDIR");
	char scratch[4096];
	snprintf(scratch, sizeof(scratch), "%s/triagectl-replay-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
	if (!mkdtemp(scratch)) {
		fprintf(o->err, "replay: cannot make a scratch folder in %s: %s\n", tmp && tmp[0] ? tmp : "/tmp",
			strerror(errno));
		tr_config_free(&cfg);
		return 3;
	}
	struct side sides[NSIDES] = {{.name = side_names[0], .rules_dir = cfg.rules_dir},
				     {.name = side_names[1], .rules_dir = o->rules_dir}};
	int status = 0;
	fflush(o->out);
	fflush(o->err);
	for (int i = 0; i < NSIDES; i++) {
		struct side *sd = &sides[i];
		snprintf(sd->dir, sizeof(sd->dir), "%s/%s", scratch, sd->name);
		snprintf(sd->db_path, sizeof(sd->db_path), "%s/%s/scratch.db", scratch, sd->name);
		sd->pid = fork();
		if (sd->pid == 0) {
			/* The live daemon comes first: a replay takes the CPU it
			 * leaves (on an idle machine, all of it). */
			errno = 0;
			if (nice(10) == -1 && errno)
				fprintf(o->err, "replay: nice: %s\n", strerror(errno));
			int rc = run_side(o, &cfg, sd, upto, clock_end);
			fflush(NULL);
			exit(rc); /* LSan, under the sanitizers, checks the child too */
		}
		if (sd->pid < 0) {
			fprintf(o->err, "replay: cannot start the %s run: %s\n", sd->name, strerror(errno));
			status = 3;
		}
	}
	for (int i = 0; i < NSIDES; i++) {
		struct side *sd = &sides[i];
		if (sd->pid <= 0)
			continue;
		int ws;
		while (waitpid(sd->pid, &ws, 0) < 0 && errno == EINTR)
			;
		int code = WIFEXITED(ws) ? WEXITSTATUS(ws) : 3;
		if (!WIFEXITED(ws))
			fprintf(o->err, "replay: the %s run died (signal %d)\n", sd->name,
				WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
		if (code > status)
			status = code;
	}
	struct compare cmp = {.o = o, .sides = sides};
	for (int i = 0; status == 0 && i < NSIDES; i++) {
		struct side *sd = &sides[i];
		if (tr_store_reader_open(sd->db_path, &sd->r, msg, sizeof(msg)) ||
		    tr_store_reader_counts(sd->r, &sd->counts)) {
			fprintf(o->err, "replay: the %s run left no result: %s\n", sd->name, msg);
			status = 3;
		}
	}
	if (status == 0 && compare_tickets(&cmp) == 0) {
		print_summary(&cmp, upto, clock_end);
		status = cmp.failed ? 3 : cmp.differing ? 1 : 0;
	} else if (status == 0) {
		status = 3;
	}
	for (int i = 0; i < NSIDES; i++) {
		struct side *sd = &sides[i];
		tr_store_reader_close(sd->r);
		free(sd->prev_key);
		const char *leftovers[] = {"", "-journal", "-wal", "-shm"};
		for (int j = 0; j < 4; j++) {
			char path[4400];
			snprintf(path, sizeof(path), "%s%s", sd->db_path, leftovers[j]);
			unlink(path);
		}
		char marker[4300];
		snprintf(marker, sizeof(marker), "%s/inflight", sd->dir);
		unlink(marker);
		rmdir(sd->dir);
	}
	rmdir(scratch);
	tr_config_free(&cfg);
	return status;
}
