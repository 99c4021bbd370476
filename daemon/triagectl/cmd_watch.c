/* The commands that pass the daemon's lines through: `watch`
 * (notifications streamed as they are delivered, until Ctrl-C or the daemon
 * goes) and `raw` (one request typed on the command line, sent as typed, its
 * answer printed as received). Not the socket (conn.c). */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "triagectl.h"

/* Streams notifications until interrupted (or the daemon stops). */
int cmd_watch(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("watch"), &resp);
	cJSON_Delete(resp);
	if (rc)
		return rc;
	if (!c->json)
		fprintf(stderr, "watching notifications; Ctrl-C to stop\n");
	for (;;) {
		char *raw = NULL;
		rc = ctl_recv(c, &resp, &raw);
		if (rc) {
			free(raw);
			return rc == CTL_NODAEMON ? 0 : rc;
		}
		const cJSON *n = jget(resp, "notification");
		if (c->json || !n) {
			puts(raw);
		} else {
			char *at = jfield(n, "at"), *out = jfield(n, "output"), *msg = jfield(n, "message");
			const cJSON *t = jget(n, "ticket");
			char *tid = t ? jfield(t, "id") : NULL, *title = t ? jfield(t, "title") : NULL;
			printf("%s  %s  %s%s%s%s%s\n", at, out, msg, tid ? "  [#" : "", tid ? tid : "",
			       tid ? " " : "", title ? title : "");
			free(at), free(out), free(msg), free(tid), free(title);
		}
		fflush(stdout);
		free(raw);
		cJSON_Delete(resp);
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
