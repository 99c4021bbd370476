/* What rules keep between events (SPEC §5 state): one keyspace of values
 * and windowed counters. A key in table `state` holds either a value (JSON
 * text) or a counter (value NULL, its window in window_s) whose counts are
 * buckets in table `counters`; triggers (migration 13) delete a counter's
 * buckets when its key is deleted or becomes a value. Written only by a rule
 * run, inside the transaction of its event; read by the rules and by the
 * `state` op. Not the policy's words to the rule (lua_state.c) nor the JSON
 * the socket answers with (views_state.c). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sqlite3.h>
#include "store_internal.h"

/* A window is kept as 24 buckets, so the count is exact to 1/24 of it;
 * window 0 (forever) is one bucket, 0. */
static int64_t bucket_width(int64_t window)
{
	return window > 0 ? (window + 23) / 24 : INT64_MAX;
}

static int64_t bucket_of(int64_t t, int64_t window)
{
	return window > 0 ? t / bucket_width(window) : 0;
}

/* A bucket counts at t while it is above this one. */
static int64_t oldest_bucket(int64_t t, int64_t window)
{
	return window > 0 ? (t - window) / bucket_width(window) : -1;
}

/* The first t at which bucket b of window no longer counts. */
static int64_t bucket_expiry(int64_t b, int64_t window)
{
	return b * bucket_width(window) + window;
}

int tr_store_state_get(struct tr_store *s, const char *key, char **value)
{
	sqlite3_stmt *st = stmt(s, S_STATE_GET);
	*value = NULL;
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, key);
	int rc = sqlite3_step(st), found = 0;
	if (rc == SQLITE_ROW) {
		found = 1;
		*value = column_strdup(st, 0);
		if (!*value)
			found = -ENOMEM;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? found : TR_ESTORE;
}

/* SPEC §5 one keyspace: a value replaces a counter of the same name (the
 * trigger takes its buckets), and deleting takes either kind. */
int tr_store_state_set(struct tr_store *s, const char *key, const char *value)
{
	sqlite3_stmt *st = stmt(s, value ? S_STATE_SET : S_STATE_DELETE);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, key);
	if (value)
		bind_text(st, 2, value);
	return run(s, st);
}

/* Fills row from a statement whose columns from i are value, window_s, count. */
static void row_from(sqlite3_stmt *st, int i, struct tr_state_row *row)
{
	row->value = (const char *)sqlite3_column_text(st, i);
	row->window_s = sqlite3_column_type(st, i + 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, i + 1);
	row->count = sqlite3_column_int64(st, i + 2);
}

int tr_store_state_read(struct tr_store *s, const char *key, int64_t t,
			void (*got)(void *ud, const struct tr_state_row *row), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_STATE_READ);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, t);
	int step = sqlite3_step(st);
	if (step == SQLITE_ROW) {
		struct tr_state_row row = {.key = key};
		row_from(st, 0, &row);
		got(ud, &row);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return step == SQLITE_ROW ? 1 : step == SQLITE_DONE ? 0 : TR_ESTORE;
}

/* The smallest key above every key that starts with prefix, into hi:
 * 0, or 1 when there is none (a prefix of 0xff bytes only). */
static int prefix_end(const char *prefix, char *hi, size_t len)
{
	size_t n = strlen(prefix);
	if (n >= len)
		return 1;
	memcpy(hi, prefix, n + 1);
	while (n > 0 && (unsigned char)hi[n - 1] == 0xff)
		hi[--n] = 0;
	if (n == 0)
		return 1;
	hi[n - 1] = (char)((unsigned char)hi[n - 1] + 1);
	return 0;
}

