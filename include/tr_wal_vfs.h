/* A SQLite VFS that gathers a connection's WAL appends into one write per
 * commit. SQLite writes each WAL frame as two pwrite(2) calls (a 24-byte
 * header, then the page): on this machine that was 0.72 s of system calls
 * for the frames of 300,000 events, against 0.08 s for the same bytes in
 * large writes. Everything else (locks, shared memory, reads, the main
 * database file) goes to the default VFS ("unix") untouched, so connections
 * on either VFS share one database.
 *
 * SPEC §3: appended frames are handed to the kernel no later than the end
 * of the write of the commit frame, whose error SQLite sees and answers by
 * failing the commit. So by the time a commit returns, every frame it wrote
 * is in the OS, as it would be without this VFS: a crash of the process
 * loses nothing committed, and other connections (the checkpoint thread)
 * never see a frame whose bytes are not written. */
#ifndef TR_WAL_VFS_H
#define TR_WAL_VFS_H

#include <stdint.h>

/* Registers the VFS on the first call (thread-safe; not as the default) and
 * returns its name for sqlite3_open_v2, or NULL if it could not be
 * registered (the caller then uses the default VFS). */
const char *tr_wal_vfs(void);

/* Process-wide counts since start: WAL writes SQLite asked for, and writes
 * this VFS made of them. For tests and the curious. */
void tr_wal_vfs_counts(uint64_t *asked, uint64_t *made);

#endif
