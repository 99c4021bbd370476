/* The spool: incoming/ -> work/ -> done/ | rejected/. A file is claimed
 * once it has not changed for settle_ms (a writer may write in place; one
 * that appends after the claim is read on at the file's end, one that
 * never closes it is reported), then decoded ahead on a thread of its own
 * (spool_reader.c) and ingested
 * in steps of at most STEP_ROWS rows or STEP_MS,
 * each step one transaction that also records the file's progress
 * (SPEC §4: resumed without duplicates after a crash). Bad rows are kept in
 * the database until the file ends, then written to rejected/NAME.errors.
 * Not the decoding itself (decode*.c) nor the rules (engine.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include "tr_buf.h"
#include "tr_decode.h"
#include "tr_error.h"
#include "tr_fs.h"
#include "tr_wal_flusher.h"
#include "tr_log.h"
#include "tr_slice.h"
#include "tr_spool.h"
#include "tr_spool_reader.h"
#include "tr_time.h"

#define STEP_ROWS 2000        /* rows per transaction */
#define STEP_MS 2             /* and at most this long: a client that ends a step early
				 * (tr_slice) still waits for its commit, which grows
				 * with the step (10 ms steps: ping max 13-16 ms) */
#define STEP_MIN_ROWS 16      /* but at least this many */
#define MAX_CANDIDATES 4096   /* files watched for settling in incoming/ */
#define MAX_WORK_FILES 64     /* claimed and waiting; the rest wait in incoming/ */
#define RETRY_MS 1000         /* after a database failure, or out of file descriptors */
/* A writer may keep its descriptor after the file settled and append more
 * (SPEC §4: nothing vanishes). At the end of a file still open for writing
 * the spool waits for the writer to close it, polling every quarter of
 * settle_ms, for at most this many settle_ms; then it is moved out with a
 * report saying later rows were not read. */
#define WRITER_WAIT_SETTLES 10
#define WRITER_WAIT_MIN_MS 1000 /* and at least this long, whatever settle_ms */

struct candidate {
	char name[256];
	int64_t size;
	int64_t mtime_ns;
	uint64_t stable_since_ms;
	int seen;
};

struct tr_spool {
	struct tr_daemon *d;
	char incoming[4096], work[4096], done[4096], rejected[4096];
	uv_fs_event_t watch;
	uv_timer_t scan_timer;
	uv_idle_t step;
	int watching;
	struct candidate *cands;
	size_t ncands;
	size_t work_files;
	/* the file being read */
	int active;
	struct tr_spool_reader *reader; /* owns the file's decoder while active */
	struct tr_file file;
	int deferred; /* the last pass's step waited for a client (tr_slice_io_first) */
	/* SPEC §3: the finished file moves out once its end is durable;
	 * nothing else is read meanwhile (tr_spool_flushed) */
	int moving;
	uint64_t moving_commit;
	char moving_reason[512];
	/* SPEC §4 nothing vanishes: the file as it was when opened, to see at
	 * its end whether a writer appended to it meanwhile */
	int64_t opened_size, opened_mtime_ns;
	uint64_t end_due_ms;      /* at the file's end, looking again at this time (0: not) */
	uint64_t writer_since_ms; /* a writer still had the file open at its end since (0: not) */
	int closing;
	uint64_t rows_rejected;   /* bad rows of the files moved out since start (metrics) */
};

static void schedule_scan(struct tr_spool *sp, uint64_t ms);
static void start_steps(struct tr_spool *sp);
static int record_bad_row(struct tr_spool *sp, int line, const char *field, const char *message);

static int ignored_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] == '.' || (n >= 4 && strcmp(name + n - 4, ".tmp") == 0) ||
	       (n >= 5 && strcmp(name + n - 5, ".part") == 0);
}

/* dir/name, made unique with .1, .2, … when taken. */
static void unique_path(const char *dir, const char *name, char *out, size_t len)
{
	struct stat st;
	snprintf(out, len, "%s/%s", dir, name);
	for (int i = 1; lstat(out, &st) == 0 && i < 100000; i++)
		snprintf(out, len, "%s/%s.%d", dir, name, i);
}

