/* The open tickets' keys in memory (tr_open_keys.h): an open-addressing
 * table with linear probing and backward-shift deletion (no tombstones,
 * so removals leave no debris to rehash), grown a few slots at a time, and
 * an undo journal. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include "tr_open_keys.h"

/* A slot packs a pair into 8 bytes: the hash's top TAG_BITS bits over the
 * ticket id. The tag alone decides the home slot and a match, which is
 * why a match is only a candidate. 0: empty; GONE: a pair removed from
 * the old table. */
#define ID_BITS 36
#define ID_MASK ((UINT64_C(1) << ID_BITS) - 1)
#define TAG_BITS (64 - ID_BITS)
#define GONE (~ID_MASK)
#define MAX_CAP ((size_t)1 << TAG_BITS) /* homes come from the tag */
#define MOVES_PER_STEP 16 /* old slots moved per change: done well before
			   * the new table fills (it takes cap/4 adds) */

static uint64_t tag_of(uint64_t hash) { return hash >> ID_BITS; }
static int64_t id_of(uint64_t slot) { return (int64_t)(slot & ID_MASK); }

struct table {
	uint64_t *slots;
	size_t cap; /* a power of two, or 0 */
};

struct change {
	uint64_t hash;
	int64_t id;
	int added; /* 1: undo removes it; 0: undo puts it back */
};

/* Growing moves the pairs a few at a time, not all at once: moving 393,000
 * took 18 ms, a stall no client should see. Until done, old holds the
 * pairs of its slots from `moved` on (minus those marked GONE), and every
 * add goes to cur. */
struct tr_open_keys {
	struct table cur, old;
	size_t moved;
	size_t count; /* pairs in both tables */
	struct change *journal;
	size_t journal_len, journal_cap;
	size_t *marks; /* journal lengths at each open savepoint */
	size_t marks_len, marks_cap;
};

/* ---- SipHash-2-4 (Aumasson and Bernstein), keyed once per process ---- */

#define ROTL(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                        \
	do {                                                            \
		v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32); \
		v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                  \
		v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                  \
		v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32); \
	} while (0)

