/* triaged: arguments, signals, systemd notification and the event loop.
 * Everything it runs lives in the core library. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>
#ifdef TR_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif
#include "tr_check.h"
#include "tr_config.h"
#include "tr_daemon.h"
#include "tr_engine.h"
#include "tr_log.h"
#include "tr_reload.h"
#include "tr_server.h"
#include "tr_service.h"

#ifdef TR_HAVE_JEMALLOC
/* Read by jemalloc at start-up. With the kernel's transparent huge pages
 * on "madvise", a fault in memory jemalloc marked for huge pages waits for
 * the kernel to compact memory: the loop stalled up to 1 s while a large
 * file was read (bench_spool.py: ping max 213-1037 ms; with ordinary pages
 * 11-60 ms, as with glibc's malloc). */
const char *malloc_conf = "thp:never,metadata_thp:disabled";
#endif

static void notify(const char *state)
{
	tr_service_notify(state);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: triaged [-c FILE] [--check] [--version]\n"
		   "  -c, --config FILE  configuration (default %s)\n"
		   "      --check        validate the configuration and compile the rules, then exit\n"
		   "      --version      print the version and exit\n", TR_DEFAULT_CONFIG);
}

/* One problem a line on stderr. */
static void print_errors(const struct tr_errors *errs)
{
	for (size_t i = 0; i < errs->n; i++) {
		char line[1024];
		tr_error_format(&errs->items[i], line, sizeof(line));
		fprintf(stderr, "%s\n", line);
	}
}

/* Reads the config: an explicit -c must exist; the default may be absent. */
static int load_config(const char *path, int explicit, struct tr_config *cfg, struct tr_errors *errs)
{
	if (!explicit && access(path, F_OK) != 0)
		return tr_config_defaults(cfg);
	return tr_config_load(path, cfg, errs);
}

static struct tr_daemon daemon_state;
static uv_signal_t sigs[4];
static uv_timer_t watchdog, drain_deadline;

#define DRAIN_MS 5000 /* how long clients get to read their last answers */

static void close_handle(uv_handle_t *h, void *arg)
{
	(void)arg;
	if (!uv_is_closing(h))
		uv_close(h, NULL);
}

static void on_drain_deadline(uv_timer_t *t)
{
	log_warnx("clients still connected after %d ms; closing them", DRAIN_MS);
	tr_server_close_clients(daemon_state.server); /* each freed in its close callback */
	uv_walk(t->loop, close_handle, NULL);
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct tr_daemon *d = h->data;
	if (signum == SIGHUP) {
		struct tr_errors errs = {0};
		int moved;
		if (tr_service_reload(d, &errs, &moved)) /* SPEC §8: RELOADING=1, then READY=1 */
			print_errors(&errs);
		tr_errors_free(&errs);
		return;
	}
	if (d->stopping)
		return;
	d->stopping = 1;
	log_info("stopping on signal %d: draining", signum);
	notify("STOPPING=1");
	/* SPEC §8: answer what was read, commit, then leave once every client
	 * has its answers (or the deadline passes). */
	tr_daemon_drain(d);
	for (int i = 0; i < 4; i++)
		uv_close((uv_handle_t *)&sigs[i], NULL);
	uv_close((uv_handle_t *)&watchdog, NULL);
	uv_timer_start(&drain_deadline, on_drain_deadline, DRAIN_MS, 0);
	uv_unref((uv_handle_t *)&drain_deadline);
}

static int watchdog_enabled;

/* Keeps the service manager's watchdog fed and its STATUS line current. */
static void on_watchdog(uv_timer_t *t)
{
	struct tr_daemon *d = t->data;
	char status[160];
	snprintf(status, sizeof(status), "%sSTATUS=%llu events accepted, %llu duplicates, %d rules",
		 watchdog_enabled ? "WATCHDOG=1\n" : "", (unsigned long long)d->ingest.accepted,
		 (unsigned long long)d->ingest.duplicates, tr_engine_rule_count(d->engine));
	notify(status);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"config", required_argument, NULL, 'c'}, {"check", no_argument, NULL, 'k'},
		{"version", no_argument, NULL, 'V'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
	const char *config_path = TR_DEFAULT_CONFIG;
	int explicit = 0, check = 0, opt;
	while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
		switch (opt) {
		case 'c': config_path = optarg; explicit = 1; break;
		case 'k': check = 1; break;
		case 'V': printf("triaged %s\n", TR_VERSION); return 0;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	if (check)
		return tr_check(config_path, explicit, NULL, stdout, stderr);

	struct tr_daemon *d = &daemon_state;
	struct tr_errors errs = {0};
	int rc = load_config(config_path, explicit, &d->cfg, &errs);
	tr_log_level = d->cfg.log_level;
	if (rc) {
		print_errors(&errs);
		tr_errors_free(&errs);
		tr_config_free(&d->cfg);
		return 1;
	}

	uv_loop_t loop;
	uv_loop_init(&loop);
	rc = tr_daemon_start(d, &loop, &errs);
	if (rc) {
		print_errors(&errs);
		tr_errors_free(&errs);
		tr_config_free(&d->cfg);
		uv_loop_close(&loop);
		return 1;
	}
	tr_errors_free(&errs);

	const int signums[4] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT};
	for (int i = 0; i < 4; i++) {
		uv_signal_init(&loop, &sigs[i]);
		sigs[i].data = d;
		uv_signal_start(&sigs[i], on_signal, signums[i]);
	}
	uv_timer_init(&loop, &watchdog);
	uv_timer_init(&loop, &drain_deadline);
	watchdog.data = d;
	uint64_t every_ms = 15000;
#ifdef TR_HAVE_SYSTEMD
	uint64_t usec = 0;
	if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
		watchdog_enabled = 1;
		every_ms = usec / 2000; /* twice per WatchdogSec */
	}
#endif
	uv_timer_start(&watchdog, on_watchdog, every_ms, every_ms);
	uv_unref((uv_handle_t *)&watchdog);
	log_info("triaged %s ready: %d rules, socket %s, database %s (durability %s)", TR_VERSION,
		 tr_engine_rule_count(d->engine), d->cfg.socket_path, d->cfg.db_path,
		 d->cfg.durability == TR_DURABILITY_FULL ? "full" : "normal");
	notify("READY=1\nSTATUS=running");

	uv_run(&loop, UV_RUN_DEFAULT);

	/* Drained. Close what is left (the deadline timer) and finish. */
	uv_walk(&loop, close_handle, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	tr_daemon_free(d);
	tr_config_free(&d->cfg);
	rc = uv_loop_close(&loop);
	if (rc)
		log_warnx("event loop closed with handles open: %s", uv_strerror(rc));
	log_info("stopped");
	return 0;
}
