/* The configuration file of SPEC §1 (tr_config.h): loading it and owning
 * what it loads into. The file is read into a small tree of nodes that
 * remember their line and column (config_yaml.c), then walked with tables of
 * known keys, one table per mapping, so that adding a key is one line. Every
 * problem (YAML syntax, unknown key, wrong type, bad value) is appended to
 * the caller's error list with file, line, column and key path
 * ("limits.rule_time_ms", "sources[2].encoding"), and the walk goes on so
 * that one run of `triaged --check` lists them all. Relative paths are made
 * absolute against the config file's folder, so a development checkout can
 * keep everything beside its demo config. Here: the walk, the value types
 * more than one section reads, the top-level keys (paths, spool, limits,
 * log, params) with their defaults, and freeing. Not the YAML syntax
 * (config_yaml.c), not the sections whose entries have keys of their own
 * (config_sources.c, config_calendars.c, config_outputs.c) and not the rules
 * (engine.c). */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include "config_internal.h"
#include "tr_config.h"
#include "tr_error.h"
#include "tr_log.h"
#include "tr_time.h"

#define CONFIG_MAX_BYTES (1 << 20)  /* a config file is small; this is a typo guard */

/* ---- paths -------------------------------------------------------------- */

/* Removes "//" and "/." components and trailing slashes, in place. ".."
 * stays: resolving it lexically would be wrong across symlinks. */
static void clean_path(char *p)
{
	bool absolute = p[0] == '/';
	char *r = p, *w = p;
	while (*r) {
		if (r[0] == '/' && r[1] == '/')
			r++;
		else if (r[0] == '/' && r[1] == '.' && (r[2] == '/' || r[2] == '\0'))
			r += 2;
		else
			*w++ = *r++;
	}
	while (w > p + 1 && w[-1] == '/')
		w--;
	if (w == p && absolute)
		*w++ = '/';
	*w = '\0';
}

/* dir + "/" + name, cleaned; heap, caller frees; NULL on OOM. */
static char *path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = malloc(n);
	if (!p)
		return NULL;
	snprintf(p, n, "%s/%s", dir, name);
	clean_path(p);
	return p;
}

/* A path from the file, made absolute against the config's folder. */
static char *resolve_path(struct ctx *c, const char *s)
{
	char *p = s[0] == '/' ? strdup(s) : path_join(c->dir, s);
	if (!p)
		c->oom = true;
	else
		clean_path(p);
	return p;
}

/* ---- the walk --------------------------------------------------------------- */

/* Walks mapping n with the keys in defs (NULL-terminated), applying each to
 * base. A null value (an empty "spool:") is an empty mapping. */
void tr_config_walk_map(struct ctx *c, const struct node *n, const struct key_def *defs, void *base,
			const char *prefix)
{
	if (is_null(n))
		return;
	if (n->kind != NODE_MAP) {
		if (prefix[0])
			problem(c, n, prefix, "expected a mapping, got %s", kind_name(n));
		else
			problem(c, n, prefix, "the file must be a mapping of keys, got %s", kind_name(n));
		return;
	}
	for (size_t i = 0; i + 1 < n->nkids; i += 2) {
		const char *name = tr_config_pair_key(c, n, i, prefix);
		if (!name)
			continue;
		char key[160];
		snprintf(key, sizeof(key), "%s%s%s", prefix, prefix[0] ? "." : "", name);
		const struct key_def *d = defs;
		while (d->name && strcmp(d->name, name) != 0)
			d++;
		if (!d->name) {
			char known[256] = "";
			size_t len = 0;
			for (d = defs; d->name && len < sizeof(known); d++)
				len += snprintf(known + len, sizeof(known) - len, "%s%s", d == defs ? "" : ", ", d->name);
			problem(c, n->kids[i], key, "unknown key (known keys here: %s)", known);
			continue;
		}
		d->apply(c, n->kids[i + 1], (char *)base + d->offset, key, d);
	}
}

static void apply_section(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def)
{
	tr_config_walk_map(c, v, def->sub, dst, key);
}

/* ---- values more than one section reads -------------------------------- */

void tr_config_apply_path(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	char *p = s ? resolve_path(c, s) : NULL;
	if (p) {
		free(*(char **)dst);
		*(char **)dst = p;
	}
}

void tr_config_apply_zone(struct ctx *c, const struct node *v, void *dst, const char *key,
			  const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	if (!tr_zone_valid(s))
		problem(c, v, key, "unknown time zone \"%s\": use an IANA name such as Asia/Shanghai", s);
	else
		set_str(c, dst, s);
}