uint64_t tr_open_keys_siphash(const void *data, size_t len, uint64_t k0, uint64_t k1)
{
	const unsigned char *p = data, *end = p + len - len % 8;
	uint64_t v0 = 0x736f6d6570736575ULL ^ k0, v1 = 0x646f72616e646f6dULL ^ k1;
	uint64_t v2 = 0x6c7967656e657261ULL ^ k0, v3 = 0x7465646279746573ULL ^ k1;
	for (; p != end; p += 8) {
		uint64_t m = 0;
		for (int i = 7; i >= 0; i--)
			m = m << 8 | p[i];
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	uint64_t b = (uint64_t)len << 56;
	for (int i = (int)(len % 8) - 1; i >= 0; i--)
		b |= (uint64_t)p[i] << (8 * i);
	v3 ^= b;
	SIPROUND;
	SIPROUND;
	v0 ^= b;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t secret[2];
static pthread_once_t secret_once = PTHREAD_ONCE_INIT;

static void make_secret(void)
{
	/* Without entropy (very early boot) the table still works; only its
	 * resistance to chosen keys is weaker. */
	if (getrandom(secret, sizeof(secret), GRND_NONBLOCK) != (ssize_t)sizeof(secret)) {
		secret[0] = (uint64_t)(uintptr_t)&secret ^ 0x9e3779b97f4a7c15ULL;
		secret[1] = (uint64_t)(uintptr_t)&make_secret;
	}
}

uint64_t tr_open_keys_hash(const char *key)
{
	pthread_once(&secret_once, make_secret);
	return tr_open_keys_siphash(key, strlen(key), secret[0], secret[1]);
}

/* ---- the table ---- */

struct tr_open_keys *tr_open_keys_new(void)
{
	return calloc(1, sizeof(struct tr_open_keys));
}

void tr_open_keys_free(struct tr_open_keys *k)
{
	if (!k)
		return;
	free(k->cur.slots);
	free(k->old.slots);
	free(k->journal);
	free(k->marks);
	free(k);
}

size_t tr_open_keys_count(const struct tr_open_keys *k)
{
	return k->count;
}

/* Places a pair in t, which has an empty slot. */
static void put(struct table *t, uint64_t slot)
{
	size_t mask = t->cap - 1, i = tag_of(slot) & mask;
	while (t->slots[i])
		i = (i + 1) & mask;
	t->slots[i] = slot;
}

/* Moves up to n of the old table's slots into cur; frees it when done. */
static void move_some(struct tr_open_keys *k, size_t n)
{
	for (; n && k->moved < k->old.cap; n--, k->moved++) {
		uint64_t s = k->old.slots[k->moved];
		if (id_of(s))
			put(&k->cur, s);
	}
	if (k->old.slots && k->moved == k->old.cap) {
		free(k->old.slots);
		k->old = (struct table){0};
	}
}

/* The smallest capacity that holds n pairs at a load of at most 3/4. */
static size_t cap_for(size_t n)
{
	size_t cap = 1024;
	while (n * 4 > cap * 3 && cap < MAX_CAP)
		cap *= 2;
	return cap;
}

/* Starts moving into a new table of cap slots. 0 or -ENOMEM. */
static int grow(struct tr_open_keys *k, size_t cap)
{
	uint64_t *slots = cap <= MAX_CAP ? calloc(cap, sizeof(*slots)) : NULL;
	if (!slots)
		return -ENOMEM;
	move_some(k, SIZE_MAX); /* only if growing again before done: rare */
	k->old = k->cur;
	k->moved = 0;
	k->cur = (struct table){slots, cap};
	return 0;
}

int tr_open_keys_expect(struct tr_open_keys *k, size_t n)
{
	size_t cap = cap_for(n);
	return cap > k->cur.cap ? grow(k, cap) : 0;
}

/* Room in cur for one more pair, counting those still to move from old,
 * at a load of at most 3/4. 0 or -ENOMEM. */
static int make_room(struct tr_open_keys *k)
{
	move_some(k, MOVES_PER_STEP);
	if (k->cur.cap && (k->count + 1) * 4 <= k->cur.cap * 3)
		return 0;
	return grow(k, k->cur.cap ? k->cur.cap * 2 : 1024);
}

/* Where a pair is: its table and slot, or NULL. */
static struct table *find(struct tr_open_keys *k, uint64_t hash, int64_t id, size_t *at)
{
	struct table *tables[2] = {&k->cur, &k->old};
	uint64_t want = (tag_of(hash) << ID_BITS) | (uint64_t)id;
	for (int t = 0; t < 2; t++) {
		struct table *tb = tables[t];
		size_t mask = tb->cap - 1;
		for (size_t i = tag_of(hash) & mask; tb->cap && tb->slots[i]; i = (i + 1) & mask) {
			if (tb->slots[i] == want && (t == 0 || i >= k->moved)) {
				*at = i;
				return tb;
			}
		}
	}
	return NULL;
}

/* Empties slot i of cur and shifts back the pairs after it that probed
 * past it, so every pair stays reachable from its home slot. */
static void take_out(struct table *t, size_t i)
{
	size_t mask = t->cap - 1;
	for (size_t j = (i + 1) & mask; t->slots[j]; j = (j + 1) & mask) {
		size_t home = tag_of(t->slots[j]) & mask;
		/* Stays when its home lies cyclically in (i, j]. */
		int stays = i < j ? (home > i && home <= j) : (home > i || home <= j);
		if (!stays) {
			t->slots[i] = t->slots[j];
			i = j;
		}
	}
	t->slots[i] = 0;
}

/* Removes the pair at slot i of table t. The old table is only read and
 * moved from: a pair leaving it is marked, and probing goes on past it. */
static void remove_at(struct tr_open_keys *k, struct table *t, size_t i)
{
	if (t == &k->cur)
		take_out(t, i);
	else
		t->slots[i] = GONE;
	k->count--;
}

static int journal_room(struct tr_open_keys *k)
{
	if (k->journal_len < k->journal_cap)
		return 0;
	size_t cap = k->journal_cap ? k->journal_cap * 2 : 64;
	struct change *j = realloc(k->journal, cap * sizeof(*j));
	if (!j)
		return -ENOMEM;
	k->journal = j;
	k->journal_cap = cap;
	return 0;
}

int tr_open_keys_reserve(struct tr_open_keys *k)
{
	return make_room(k) || journal_room(k) ? -ENOMEM : 0;
}

int tr_open_keys_add(struct tr_open_keys *k, uint64_t hash, int64_t id, int logged)
{
	size_t i;
	if (id <= 0 || (uint64_t)id > ID_MASK)
		return -EOVERFLOW;
	if (find(k, hash, id, &i))
		return 0;
	if (tr_open_keys_reserve(k))
		return -ENOMEM;
	if (logged)
		k->journal[k->journal_len++] = (struct change){hash, id, 1};
	put(&k->cur, (tag_of(hash) << ID_BITS) | (uint64_t)id);
	k->count++;
	return 0;
}

int tr_open_keys_remove(struct tr_open_keys *k, uint64_t hash, int64_t id, int logged)
{
	size_t i;
	struct table *t = find(k, hash, id, &i);
	if (!t)
		return 0;
	if (logged && journal_room(k))
		return -ENOMEM;
	if (logged)
		k->journal[k->journal_len++] = (struct change){hash, id, 0};
	remove_at(k, t, i);
	return 0;
}

/* The cursor counts probe steps: in cur first, then (from cur.cap on)
 * in the old table, whose moved and removed slots are passed over. */
int64_t tr_open_keys_next(const struct tr_open_keys *k, uint64_t hash, size_t *cursor)
{
	const struct table *tables[2] = {&k->cur, &k->old};
	uint64_t tag = tag_of(hash);
	for (int t = 0; t < 2; t++) {
		const struct table *tb = tables[t];
		size_t base = t ? k->cur.cap : 0, mask = tb->cap - 1;
		if (*cursor >= base + tb->cap)
			continue;
		for (size_t n = *cursor > base ? *cursor - base : 0; n < tb->cap; n++) {
			size_t i = (tag + n) & mask;
			uint64_t s = tb->slots[i];
			if (!s)
				break;
			if (tag_of(s) == tag && id_of(s) && (t == 0 || i >= k->moved)) {
				*cursor = base + n + 1;
				return id_of(s);
			}
		}
		*cursor = base + tb->cap;
	}
	return 0;
}

/* Undoes the journal back to length len, newest first. Never allocates:
 * a pair put back was removed in this transaction, when there were at
 * least as many pairs in tables no larger, so cur has room for it. */
static void undo_to(struct tr_open_keys *k, size_t len)
{
	while (k->journal_len > len) {
		const struct change *c = &k->journal[--k->journal_len];
		size_t i;
		struct table *t = find(k, c->hash, c->id, &i);
		if (c->added && t) {
			remove_at(k, t, i);
		} else if (!c->added && !t) {
			put(&k->cur, (tag_of(c->hash) << ID_BITS) | (uint64_t)c->id);
			k->count++;
		}
	}
}

int tr_open_keys_savepoint(struct tr_open_keys *k)
{
	if (k->marks_len == k->marks_cap) {
		size_t cap = k->marks_cap ? k->marks_cap * 2 : 4;
		size_t *m = realloc(k->marks, cap * sizeof(*m));
		if (!m)
			return -ENOMEM;
		k->marks = m;
		k->marks_cap = cap;
	}
	k->marks[k->marks_len++] = k->journal_len;
	return 0;
}

void tr_open_keys_release(struct tr_open_keys *k)
{
	if (k->marks_len)
		k->marks_len--;
}

void tr_open_keys_rollback_to(struct tr_open_keys *k)
{
	if (k->marks_len)
		undo_to(k, k->marks[k->marks_len - 1]);
}

void tr_open_keys_commit(struct tr_open_keys *k)
{
	k->journal_len = 0;
	k->marks_len = 0;
}

void tr_open_keys_rollback(struct tr_open_keys *k)
{
	undo_to(k, 0);
	k->marks_len = 0;
}
