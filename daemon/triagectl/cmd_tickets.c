/* The ticket commands: `tickets` (a list, filtered by the options),
 * `show` (one ticket, its history and pending timers), `ack`, `assign`,
 * `comment`, `close` and `reopen` (one ticket.update each, whose action is
 * the command's name: cmd_update), and `timers` (every pending nudge,
 * escalation, due time and scheduled event). Not what those actions do to a
 * ticket: that is the daemon's (ticket.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "triagectl.h"

static const char *const ticket_heads[] = { "ID", "PRI", "STATE", "DUE", "ACCOUNT", "QUEUE", "TITLE" };
static const char *const ticket_keys[] = { "id", "priority", "state", "due_at", "account", "queue", "title" };

int cmd_tickets(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *req = request("tickets"), *resp;
	req_str(req, "state", c->o.state);
	req_str(req, "queue", c->o.queue);
	req_str(req, "account", c->o.account);
	req_str(req, "priority", c->o.priority);
	req_str(req, "text", c->o.text);
	if (c->o.breached)
		jcheck(cJSON_AddTrueToObject(req, "breached"));
	if (c->o.limit)
		req_num(req, "limit", c->o.limit);
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *list = jget(resp, "tickets"), *it;
	if (!cJSON_IsArray(list) || !list->child) {
		puts("no tickets");
		goto out;
	}
	struct table t = { .ncols = 7, .heads = ticket_heads, .fill = 6 };
	cJSON_ArrayForEach(it, list) {
		char *row[7];
		for (size_t i = 0; i < 7; i++)
			row[i] = jfield(it, ticket_keys[i]);
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
out:
	cJSON_Delete(resp);
	return rc;
}

static const char *const history_heads[] = { "AT", "ACTOR/RULE", "ACTION", "DETAIL" };
static const char *const timer_heads[] = { "ID", "DUE", "KIND", "NOTE" };

/* "actor/rule #seq": who made a history entry, and from which event. */
static char *history_who(const cJSON *h)
{
	const char *actor = jstr(h, "actor"), *rule = jstr(h, "rule");
	long long seq;
	char *who = actor && rule ? xasprintf("%s/%s", actor, rule) : xstrdup(actor ? actor : rule ? rule : "-");
	if (jint(jget(h, "event_seq"), &seq)) {
		char *with = xasprintf("%s #%lld", who, seq);
		free(who);
		who = with;
	}
	return who;
}

static void print_ticket(const cJSON *tk)
{
	static const struct { const char *label, *key; } fields[] = {
		{ "key", "key" }, { "title", "title" }, { "state", "state" },
		{ "priority", "priority" }, { "queue", "queue" }, { "account", "account" },
		{ "assignee", "assignee" }, { "level", "level" }, { "due", "due_at" },
		{ "created", "created_at" }, { "updated", "updated_at" },
		{ "acked", "acked_at" }, { "closed", "closed_at" }, { "reason", "close_reason" },
	};
	struct table t = { .ncols = 2, .fill = -1 };
	table_add2(&t, "ticket", jfield(tk, "id"));
	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		table_add2(&t, fields[i].label, jfield(tk, fields[i].key));
	table_add2(&t, "tags", jjoin(jget(tk, "tags")));
	const cJSON *it, *fs = jget(tk, "fields");
	cJSON_ArrayForEach(it, jobject(fs)) {
		char *label = xasprintf("fields.%s", it->string ? it->string : "-");
		table_add2(&t, label, jtext(it));
		free(label);
	}
	table_print(&t);
	table_free(&t);
}

/* What a pending timer will do, in words: its note (a schedule: the
 * event's type; else its level), and why it is when it is (SPEC §5: an
 * ack's pause, a step anchored to the due time). Never raw JSON. */
static char *timer_what(const cJSON *it)
{
	const cJSON *payload = jget(it, "payload"), *ev = jget(payload, "event");
	const cJSON *note = jget(it, "note") ? jget(it, "note") : jget(payload, "note"); /* an older daemon's */
	char *what;
	if (note)
		what = jtext(note);
	else if (ev)
		what = jfield(ev, "type");
	else if (jget(it, "level"))
		what = xasprintf("level %lld", (long long)jget(it, "level")->valuedouble);
	else
		what = xstrdup("-");
	/* first, so that a narrow column still shows it */
	char *more = NULL;
	if (cJSON_IsTrue(jget(it, "paused"))) {
		char *was = jfield(it, "scheduled_at");
		more = xasprintf("[paused by an ack; was due %s] %s", was, what);
		free(was);
	} else if (jget(it, "before_due_s")) {
		char *d = duration_text((long long)jget(it, "before_due_s")->valuedouble);
		more = xasprintf("[%s before the due time] %s", d, what);
		free(d);
	}
	if (more) {
		free(what);
		what = more;
	}
	return what;
}

