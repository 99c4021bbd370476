/* The calendars a rule set computes with: the config's, compiled, plus the
 * built-in "24x7". Owned by the engine that built them. */
#ifndef TR_CALENDARS_H
#define TR_CALENDARS_H

#include <stddef.h>
#include <stdint.h>
#include "tr_calendar.h"
#include "tr_config.h"
#include "tr_error.h"

struct tr_calendars;

/* Compiles every calendar of cfg; problems are appended to errs with the
 * config line. Returns 0 with *out (free with tr_calendars_free) or
 * TR_EPARSE. */
int tr_calendars_build(const struct tr_config *cfg, struct tr_calendars **out, struct tr_errors *errs);
void tr_calendars_free(struct tr_calendars *c);
/* The calendar called name ("24x7" and NULL: always open), or NULL if unknown. */
const struct tr_cal *tr_calendars_find(const struct tr_calendars *c, const char *name);
/* t plus seconds of the calendar's open time; plain addition for 24x7. */
int tr_calendars_add(const struct tr_calendars *c, const char *name, int64_t t, int64_t seconds, int64_t *out);

#endif