/* Writes text to path atomically (temp file + rename). */
static int write_atomic(const char *path, const char *text)
{
	char tmp[4200];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	FILE *f = fopen(tmp, "w");
	if (!f)
		return -errno;
	int ok = fputs(text, f) >= 0;
	ok = fflush(f) == 0 && ok;
	ok = fsync(fileno(f)) == 0 && ok;
	ok = fclose(f) == 0 && ok;
	if (!ok || rename(tmp, path) < 0) {
		int err = -errno;
		unlink(tmp);
		return err;
	}
	return 0;
}

struct report {
	struct tr_buf text;
	const char *name;
};

static int report_line(void *ud, int line, const char *field, const char *message)
{
	struct report *r = ud;
	char one[1024];
	int n = snprintf(one, sizeof(one), "%s:%d: %s%s%s\n", r->name, line, field ? field : "",
			 field ? ": " : "", message);
	if (n < 0)
		return 0;
	if ((size_t)n >= sizeof(one))
		n = sizeof(one) - 1;
	tr_buf_add(&r->text, one, (size_t)n);
	return r->text.oom ? -ENOMEM : 0;
}

/* Moves the finished file out of work/ and writes its .errors report. Safe
 * to repeat after a crash: it only acts on what is still in work/. */
static void move_out(struct tr_spool *sp, const struct tr_file *f, const char *reason)
{
	int rejected = strcmp(f->state, "rejected") == 0;
	char from[4400], to[4400];
	snprintf(from, sizeof(from), "%s/%s", sp->work, f->work_name);
	unique_path(rejected ? sp->rejected : sp->done, f->name, to, sizeof(to));
	if (rejected) {
		struct report r = {.name = f->name};
		if (reason)
			report_line(&r, 0, NULL, reason);
		tr_store_file_errors(sp->d->store, f->id, report_line, &r);
		char errors[4500];
		snprintf(errors, sizeof(errors), "%s.errors", to);
		if (write_atomic(errors, r.text.p ? r.text.p : "") < 0)
			log_warn("spool: cannot write %s", errors);
		tr_buf_free(&r.text);
	}
	if (rename(from, to) < 0)
		log_warn("spool: cannot move %s to %s", from, to);
	else
		log_info("spool: %s -> %s (%lld rows: %lld ok, %lld duplicates, %lld bad)", f->name, to,
			 (long long)f->rows_done, (long long)f->rows_ok, (long long)f->duplicates,
			 (long long)f->rows_bad);
	if (sp->work_files)
		sp->work_files--;
	sp->rows_rejected += f->rows_bad > 0 ? (uint64_t)f->rows_bad : 0;
}

struct file_end {
	struct tr_spool *sp;
	const char *state, *reason;
};

static int write_file_end(void *ud)
{
	const struct file_end *x = ud;
	return tr_store_file_finish(x->sp->d->store, &x->sp->file, x->state, x->reason, tr_time_now());
}

/* Records the end of the file, then moves it. */
static void finish_file(struct tr_spool *sp, const char *state, const char *reason)
{
	struct tr_txn *txn = &sp->d->ingest.txn;
	struct file_end x = {.sp = sp, .state = state, .reason = reason};
	int rc = tr_txn_run(txn, write_file_end, &x);
	tr_spool_reader_end(sp->reader);
	sp->active = 0;
	sp->end_due_ms = sp->writer_since_ms = 0;
	if (rc) {
		/* The file stays in work/ as it was: it is opened again, its
		 * committed rows skipped, and its end recorded then. */
		log_errx("spool: cannot record the end of %s; retrying in %d ms", sp->file.name, RETRY_MS);
		uv_idle_stop(&sp->step);
		schedule_scan(sp, RETRY_MS);
		return;
	}
	if (tr_flusher_durable(sp->d->flusher, txn->commits)) {
		move_out(sp, &sp->file, reason);
		return;
	}
	sp->moving = 1;
	sp->moving_commit = txn->commits;
	snprintf(sp->moving_reason, sizeof(sp->moving_reason), "%s", reason ? reason : "");
	uv_idle_stop(&sp->step);
}

void tr_spool_flushed(struct tr_spool *sp)
{
	if (!sp || !sp->moving || !tr_flusher_durable(sp->d->flusher, sp->moving_commit))
		return;
	sp->moving = 0;
	move_out(sp, &sp->file, sp->moving_reason[0] ? sp->moving_reason : NULL);
	start_steps(sp);
}

struct file_add {
	struct tr_spool *sp;
	struct tr_file *f;
};

