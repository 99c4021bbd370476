/* `triagectl metrics` (SPEC §7): the daemon's Prometheus text, printed as
 * it came, so that `triagectl metrics | promtool check metrics` and a
 * node_exporter textfile collector read it unchanged; --json prints the
 * answer instead. Not the metrics themselves (the daemon's metrics op). */
#include <stdio.h>
#include <string.h>
#include "triagectl.h"

int cmd_metrics(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	int rc = ctl_call(c, request("metrics"), &resp);
	if (!rc && !c->json) {
		const cJSON *text = jget(resp, "metrics");
		if (cJSON_IsString(text)) {
			fputs(text->valuestring, stdout);
		} else {
			fprintf(stderr, "triagectl: the daemon's answer has no \"metrics\" text\n");
			rc = CTL_NO;
		}
	}
	cJSON_Delete(resp);
	if (!rc && fflush(stdout) != 0) {
		perror("triagectl: stdout");
		rc = CTL_NO;
	}
	return rc;
}
