/* `triagectl outbox [--failed] [--limit N]`: the notifications not
 * delivered yet, pending or parked as failed (issue 20), through the
 * `outbox` op, a page at a time in id order until the rows or --limit run
 * out; a table for people, each page's answer as received with --json.
 * `triagectl outbox retry ID|--all` puts parked ones back to be sent now.
 * Not when a delivery is parked (the daemon's outputs.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "triagectl.h"

#define OUTBOX_PAGE 1000    /* rows per request: the op's most */
#define OUTBOX_DEFAULT 100  /* rows shown without --limit */

static const char *const outbox_heads[] = { "ID", "OUTPUT", "STATE", "CREATED", "TRIES", "TICKET", "LAST ERROR",
					    "MESSAGE" };

static void add_rows(struct table *t, const cJSON *list)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, list) {
		const cJSON *err = jget(it, "last_error"), *ticket = jget(it, "ticket");
		char *row[8] = {
			jfield(it, "id"), jfield(it, "output"), jfield(it, "state"), jfield(it, "created_at"),
			jfield(it, "attempts"),
			cJSON_IsNumber(ticket) ? jfield(it, "ticket") : xstrdup("-"),
			cJSON_IsString(err) ? jfield(it, "last_error") : xstrdup("-"),
			jfield(it, "message"),
		};
		table_add(t, row);
	}
}

static int retry(struct ctl *c, int argc, char **argv)
{
	long long id = argc > 1 ? parse_id(argv[1]) : 0;
	if (argc > 1 && !id)
		return usage_error(c, "retry takes a notification id (see `triagectl outbox --failed`), not '%s'", argv[1]);
	if (argc > 1 && c->o.all)
		return usage_error(c, "retry takes an id or --all, not both");
	if (argc < 2 && !c->o.all)
		return usage_error(c, "retry needs an id or --all");
	cJSON *req = request("outbox"), *resp;
	if (id)
		req_num(req, "retry", id);
	else
		cJSON_AddBoolToObject(req, "retry_all", 1);
	int rc = ctl_call(c, req, &resp);
	if (rc == 0 && !c->json) {
		long long n = (long long)jnum(resp, "retried");
		printf("%lld parked notification%s put back; they go now\n", n, n == 1 ? "" : "s");
	}
	cJSON_Delete(resp);
	return rc;
}

int cmd_outbox(struct ctl *c, int argc, char **argv)
{
	if (argc > 0 && strcmp(argv[0], "retry") == 0)
		return retry(c, argc, argv);
	if (argc > 0)
		return usage_error(c, "unknown operand '%s' (outbox lists; `outbox retry ID|--all` sends again)", argv[0]);
	if (c->o.all)
		return usage_error(c, "--all belongs to `outbox retry`");
	long long limit = c->o.limit ? c->o.limit : OUTBOX_DEFAULT, left = limit, after = 0;
	struct table t = { .ncols = 8, .heads = outbox_heads, .fill = 7 };
	int rc = 0, more = 1;
	while (more && left > 0) {
		cJSON *req = request("outbox"), *resp;
		if (c->o.failed)
			cJSON_AddBoolToObject(req, "failed", 1);
		req_num(req, "after", after);
		req_num(req, "limit", left < OUTBOX_PAGE ? left : OUTBOX_PAGE);
		if ((rc = ctl_call(c, req, &resp)) != 0) {
			cJSON_Delete(resp);
			break;
		}
		const cJSON *list = jarray(jget(resp, "outbox")), *it;
		long long last = after;
		cJSON_ArrayForEach(it, list) {
			last = (long long)jnum(it, "id");
			left--;
		}
		/* no row to go on from: stop rather than ask the same page again */
		more = cJSON_IsTrue(jget(resp, "more")) && last > after;
		after = last;
		if (!c->json)
			add_rows(&t, list);
		cJSON_Delete(resp);
	}
	if (rc == 0 && !c->json) {
		if (t.nrows == 0)
			puts(c->o.failed ? "no parked notifications" : "nothing waiting: every notification was delivered");
		else
			table_print(&t);
		if (more)
			printf("more after id %lld (--limit %lld shown)\n", after, limit);
	}
	table_free(&t);
	return rc;
}