static int write_file_add(void *ud)
{
	const struct file_add *x = ud;
	return tr_store_file_add(x->sp->d->store, x->f, tr_time_now());
}

/* Records a newly claimed file in its own transaction. */
static int record_file(struct tr_spool *sp, struct tr_file *f)
{
	struct file_add x = {.sp = sp, .f = f};
	return tr_txn_run(&sp->d->ingest.txn, write_file_add, &x);
}

/* The oldest claimed file in work/ (names start with the claim time). */
static int next_work_file(struct tr_spool *sp, char *name, size_t len)
{
	DIR *dir = opendir(sp->work);
	if (!dir) {
		/* Out of descriptors (EMFILE, ENFILE) and the like pass: the
		 * caller looks again in RETRY_MS, no new drop needed. */
		int err = -errno;
		log_warn("spool: cannot read %s", sp->work);
		return err;
	}
	struct dirent *e;
	int found = 0;
	size_t count = 0;
	while ((e = readdir(dir))) {
		if (e->d_name[0] == '.')
			continue;
		count++;
		if (!found || strcmp(e->d_name, name) < 0) {
			snprintf(name, len, "%s", e->d_name);
			found = 1;
		}
	}
	closedir(dir);
	sp->work_files = count;
	return found;
}

/* The file cannot be decoded at all (tr_decoder_open said why): every
 * problem with a line (a CSV header's) goes in the report at that line, the
 * others as the file's reason. */
struct bad_lines {
	struct tr_spool *sp;
	const struct tr_errors *errs;
};

static int write_bad_lines(void *ud)
{
	const struct bad_lines *x = ud;
	int rc = 0;
	for (size_t i = 0; rc == 0 && i < x->errs->n; i++) {
		const struct tr_error *e = &x->errs->items[i];
		if (e->line > 0)
			rc = record_bad_row(x->sp, e->line, e->field[0] ? e->field : NULL, e->message);
	}
	return rc;
}

static void reject_whole(struct tr_spool *sp, const struct tr_errors *errs)
{
	char reason[512] = "";
	int64_t bad = sp->file.rows_bad;
	for (size_t i = 0; i < errs->n; i++) {
		const struct tr_error *e = &errs->items[i];
		log_warnx("spool: %s:%d: %s%s%s", sp->file.name, e->line, e->field, e->field[0] ? ": " : "",
			  e->message);
		if (e->line <= 0 && !reason[0]) /* the report names the file already */
			snprintf(reason, sizeof(reason), "%s%s%s", e->field, e->field[0] ? ": " : "", e->message);
	}
	struct bad_lines x = {.sp = sp, .errs = errs};
	int rc = tr_txn_run(&sp->d->ingest.txn, write_bad_lines, &x);
	if (rc) { /* the lines are lost, not the reason */
		sp->file.rows_bad = bad;
		if (errs->n)
			snprintf(reason, sizeof(reason), "%s%s%s", errs->items[0].field,
				 errs->items[0].field[0] ? ": " : "", errs->items[0].message);
	}
	if (!reason[0] && !sp->file.rows_bad)
		snprintf(reason, sizeof(reason), "cannot be decoded");
	finish_file(sp, "rejected", reason[0] ? reason : NULL);
}

