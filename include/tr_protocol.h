/* The socket protocol's operations (SPEC §6): one NDJSON request in, one
 * JSON response out. The server decides when transactions commit; the
 * protocol only says whether an operation ingests (group commit) and builds
 * responses. Not the transport (server.c). */
#ifndef TR_PROTOCOL_H
#define TR_PROTOCOL_H

#include <sys/types.h>
#include <cjson/cJSON.h>
#include "tr_daemon.h"
#include "tr_event.h"
#include "tr_latency.h"

/* Who sent a request (SO_PEERCRED). */
struct tr_peer {
	uid_t uid;
	pid_t pid;
};

/* Error codes of SPEC §6. */
#define TR_ERR_BAD_REQUEST "bad_request"
#define TR_ERR_NOT_FOUND "not_found"
#define TR_ERR_TOO_LARGE "too_large"
#define TR_ERR_BUSY "busy"
#define TR_ERR_FORBIDDEN "forbidden"
#define TR_ERR_INTERNAL "internal"

/* A new error response object (caller owns). */
cJSON *tr_protocol_error(const char *code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Parses one request line. Returns the request object (caller owns) or NULL
 * with *error set to an error response (caller owns). */
cJSON *tr_protocol_parse(const char *line, size_t len, cJSON **error);

/* True if the request is an ingest (runs inside the group-commit
 * transaction); *nevents is its event count. */
int tr_protocol_is_ingest(const cJSON *req, size_t *nevents);

/* True if running the request changes what the daemon keeps (an ingest,
 * ticket.update, reload, retry: the op table's column), false for a read
 * or an unknown op. The server still runs these for a client that has
 * gone; what only reads is dropped. */
int tr_protocol_changes_state(const cJSON *req);

/* A request line made ready for the loop thread: parsed and, for an
 * ingest, its events validated and normalised. Everything in it is owned by
 * it and freed by tr_prepared_free. */
struct tr_prepared {
	cJSON *req;              /* NULL when answer was decided while parsing */
	cJSON *answer;           /* the error for a line that is no request */
	int ingest;
	size_t nevents;          /* events in an ingest, valid or not */
	struct tr_event *events; /* the valid ones, in request order */
	size_t nvalid;
	cJSON *rejected;         /* [{index, error}] of the invalid ones */
};

/* Parses and prepares one request line. Thread-safe (no daemon state): the
 * server runs it on its worker thread. event_bytes: limits.event_bytes. */
void tr_protocol_prepare(struct tr_prepared *p, const char *line, size_t len, int64_t event_bytes);
void tr_prepared_free(struct tr_prepared *p);

/* Runs a prepared request (p->req set) and returns its response (caller
 * owns; never NULL unless out of memory); an ingest's events are consumed.
 * Ingests run in the open transaction, which the caller commits before
 * sending the answer; every other operation runs outside it (the caller
 * commits first). The request's "id" is echoed. */
cJSON *tr_protocol_handle(struct tr_daemon *d, struct tr_prepared *p, const struct tr_peer *peer);

/* Stats for `stats` and the server's own counters. */
struct tr_server_stats {
	int clients;
	size_t pending_events;
	uint64_t busy_answers;
	size_t watchers;            /* clients streaming `watch` */
	uint64_t watchers_dropped;  /* watchers dropped for not reading */
	struct tr_latency_summary ingest_answer;  /* the last TR_LATENCY_WINDOW ingests */
};
void tr_server_get_stats(struct tr_server *srv, struct tr_server_stats *st);

/* The `outbox` op (protocol_outbox.c): list undelivered notifications, or
 * put parked ones back ("retry": id, "retry_all": true). */
cJSON *tr_protocol_outbox(struct tr_daemon *d, const cJSON *req, const struct tr_peer *peer);

#endif
