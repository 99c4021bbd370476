/* `triagectl replay` (SPEC §6, §7): the stored events of the live database
 * run again, in their order and at their times, through the live rules
 * folder and through another one, each in a scratch database of its own,
 * and what became of each ticket compared. Offline: the daemon is not
 * asked, its database is opened read-only, the live loop never waits. */
#ifndef TR_REPLAY_H
#define TR_REPLAY_H

#include <stdint.h>
#include <stdio.h>

struct tr_replay_opts {
	const char *config;    /* the daemon's config (its database and live rules) */
	int explicit;          /* config was named: it must exist (else absent = defaults) */
	const char *rules_dir; /* the rules folder to compare with the live one */
	int64_t since, until;  /* events received in [since, until); 0: no bound */
	const char *type;      /* fnmatch(3) glob on the event type, as a rule's `on`; NULL: all */
	int json;              /* one JSON object a line per differing ticket, then a summary */
	FILE *out, *err;       /* the report; problems */
};

/* Runs the replay and prints the report. Returns 0 when no ticket differs,
 * 1 when one does, 2 when the config or a rules folder does not load (each
 * problem at its file:line on err), 3 when the database cannot be read or
 * a scratch database cannot be written. Nothing to free; nothing is left
 * behind in the scratch folder ($TMPDIR, else /tmp). */
int tr_replay_run(const struct tr_replay_opts *o);

#endif
