/* The daemon's configuration: the YAML file of SPEC §1 read with libyaml into
 * struct tr_config, with every key defaulted. Loading reports every problem
 * with its file, line and key. Not the rules: see tr_engine.h. */
#ifndef TR_CONFIG_H
#define TR_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include "tr_error.h"

enum tr_durability { TR_DURABILITY_FULL, TR_DURABILITY_NORMAL };

/* A column of a dropped file mapped to an event field. */
struct tr_column {
	char *header;  /* as written in the file's header row, UTF-8 */
	char *field;   /* event field name */
};

/* How dropped files whose name matches `match` become events (SPEC §4). */
struct tr_source {
	char *match;        /* fnmatch(3) pattern on the file's base name */
	char *type;         /* event type given to every row; NULL: rows carry "type" */
	char *encoding;     /* "utf-8" | "gbk" | "gb18030" | "shift_jis"; never NULL */
	char *timezone;     /* IANA zone for times without offset; never NULL ("UTC") */
	char *time_format;  /* NULL: auto (RFC 3339, YYYY-MM-DD HH:MM[:SS], YYYY/MM/DD HH:MM[:SS]) */
	char *format;       /* NULL: from the file's extension; else ndjson|json|csv|tsv|yaml */
	struct tr_column *columns;
	size_t ncolumns;
	char **id_fields;   /* fields that make the id when a row has none */
	size_t nid_fields;
	int line;           /* where it is declared in the config file */
};

/* A business-hours calendar (SPEC §5), validated at load. */
struct tr_calendar {
	char *name;
	char *timezone;
	char *hours;        /* e.g. "Mon-Fri 09:00-18:00" */
	char **holidays;    /* "YYYY-MM-DD" */
	size_t nholidays;
	char **workdays;    /* make-up working days, "YYYY-MM-DD" */
	size_t nworkdays;
	int line;
};

/* A notification output: exactly one of exec/dir is set. */
#define TR_OUTPUT_ATTEMPTS 10          /* an output's attempts by default */
#define TR_OUTPUT_MAX_AGE (24 * 3600)   /* and its max_age */

struct tr_output {
	char *name;
	char **exec_argv;   /* NULL-terminated; NULL when not an exec output */
	size_t nexec_argv;
	char *dir;          /* NULL when not a dir output */
	int timeout_ms;     /* exec timeout, default 10000 */
	int attempts;       /* tries before a delivery is parked as failed, default 10 */
	int64_t max_age;    /* seconds: a failing delivery older than this is parked, default 24h */
	int64_t group_wait; /* seconds a notification waits for others to go with it, default 0 (none) */
	int line;
};

/* A rule parameter from `params:`, read by rules with param(name, default). */
struct tr_param {
	char *name;
	char *value;        /* the scalar as written */
};

struct tr_limits {
	int64_t rule_instructions;  /* default 1000000 */
	int64_t rule_memory_mb;     /* default 64 */
	int64_t rule_time_ms;       /* default 200 */
	int64_t event_bytes;        /* default 1048576: largest accepted event */
	int64_t request_bytes;      /* default 16777216: largest request line on the socket */
	int64_t max_clients;        /* default 256 */
	int64_t max_pending_events; /* default 20000: above this, ingest answers busy */
	int64_t wal_mb;             /* default 256: WAL size at which a checkpoint starts it over */
	int64_t lua_state_mb;       /* default 256, at least 16: the whole Lua state's memory,
	                             * rules, libraries and what runs keep between them */
	int64_t rule_log_lines;     /* default 20: log lines one rule run may write; the rest
	                             * are counted and dropped */
	int64_t rule_timers;        /* default 100: timers one rule run may add */
};

/* All strings are heap copies owned by the struct; tr_config_free frees them.
 * Relative paths in the file are resolved against the config file's folder. */
struct tr_config {
	char *path;           /* the file read, or NULL when none (all defaults) */
	char *state_dir;      /* default $STATE_DIRECTORY else /var/lib/triaged */
	char *db_path;        /* <state_dir>/triaged.db (derived, not a key) */
	char *socket_path;    /* default $RUNTIME_DIRECTORY/triaged.sock else /run/triaged/triaged.sock */
	char *rules_dir;      /* default /etc/triaged/rules.d */
	enum tr_durability durability;  /* default full */
	char *spool_dir;      /* default <state_dir>/spool */
	int64_t settle_ms;    /* default 1000 */
	int64_t rescan_ms;    /* default 5000 */
	struct tr_source *sources;
	size_t nsources;
	struct tr_calendar *calendars;
	size_t ncalendars;
	struct tr_output *outputs;
	size_t noutputs;
	struct tr_param *params;
	size_t nparams;
	struct tr_limits limits;
	int log_level;        /* TR_LOG_* from log.level, default info */
	int64_t ack_timeout;  /* tickets.ack_timeout, seconds: when an acked escalation without a ladder resumes (4h) */
	char *display_timezone; /* IANA zone people read times in (a notification's due time when its
	                         * ticket has no calendar); NULL: UTC */
};

#define TR_DEFAULT_CONFIG "/etc/triaged/triaged.yaml"

/* Fills cfg with every default (env vars STATE_DIRECTORY and
 * RUNTIME_DIRECTORY honoured). cfg is overwritten; free with tr_config_free. */
int tr_config_defaults(struct tr_config *cfg);

/* Reads the YAML file at path over the defaults. cfg is overwritten, as by
 * tr_config_defaults (which this calls: do not fill cfg first); path NULL
 * gives the defaults. On return cfg is always
 * filled (free it with tr_config_free, success or not). Returns 0, or
 * TR_EPARSE with every problem appended to errs (file, line, key), or a
 * negative errno when the file cannot be read (also appended to errs).
 * Unknown keys are errors. */
int tr_config_load(const char *path, struct tr_config *cfg, struct tr_errors *errs);

void tr_config_free(struct tr_config *cfg);

/* A rule test's fixture (SPEC §7 `triagectl test`): YAML holding only the
 * calendars:, outputs: and params: sections of a config file, read by the
 * same code and laid over cfg: an entry replaces cfg's entry of the same
 * name, the others are added. path names the fixture in messages and its
 * folder anchors relative paths; text/len is the YAML, or text NULL to read
 * the file at path. Returns 0; or TR_EPARSE with every problem appended to
 * errs, a negative errno when the file cannot be read, -ENOMEM: then cfg is
 * as it was, except after -ENOMEM from a partly laid overlay (still whole,
 * still freed by tr_config_free). */
int tr_config_load_fixture(struct tr_config *cfg, const char *path, const char *text, size_t len,
			   struct tr_errors *errs);

/* The output declared as name, or NULL (cfg may be NULL). Borrowed from cfg. */
const struct tr_output *tr_config_output(const struct tr_config *cfg, const char *name);

/* The value of params.name as written, or NULL (borrowed from cfg; cfg may
 * be NULL). */
const char *tr_config_param(const struct tr_config *cfg, const char *name);

/* Exchanges a's and b's params, calendars and display_timezone, what a reload takes from the
 * fresh file (the old ones are freed with the fresh config); the rules'
 * engine builds its calendars from them. */
void tr_config_swap_reloadable(struct tr_config *a, struct tr_config *b);

/* The first source whose match fits basename, or NULL. */
const struct tr_source *tr_config_source_for(const struct tr_config *cfg, const char *basename);

#endif