/* A list of strings (a single string counts as a list of one) into a heap
 * array with one extra NULL slot. Items that are not strings are reported.
 * nonempty: an empty list is an error. */
void tr_config_apply_list(struct ctx *c, const struct node *v, const char *key, bool nonempty,
			  char ***out, size_t *nout)
{
	if (v->kind == NODE_MAP || is_null(v)) {
		problem(c, v, key, "expected a list of strings, got %s", kind_name(v));
		return;
	}
	size_t n = v->kind == NODE_SEQ ? v->nkids : 1;
	if (n == 0 && nonempty) {
		problem(c, v, key, "must not be empty");
		return;
	}
	char **items = calloc(n + 1, sizeof(*items));
	if (!items) {
		c->oom = true;
		return;
	}
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const struct node *it = v->kind == NODE_SEQ ? v->kids[i] : v;
		if (it->kind != NODE_SCALAR || is_null(it)) {
			problem(c, it, key, "item %zu: expected a string, got %s", i + 1, kind_name(it));
			continue;
		}
		if ((items[k] = dup_str(c, it->text)))
			k++;
	}
	for (size_t i = 0; i < *nout; i++)
		free((*out)[i]);
	free(*out);
	*out = items;
	*nout = k;
}

void *tr_config_named_entries(struct ctx *c, const struct node *v, const char *key, const char *what, size_t size)
{
	if (is_null(v))
		return NULL;
	if (v->kind != NODE_MAP) {
		problem(c, v, key, "expected a mapping of %s, got %s", what, kind_name(v));
		return NULL;
	}
	void *p = v->nkids ? calloc(v->nkids / 2, size) : NULL;
	if (v->nkids && !p)
		c->oom = true;
	return p;
}

/* ---- params ----------------------------------------------------------------- */

/* params: { name: scalar, ... }: values rules read with param(); kept as
 * written, since only the rule knows the type it wants. */
static void apply_params(struct ctx *c, const struct node *v, void *dst, const char *key,
			 const struct key_def *def)
{
	(void)def;
	struct tr_config *cfg = dst;
	if (!(cfg->params = tr_config_named_entries(c, v, key, "names to values", sizeof(*cfg->params))))
		return;
	for (size_t i = 0; i + 1 < v->nkids; i += 2) {
		const char *name = tr_config_pair_key(c, v, i, key);
		const struct node *val = v->kids[i + 1];
		if (!name)
			continue;
		char where[160];
		snprintf(where, sizeof(where), "%s.%s", key, name);
		if (val->kind != NODE_SCALAR || is_null(val)) {
			problem(c, val, where, "expected a number, a string or a boolean, got %s", kind_name(val));
			continue;
		}
		struct tr_param *p = &cfg->params[cfg->nparams++];
		p->name = dup_str(c, name);
		p->value = dup_str(c, val->text);
	}
}

/* ---- the top level -------------------------------------------------------- */

/* The longest path bind(2) can take: sun_path holds it with its NUL. */
#define SOCKET_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* socket: a path, as tr_config_apply_path, that must also fit in sun_path
 * once made absolute; too long, it is reported here, not by a failed start.
 * Kept even then, so the default's check in tr_config_load does not fire as
 * well. */
static void apply_socket(struct ctx *c, const struct node *v, void *dst, const char *key,
			 const struct key_def *def)
{
	tr_config_apply_path(c, v, dst, key, def);
	const char *p = *(char **)dst;
	size_t n = p ? strlen(p) : 0;
	if (n > SOCKET_PATH_MAX)
		problem(c, v, key, "%s is %zu bytes; a Unix socket path holds at most %zu", p, n,
			SOCKET_PATH_MAX);
}

/* A positive integer up to def->max, written plainly (not quoted). */
static void apply_count(struct ctx *c, const struct node *v, void *dst, const char *key,
			const struct key_def *def)
{
	if (v->kind != NODE_SCALAR || v->quoted || is_null(v)) {
		problem(c, v, key, "expected a positive integer, got %s",
			v->quoted ? "a quoted string" : kind_name(v));
		return;
	}
	int64_t n = 0;
	const char *p = v->text;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (n > (INT64_MAX - (*p - '0')) / 10) {
			n = INT64_MAX;
			while (p[1] >= '0' && p[1] <= '9')
				p++;
			continue;
		}
		n = n * 10 + (*p - '0');
	}
	if (*p != '\0' || p == v->text) {
		problem(c, v, key, "expected a positive integer, got \"%s\"", v->text);
		return;
	}
	if (n == 0) {
		problem(c, v, key, "must be positive");
		return;
	}
	if (n > def->max) {
		problem(c, v, key, "must be at most %lld", (long long)def->max);
		return;
	}
	if (n < def->min) {
		problem(c, v, key, "must be at least %lld", (long long)def->min);
		return;
	}
	*(int64_t *)dst = n;
}

