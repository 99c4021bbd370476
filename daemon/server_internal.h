/* What the socket server's files share: the server, connection and request
 * structs, and the few functions each file lends the ones above it. Private
 * to server.c (listener, reading and line framing, start and drain),
 * server_queue.c (requests: queues, fair scheduling, admission, group commit,
 * held answers) and server_conn.c (a connection's lifetime and its writes);
 * everyone else sees tr_server.h. Calls go one way only: server.c uses
 * server_queue.c and server_conn.c, server_queue.c uses server_conn.c, and
 * server_conn.c uses neither. */
#ifndef TR_SERVER_INTERNAL_H
#define TR_SERVER_INTERNAL_H

/* Every limit in these files is per connection and for all of them together
 * (SPEC §6: overload answers `busy`, memory never grows without bound, one
 * client never starves another):
 * - a connection with too many requests or request bytes queued, or too
 *   many answer bytes its client has not taken, is not read from;
 * - a connection's next request is not run while its client leaves too many
 *   answer bytes unread, so a client that pipelines and never reads costs a
 *   bounded amount of memory and CPU, and then nothing;
 * - requests are run one at a time, next the one that would finish first
 *   if every client with requests had an equal share of the loop's time
 *   (fair queuing, each request's cost guessed from the previous one of its
 *   connection), within a time slice that ends early when other I/O is
 *   waiting: a client that sends a cheap request and waits for its answer
 *   goes ahead of clients that keep the loop busy, and a ping waits for at
 *   most about one other request;
 * - a client that has gone gets no more answers, and what it queued that
 *   only reads is not run;
 * - SIGTERM runs what is queued for a bounded time, then drops the rest.
 * An ingest that would push the admitted events past
 * limits.max_pending_events is answered `busy`. Long request lines are
 * parsed (and an ingest's events normalised) on a worker thread while the
 * loop thread runs rules. Under durability full an answer waits until the
 * WAL flush covers the last commit it could have seen (tr_wal_flusher.h), and a
 * connection's later answers wait behind it. */

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>
#include <cjson/cJSON.h>
#include "tr_latency.h"
#include "tr_protocol.h"
#include "tr_server.h"
#include "tr_worker.h"

/* Bytes of answers a client has not taken: past this it is not read from
 * and none of its requests runs. One answer may overshoot it (a `tickets`
 * answer can be megabytes); it is never split. A client that reads is not
 * slowed by it: it takes its answers as fast as the loop writes them. */
#define MAX_UNREAD_ANSWERS (1u << 20)
/* Fair queuing. A request costs at least REQUEST_COST_US of its
 * connection's share (a flood of pings still takes turns). A request's cost
 * is guessed before it runs as its connection's previous one, and as
 * UNKNOWN_COST_US (a large query) for a connection's first: a new client is
 * not trusted to be cheap, nor does it wait behind a crowd of them. */
#define REQUEST_COST_US 50
#define UNKNOWN_COST_US 20000

struct conn;

struct request {
	struct tr_job job;     /* first: the job is the request */
	struct request *next;  /* its connection's queue; then a batch or the held list */
	struct conn *conn;
	char *line;            /* the request line, until prepared */
	size_t len;
	int64_t event_bytes;   /* limits.event_bytes when it arrived */
	struct tr_prepared prep;
	cJSON *answer;
	size_t nevents;        /* counted in pending_events once admitted */
	int admitted;          /* prepared and counted (or answered busy) */
	uint64_t commit;       /* the answer goes once this commit is durable */
	uint64_t taken_us;     /* tr_mono_us() when its line was read */
	int on_worker;         /* prepared on the worker thread */
	int watch;             /* a `watch`: its connection watches once answered */
};

