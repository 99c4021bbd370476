/* The keys of open tickets, in memory: a hash of each open ticket's key
 * mapped to its id, so that "is there an open ticket with this key?"
 * (ticket.open, ticket.find, reopen) needs no index in the database.
 *
 * Why: keys such as "message:<order id>" arrive in random order, and a
 * B-tree index on them took a random page write per new ticket: 42% of
 * the WAL's pages with the shipped rules, and half of what the daemon
 * wrote to disk. The database stays the truth: the store rebuilds this map
 * from the open tickets at start-up, and a hash is only a candidate that
 * the store confirms by reading the ticket's key (tr_store_ticket_find_open).
 *
 * Changes follow the store's transactions: each one made inside a
 * transaction is journaled, and rolling back (a whole transaction, or one
 * rule's savepoint) undoes exactly what was done since. The hash is keyed
 * with a per-process random secret (SipHash-2-4), so keys chosen by an
 * event's sender cannot be made to pile up in one chain.
 *
 * Memory: an 8-byte slot (the hash's top 28 bits and the ticket id, which
 * must be below 2^36), kept between 3/8 and 3/4 full: 11-21 bytes an open
 * ticket (16 MiB for a million). Growing to twice the slots moves the
 * pairs 16 slots per later change, not all at once (the old table lives
 * until then), so no call stalls the loop. The map and its journal are
 * owned by the store; nothing here is thread-safe. */
#ifndef TR_OPEN_KEYS_H
#define TR_OPEN_KEYS_H

#include <stddef.h>
#include <stdint.h>

struct tr_open_keys;

/* A new empty map; NULL when out of memory. Free with tr_open_keys_free. */
struct tr_open_keys *tr_open_keys_new(void);
void tr_open_keys_free(struct tr_open_keys *k);

/* The keyed hash of key (the same for the life of the process). */
uint64_t tr_open_keys_hash(const char *key);
/* SipHash-2-4 of len bytes with the key (k0, k1), for the tests. */
uint64_t tr_open_keys_siphash(const void *data, size_t len, uint64_t k0, uint64_t k1);

/* Sizes the map for n pairs at once (before loading them: no growth
 * on the way). 0 or -ENOMEM. */
int tr_open_keys_expect(struct tr_open_keys *k, size_t n);

/* Records that ticket id is open with a key hashing to hash; nothing when
 * that pair is there already. logged: undo it on rollback (the store is
 * in a transaction). 0, -EOVERFLOW (id not in 1..2^36-1) or -ENOMEM
 * (nothing changed). */
int tr_open_keys_add(struct tr_open_keys *k, uint64_t hash, int64_t id, int logged);
/* Forgets the pair, if there; journaled like add. 0, or -ENOMEM (nothing
 * changed: the journal could not grow). */
int tr_open_keys_remove(struct tr_open_keys *k, uint64_t hash, int64_t id, int logged);

/* Makes room so that the next add or remove cannot fail: for callers
 * that change the database first and must not then fail to follow it.
 * 0 or -ENOMEM. */
int tr_open_keys_reserve(struct tr_open_keys *k);

/* The ids recorded under a hash with the same top 28 bits as hash (so
 * candidates, to be confirmed), one per call: start with *cursor = 0; 0
 * when there are no more. No add or remove between the calls. */
int64_t tr_open_keys_next(const struct tr_open_keys *k, uint64_t hash, size_t *cursor);
size_t tr_open_keys_count(const struct tr_open_keys *k);

/* Transactions, mirroring the store's: savepoint marks the journal,
 * release drops the mark (its changes now belong to the enclosing
 * transaction), rollback_to undoes the changes since the mark and keeps
 * it, commit forgets the journal, rollback undoes all of it. savepoint
 * returns 0 or -ENOMEM. */
int tr_open_keys_savepoint(struct tr_open_keys *k);
void tr_open_keys_release(struct tr_open_keys *k);
void tr_open_keys_rollback_to(struct tr_open_keys *k);
void tr_open_keys_commit(struct tr_open_keys *k);
void tr_open_keys_rollback(struct tr_open_keys *k);

#endif
