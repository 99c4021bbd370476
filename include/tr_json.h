/* A compact JSON printer for cJSON trees: the text of
 * cJSON_PrintUnformatted, without its per-number sprintf+sscanf round trip,
 * which made printing the largest single cost of an event's effects; but
 * whole numbers in the int64 range print as integers (1e17 as
 * 100000000000000000, -0 as 0) where cJSON switches to %g. And the one
 * check of a parsed tree's shape that every input path shares (socket
 * events, file rows of every format): no object with a repeated key, no
 * nesting past a limit. cJSON keeps both values of a repeated key and its
 * lookups find the first, while a Lua table built from it keeps the last,
 * so such input would mean two things at once. */
#ifndef TR_JSON_H
#define TR_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>
#include "tr_buf.h"

/* Returns a malloc'd NUL-terminated string (caller frees), or NULL when out
 * of memory. Thread-safe: no global state. */
char *tr_json_print(const cJSON *item);

/* Appends v to b as a JSON integer. */
void tr_json_add_int(struct tr_buf *b, int64_t v);

/* Appends s (NULL as "") to b as a quoted JSON string. */
void tr_json_add_string(struct tr_buf *b, const char *s);

/* Whether object o has a key twice (byte for byte, as cJSON's
 * case-sensitive lookups compare). Returns 0 when every key is distinct, 1
 * with *dup set to an item of o whose key another item has too, or
 * -ENOMEM. Up to a few keys they are compared pairwise; a larger object is
 * sorted, n log n whatever the keys, so no crafted set of keys makes it
 * quadratic. o that is not an object has no keys: 0. */
int tr_json_duplicate_key(const cJSON *o, const cJSON **dup);

enum { TR_JSON_OK = 0, TR_JSON_DUPLICATE = 1, TR_JSON_TOO_DEEP = 2 };

/* Checks item and everything in it, in one walk: every object's keys
 * distinct, and containers nested at most max_depth deep (item itself is
 * level 1 when it is an array or an object). Returns TR_JSON_OK;
 * TR_JSON_DUPLICATE with the repeated key's path written to where
 * ("items[1].sku"; the key alone at the top level); TR_JSON_TOO_DEEP; or
 * -ENOMEM. where may be NULL when len is 0. */
int tr_json_check(const cJSON *item, int max_depth, char *where, size_t len);

#endif