/* Opens the next file in work/, resuming where its last commit left it. */
static int open_next(struct tr_spool *sp)
{
	char work_name[300];
	int found = next_work_file(sp, work_name, sizeof(work_name));
	if (found <= 0)
		return found;
	struct tr_file *f = &sp->file;
	int rc = tr_store_file_by_work_name(sp->d->store, work_name, f);
	if (rc < 0)
		return rc;
	if (rc == 0 || strcmp(f->state, "work") != 0) {
		if (rc == 1) {
			/* finished before a crash, not yet moved */
			move_out(sp, f, NULL);
			return 1;
		}
		/* claimed just before a crash, not yet recorded */
		memset(f, 0, sizeof(*f));
		snprintf(f->work_name, sizeof(f->work_name), "%s", work_name);
		const char *dash = strchr(work_name, '-');
		snprintf(f->name, sizeof(f->name), "%s", dash ? dash + 1 : work_name);
		int brc = record_file(sp, f);
		if (brc)
			return brc;
	}
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", sp->work, work_name);
	const struct tr_source *src = tr_config_source_for(&sp->d->cfg, f->name);
	struct tr_errors errs = {0};
	struct tr_decoder *dec;
	/* Before the first read: whatever is written after this shows at the
	 * end as a changed size or time. */
	struct stat st;
	sp->opened_size = sp->opened_mtime_ns = -1;
	if (stat(path, &st) == 0) {
		sp->opened_size = st.st_size;
		sp->opened_mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	}
	rc = tr_decoder_open(path, src, (size_t)sp->d->cfg.limits.event_bytes, &dec, &errs);
	if (rc == -EMFILE || rc == -ENFILE || rc == -ENOMEM) {
		/* Not the file's fault: it stays in work/ and is opened again
		 * in RETRY_MS (on_step), not rejected. */
		log_warnx("spool: cannot open %s now (%s); retrying in %d ms", f->name, strerror(-rc), RETRY_MS);
		tr_errors_free(&errs);
		return rc;
	}
	sp->active = 1;
	if (rc) {
		reject_whole(sp, &errs);
		tr_errors_free(&errs);
		return 1;
	}
	tr_errors_free(&errs);
	if (f->rows_done)
		log_info("spool: resuming %s after row %lld", f->name, (long long)f->rows_done);
	else /* the line at info is the file's outcome (done or rejected, its counts) */
		log_debug("spool: reading %s", f->name);
	/* SPEC §4 resume: rows up to the last committed step were handled. */
	tr_spool_reader_begin(sp->reader, dec, f->name, src ? src->timezone : NULL, f->rows_done);
	return 1;
}

static int record_bad_row(struct tr_spool *sp, int line, const char *field, const char *message)
{
	sp->file.rows_bad++;
	return tr_store_file_error(sp->d->store, sp->file.id, line, field, message);
}

/* A step's rows and the file's progress, inside its transaction. */
struct step {
	struct tr_spool *sp;
	struct tr_slice slice;
	int64_t now;
	int more;
};

static int write_step(void *ud)
{
	struct step *x = ud;
	struct tr_spool *sp = x->sp;
	int rc = 0;
	for (int n = 0; rc == 0 && n < STEP_ROWS && x->more; n++) {
		struct tr_read_row *row;
		int got = tr_spool_reader_next(sp->reader, &row);
		if (got == TR_READ_WAIT)
			break; /* the rules outran the reader: commit what there is */
		if (got == TR_READ_END) {
			x->more = 0;
			break;
		}
		if (got < 0) {
			rc = record_bad_row(sp, 0, NULL, "read error; the rest of the file was not read");
			x->more = 0;
			break;
		}
		sp->file.rows_done++;
		if (!row->ok) {
			rc = record_bad_row(sp, row->line, row->field, row->err.message);
		} else {
			int irc = tr_ingest_event(&sp->d->ingest, &row->ev, x->now);
			if (irc == 0)
				sp->file.rows_ok++;
			else if (irc == TR_EDUP)
				sp->file.duplicates++;
			else
				rc = irc;
		}
		/* At least STEP_MIN_ROWS a commit (a slow build's rows would
		 * otherwise commit a few at a time), then the clock after each
		 * row: rows cost 0.05 ms or more. */
		if (n + 1 >= STEP_MIN_ROWS && tr_slice_over(&x->slice))
			break;
	}
	if (rc == 0)
		rc = tr_store_file_progress(sp->d->store, &sp->file);
	return rc;
}

/* One bounded step: up to STEP_ROWS rows in one transaction with the
 * file's progress. Returns 1 if the file has more, 0 at its end, <0 on a
 * database failure (nothing of the step kept). */
static int step_rows(struct tr_spool *sp)
{
	struct tr_file saved = sp->file;
	struct step x = {.sp = sp, .more = 1};
	tr_slice_start(&x.slice, sp->d, STEP_MS * 1000u);
	x.now = tr_time_now();
	int rc = tr_txn_run(&sp->d->ingest.txn, write_step, &x);
	if (rc) {
		sp->file = saved;
		return rc;
	}
	return x.more;
}

/* 1 when some program still has path open for writing, 0 when none has,
 * -1 when that cannot be told. A read lease is granted only while no one
 * has the file open for writing; taking one needs the file's owner (or
 * CAP_LEASE) and a file system with leases. It is given back at once; a
 * break in between would be signalled with SIGURG, ignored by default,
 * rather than SIGIO, which would end the daemon. */
