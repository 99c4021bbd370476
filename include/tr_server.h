/* The Unix-socket server: accepts clients, splits NDJSON lines with bounded
 * buffers, queues requests per connection (bounded: `busy`, paused reads
 * and no more runs for a client that does not take its answers, never an
 * unbounded queue), runs them fairly across connections and in arrival
 * order within one, with many ingests per transaction (group commit), and
 * answers each only after its commit.
 * Long lines are parsed on a worker thread (tr_worker.h) it starts and
 * joins; everything else, rules and SQLite included, is on the loop. */
#ifndef TR_SERVER_H
#define TR_SERVER_H

#include "tr_daemon.h"

/* Binds d->cfg.socket_path (mode 0660) and starts accepting on d->loop.
 * *out is owned by the caller: tr_server_close, then run the loop until the
 * close callbacks ran, then tr_server_free. Returns 0 or a negative errno
 * (logged with the path). */
int tr_server_start(struct tr_daemon *d, struct tr_server **out);
/* Takes the ingests that waited while d->writes_paused was set. */
void tr_server_resume(struct tr_server *srv);
/* A WAL flush finished: sends the answers that waited for it. NULL is a
 * no-op. */
void tr_server_flushed(struct tr_server *srv);
/* Stops accepting and reading; runs and answers what is queued for a
 * bounded time (about a second) and drops the rest unanswered (an ingest
 * dropped there never ran: nothing of it is kept). Connections close once
 * their answers are written; the loop ends then, or after
 * tr_server_close_clients. */
void tr_server_close(struct tr_server *srv);
/* After tr_server_close, when clients had their time to read: closes every
 * connection still open, dropping what it did not take. NULL is a no-op. */
void tr_server_close_clients(struct tr_server *srv);
void tr_server_free(struct tr_server *srv);
/* The socket's side of the live stream (tr_watch.h sink; ud is the
 * server): how many clients watch, and one line to each of them. SPEC §6
 * watch: a client that leaves more than a bounded amount of the stream
 * unread is sent a last line {"dropped":true,"reason":"…"} and closed
 * (logged with its uid; counted in `stats` as watchers_dropped). */
size_t tr_server_watchers(void *ud);
void tr_server_broadcast(void *ud, const char *line);
/* The pass ended: what tr_server_broadcast gathered goes, one write per
 * watcher. */
void tr_server_watch_flush(void *ud);
/* join(ud) runs when a client starts watching (its answer has gone), so
 * the stream can start from that moment. */
void tr_server_on_watch(struct tr_server *srv, void (*join)(void *ud), void *ud);

#endif
