/* A compact JSON printer for cJSON trees: the text of
 * cJSON_PrintUnformatted, without its per-number sprintf+sscanf round trip,
 * which made printing the largest single cost of an event's effects; but
 * whole numbers in the int64 range print as integers (1e17 as
 * 100000000000000000, -0 as 0) where cJSON switches to %g. */
#ifndef TR_JSON_H
#define TR_JSON_H

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

#endif