static int open_for_writing(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	int rc = -1;
	if (fcntl(fd, F_SETSIG, SIGURG) == 0) {
		if (fcntl(fd, F_SETLEASE, F_RDLCK) == 0) {
			fcntl(fd, F_SETLEASE, F_UNLCK);
			rc = 0;
		} else if (errno == EAGAIN) {
			rc = 1;
		}
	}
	close(fd);
	return rc;
}

enum end_action { END_FINISH, END_WAIT, END_READ_ON, END_WRITER_STAYED };

/* The reader reached the file's end. SPEC §4, nothing vanishes: a writer
 * may have appended since the file was opened (it kept its descriptor
 * past settle_ms), or may still hold it open to append more. Says what to
 * do; END_WAIT with *wait_ms. */
static enum end_action end_of_file(struct tr_spool *sp, uint64_t *wait_ms)
{
	char path[4400];
	snprintf(path, sizeof(path), "%s/%s", sp->work, sp->file.work_name);
	uint64_t settle = (uint64_t)sp->d->cfg.settle_ms;
	struct stat st;
	if (stat(path, &st) < 0)
		return END_FINISH; /* nothing more can come of it */
	int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
	if (st.st_size != sp->opened_size || mtime != sp->opened_mtime_ns) {
		/* Written to since it was opened: read on once it settles, as
		 * when it was claimed. */
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		int64_t age_ms = ((int64_t)now.tv_sec * 1000000000 + now.tv_nsec - mtime) / 1000000;
		if (age_ms >= 0 && (uint64_t)age_ms < settle) {
			*wait_ms = settle - (uint64_t)age_ms;
			return END_WAIT;
		}
		return END_READ_ON;
	}
	if (open_for_writing(path) != 1) {
		sp->writer_since_ms = 0;
		return END_FINISH;
	}
	uint64_t now = tr_mono_ms();
	if (!sp->writer_since_ms)
		sp->writer_since_ms = now;
	uint64_t bound = WRITER_WAIT_SETTLES * settle;
	if (now - sp->writer_since_ms >= (bound > WRITER_WAIT_MIN_MS ? bound : WRITER_WAIT_MIN_MS))
		return END_WRITER_STAYED;
	*wait_ms = settle / 4 > 20 ? settle / 4 : 20;
	return END_WAIT;
}

/* Acts on end_of_file: finishes the file, waits (the file stays current and
 * nothing else is read meanwhile), or reads on from the last committed row
 * by opening it again (open_next takes the oldest file in work/: this one). */
static void at_end(struct tr_spool *sp)
{
	uint64_t wait_ms = 0;
	char reason[512];
	switch (end_of_file(sp, &wait_ms)) {
	case END_FINISH:
		finish_file(sp, sp->file.rows_bad ? "rejected" : "done", NULL);
		break;
	case END_WAIT:
		sp->end_due_ms = tr_mono_ms() + wait_ms;
		uv_idle_stop(&sp->step);
		schedule_scan(sp, wait_ms);
		break;
	case END_READ_ON:
		log_info("spool: %s grew after it was opened; reading on", sp->file.name);
		tr_spool_reader_end(sp->reader);
		sp->active = 0;
		sp->end_due_ms = 0;
		break;
	case END_WRITER_STAYED:
		snprintf(reason, sizeof(reason),
			 "still open for writing by another program %lld ms after its %lld rows were read; "
			 "anything written to it later is not read (write the file, close it, then "
			 "rename it into incoming/)",
			 (long long)(tr_mono_ms() - sp->writer_since_ms), (long long)sp->file.rows_done);
		log_warnx("spool: %s: %s", sp->file.name, reason);
		finish_file(sp, "rejected", reason);
		break;
	}
}

