/* `triagectl state [PREFIX]`: what rules keep (SPEC §5 state, one keyspace
 * of values and windowed counters), through the `state` op, page after page
 * in key order until the keys or --limit run out. A table for people: KEY,
 * then COUNT and WINDOW for a counter or VALUE for a value; --json prints
 * each page's answer as received. Not the keyspace's rules (store_state.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "triagectl.h"

#define STATE_PAGE 1000 /* keys per request: the op's most */

static const char *const state_heads[] = { "KEY", "COUNT", "WINDOW", "VALUE" };

static void add_rows(struct table *t, const cJSON *list)
{
	const cJSON *it;
	cJSON_ArrayForEach(it, list) {
		const cJSON *value = jget(it, "value");
		char *row[4] = { jfield(it, "key"), NULL, NULL, NULL };
		if (value) {
			row[1] = xstrdup("-");
			row[2] = xstrdup("-");
			row[3] = jtext(value);
		} else {
			const cJSON *w = jget(it, "window_s");
			row[1] = jfield(it, "count");
			/* window_s 0: counted forever; null: counted before the
			 * daemon kept windows (known at the key's next incr) */
			row[2] = cJSON_IsString(jget(it, "window")) ? jfield(it, "window")
				 : cJSON_IsNumber(w) ? xstrdup("forever") : xstrdup("?");
			row[3] = xstrdup("-");
		}
		table_add(t, row);
	}
}

int cmd_state(struct ctl *c, int argc, char **argv)
{
	const char *prefix = argc ? argv[0] : NULL;
	long long left = c->o.limit; /* 0: every key */
	char *after = NULL;
	struct table t = { .ncols = 4, .heads = state_heads, .fill = 3 };
	int rc = 0, more = 1;
	while (more && (c->o.limit == 0 || left > 0)) {
		cJSON *req = request("state"), *resp;
		req_str(req, "prefix", prefix);
		req_str(req, "after", after);
		req_num(req, "limit", c->o.limit && left < STATE_PAGE ? left : STATE_PAGE);
		if ((rc = ctl_call(c, req, &resp)) != 0) {
			cJSON_Delete(resp);
			break;
		}
		const cJSON *list = jarray(jget(resp, "state")), *last = NULL, *it;
		cJSON_ArrayForEach(it, list) {
			last = it;
			left--;
		}
		const char *key = jstr(last, "key");
		/* no key to go on from: stop rather than ask the same page again */
		more = cJSON_IsTrue(jget(resp, "more")) && key;
		if (key) {
			free(after);
			after = xstrdup(key);
		}
		if (!c->json)
			add_rows(&t, list);
		cJSON_Delete(resp);
	}
	if (rc == 0 && !c->json) {
		if (t.nrows == 0 && prefix)
			printf("no state under '%s'\n", prefix);
		else if (t.nrows == 0)
			puts("no state");
		else
			table_print(&t);
		if (more) {
			char *shown = clean(xstrdup(after));
			printf("more keys after '%s' (--limit %lld shown)\n", shown, c->o.limit);
			free(shown);
		}
	}
	table_free(&t);
	free(after);
	return rc;
}
