/* The sd_notify side of SPEC §8: one place that tells the service manager
 * what the daemon is doing, so a reload asked over the socket looks to
 * systemd the same as one asked with SIGHUP (`systemctl reload` waits for
 * READY=1 after RELOADING=1). Not the watchdog timer or the signals
 * (main.c). */
#include <stdio.h>
#include <time.h>
#ifdef TR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "tr_engine.h"
#include "tr_reload.h"
#include "tr_service.h"

void tr_service_notify(const char *state)
{
#ifdef TR_HAVE_SYSTEMD
	sd_notify(0, state);
#else
	(void)state;
#endif
}

int tr_service_reload(struct tr_daemon *d, struct tr_errors *errs, int *moved)
{
	/* systemd >= 253 (Type=notify-reload) pairs RELOADING=1 with the
	 * CLOCK_MONOTONIC time it was sent at; older ones ignore the field */
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	char line[160];
	snprintf(line, sizeof(line), "RELOADING=1\nMONOTONIC_USEC=%llu\nSTATUS=reloading rules",
		 (unsigned long long)ts.tv_sec * 1000000ULL + (unsigned long long)ts.tv_nsec / 1000);
	tr_service_notify(line);
	int rc = tr_reload(d, errs, moved);
	if (rc)
		snprintf(line, sizeof(line), "READY=1\nSTATUS=reload failed (%zu problem%s): %d old rules keep running",
			 errs->n, errs->n == 1 ? "" : "s", tr_engine_rule_count(d->engine));
	else
		snprintf(line, sizeof(line), "READY=1\nSTATUS=running: %d rules reloaded", tr_engine_rule_count(d->engine));
	tr_service_notify(line);
	return rc;
}