static void apply_durability(struct ctx *c, const struct node *v, void *dst, const char *key,
			     const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	if (strcmp(s, "full") == 0)
		*(enum tr_durability *)dst = TR_DURABILITY_FULL;
	else if (strcmp(s, "normal") == 0)
		*(enum tr_durability *)dst = TR_DURABILITY_NORMAL;
	else
		problem(c, v, key, "\"%s\" is not a durability: use full or normal", s);
}

static void apply_log_level(struct ctx *c, const struct node *v, void *dst, const char *key,
			    const struct key_def *def)
{
	(void)def;
	const char *s = tr_config_want_string(c, v, key);
	if (!s)
		return;
	int level = tr_log_level_parse(s);
	if (level < 0)
		problem(c, v, key, "\"%s\" is not a log level: use error, warn, info or debug", s);
	else
		*(int *)dst = level;
}

static const struct key_def spool_keys[] = {
	{"dir", tr_config_apply_path, offsetof(struct tr_config, spool_dir), 0, NULL, 0},
	{"settle_ms", apply_count, offsetof(struct tr_config, settle_ms), INT32_MAX, NULL, 0},
	{"rescan_ms", apply_count, offsetof(struct tr_config, rescan_ms), INT32_MAX, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

/* Maxima keep downstream arithmetic (bytes = mb << 20, ms timers, Lua's int
 * hook count) from overflowing. */
static const struct key_def limits_keys[] = {
	{"rule_instructions", apply_count, offsetof(struct tr_config, limits.rule_instructions), INT32_MAX, NULL, 0},
	{"rule_memory_mb", apply_count, offsetof(struct tr_config, limits.rule_memory_mb), 1 << 20, NULL, 0},
	{"rule_time_ms", apply_count, offsetof(struct tr_config, limits.rule_time_ms), INT32_MAX, NULL, 0},
	{"event_bytes", apply_count, offsetof(struct tr_config, limits.event_bytes), INT32_MAX, NULL, 0},
	{"request_bytes", apply_count, offsetof(struct tr_config, limits.request_bytes), INT32_MAX, NULL, 0},
	{"max_clients", apply_count, offsetof(struct tr_config, limits.max_clients), INT32_MAX, NULL, 0},
	{"max_pending_events", apply_count, offsetof(struct tr_config, limits.max_pending_events), INT32_MAX, NULL, 0},
	{"wal_mb", apply_count, offsetof(struct tr_config, limits.wal_mb), 1 << 16, NULL, 0},
	/* Below 16 MiB the state could not hold the shipped rules and a few
	 * rule runs' worth of working memory. */
	{"lua_state_mb", apply_count, offsetof(struct tr_config, limits.lua_state_mb), 1 << 20, NULL, 16},
	{"rule_log_lines", apply_count, offsetof(struct tr_config, limits.rule_log_lines), INT32_MAX, NULL, 0},
	{"rule_timers", apply_count, offsetof(struct tr_config, limits.rule_timers), INT32_MAX, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

/* A duration such as "4h" or "90m", at least def->min seconds. */
static void apply_duration(struct ctx *c, const struct node *v, void *dst, const char *key,
			   const struct key_def *def)
{
	const char *s = tr_config_want_string(c, v, key);
	int64_t d;
	if (!s)
		return;
	if (tr_duration_parse(s, &d) || d < def->min)
		problem(c, v, key, "\"%s\" is not a duration of at least %llds (90s, 15m, 4h, 1d)", s,
			(long long)def->min);
	else
		*(int64_t *)dst = d;
}

static const struct key_def tickets_keys[] = {
	{"ack_timeout", apply_duration, offsetof(struct tr_config, ack_timeout), 0, NULL, 1},
	{NULL, NULL, 0, 0, NULL, 0},
};

static const struct key_def log_keys[] = {
	{"level", apply_log_level, offsetof(struct tr_config, log_level), 0, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

static const struct key_def top_keys[] = {
	{"state_dir", tr_config_apply_path, offsetof(struct tr_config, state_dir), 0, NULL, 0},
	{"socket", apply_socket, offsetof(struct tr_config, socket_path), 0, NULL, 0},
	{"rules_dir", tr_config_apply_path, offsetof(struct tr_config, rules_dir), 0, NULL, 0},
	{"durability", apply_durability, offsetof(struct tr_config, durability), 0, NULL, 0},
	{"spool", apply_section, 0, 0, spool_keys, 0},
	{"sources", tr_config_apply_sources, 0, 0, NULL, 0},
	{"calendars", tr_config_apply_calendars, 0, 0, NULL, 0},
	{"outputs", tr_config_apply_outputs, 0, 0, NULL, 0},
	{"limits", apply_section, 0, 0, limits_keys, 0},
	{"log", apply_section, 0, 0, log_keys, 0},
	{"tickets", apply_section, 0, 0, tickets_keys, 0},
	{"params", apply_params, 0, 0, NULL, 0},
	{"display_timezone", tr_config_apply_zone, offsetof(struct tr_config, display_timezone), 0, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

/* The first entry of a colon-separated directory list in env var name (as
 * systemd passes StateDirectory=a b), + leaf; else fallback + leaf. Heap. */
static char *env_dir(const char *name, const char *fallback, const char *leaf)
{
	const char *v = getenv(name);
	size_t n = v && v[0] ? strcspn(v, ":") : 0;
	if (n == 0) {
		v = fallback;
		n = strlen(v);
	}
	size_t size = n + strlen(leaf) + 2;
	char *p = malloc(size);
	if (!p)
		return NULL;
	snprintf(p, size, "%.*s/%s", (int)n, v, leaf);
	clean_path(p);
	return p;
}

/* Fills db_path, and spool_dir when the file did not set it: both follow
 * state_dir wherever it came from. Returns 0 or -ENOMEM. */
static int derive_paths(struct tr_config *cfg)
{
	free(cfg->db_path);
	cfg->db_path = path_join(cfg->state_dir, "triaged.db");
	if (!cfg->spool_dir)
		cfg->spool_dir = path_join(cfg->state_dir, "spool");
	return cfg->db_path && cfg->spool_dir ? 0 : -ENOMEM;
}

int tr_config_defaults(struct tr_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->state_dir = env_dir("STATE_DIRECTORY", "/var/lib/triaged", "");
	cfg->socket_path = env_dir("RUNTIME_DIRECTORY", "/run/triaged", "triaged.sock");
	cfg->rules_dir = strdup("/etc/triaged/rules.d");
	cfg->durability = TR_DURABILITY_FULL;
	cfg->settle_ms = 1000;
	cfg->rescan_ms = 5000;
	cfg->limits = (struct tr_limits){
		.rule_instructions = 1000000,
		.rule_memory_mb = 64,
		.rule_time_ms = 200,
		.event_bytes = 1048576,
		.request_bytes = 16777216,
		.max_clients = 256,
		.max_pending_events = 20000,
		.wal_mb = 256,
		.lua_state_mb = 256,
		.rule_log_lines = 20,
		.rule_timers = 100,
	};
	cfg->log_level = TR_LOG_INFO;
	cfg->ack_timeout = 4 * 3600;
	if (!cfg->state_dir || !cfg->socket_path || !cfg->rules_dir)
		return -ENOMEM;
	return derive_paths(cfg);
}

/* Reads the whole file into a heap buffer (caller frees). Returns 0 or a
 * negative errno. */
static int read_file(const char *path, unsigned char **out, size_t *len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	struct stat st;
	if (fstat(fd, &st) != 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	if (!S_ISREG(st.st_mode)) {
		close(fd);
		return S_ISDIR(st.st_mode) ? -EISDIR : -EINVAL;
	}
	size_t cap = (size_t)st.st_size + 1, n = 0;
	if (st.st_size > CONFIG_MAX_BYTES) {
		close(fd);
		return -EFBIG;
	}
	unsigned char *buf = malloc(cap);
	if (!buf) {
		close(fd);
		return -ENOMEM;
	}
	for (;;) {
		if (n == cap) {  /* the file grew while we read it */
			close(fd);
			free(buf);
			return -EFBIG;
		}
		ssize_t r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int rc = -errno;
			close(fd);
			free(buf);
			return rc;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	*out = buf;
	*len = n;
	return 0;
}

/* The absolute, symlink-free folder of path (the file itself may be a
 * symlink: its folder as named counts). Heap; NULL with errno. */
static char *config_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? strndup(path, slash == path ? 1 : (size_t)(slash - path)) : strdup(".");
	if (!dir)
		return NULL;
	char *abs = realpath(dir, NULL);
	free(dir);
	return abs;
}

int tr_config_load(const char *path, struct tr_config *cfg, struct tr_errors *errs)
{
	int rc = tr_config_defaults(cfg);
	if (rc != 0) {
		tr_errors_add(errs, path, 0, 0, "", "out of memory");
		return rc;
	}
	if (!path)
		return 0;

	unsigned char *buf = NULL;
	size_t len = 0;
	struct ctx c = {.file = path, .errs = errs};
	if ((rc = read_file(path, &buf, &len)) != 0) {
		if (rc == -EFBIG)
			tr_errors_add(errs, path, 0, 0, "", "larger than %d bytes: not a config file",
				      CONFIG_MAX_BYTES);
		else
			tr_errors_add(errs, path, 0, 0, "", "cannot read: %s", strerror(-rc));
		return rc;
	}
	if (!(c.dir = config_dir(path))) {
		rc = -errno;
		tr_errors_add(errs, path, 0, 0, "", "cannot resolve its folder: %s", strerror(-rc));
		free(buf);
		return rc;
	}
	const char *base = strrchr(path, '/');
	cfg->path = path_join(c.dir, base ? base + 1 : path);

	/* spool_dir follows state_dir unless the file names it: forget the
	 * default so derive_paths can tell. */
	free(cfg->spool_dir);
	cfg->spool_dir = NULL;

	const char *default_socket = cfg->socket_path;
	struct node *root = tr_config_parse(&c, buf, len);
	if (root)
		tr_config_walk_map(&c, root, top_keys, cfg, "");
	/* The default follows $RUNTIME_DIRECTORY, which can be long too. */
	if (cfg->socket_path == default_socket && strlen(default_socket) > SOCKET_PATH_MAX) {
		tr_errors_add(errs, path, 0, 0, "socket", "the default %s is %zu bytes; a Unix socket path "
			      "holds at most %zu", default_socket, strlen(default_socket), SOCKET_PATH_MAX);
		c.nerrors++;
	}
	tr_config_node_free(root);
	free(buf);
	free(c.dir);

	if (derive_paths(cfg) != 0 || !cfg->path || c.oom) {
		tr_errors_add(errs, path, 0, 0, "", "out of memory");
		return -ENOMEM;
	}
	return c.nerrors ? TR_EPARSE : 0;
}

/* ---- rule test fixtures ---------------------------------------------------- */

/* What a fixture may declare: the names rules look up, nothing about where
 * the daemon keeps its files. */
static const struct key_def fixture_keys[] = {
	{"calendars", tr_config_apply_calendars, 0, 0, NULL, 0},
	{"outputs", tr_config_apply_outputs, 0, 0, NULL, 0},
	{"params", apply_params, 0, 0, NULL, 0},
	{"display_timezone", tr_config_apply_zone, offsetof(struct tr_config, display_timezone), 0, NULL, 0},
	{NULL, NULL, 0, 0, NULL, 0},
};

_Static_assert(offsetof(struct tr_calendar, name) == 0 && offsetof(struct tr_output, name) == 0 &&
	       offsetof(struct tr_param, name) == 0, "overlay() finds an entry's name first");

/* Moves src's n entries of size bytes (each starting with its heap name)
 * into the array *dst of *ndst: an entry replaces dst's of the same name
 * (the replaced one goes back to src, to be freed with it), others are
 * appended. A moved slot of src is zeroed, which tr_config_free skips.
 * Returns 0 or -ENOMEM (dst unchanged). */
static int overlay(void *dst, size_t *ndst, void *src, size_t n, size_t size)
{
	if (n == 0)
		return 0;
	char *d = realloc(*(void **)dst, (*ndst + n) * size);
	if (!d)
		return -ENOMEM;
	*(void **)dst = d;
	union { struct tr_calendar cal; struct tr_output out; struct tr_param par; } tmp;
	for (char *from = src; from < (char *)src + n * size; from += size) {
		const char *name = *(char **)from;
		size_t k = 0;
		while (name && k < *ndst && strcmp(*(char **)(d + k * size), name) != 0)
			k++;
		if (!name)
			continue;
		if (k < *ndst) {
			memcpy(&tmp, d + k * size, size);
			memcpy(d + k * size, from, size);
			memcpy(from, &tmp, size);
		} else {
			memcpy(d + (*ndst)++ * size, from, size);
			memset(from, 0, size);
		}
	}
	return 0;
}

int tr_config_load_fixture(struct tr_config *cfg, const char *path, const char *text, size_t len,
			   struct tr_errors *errs)
{
	unsigned char *buf = NULL;
	int rc = 0;
	if (!text && (rc = read_file(path, &buf, &len)) != 0) {
		tr_errors_add(errs, path, 0, 0, "", "cannot read: %s", strerror(-rc));
		return rc;
	}
	struct ctx c = {.file = path, .errs = errs};
	if (!(c.dir = config_dir(path))) {
		rc = -errno;
		tr_errors_add(errs, path, 0, 0, "", "cannot resolve its folder: %s", strerror(-rc));
		free(buf);
		return rc;
	}
	struct tr_config fx = {0};
	struct node *root = tr_config_parse(&c, text ? (const unsigned char *)text : buf, len);
	if (root)
		tr_config_walk_map(&c, root, fixture_keys, &fx, "");
	tr_config_node_free(root);
	free(buf);
	free(c.dir);
	if (c.oom)
		tr_errors_add(errs, path, 0, 0, "", "out of memory");
	if (c.oom || c.nerrors)
		rc = c.oom ? -ENOMEM : TR_EPARSE;
	else if (overlay(&cfg->calendars, &cfg->ncalendars, fx.calendars, fx.ncalendars, sizeof(*fx.calendars)) ||
		 overlay(&cfg->outputs, &cfg->noutputs, fx.outputs, fx.noutputs, sizeof(*fx.outputs)) ||
		 overlay(&cfg->params, &cfg->nparams, fx.params, fx.nparams, sizeof(*fx.params)))
		rc = -ENOMEM;
	if (rc == 0 && fx.display_timezone) { /* a later layer's zone wins, as its calendars do */
		free(cfg->display_timezone);
		cfg->display_timezone = fx.display_timezone;
		fx.display_timezone = NULL;
	}
	tr_config_free(&fx);
	return rc;
}

static void free_strv(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

const char *tr_config_param(const struct tr_config *cfg, const char *name)
{
	for (size_t i = 0; cfg && i < cfg->nparams; i++)
		if (cfg->params[i].name && strcmp(cfg->params[i].name, name) == 0)
			return cfg->params[i].value;
	return NULL;
}

void tr_config_swap_reloadable(struct tr_config *a, struct tr_config *b)
{
	struct tr_param *p = a->params;
	size_t n = a->nparams;
	a->params = b->params;
	a->nparams = b->nparams;
	b->params = p;
	b->nparams = n;
	struct tr_calendar *c = a->calendars;
	n = a->ncalendars;
	a->calendars = b->calendars;
	a->ncalendars = b->ncalendars;
	b->calendars = c;
	b->ncalendars = n;
	char *zone = a->display_timezone;
	a->display_timezone = b->display_timezone;
	b->display_timezone = zone;
}

void tr_config_free(struct tr_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->state_dir);
	free(cfg->db_path);
	free(cfg->socket_path);
	free(cfg->rules_dir);
	free(cfg->spool_dir);
	free(cfg->display_timezone);
	for (size_t i = 0; i < cfg->nsources; i++) {
		struct tr_source *s = &cfg->sources[i];
		free(s->match);
		free(s->type);
		free(s->encoding);
		free(s->timezone);
		free(s->time_format);
		free(s->format);
		for (size_t k = 0; k < s->ncolumns; k++) {
			free(s->columns[k].header);
			free(s->columns[k].field);
		}
		free(s->columns);
		free_strv(s->id_fields, s->nid_fields);
	}
	free(cfg->sources);
	for (size_t i = 0; i < cfg->ncalendars; i++) {
		struct tr_calendar *cal = &cfg->calendars[i];
		free(cal->name);
		free(cal->timezone);
		free(cal->hours);
		free_strv(cal->holidays, cal->nholidays);
		free_strv(cal->workdays, cal->nworkdays);
	}
	free(cfg->calendars);
	for (size_t i = 0; i < cfg->noutputs; i++) {
		free(cfg->outputs[i].name);
		free_strv(cfg->outputs[i].exec_argv, cfg->outputs[i].nexec_argv);
		free(cfg->outputs[i].dir);
	}
	free(cfg->outputs);
	for (size_t i = 0; i < cfg->nparams; i++) {
		free(cfg->params[i].name);
		free(cfg->params[i].value);
	}
	free(cfg->params);
	memset(cfg, 0, sizeof(*cfg));
}
