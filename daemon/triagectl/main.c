/* triagectl: the command-line client of triaged (SPEC §7), and this file
 * its front: the global options, the command table (name, usage, operand
 * counts, options, handler, help: adding a command is adding a row and a
 * handler), the commands' own options, checked before a handler runs, and
 * the dispatch; an unknown command lists the known ones. Exit status, which
 * scripts rely on: 0 ok, 1 the daemon said no (an error answer or any
 * rejected event), 2 usage, 3 no daemon (cannot connect, or the connection
 * was lost). Not here: the socket (conn.c), printing (print.c), ingest
 * (ingest.c), and what each command does (cmd_*.c: the handler named in its
 * row; triagectl.h lists which file holds which). */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "triagectl.h"

enum {  /* ids of the commands' long options */
	OPT_JSON = 256, OPT_STATE, OPT_QUEUE, OPT_ACCOUNT, OPT_PRIORITY,
	OPT_BREACHED, OPT_TEXT, OPT_LIMIT, OPT_SEQ, OPT_RULE,
	OPT_RULES, OPT_SINCE, OPT_UNTIL, OPT_TYPE,
	OPT_FAILED, OPT_ALL,
};

static void cmd_usage(FILE *f, const struct ctl_cmd *cmd)
{
	fprintf(f, "usage: triagectl %s%s%s\n", cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
}

/* A usage error inside a command: message, the command's usage, exit 2. */
int usage_error(const struct ctl *c, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "triagectl: %s: ", c->cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	cmd_usage(stderr, c->cmd);
	return CTL_USAGE;
}

/* A positive integer operand (ticket id, sequence number), or 0. */
long long parse_id(const char *s)
{
	char *end;
	if (!s || *s < '0' || *s > '9')
		return 0;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0 || v > 9007199254740991LL) /* exact in a JSON double */
		return 0;
	return v;
}

/* The command table. Adding a command is adding a row and a handler. */

static int cmd_help(struct ctl *c, int argc, char **argv);

#define COMMON_OPTS \
	{ "json", no_argument, NULL, OPT_JSON }, \
	{ "help", no_argument, NULL, 'h' }, \
	{ NULL, 0, NULL, 0 }

static const struct option no_opts[] = { COMMON_OPTS };
static const struct option tickets_opts[] = {
	{ "state", required_argument, NULL, OPT_STATE },
	{ "queue", required_argument, NULL, OPT_QUEUE },
	{ "account", required_argument, NULL, OPT_ACCOUNT },
	{ "priority", required_argument, NULL, OPT_PRIORITY },
	{ "breached", no_argument, NULL, OPT_BREACHED },
	{ "text", required_argument, NULL, OPT_TEXT },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	COMMON_OPTS
};
static const struct option limit_opts[] = {
	{ "limit", required_argument, NULL, OPT_LIMIT },
	COMMON_OPTS
};
static const struct option retry_opts[] = {
	{ "rule", required_argument, NULL, OPT_RULE },
	{ "seq", required_argument, NULL, OPT_SEQ },
	COMMON_OPTS
};

static const struct option replay_opts[] = {
	{ "rules", required_argument, NULL, OPT_RULES },
	{ "since", required_argument, NULL, OPT_SINCE },
	{ "until", required_argument, NULL, OPT_UNTIL },
	{ "type", required_argument, NULL, OPT_TYPE },
	{ "config", required_argument, NULL, 'c' },
	COMMON_OPTS
};
static const struct option check_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	COMMON_OPTS
};

static const struct option outbox_opts[] = {
	{ "failed", no_argument, NULL, OPT_FAILED },
	{ "all", no_argument, NULL, OPT_ALL },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	COMMON_OPTS
};

static const struct option explain_opts[] = {
	{ "seq", required_argument, NULL, OPT_SEQ },
	COMMON_OPTS
};

