/* Business-time arithmetic over the calendars of SPEC §1/§5: a calendar's
 * weekly open hours in its IANA zone, its holidays (closed all day) and its
 * workdays (make-up working days), compiled once from a struct tr_calendar
 * and then asked "is it open at t", "t plus N seconds of open time" and "the
 * latest moment, margin of open time before a deadline". Not the config
 * parsing (tr_config.h validates the text first) and not the Lua binding
 * (lua_time.c). Times are int64 seconds since the epoch, UTC.
 *
 * Semantics, shared by every function below:
 * - Hours are wall-clock ranges in the calendar's zone, half-open [start,
 *   end): at 18:00 sharp a "09:00-18:00" office is closed. "24:00" as an end
 *   is the next midnight. A range spanning a DST change covers exactly the
 *   instants whose local clock reads inside it, so "00:00-24:00" is 23 h on
 *   a spring-forward day and 25 h on a fall-back day, and "09:00-18:00" is 9 h
 *   on both when the change happens at night. A start or end that falls in a
 *   DST gap means the moment the clock jumps (02:30 on the Los Angeles
 *   spring-forward day is 03:00 PDT: "the clock reads 02:30 or later", where
 *   tr_time_parse, which must name an instant, says 03:30 PDT); one that
 *   exists twice means its first occurrence.
 * - A holiday (local date) is closed all day. A workday (local date) is open
 *   with the calendar's "workday hours": the hours of the first of Monday,
 *   Tuesday, ..., Friday that has any, else of Saturday, else of Sunday,
 *   whatever weekday the workday falls on ("Mon-Fri 09:00-18:00; Sat
 *   10:00-14:00" opens a make-up Saturday 09:00-18:00).
 * - Searches are bounded: 400 consecutive local days with no open time, or a
 *   result more than TR_CAL_MAX_DAYS days from the start, give -ERANGE.
 * - Errors: -ERANGE also for instants outside the years tr_time converts
 *   (0000-9999); -EINVAL if the zone's zoneinfo file vanished after compile.
 *
 * Not thread-safe: a compiled calendar keeps a cache of UTC offsets that the
 * const functions below update, and zone conversions go through tr_time.h,
 * which owns TZ. The daemon uses both on its loop thread only. */
#ifndef TR_CALENDAR_H
#define TR_CALENDAR_H

#include <stddef.h>
#include <stdint.h>
#include "tr_config.h"

/* How far (in days) add and last_open search before giving -ERANGE. */
#define TR_CAL_MAX_DAYS 36600
/* Consecutive closed days after which a search gives -ERANGE. */
#define TR_CAL_MAX_CLOSED_DAYS 400

struct tr_cal;

/* Compiles calendar c (name, timezone, hours, holidays, workdays; the
 * timezone NULL or "" means UTC) into *out. The hours follow the grammar of
 * config.c's check_hours exactly. Returns 0 and a calendar the caller frees
 * with tr_cal_free; or -EINVAL (unknown zone, malformed hours or date, a date
 * both holiday and workday, hours NULL) / -ENOMEM, with *out NULL and, when
 * err is not NULL, a sentence in err (len bytes, always terminated). */
int tr_cal_compile(const struct tr_calendar *c, struct tr_cal **out, char *err, size_t len);

/* Frees a compiled calendar. NULL and tr_cal_24x7() are no-ops. */
void tr_cal_free(struct tr_cal *cal);
/* Checks a weekly-hours string ("Mon-Fri 09:00-18:00; Sat 10:00-14:00")
 * with the grammar the calendars are built from. 0, or -EINVAL with why
 * filled, or -ENOMEM. The config loader validates `hours` with it. */
int tr_cal_check_hours(const char *hours, char *why, size_t len);
/* True if s is a real date written YYYY-MM-DD (holidays, workdays). */
int tr_cal_date_valid(const char *s);

/* The built-in "24x7" calendar: always open, no zone. A static object, never
 * freed; the same pointer on every call. */
const struct tr_cal *tr_cal_24x7(void);

/* The calendar's name ("24x7" for the built-in; never NULL, owned by cal). */
const char *tr_cal_name(const struct tr_cal *cal);

/* 1 if cal is open at instant t, 0 if closed, or a negative error (above). */
int tr_cal_is_open(const struct tr_cal *cal, int64_t t);

/* Sets *out to the instant at which `seconds` of open time have passed since
 * t; when t is closed, counting starts at the next opening. The result is
 * the earliest such instant, so it is open time's end, never past a closing:
 * Friday 17:00 + 1 h in a 09:00-18:00 office is Friday 18:00. seconds == 0
 * gives t itself, open or not. Returns 0, -EINVAL for seconds < 0, or
 * -ERANGE (no open time within the search bounds, or outside tr_time's
 * years). *out is untouched on error. 24x7: t + seconds. */
int tr_cal_add(const struct tr_cal *cal, int64_t t, int64_t seconds, int64_t *out);

/* Sets *out to the latest instant m <= deadline with at least `margin` of
 * open time between m and deadline: walking back from the deadline through
 * open time until margin is used up. The open time in [m, deadline] is then
 * exactly margin, and tr_cal_add(m, margin) <= deadline. With margin > 0, m
 * is open (the team is at work at m): Saturday 03:00 with 1 h in a Mon-Fri
 * 09:00-18:00 office is Friday 17:00. margin == 0 gives the deadline when it
 * is open, else the closing instant of the last open period before it.
 * Returns 0, -EINVAL for margin < 0, -ERANGE as tr_cal_add. 24x7: deadline
 * - margin. */
int tr_cal_last_open(const struct tr_cal *cal, int64_t deadline, int64_t margin, int64_t *out);
/* Same, but only moments at or after `from` count (from = now: "is there
 * still time?"): gives -ENOENT when the latest such m is before from, i.e.
 * the team has no moment left with margin of open time before the deadline
 * (a message at Friday 19:00 whose deadline is Saturday 19:00, with the
 * office closed all weekend). Also -ENOENT when from > deadline. The walk
 * stops once it is past from, so closed days between from and the deadline
 * give -ENOENT without searching back to the bounds (-ERANGE).
 * tr_cal_last_open is this with from = INT64_MIN, which never gives -ENOENT. */
int tr_cal_last_open_from(const struct tr_cal *cal, int64_t from, int64_t deadline, int64_t margin,
			  int64_t *out);

/* The calendars a rule set computes with: the config's, compiled, plus the
 * built-in "24x7". Owned by the engine that built them. */
struct tr_config;
struct tr_errors;
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