struct conn {
	uv_pipe_t pipe;   /* pipe.data points back here */
	struct tr_server *srv;
	char *buf;
	size_t len, cap, scanned;
	int discarding;   /* skipping the rest of an over-long line */
	int eof, closing;
	int gone;         /* the peer closed: nothing more is sent to it */
	int refs;         /* the handle, queued requests, pending writes */
	int queued;       /* requests not yet answered, held ones included */
	size_t queued_bytes; /* line bytes of the requests in its queue */
	struct request *qhead, *qtail; /* read, not yet run, in arrival order */
	struct request *unadmitted;    /* the first of those not yet admitted */
	int held;         /* answers waiting for a flush */
	int paused;
	int watching;     /* `watch`: gets the stream's lines (tr_watch.h) */
	int dropped;      /* a watcher that did not read: closes once its last
			   * line is taken, or at drop_timer */
	uv_timer_t drop_timer; /* initialised when dropped; holds a reference */
	char *wbuf;       /* stream lines gathered in this pass, not yet written */
	size_t wlen, wcap;
	size_t unread;    /* answer bytes written but not yet taken by the client */
	struct tr_peer peer;
	struct conn *prev, *next;
	struct conn *run_prev, *run_next; /* in srv->runq */
	int listed;       /* in srv->runq: its queue is not empty */
	uint64_t vtime;   /* its share used: loop microseconds (fair queuing) */
	uint64_t cost_us; /* what its previous request took (its next one's guess) */
};

struct tr_server {
	struct tr_daemon *d;
	uv_pipe_t listener;
	uv_check_t check;
	uv_idle_t idle;
	/* SPEC §6 one client never starves another: the connections with
	 * requests queued, in the order they were listed; the next request
	 * run is the one expected to finish first: its connection's vtime
	 * plus its guessed cost (expected_end). vtime is the least share used
	 * among them when last looked at: new and idle connections come in
	 * there, level with the one that has had least, not at their own old
	 * (possibly much earlier) share, which would let them run alone for
	 * long. */
	struct conn *runq, *runq_tail;
	size_t listed;               /* connections in runq */
	uint64_t vtime;
	struct request *held, *held_tail; /* answered, waiting for a flush, in order */
	struct tr_worker worker;
	int worker_stopped;
	size_t preparing;            /* requests on the worker, not yet admitted */
	atomic_int cancel;           /* closing: the worker skips lines not yet parsed */
	size_t pending_events;
	size_t unread;               /* every connection's unread answer bytes */
	int clients;
	int closing;
	struct conn *conns;
	uint64_t busy_answers;
	struct tr_latency ingest_latency; /* read to answered, for `stats` */
	size_t watchers;         /* connections watching */
	uint64_t watchers_dropped; /* watchers dropped for not reading */
	void (*watch_join)(void *ud); /* a watcher joined (tr_server_on_watch) */
	void *watch_join_ud;
	size_t max_line;
};

/* server_conn.c: a connection's lifetime (libuv close discipline: c is
 * freed only once its handle's close callback ran and its last reference
 * went) and its writes. */

/* Drops one of c's references (c->refs); the last one frees c. */
void tr_conn_release(struct conn *c);
/* Closes c's handle once (a no-op if it is closing); c stays until its
 * close callback and its last reference. */
void tr_conn_close(struct conn *c);
/* Closes a half-closed or finished connection once nothing is owed to it. */
void tr_conn_maybe_done(struct conn *c);
/* The peer is gone (it closed, or a write to it failed): its pending
 * answers are dropped with the handle (their writes are cancelled), later
 * ones are never made, and the scheduler skips what it queued that only
 * reads. */
void tr_conn_gone(struct conn *c);
/* The answer to c's `watch` went: c gets the stream's lines from now on. */
void tr_conn_watch(struct conn *c);
/* Writes answer and a newline to c (answer NULL: an out-of-memory error);
 * does not take answer. Nothing is sent to a closing connection. */
void tr_conn_send_answer(struct conn *c, cJSON *answer);

/* server_queue.c: requests, from a line read to its answer. */

/* Queues a request on c: a line to prepare (on the worker when it is
 * long), or (line NULL) an answer already decided. Takes ownership of line
 * and answer, on failure too (c is closed then). */
void tr_queue_add(struct tr_server *srv, struct conn *c, char *line, size_t len, cJSON *answer);
/* One turn of the scheduler (on the loop's check phase and while draining).
 * Returns how many requests it ran. */
size_t tr_queue_run(struct tr_server *srv);
/* SIGTERM (srv->closing set, reads stopped): runs what is queued for a
 * bounded time, drops the rest unanswered and stops the worker. */
void tr_queue_drain(struct tr_server *srv);
/* Sends every answer still waiting for a flush, durable or not (the flusher
 * has stopped). */
void tr_queue_answer_held(struct tr_server *srv);

#endif