static const struct ctl_cmd commands[] = {
	{ "status", "", 0, 0, 0, no_opts, cmd_status,
	  "summary: uptime, events, tickets, clients, spool" },
	{ "stats", "", 0, 0, 0, no_opts, cmd_stats,
	  "every counter, as a key/value table" },
	{ "ping", "", 0, 0, 0, no_opts, cmd_ping,
	  "check that triaged answers" },
	{ "ingest", "FILE|-", 1, 1, 0, no_opts, cmd_ingest,
	  "send events (NDJSON, or a .json array/object); report rejections by line" },
	{ "tickets", "[--state open|closed|all] [--queue Q] [--account A] [--priority P] "
	  "[--breached] [--text T] [--limit N]", 0, 0, 0, tickets_opts, cmd_tickets,
	  "list tickets (default: open ones)" },
	{ "show", "ID", 1, 1, 0, no_opts, cmd_show,
	  "a ticket with its history and pending timers" },
	{ "ack", "ID", 1, 1, 0, no_opts, cmd_update,
	  "acknowledge a ticket: pause its escalations" },
	{ "assign", "ID WHO", 2, 2, 0, no_opts, cmd_update,
	  "assign a ticket" },
	{ "comment", "ID TEXT...", 2, -1, CMD_VERBATIM, no_opts, cmd_update,
	  "add a comment to a ticket" },
	{ "close", "ID [REASON...]", 1, -1, CMD_VERBATIM, no_opts, cmd_update,
	  "close a ticket" },
	{ "reopen", "ID [REASON...]", 1, -1, CMD_VERBATIM, no_opts, cmd_update,
	  "reopen a closed ticket" },
	{ "explain", "TYPE EVENT_ID | --seq N", 0, 2, 0, explain_opts, cmd_explain,
	  "what each rule did with an event, and how long it took" },
	{ "rules", "", 0, 0, 0, no_opts, cmd_rules,
	  "loaded rules with their run and error counters" },
	{ "reload", "", 0, 0, 0, no_opts, cmd_reload,
	  "build the rules folder afresh and swap it in (the old rules stay if it fails)" },
	{ "retry", "[--rule NAME] [--seq N]", 0, 0, 0, retry_opts, cmd_retry,
	  "run failed rule outcomes again, through the rules loaded now" },
	{ "timers", "[--limit N]", 0, 0, 0, limit_opts, cmd_timers,
	  "pending nudges, escalations, due times and scheduled events" },
	{ "state", "[PREFIX] [--limit N]", 0, 1, 0, limit_opts, cmd_state,
	  "what rules keep: values, and counters with their window (keys in order)" },
	{ "silence", "add --until T --reason R [--account A] [--queue Q] [--output O] [--priority P] [--marketplace M]"
	  " [--starts T]"
	  " | list [--all] | expire ID", 0, -1, CMD_VERBATIM, no_opts, cmd_silence,
	  "hold matching notifications until a time (tickets and timers go on); list; end one early" },
	{ "outbox", "[--failed] [--limit N] | retry ID|--all", 0, 2, 0, outbox_opts, cmd_outbox,
	  "notifications not delivered yet (--failed: parked ones); send parked ones again" },
	{ "metrics", "", 0, 0, 0, no_opts, cmd_metrics,
	  "the daemon's counters as Prometheus text (for promtool, a textfile collector)" },
	{ "watch", "", 0, 0, 0, no_opts, cmd_watch,
	  "stream every notification and ticket change as it commits, until Ctrl-C" },
	{ "test", "PATH...", 1, -1, 0, no_opts, cmd_test,
	  "run rule tests (NAME.test.lua) offline, no daemon needed" },
	{ "check", "[-c CONFIG] [RULES_DIR]", 0, 1, 0, check_opts, cmd_check,
	  "validate the config and compile the rules offline, as `triaged --check`" },
	{ "replay", "--rules DIR [--since T] [--until T] [--type GLOB] [-c CONFIG]", 0, 0, 0, replay_opts,
	  cmd_replay, "re-run stored events through DIR and the live rules, offline; show how tickets differ" },
	{ "raw", "JSON", 1, -1, CMD_VERBATIM, no_opts, cmd_raw,
	  "send one request object as is and print the answer" },
	{ "help", "[COMMAND]", 0, 1, 0, no_opts, cmd_help,
	  "this list, or one command's usage" },
};

#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static const struct ctl_cmd *find_command(const char *name)
{
	for (size_t i = 0; i < NCOMMANDS; i++)
		if (strcmp(commands[i].name, name) == 0)
			return &commands[i];
	return NULL;
}

static void usage(FILE *f)
{
	fputs("usage: triagectl [--socket PATH] [--json] [-c CONFIG] COMMAND [ARG...]\n\ncommands:\n", f);
	for (size_t i = 0; i < NCOMMANDS; i++) {
		const struct ctl_cmd *cmd = &commands[i];
		char left[160];
		snprintf(left, sizeof(left), "%s%s%s", cmd->name, cmd->usage[0] ? " " : "", cmd->usage);
		if (strlen(left) <= 30)
			fprintf(f, "  %-30s  %s\n", left, cmd->help);
		else
			fprintf(f, "  %s\n  %-30s  %s\n", left, "", cmd->help);
	}
	fputs("\n--json prints the daemon's answers (one JSON object a line) instead of tables.\n"
	      "socket: --socket, else $TRIAGED_SOCKET, else `socket` in the -c config, else\n"
	      "$RUNTIME_DIRECTORY/triaged.sock, else " DEFAULT_SOCKET ".\n"
	      "exit status: 0 ok, 1 the daemon said no, 2 usage, 3 no daemon.\n", f);
}

static int cmd_help(struct ctl *c, int argc, char **argv)
{
	(void)c;
	if (argc == 0) {
		usage(stdout);
		return CTL_OK;
	}
	const struct ctl_cmd *cmd = find_command(argv[0]);
	if (!cmd) {
		fprintf(stderr, "triagectl: help: unknown command '%s'\n", argv[0]);
		usage(stderr);
		return CTL_USAGE;
	}
	cmd_usage(stdout, cmd);
	printf("%s\n", cmd->help);
	return CTL_OK;
}

static bool one_of(const char *s, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(s, *list) == 0)
			return true;
	return false;
}

