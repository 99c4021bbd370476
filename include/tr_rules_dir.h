/* Who may change the rules: the rules run as the daemon, so a rules folder
 * that anyone on the machine may write is a way for anyone to run code as
 * the daemon. This checks the folder's permissions before its rules are
 * loaded; it does not read or load them (engine.c). */
#ifndef TR_RULES_DIR_H
#define TR_RULES_DIR_H

#include "tr_error.h"

/* Checks, with stat(2) (a symlink counts as what it points to), that none of
 * these is writable by everyone (S_IWOTH; group-writable is fine):
 *   - rules_dir itself, and each folder above it unless that folder has the
 *     sticky bit (as /tmp has: others cannot rename what they do not own);
 *   - each rule file in it (*.lua but *.test.lua and dot-files, the files
 *     the engine loads);
 *   - lib/ beside them, every folder under it and every *.lua module there
 *     (what require can reach).
 * Appends one error per such path to errs (file the path, field
 * "rules_dir"), so `triaged --check`, start and reload each refuse the
 * folder with every offender named. A path that cannot be read is left to
 * the loader to report. Returns 0, or TR_EPARSE when it added an error. */
int tr_rules_dir_check(const char *rules_dir, struct tr_errors *errs);

#endif
