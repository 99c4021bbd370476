/* Swapping in a new rule set whole (SPEC §8), for SIGHUP and the `reload` op. */
#ifndef TR_RELOAD_H
#define TR_RELOAD_H

#include "tr_daemon.h"
#include "tr_error.h"

/* SPEC §8: builds the rules folder afresh and swaps it in whole, with the
 * config file's params and calendars read again; on any problem (in the
 * rules or anywhere in the config) the old rules, params and calendars
 * stay and errs says why. Then SPEC §3: the pending steps counted in a
 * calendar are recounted in the new one; *moved says how many moved.
 * Returns 0 or TR_EPARSE. */
int tr_reload(struct tr_daemon *d, struct tr_errors *errs, int *moved);

#endif
