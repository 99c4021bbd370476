/* What triagectl's files share (SPEC §7): the exit codes, the client's
 * state, the command table's row, and the helpers each file offers the
 * others: memory that gives up on OOM (util.c), text and tables for people
 * (print.c), requests and answers over the socket (conn.c), and the command
 * handlers, one prototype per row of the table in main.c. Private to
 * triagectl: the daemon and the tests never include it, and nothing here is
 * part of the core library (include/). */
#ifndef TRIAGECTL_H
#define TRIAGECTL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#ifndef TR_VERSION
#define TR_VERSION "dev"
#endif

/* Exit status, which scripts rely on (SPEC §7). */
enum {
	CTL_OK = 0,        /* done */
	CTL_NO = 1,        /* the daemon said no, or answered nonsense */
	CTL_USAGE = 2,     /* bad command line (or an unreadable input file / config) */
	CTL_NODAEMON = 3,  /* cannot connect, or the connection was lost */
};

#define DEFAULT_SOCKET   "/run/triaged/triaged.sock"
#define BUSY_GIVEUP_MS   5000                /* keep retrying "busy" this long */
#define BUSY_FIRST_MS    50
#define BUSY_MAX_MS      1000
#define TITLE_COLUMNS    60                  /* title width when stdout is not a terminal */

/* ------------------------------------------------------------------ */
/* util.c: memory (a short-lived CLI may give up on OOM: every x* function
 * prints "out of memory" and exits CTL_NO rather than return NULL), a
 * growing string, clocks. */

_Noreturn void oom(void);
void *xrealloc(void *p, size_t n);
char *xstrndup(const char *s, size_t n);
char *xstrdup(const char *s);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
cJSON *jcheck(cJSON *j);   /* j, or exits when it is NULL */

/* A growing byte string, always NUL-terminated once anything was added;
 * p is the holder's to free. */
struct buf {
	char *p;
	size_t len, cap;
};

void buf_add(struct buf *b, const void *s, size_t n);
void buf_adds(struct buf *b, const char *s);
uint64_t mono_ms(void);
void sleep_ms(unsigned ms);
/* Joins operands with spaces (comment text, close reason); the caller frees it. */
char *join_args(int argc, char **argv);

/* ------------------------------------------------------------------ */
/* print.c: text for a terminal, the answer's fields, tables. */

char *clean(char *s);
char *u8_truncate(const char *s, size_t max);

const cJSON *jget(const cJSON *obj, const char *key);
const cJSON *jarray(const cJSON *v);
const cJSON *jobject(const cJSON *v);
const cJSON *jpath(const cJSON *obj, const char *path);
const char *jstr(const cJSON *obj, const char *key);
double jnum(const cJSON *obj, const char *key);
bool jint(const cJSON *v, long long *out);
char *jtext(const cJSON *v);
char *jfield(const cJSON *obj, const char *key);
char *jjoin(const cJSON *arr);
char *duration_text(long long s);

#define TABLE_MAX_COLS 8

struct table {
	size_t ncols;
	const char *const *heads;  /* NULL: no header row */
	int fill;                  /* index of the fill column, -1 for none */
	char **cells;              /* row-major, owned */
	size_t nrows, cap;
};

void table_add(struct table *t, char *const *row);
void table_add2(struct table *t, const char *key, char *value);
void table_print(struct table *t);
void table_free(struct table *t);

/* ------------------------------------------------------------------ */
/* The client: global options, the socket it talks to, the command run. */

/* The connection (conn.c): a non-blocking Unix stream socket with a
 * bounded buffer for answers. */
struct conn {
	int fd;          /* -1 until connected */
	char *buf;       /* bytes received, not yet returned as lines */
	size_t pos, end, cap;
	size_t scanned;  /* bytes after pos known to hold no newline */
};

