/* Scratch worlds (tr_scratch.h): a throw-away database with a fresh build
 * of the rules, and the fake clock that fires its timers. What the rule
 * tests and the replay share, so that both run events exactly as live
 * ingest and the daemon's timers do. Not what they do with the world
 * (ruletest.c, replay.c). */
#include <stdio.h>
#include <unistd.h>
#include "tr_scratch.h"
#include "tr_timers.h"

static void unlink_db(const char *db_path)
{
	const char *suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (int i = 0; i < 4; i++) {
		char side[4200];
		snprintf(side, sizeof(side), "%s%s", db_path, suffixes[i]);
		unlink(side);
	}
}

void tr_scratch_close(struct tr_daemon *d, const char *db_path)
{
	tr_ingest_close(&d->ingest);
	tr_engine_free(d->engine);
	tr_store_close(d->store);
	d->engine = NULL;
	d->store = NULL;
	if (db_path)
		unlink_db(db_path);
}

int tr_scratch_open(struct tr_daemon *d, const char *dir, const char *db_path, char *err, size_t errlen,
		    struct tr_errors *errs)
{
	unlink_db(db_path);
	err[0] = 0;
	int rc = tr_store_open(db_path, TR_DURABILITY_NORMAL, &d->store, err, errlen);
	if (rc)
		return rc;
	rc = tr_engine_load(d->cfg.rules_dir, &d->cfg, &d->engine, errs);
	if (rc == 0)
		rc = tr_ingest_open(&d->ingest, dir, d->store, d->engine);
	if (rc && !err[0] && errs->n == 0)
		snprintf(err, errlen, "cannot set up the scratch database: %s", tr_strerror(rc));
	return rc;
}

int tr_scratch_advance(struct tr_daemon *d, int64_t *now, int64_t to, int *fired)
{
	for (;;) {
		int64_t next = 0;
		int rc = tr_store_timer_next(d->store, &next);
		if (rc)
			return rc;
		if (next == 0 || next > to)
			break;
		/* Fire one instant at a time, so later timers see earlier effects. */
		*now = next > *now ? next : *now;
		int more = 1;
		while (more)
			if ((rc = tr_timers_fire(d, *now, 1000, &more)))
				return rc;
		if (fired)
			(*fired)++;
	}
	*now = to > *now ? to : *now;
	return 0;
}