static void on_step(uv_idle_t *h)
{
	struct tr_spool *sp = h->data;
	if (sp->closing)
		return;
	if (sp->d->writes_paused || sp->moving) {
		uv_idle_stop(&sp->step); /* tr_spool_resume or _flushed starts it again */
		return;
	}
	if (tr_slice_io_first(sp->d, &sp->deferred))
		return; /* the next pass steps */
	if (sp->active && sp->end_due_ms) {
		uint64_t now = tr_mono_ms();
		if (now < sp->end_due_ms) { /* woken early: by a scan, a drop */
			uv_idle_stop(&sp->step);
			schedule_scan(sp, sp->end_due_ms - now);
			return;
		}
		sp->end_due_ms = 0;
		at_end(sp);
		return;
	}
	if (sp->active && !tr_spool_reader_ready(sp->reader)) {
		uv_idle_stop(&sp->step); /* on_rows_read starts it again */
		return;
	}
	if (!sp->active) {
		int rc = open_next(sp);
		if (rc <= 0) {
			uv_idle_stop(&sp->step);
			if (rc < 0)
				schedule_scan(sp, RETRY_MS);
			else if (sp->ncands)
				schedule_scan(sp, 0); /* room in work/ again */
			return;
		}
		if (!sp->active)
			return; /* it was only moved */
	}
	int rc = step_rows(sp);
	if (rc == 0) {
		at_end(sp);
	} else if (rc < 0) {
		/* Nothing of the step was kept: read it again from its last commit. */
		log_errx("spool: %s: database error; retrying in %d ms", sp->file.name, RETRY_MS);
		tr_spool_reader_end(sp->reader);
		sp->active = 0;
		uv_idle_stop(&sp->step);
		schedule_scan(sp, RETRY_MS);
	}
}

static void start_steps(struct tr_spool *sp)
{
	if (!sp->closing)
		uv_idle_start(&sp->step, on_step);
}

static void on_rows_read(void *data)
{
	start_steps(data);
}

int tr_spool_reading(const struct tr_spool *sp)
{
	return sp && sp->active;
}

void tr_spool_resume(struct tr_spool *sp)
{
	if (sp)
		start_steps(sp); /* a step with nothing to read stops itself */
}

/* Moves a file out of incoming/ untouched, with a one-line report. */
static void refuse(struct tr_spool *sp, const char *name, const char *reason)
{
	char from[4400], to[4400], errors[4500];
	snprintf(from, sizeof(from), "%s/%s", sp->incoming, name);
	unique_path(sp->rejected, name, to, sizeof(to));
	snprintf(errors, sizeof(errors), "%s.errors", to);
	char text[600];
	snprintf(text, sizeof(text), "%s:0: %s\n", name, reason);
	if (rename(from, to) == 0)
		write_atomic(errors, text);
	log_warnx("spool: %s refused: %s", name, reason);
}

/* Claims a settled file: incoming/NAME -> work/<claim time>-NAME. */
static void claim(struct tr_spool *sp, const struct candidate *c)
{
	char from[4400], to[4400], work_name[300];
	uint64_t stamp = (uint64_t)tr_time_now() * 1000 + tr_mono_ms() % 1000;
	struct stat st;
	do {
		snprintf(work_name, sizeof(work_name), "%013llu-%s", (unsigned long long)stamp++, c->name);
		snprintf(to, sizeof(to), "%s/%s", sp->work, work_name);
	} while (lstat(to, &st) == 0);
	snprintf(from, sizeof(from), "%s/%s", sp->incoming, c->name);
	if (rename(from, to) < 0) {
		log_warn("spool: cannot claim %s", from);
		return;
	}
	struct tr_file f = {.size = c->size};
	snprintf(f.name, sizeof(f.name), "%s", c->name);
	snprintf(f.work_name, sizeof(f.work_name), "%s", work_name);
	if (record_file(sp, &f))
		log_errx("spool: cannot record %s; it will be taken from work/", c->name);
	sp->work_files++;
	start_steps(sp);
}

static struct candidate *find_candidate(struct tr_spool *sp, const char *name)
{
	for (size_t i = 0; i < sp->ncands; i++)
		if (strcmp(sp->cands[i].name, name) == 0)
			return &sp->cands[i];
	return NULL;
}

/* Looks at incoming/: new files start settling, changed files start over,
 * settled ones are claimed while work/ has room. */