struct ctl_opts {           /* values of the commands' own options */
	const char *state, *queue, *account, *priority, *text, *rule;
	bool breached;
	bool failed, all;       /* outbox's --failed, outbox retry's --all */
	long long limit;        /* 0: not given */
	long long seq;          /* 0: not given */
	const char *rules_dir, *since, *until, *type;  /* replay's, checked there */
};

struct ctl_cmd;

struct ctl {
	const char *socket_opt;   /* --socket */
	const char *config_path;  /* -c */
	bool json;                /* --json */
	char *socket_path;        /* resolved on first use */
	struct conn conn;
	const struct ctl_cmd *cmd;
	struct ctl_opts o;
};

#define CMD_VERBATIM 0x1  /* options only before the first operand (free text follows) */

struct option;

/* One row of the command table (main.c). */
struct ctl_cmd {
	const char *name;
	const char *usage;           /* what follows the name */
	int min_args, max_args;      /* operands after the options; max -1: any */
	unsigned flags;              /* CMD_* */
	const struct option *opts;   /* the command's long options, ending in COMMON_OPTS */
	int (*handler)(struct ctl *c, int argc, char **argv);  /* operands only */
	const char *help;
};

/* ------------------------------------------------------------------ */
/* conn.c: requests and answers. Every function returning int returns 0 or
 * an exit code, with the reason printed. */

void conn_close(struct conn *k);
int ctl_send(struct ctl *c, const char *text, size_t len);
int ctl_recv(struct ctl *c, cJSON **resp, char **raw);
bool resp_ok(const cJSON *r);
bool resp_busy(const cJSON *r);
char *resp_error(const cJSON *r);
int ctl_exchange(struct ctl *c, const char *text, size_t len, bool print_raw, cJSON **out);
cJSON *request(const char *op);
void req_str(cJSON *req, const char *key, const char *value);
void req_num(cJSON *req, const char *key, long long value);
int ctl_call(struct ctl *c, cJSON *req, cJSON **resp);

/* ------------------------------------------------------------------ */
/* main.c: what handlers need from the command line. */

/* A usage error inside a command: message, the command's usage, exit 2. */
int usage_error(const struct ctl *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A positive integer operand (ticket id, sequence number), or 0. */
long long parse_id(const char *s);

/* ------------------------------------------------------------------ */
/* The handlers, by the file they live in: each takes its operands only
 * (options are in c->o) and returns an exit code. */

int cmd_status(struct ctl *c, int argc, char **argv);   /* cmd_status.c */
int cmd_stats(struct ctl *c, int argc, char **argv);
int cmd_ping(struct ctl *c, int argc, char **argv);
int cmd_tickets(struct ctl *c, int argc, char **argv);  /* cmd_tickets.c */
int cmd_show(struct ctl *c, int argc, char **argv);
int cmd_update(struct ctl *c, int argc, char **argv);   /* ack assign comment close reopen */
int cmd_timers(struct ctl *c, int argc, char **argv);
int cmd_explain(struct ctl *c, int argc, char **argv);  /* cmd_rules.c */
int cmd_rules(struct ctl *c, int argc, char **argv);
int cmd_reload(struct ctl *c, int argc, char **argv);
int cmd_retry(struct ctl *c, int argc, char **argv);
int cmd_test(struct ctl *c, int argc, char **argv);
int cmd_state(struct ctl *c, int argc, char **argv);    /* cmd_state.c */
int cmd_silence(struct ctl *c, int argc, char **argv);  /* cmd_silence.c */
int cmd_watch(struct ctl *c, int argc, char **argv);    /* cmd_watch.c */
int cmd_raw(struct ctl *c, int argc, char **argv);
int cmd_metrics(struct ctl *c, int argc, char **argv);  /* cmd_metrics.c */
int cmd_outbox(struct ctl *c, int argc, char **argv);   /* cmd_outbox.c */
int cmd_check(struct ctl *c, int argc, char **argv);   /* cmd_check.c */
int cmd_replay(struct ctl *c, int argc, char **argv);  /* cmd_replay.c */
int cmd_ingest(struct ctl *c, int argc, char **argv);   /* ingest.c */

#endif
