/* The commands that pass the daemon's lines through: `watch` (SPEC §6:
 * every notification and ticket change, streamed as commits make them,
 * until Ctrl-C or the daemon goes; one line each for people, the daemon's
 * lines as they come with --json) and `raw` (one request typed on the
 * command line, sent as typed, its answer printed as received). Not the
 * socket (conn.c). */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "triagectl.h"

/* Ctrl-C (or a TERM) is how a watch ends: exit 0. The lines before it were
 * flushed as they came; _exit is what a signal handler may call. */
static void on_interrupt(int sig)
{
	(void)sig;
	_exit(CTL_OK);
}

/* A notification for people: `AT  → OUTPUT  MESSAGE  [#ID TITLE]`. */
static void print_notification(const cJSON *n)
{
	char *at = jfield(n, "at"), *out = jfield(n, "output"), *msg = jfield(n, "message");
	const cJSON *t = jobject(jget(n, "ticket"));
	printf("%s  \u2192 %s  %s", at, out, msg);
	if (t) {
		char *id = jfield(t, "id"), *title = jfield(t, "title");
		printf("  [#%s %s]", id, title);
		free(id), free(title);
	}
	putchar('\n');
	free(at), free(out), free(msg);
}

/* A ticket change for people: `AT  #ID  ACTION  by ACTOR  DETAIL`. */
static void print_change(const cJSON *t, const cJSON *ch)
{
	char *at = jfield(ch, "at"), *id = jfield(t, "id"), *action = jfield(ch, "action"),
	     *actor = jfield(ch, "actor");
	const cJSON *d = jget(ch, "detail");
	printf("%s  #%s  %s  by %s", at, id, action, actor);
	if (cJSON_IsString(d) && d->valuestring[0]) {
		char *detail = jtext(d);
		printf("  %s", detail);
		free(detail);
	}
	putchar('\n');
	free(at), free(id), free(action), free(actor);
}

/* Streams until interrupted (0), dropped by the daemon for not reading
 * (1, its reason on stderr) or the daemon gone (3). */
int cmd_watch(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("watch"), &resp);
	cJSON_Delete(resp);
	if (rc)
		return rc;
	struct sigaction sa = {.sa_handler = on_interrupt};
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (!c->json)
		fprintf(stderr, "watching notifications and ticket changes; Ctrl-C to stop\n");
	fflush(stdout);
	for (;;) {
		char *raw = NULL;
		rc = ctl_recv(c, &resp, &raw);
		if (rc)
			return rc; /* the daemon went (3), or sent nonsense (1): said on stderr */
		const cJSON *n = jobject(jget(resp, "notification"));
		const cJSON *t = jobject(jget(resp, "ticket")), *ch = jobject(jget(resp, "change"));
		bool dropped = cJSON_IsTrue(jget(resp, "dropped"));
		if (c->json)
			puts(raw);
		else if (n)
			print_notification(n);
		else if (t && ch)
			print_change(t, ch);
		else if (!dropped)
			puts(raw); /* a line this triagectl does not know: shown as sent */
		fflush(stdout);
		if (dropped) {
			char *why = jfield(resp, "reason");
			fprintf(stderr, "triagectl: watch: triaged dropped this watcher: %s\n", why);
			free(why);
		}
		free(raw);
		cJSON_Delete(resp);
		if (dropped)
			return CTL_NO;
	}
}

/* raw: one request given on the command line, its answer printed as is. */

int cmd_raw(struct ctl *c, int argc, char **argv)
{
	char *text = join_args(argc, argv);
	const char *end = NULL;
	cJSON *req = cJSON_ParseWithOpts(text, &end, true);
	bool object = cJSON_IsObject(req);
	cJSON_Delete(req);
	if (!object) {
		free(text);
		return usage_error(c, "the request must be one JSON object");
	}
	/* Sent as typed (not re-printed, so numbers keep their digits), on one line. */
	cJSON_Minify(text);
	size_t n = strlen(text);
	text = xrealloc(text, n + 2);
	memcpy(text + n, "\n", 2);
	cJSON *resp;
	int rc = ctl_exchange(c, text, n + 1, true, &resp);
	cJSON_Delete(resp);
	free(text);
	return rc;
}