static void scan(struct tr_spool *sp)
{
	DIR *dir = opendir(sp->incoming);
	if (!dir) {
		/* Out of descriptors (EMFILE, ENFILE) and the like pass: look
		 * again without waiting for another drop's event. */
		log_warn("spool: cannot read %s; looking again in %d ms", sp->incoming, RETRY_MS);
		schedule_scan(sp, RETRY_MS);
		return;
	}
	uint64_t now = tr_mono_ms();
	uint64_t settle = (uint64_t)sp->d->cfg.settle_ms;
	for (size_t i = 0; i < sp->ncands; i++)
		sp->cands[i].seen = 0;
	struct dirent *e;
	while ((e = readdir(dir))) {
		if (ignored_name(e->d_name) || strlen(e->d_name) >= sizeof(sp->cands[0].name))
			continue;
		char path[4400];
		snprintf(path, sizeof(path), "%s/%s", sp->incoming, e->d_name);
		struct stat st;
		if (lstat(path, &st) < 0)
			continue;
		if (!S_ISREG(st.st_mode)) {
			refuse(sp, e->d_name, S_ISLNK(st.st_mode) ? "a symbolic link; drop the file itself"
								 : "not a regular file");
			continue;
		}
		int64_t mtime = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		struct candidate *c = find_candidate(sp, e->d_name);
		if (!c) {
			if (sp->ncands == MAX_CANDIDATES)
				continue; /* seen on a later scan */
			c = &sp->cands[sp->ncands++];
			snprintf(c->name, sizeof(c->name), "%s", e->d_name);
			c->size = -1;
		}
		c->seen = 1;
		if (c->size != st.st_size || c->mtime_ns != mtime) {
			c->size = st.st_size;
			c->mtime_ns = mtime;
			c->stable_since_ms = now;
		}
	}
	closedir(dir);
	/* Claim settled files, oldest name first for a stable order. */
	size_t kept = 0;
	for (size_t i = 0; i < sp->ncands; i++) {
		struct candidate *c = &sp->cands[i];
		if (c->seen && now - c->stable_since_ms >= settle && sp->work_files < MAX_WORK_FILES) {
			claim(sp, c);
			continue;
		}
		if (c->seen)
			sp->cands[kept++] = *c;
	}
	sp->ncands = kept;
	if (sp->ncands)
		schedule_scan(sp, settle / 4 > 20 ? settle / 4 : 20);
	else
		schedule_scan(sp, (uint64_t)sp->d->cfg.rescan_ms);
}

static void on_scan_timer(uv_timer_t *t)
{
	struct tr_spool *sp = t->data;
	scan(sp);
	start_steps(sp); /* also retries after a database failure */
}

static void schedule_scan(struct tr_spool *sp, uint64_t ms)
{
	if (sp->closing)
		return;
	uint64_t due = uv_now(sp->d->loop) + ms;
	if (uv_is_active((uv_handle_t *)&sp->scan_timer) &&
	    uv_timer_get_due_in(&sp->scan_timer) + uv_now(sp->d->loop) <= due)
		return;
	uv_timer_start(&sp->scan_timer, on_scan_timer, ms, 0);
}

static void on_fs_event(uv_fs_event_t *h, const char *filename, int events, int status)
{
	(void)filename;
	(void)events;
	(void)status;
	schedule_scan(h->data, 20); /* debounce bursts of events */
}

int tr_spool_start(struct tr_daemon *d, struct tr_spool **out)
{
	struct tr_spool *sp = calloc(1, sizeof(*sp));
	if (!sp || !(sp->cands = calloc(MAX_CANDIDATES, sizeof(*sp->cands)))) {
		free(sp);
		return -ENOMEM;
	}
	sp->d = d;
	const char *root = d->cfg.spool_dir;
	snprintf(sp->incoming, sizeof(sp->incoming), "%s/incoming", root);
	snprintf(sp->work, sizeof(sp->work), "%s/work", root);
	snprintf(sp->done, sizeof(sp->done), "%s/done", root);
	snprintf(sp->rejected, sizeof(sp->rejected), "%s/rejected", root);
	char outbox[4200];
	snprintf(outbox, sizeof(outbox), "%s/outbox", root);
	const char *dirs[] = {sp->incoming, sp->work, sp->done, sp->rejected, outbox};
	int rc = 0;
	for (int i = 0; rc == 0 && i < 5; i++) {
		rc = tr_mkdirs(dirs[i], 0750);
		if (rc)
			log_errx("spool: cannot create %s: %s", dirs[i], strerror(-rc));
	}
	if (rc == 0 && (rc = tr_spool_reader_start(d->loop, on_rows_read, sp, &sp->reader)))
		log_errx("spool: cannot start the file reader: %s", uv_strerror(rc));
	if (rc) {
		free(sp->cands);
		free(sp);
		return rc;
	}
	uv_timer_init(d->loop, &sp->scan_timer);
	sp->scan_timer.data = sp;
	uv_idle_init(d->loop, &sp->step);
	sp->step.data = sp;
	uv_fs_event_init(d->loop, &sp->watch);
	sp->watch.data = sp;
	/* Some file systems send no events: the periodic rescan covers them. */
	if (uv_fs_event_start(&sp->watch, on_fs_event, sp->incoming, 0) == 0)
		sp->watching = 1;
	else
		log_warnx("spool: no file-system events for %s; rescanning every %lld ms", sp->incoming,
			  (long long)d->cfg.rescan_ms);
	char name[300];
	next_work_file(sp, name, sizeof(name));
	start_steps(sp); /* SPEC §4: files left in work/ by a crash come first */
	scan(sp);
	*out = sp;
	return 0;
}