/* Stores the value of a command's own option; 0 or CTL_USAGE. */
static int cmd_option(struct ctl *c, int id, const char *arg)
{
	static const char *const states[] = { "open", "closed", "all", NULL };
	static const char *const priorities[] = { "low", "normal", "high", "urgent", NULL };
	switch (id) {
	case OPT_STATE:
		if (!one_of(arg, states))
			return usage_error(c, "--state takes open, closed or all, not '%s'", arg);
		c->o.state = arg;
		break;
	case OPT_PRIORITY:
		if (!one_of(arg, priorities))
			return usage_error(c, "--priority takes low, normal, high or urgent, not '%s'", arg);
		c->o.priority = arg;
		break;
	case OPT_QUEUE: c->o.queue = arg; break;
	case OPT_ACCOUNT: c->o.account = arg; break;
	case OPT_TEXT: c->o.text = arg; break;
	case OPT_RULE: c->o.rule = arg; break;
	case OPT_RULES: c->o.rules_dir = arg; break;
	case OPT_SINCE: c->o.since = arg; break;
	case OPT_UNTIL: c->o.until = arg; break;
	case OPT_TYPE: c->o.type = arg; break;
	case 'c': c->config_path = arg; break;
	case OPT_BREACHED: c->o.breached = true; break;
	case OPT_FAILED: c->o.failed = true; break;
	case OPT_ALL: c->o.all = true; break;
	case OPT_LIMIT:
		if (!(c->o.limit = parse_id(arg)))
			return usage_error(c, "--limit takes a positive number, not '%s'", arg);
		break;
	case OPT_SEQ:
		if (!(c->o.seq = parse_id(arg)))
			return usage_error(c, "--seq takes an event's sequence number, not '%s'", arg);
		break;
	}
	return 0;
}

/* What getopt_long's '?' was about: an unknown option, or a value given
 * to an option that takes none ("--json=yes"). */
static const char *bad_option(char *const *argv, char *buf, size_t len)
{
	const char *arg = argv[optind - 1];
	if (strncmp(arg, "--", 2) != 0)
		snprintf(buf, len, "unknown option -%c", optopt);
	else if (optopt)
		snprintf(buf, len, "option %.*s takes no value", (int)strcspn(arg, "="), arg);
	else
		snprintf(buf, len, "unknown option %s", arg);
	return buf;
}

/* Runs argv[0] with its options and operands (argv[0] is the command). */
static int dispatch(struct ctl *c, int argc, char **argv)
{
	char msg[256];
	const struct ctl_cmd *cmd = find_command(argv[0]);
	if (!cmd) {
		fprintf(stderr, "triagectl: unknown command '%s'\n", argv[0]);
		usage(stderr);
		return CTL_USAGE;
	}
	c->cmd = cmd;
	/* -c CONFIG after the command too (`triagectl check -c FILE`) */
	const char *optstring = cmd->flags & CMD_VERBATIM ? "+:hc:" : ":hc:";
	int ch, rc;
	optind = 0; /* glibc: start afresh */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, optstring, cmd->opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			cmd_usage(stdout, cmd);
			printf("%s\n", cmd->help);
			return CTL_OK;
		case OPT_JSON:
			c->json = true;
			break;
		case ':':
			return usage_error(c, "option %s needs a value", argv[optind - 1]);
		case '?':
			return usage_error(c, "%s", bad_option(argv, msg, sizeof(msg)));
		default:
			if ((rc = cmd_option(c, ch, optarg)))
				return rc;
		}
	}
	int n = argc - optind;
	if (n < cmd->min_args)
		return usage_error(c, "missing argument");
	if (cmd->max_args >= 0 && n > cmd->max_args)
		return usage_error(c, "too many arguments");
	return cmd->handler(c, n, argv + optind);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "json", no_argument, NULL, 'j' },
		{ "config", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .conn = { .fd = -1 } };
	char msg[256];
	int ch, rc;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+:c:hV", opts, NULL)) != -1) {
		switch (ch) {
		case 's': c.socket_opt = optarg; break;
		case 'j': c.json = true; break;
		case 'c': c.config_path = optarg; break;
		case 'h':
			usage(stdout);
			return CTL_OK;
		case 'V':
			puts("triagectl " TR_VERSION);
			return CTL_OK;
		case ':':
			fprintf(stderr, "triagectl: option %s needs a value\n", argv[optind - 1]);
			usage(stderr);
			return CTL_USAGE;
		default:
			fprintf(stderr, "triagectl: %s\n", bad_option(argv, msg, sizeof(msg)));
			usage(stderr);
			return CTL_USAGE;
		}
	}
	if (optind >= argc) {
		fprintf(stderr, "triagectl: no command given\n");
		usage(stderr);
		return CTL_USAGE;
	}
	rc = dispatch(&c, argc - optind, argv + optind);
	conn_close(&c.conn);
	free(c.socket_path);
	if (fflush(stdout) != 0 && rc == CTL_OK) {
		fprintf(stderr, "triagectl: writing output: %s\n", strerror(errno));
		rc = CTL_NO;
	}
	return rc;
}
