/* A scratch world for running events offline: a database of its own, a
 * fresh build of a rules folder and the ingest pipeline over them, and a
 * fake clock that fires timers as it moves, exactly as the daemon would.
 * The rule tests (tr_ruletest.h) and the replay (tr_replay.h) both run
 * events in one. Not the daemon's start-up (tr_daemon_start): no socket,
 * no spool, no outputs; notifications stay in the outbox. */
#ifndef TR_SCRATCH_H
#define TR_SCRATCH_H

#include <stdint.h>
#include "tr_daemon.h"

/* Opens a new database at db_path (any old one there is removed first),
 * builds d->cfg.rules_dir's rules with d->cfg (the caller's), and sets up
 * d->ingest with its marker in dir. A store that cannot be opened says why
 * in err; rules that do not compile append every problem to errs. Returns
 * 0, or the error; what opened stays in d either way, for
 * tr_scratch_close. */
int tr_scratch_open(struct tr_daemon *d, const char *dir, const char *db_path, char *err, size_t errlen,
		    struct tr_errors *errs);
/* Closes what tr_scratch_open opened (an open transaction is rolled back)
 * and, when db_path is not NULL, deletes that database. d->cfg is left. */
void tr_scratch_close(struct tr_daemon *d, const char *db_path);

/* Moves the clock *now to `to` (never back), firing every timer due by
 * then in due order, one instant at a time so that later timers see what
 * earlier ones did, as the daemon fires them. *fired (may be NULL) counts
 * the instants that fired. Returns 0, or a store error (the clock stays at
 * the instant that failed). */
int tr_scratch_advance(struct tr_daemon *d, int64_t *now, int64_t to, int *fired);

#endif