void tr_spool_close(struct tr_spool *sp)
{
	sp->closing = 1;
	/* Every committed step already recorded its progress. */
	tr_spool_reader_stop(sp->reader);
	uv_close((uv_handle_t *)&sp->watch, NULL);
	uv_close((uv_handle_t *)&sp->scan_timer, NULL);
	uv_close((uv_handle_t *)&sp->step, NULL);
}

void tr_spool_free(struct tr_spool *sp)
{
	if (!sp)
		return;
	tr_spool_reader_free(sp->reader);
	free(sp->cands);
	free(sp);
}

/* A folder's files, as the spool sees them (not dotfiles, .tmp or .part
 * files being written, nor rejected/'s .errors reports), up to
 * SPOOL_COUNT_MAX: done/ is never emptied by the daemon, and this runs on
 * the loop. -errno when the folder cannot be read. */
#define SPOOL_COUNT_MAX 1000000
static int64_t count_files(const char *path, int reports)
{
	DIR *dir = opendir(path);
	if (!dir)
		return -errno;
	int64_t n = 0;
	struct dirent *e;
	while (n < SPOOL_COUNT_MAX && (e = readdir(dir))) {
		size_t len = strlen(e->d_name);
		if (ignored_name(e->d_name) || (reports && len > 7 && strcmp(e->d_name + len - 7, ".errors") == 0))
			continue;
		n++;
	}
	closedir(dir);
	return n;
}

int tr_spool_files_each(const struct tr_spool *sp, int (*fn)(void *ud, const char *folder, int64_t files),
			void *ud)
{
	char outbox[4200];
	snprintf(outbox, sizeof(outbox), "%s/outbox", sp->d->cfg.spool_dir);
	const struct {
		const char *name, *path;
	} folders[] = {{"incoming", sp->incoming}, {"work", sp->work}, {"done", sp->done},
		       {"rejected", sp->rejected}, {"outbox", outbox}};
	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		int64_t n = count_files(folders[i].path, folders[i].path == sp->rejected);
		int rc = n >= 0 ? fn(ud, folders[i].name, n) : 0;
		if (rc)
			return rc;
	}
	return 0;
}

uint64_t tr_spool_rows_rejected(const struct tr_spool *sp)
{
	return sp->rows_rejected;
}

cJSON *tr_spool_status(struct tr_spool *sp)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return NULL;
	size_t waiting = sp->work_files > (size_t)sp->active ? sp->work_files - (size_t)sp->active : 0;
	cJSON_AddNumberToObject(o, "queued", (double)(sp->ncands + waiting));
	cJSON *list = cJSON_AddArrayToObject(o, "in_progress");
	if (sp->active) {
		cJSON *f = cJSON_CreateObject();
		cJSON_AddStringToObject(f, "file", sp->file.name);
		cJSON_AddNumberToObject(f, "rows_done", (double)sp->file.rows_done);
		cJSON_AddNumberToObject(f, "rows_bad", (double)sp->file.rows_bad);
		cJSON_AddItemToArray(list, f);
	}
	int64_t done = 0, rejected = 0;
	tr_store_files_finished_since(sp->d->store, tr_time_host_midnight(tr_time_now()), &done, &rejected);
	cJSON_AddNumberToObject(o, "done_today", (double)done);
	cJSON_AddNumberToObject(o, "rejected_today", (double)rejected);
	cJSON_AddStringToObject(o, "incoming", sp->incoming);
	return o;
}
