/* Who a socket request came from, as history and logs name them: the
 * caller's user name, never a bare number when the system knows a name
 * (SPEC §6: mutating operations record the caller). Not how the
 * credentials are read (server.c, SO_PEERCRED). */
#ifndef TR_PEER_H
#define TR_PEER_H

#include <stddef.h>

struct tr_peer;

/* Long enough for any login name (LOGIN_NAME_MAX is 256 on Linux) or
 * "uid:4294967295". */
#define TR_PEER_ACTOR_MAX 272

/* Writes the actor recorded for peer into buf (len bytes, NUL-terminated):
 * its user name from the password database (getpwuid_r), or "uid:N" when
 * the uid has no entry, the lookup fails or the name does not fit. Returns
 * 0, or -ENOSPC when even "uid:N" does not fit (buf then holds it cut).
 * Thread-safe; nothing to free. */
int tr_peer_actor(const struct tr_peer *peer, char *buf, size_t len);

#endif
