/* Talking to the service manager (SPEC §8, systemd's sd_notify protocol):
 * READY, RELOADING, STOPPING, STATUS and WATCHDOG lines. Every function is
 * a no-op when the daemon was built without libsystemd or runs without
 * NOTIFY_SOCKET (a terminal, a test). Not the signals themselves (main.c). */
#ifndef TR_SERVICE_H
#define TR_SERVICE_H

#include "tr_daemon.h"
#include "tr_error.h"

/* Sends state ("READY=1\nSTATUS=running") as it is. */
void tr_service_notify(const char *state);

/* SPEC §8 reload, as the service manager should see it, for SIGHUP and the
 * `reload` op alike: RELOADING=1 with MONOTONIC_USEC (systemd's reload
 * protocol matches the two), tr_reload, then READY=1 and a STATUS line
 * saying whether the new rules run or the old ones stay. Returns what
 * tr_reload returns; errs and *moved as it fills them. */
int tr_service_reload(struct tr_daemon *d, struct tr_errors *errs, int *moved);

#endif