int tr_store_state_each(struct tr_store *s, const char *prefix, const char *after, int64_t now, int limit,
			int (*each)(void *ud, const struct tr_state_row *row), void *ud)
{
	sqlite3_stmt *st = stmt(s, S_STATE_LIST);
	if (!st)
		return TR_ESTORE;
	char hi[TR_STATE_KEY_MAX + 2];
	prefix = prefix ? prefix : "";
	/* keys are text compared byte by byte: the prefix's keys are a range */
	bind_text(st, 1, after ? after : "");
	bind_text(st, 2, prefix);
	bind_text(st, 3, prefix_end(prefix, hi, sizeof(hi)) ? NULL : hi);
	sqlite3_bind_int64(st, 4, now);
	sqlite3_bind_int(st, 5, limit);
	int rc = 0;
	while (rc == 0 && sqlite3_step(st) == SQLITE_ROW) {
		struct tr_state_row row = {.key = (const char *)sqlite3_column_text(st, 0)};
		row_from(st, 1, &row);
		rc = each(ud, &row);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Moves a counter's buckets from window `from` to window `to`, each
 * count keeping its time: the end of its old bucket (a guard would rather
 * count a little long than forget early), and a forever count as at t. At most
 * RESCALE_MAX buckets: a windowed counter is pruned to 25 at each add. */
#define RESCALE_MAX 64
static int rescale(struct tr_store *s, const char *key, int64_t from, int64_t to, int64_t t, int64_t *last)
{
	struct { int64_t bucket, count; } moved[RESCALE_MAX];
	int n = 0, rc;
	sqlite3_stmt *st = stmt(s, S_COUNTER_BUCKETS);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, key);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t b = sqlite3_column_int64(st, 0), count = sqlite3_column_int64(st, 1);
		int64_t at = from > 0 ? (b + 1) * bucket_width(from) - 1 : t;
		if (at > t)
			at = t;
		int64_t nb = bucket_of(at, to);
		int i = 0;
		while (i < n && moved[i].bucket != nb)
			i++;
		if (i == n && n == RESCALE_MAX)
			i = n - 1; /* never: merged into the last rather than lost */
		if (i == n)
			moved[n++].bucket = nb, moved[i].count = 0;
		moved[i].count += count;
		if (nb > *last)
			*last = nb;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return TR_ESTORE;
	if (!(st = stmt(s, S_COUNTER_CLEAR)))
		return TR_ESTORE;
	bind_text(st, 1, key);
	if ((rc = run(s, st)))
		return rc;
	for (int i = 0; i < n; i++) {
		if (!(st = stmt(s, S_COUNTER_ADD)))
			return TR_ESTORE;
		bind_text(st, 1, key);
		sqlite3_bind_int64(st, 2, moved[i].bucket);
		sqlite3_bind_int64(st, 3, moved[i].count);
		if ((rc = run(s, st)))
			return rc;
	}
	return 0;
}

/* What the key holds before an add: the policy of the one keyspace. */
struct before {
	int exists, is_value, whole; /* whole: a value [v] whose v is a whole number */
	int64_t number, window, expires_at; /* window -1: not known (migration 13) */
};

static int read_before(struct tr_store *s, const char *key, struct before *b)
{
	sqlite3_stmt *st = stmt(s, S_COUNTER_KEY);
	memset(b, 0, sizeof(*b));
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, key);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		b->exists = 1;
		b->is_value = sqlite3_column_type(st, 0) != SQLITE_NULL;
		b->window = sqlite3_column_type(st, 1) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 1);
		b->whole = sqlite3_column_type(st, 2) == SQLITE_INTEGER;
		b->number = sqlite3_column_int64(st, 2);
		b->expires_at = sqlite3_column_int64(st, 3);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : TR_ESTORE;
}

static int counter_sum(struct tr_store *s, const char *key, int64_t oldest, int64_t *total)
{
	sqlite3_stmt *st = stmt(s, S_COUNTER_SUM);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, oldest);
	int rc = sqlite3_step(st);
	*total = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW ? 0 : TR_ESTORE;
}

int tr_store_counter_add(struct tr_store *s, const char *key, int64_t n, int64_t t,
			 int64_t window, int64_t *total)
{
	struct before b;
	int64_t bucket = bucket_of(t, window), last = bucket, seed = 0;
	int rc = read_before(s, key, &b);
	*total = 0;
	if (rc)
		return rc;
	if (b.is_value && !b.whole)
		return -EINVAL;
	if (b.is_value)
		seed = b.number; /* a number set before counts on from there, at t */
	int live = b.exists && !b.is_value && (b.expires_at == 0 || b.expires_at > t);
	if (b.exists && !b.is_value && !live) {
		/* an expired counter starts afresh, like a key never counted */
		sqlite3_stmt *st = stmt(s, S_COUNTER_CLEAR);
		if (!st)
			return TR_ESTORE;
		bind_text(st, 1, key);
		if ((rc = run(s, st)))
			return rc;
	} else if (live && b.window >= 0 && b.window != window &&
		   bucket_width(b.window) != bucket_width(window)) {
		/* the rule changed the key's window: its counts keep their time */
		if ((rc = rescale(s, key, b.window, window, t, &last)))
			return rc;
	}
	/* the key: a counter of this window, alive until its newest bucket
	 * leaves the window (then tr_store_counter_add sweeps it) */
	int64_t expires = window > 0 ? bucket_expiry(last, window) : 0;
	if (window > 0 && live && b.window == window && b.expires_at > expires)
		expires = b.expires_at; /* counted later than t before (an older event now) */
	sqlite3_stmt *st = stmt(s, S_COUNTER_KEY_SET);
	if (!st)
		return TR_ESTORE;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, window);
	bind_time(st, 3, expires);
	if ((rc = run(s, st)))
		return rc;
	if (!(st = stmt(s, S_COUNTER_ADD)))
		return TR_ESTORE;
	bind_text(st, 1, key);
	sqlite3_bind_int64(st, 2, bucket);
	sqlite3_bind_int64(st, 3, n + seed);
	if ((rc = run(s, st)))
		return rc;
	int64_t oldest = oldest_bucket(t, window);
	if (window > 0) {
		if (!(st = stmt(s, S_COUNTER_PRUNE)))
			return TR_ESTORE;
		bind_text(st, 1, key);
		sqlite3_bind_int64(st, 2, oldest);
		if ((rc = run(s, st)))
			return rc;
	}
	/* Keys counted once and never again would stay for ever: each add
	 * deletes two whose window has passed, so they never pile up. */
	if (!(st = stmt(s, S_STATE_SWEEP)))
		return TR_ESTORE;
	sqlite3_bind_int64(st, 1, t);
	if ((rc = run(s, st)))
		return rc;
	return counter_sum(s, key, oldest, total);
}