int cmd_show(struct ctl *c, int argc, char **argv)
{
	(void)argc;
	long long id = parse_id(argv[0]);
	if (!id)
		return usage_error(c, "'%s' is not a ticket id", argv[0]);
	cJSON *req = request("ticket"), *resp;
	req_num(req, "id", id);
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *tk = jget(resp, "ticket"), *it;
	print_ticket(tk);

	const cJSON *hist = jget(tk, "history");
	if (cJSON_IsArray(hist) && hist->child) {
		struct table t = { .ncols = 4, .heads = history_heads, .fill = 3 };
		cJSON_ArrayForEach(it, hist) {
			char *row[4] = { jfield(it, "at"), history_who(it), jfield(it, "action"), jfield(it, "detail") };
			table_add(&t, row);
		}
		puts("\nhistory:");
		table_print(&t);
		table_free(&t);
	}
	const cJSON *timers = jget(tk, "timers");
	if (cJSON_IsArray(timers) && timers->child) {
		struct table t = { .ncols = 4, .heads = timer_heads, .fill = 3 };
		cJSON_ArrayForEach(it, timers) {
			char *row[4] = { jfield(it, "id"), jfield(it, "due_at"), jfield(it, "kind"), timer_what(it) };
			table_add(&t, row);
		}
		puts("\npending timers:");
		table_print(&t);
		table_free(&t);
	}
out:
	cJSON_Delete(resp);
	return rc;
}

/* ack, assign, comment, close, reopen: one ticket.update, whose action is
 * the command's name. */
int cmd_update(struct ctl *c, int argc, char **argv)
{
	const char *action = c->cmd->name;
	long long id = parse_id(argv[0]);
	if (!id)
		return usage_error(c, "'%s' is not a ticket id", argv[0]);
	cJSON *req = request("ticket.update"), *resp;
	req_num(req, "id", id);
	req_str(req, "action", action);
	char *text = argc > 1 ? join_args(argc - 1, argv + 1) : NULL;
	if (strcmp(action, "assign") == 0)
		req_str(req, "assignee", text);
	else if (strcmp(action, "comment") == 0)
		req_str(req, "text", text);
	else if (strcmp(action, "close") == 0 || strcmp(action, "reopen") == 0)
		req_str(req, "reason", text);
	int rc = ctl_call(c, req, &resp);
	if (!rc && !c->json) {
		const cJSON *tk = jget(resp, "ticket");
		char *state = jfield(tk, "state"), *title = jfield(tk, "title");
		char *tcut = u8_truncate(title, TITLE_COLUMNS);
		if (strcmp(action, "assign") == 0)
			printf("ticket %lld assigned to %s (%s): %s\n", id, text, state, tcut);
		else if (strcmp(action, "comment") == 0)
			printf("ticket %lld commented (%s): %s\n", id, state, tcut);
		else
			printf("ticket %lld %s (%s): %s\n", id, strcmp(action, "ack") == 0 ? "acknowledged" :
			       strcmp(action, "close") == 0 ? "closed" : "reopened", state, tcut);
		free(state);
		free(title);
		free(tcut);
	}
	free(text);
	cJSON_Delete(resp);
	return rc;
}

static const char *const timers_heads[] = { "ID", "DUE", "KIND", "TICKET", "NOTE" };

int cmd_timers(struct ctl *c, int argc, char **argv)
{
	(void)argc, (void)argv;
	cJSON *resp;
	cJSON *req = request("timers");
	if (c->o.limit)
		req_num(req, "limit", c->o.limit);
	int rc = ctl_call(c, req, &resp);
	if (rc || c->json)
		goto out;
	const cJSON *list = jget(resp, "timers"), *it;
	if (!cJSON_IsArray(list) || !list->child) {
		puts("no pending timers");
		goto out;
	}
	struct table t = { .ncols = 5, .heads = timers_heads, .fill = 4 };
	cJSON_ArrayForEach(it, list) {
		char *row[5] = { jfield(it, "id"), jfield(it, "due_at"), jfield(it, "kind"), jfield(it, "ticket"),
				 timer_what(it) };
		table_add(&t, row);
	}
	table_print(&t);
	table_free(&t);
	char *total = jfield(resp, "total");
	printf("%s pending in all\n", total);
	free(total);
out:
	cJSON_Delete(resp);
	return rc;
}
