/* Budgeted Lua pattern matching: our own implementation of string.find,
 * string.match, string.gmatch and string.gsub with Lua 5.4 semantics (same
 * results, same backtracking order, same error messages), installed over the
 * stock functions in the sandbox's string table. It exists because the stock
 * matcher runs entirely in C where the instruction-count hook never ticks; this
 * one charges every step of work to a shared counter and asks the caller's
 * `expired` callback every CHECK_EVERY steps (SPEC §3: rule_time_ms holds even
 * inside library calls). It is not the sandbox (sandbox.c decides what a rule
 * may reach) and it does not measure time itself: the callback owns the clock.
 *
 * Memory: no C heap at all. Match state lives on the C stack (or, for gmatch,
 * in a Lua userdata) and results are built in a luaL_Buffer, so a budget or
 * memory error that longjmps out of any point leaks nothing and every byte is
 * counted by the sandbox's allocator. */
#include <ctype.h>
#include <stddef.h>
#include <string.h>
#include <lauxlib.h>
#include <lua.h>
#include "tr_pattern.h"

/* Ask `expired` after this many steps. A step costs a few nanoseconds, so
 * the callback (typically one clock_gettime) runs every few microseconds:
 * negligible overhead, and a budget overrun is noticed well within 1 ms. */
#define CHECK_EVERY 1024

/* Bulk comparisons (memcmp) are charged one step per this many bytes. */
#define BULK_BYTES 32

/* Same limits as Lua's lstrlib.c, so the same patterns fail the same way. */
#define MAX_CAPTURES 32
#define MAX_DEPTH 200

#define ESC '%'
#define SPECIALS "^$*+?.([%-"

/* capture.len values that are not lengths */
#define CAP_OPEN (-1)      /* '(' seen, ')' not yet */
#define CAP_POSITION (-2)  /* '()': records a position, not a string */

#define BUDGET_MESSAGE "rule time budget exceeded in string pattern matching"

/* Shared by the four installed functions (an upvalue of each, a full userdata
 * owned by the Lua state) so that steps add up across calls: a rule making a
 * million small calls is checked as often as one making one big call. */
struct budget {
	tr_pattern_expired_fn expired;  /* NULL: never expires */
	void *ud;
	unsigned left;                  /* steps until the next expired() */
};

struct capture {
	const char *start;
	ptrdiff_t len;  /* >= 0, CAP_OPEN or CAP_POSITION */
};

/* One match attempt's state. subj/pat are not NUL-terminated for our
 * purposes: every read goes through subj_at/pat_at or is bounds-checked. */
struct matcher {
	lua_State *L;
	struct budget *budget;
	const char *subj, *subj_end;
	const char *pat, *pat_end;
	int depth_left;  /* recursion left before "pattern too complex" */
	int ncap;
	struct capture cap[MAX_CAPTURES];
};

/* The one place work is counted. Every loop of the matcher runs through here:
 * each match() call (so every backtrack and every start position of find,
 * gmatch and gsub), each subject byte tested against a pattern item, each
 * byte of a %b scan, and back-reference and plain-find comparisons by bulk.
 * Raises a Lua error (longjmp) when the budget is spent. */
static void spend(lua_State *L, struct budget *b, size_t steps)
{
	if (b->left > steps) {
		b->left -= (unsigned)steps;
		return;
	}
	b->left = CHECK_EVERY;
	/* SPEC §3 rule_time_ms: the wall clock holds inside pattern matching. */
	if (b->expired && b->expired(b->ud))
		luaL_error(L, BUDGET_MESSAGE);
}

/* The pattern byte at p, or 0 past its end (where Lua reads its NUL). */
static int pat_at(const struct matcher *m, const char *p)
{
	return p < m->pat_end ? (unsigned char)*p : 0;
}

/* The subject byte at s, or 0 at its end (what %f sees after the last byte). */
static int subj_at(const struct matcher *m, const char *s)
{
	return s < m->subj_end ? (unsigned char)*s : 0;
}

static void matcher_init(struct matcher *m, lua_State *L, struct budget *b,
			 const char *s, size_t ls, const char *p, size_t lp)
{
	m->L = L;
	m->budget = b;
	m->subj = s;
	m->subj_end = s + ls;
	m->pat = p;
	m->pat_end = p + lp;
	m->depth_left = MAX_DEPTH;
	m->ncap = 0;
}

/* Forget the previous attempt's captures before trying a new start. The
 * depth is reset too so an error thrown out of a gmatch step cannot leave a
 * persistent matcher with a drifted limit. */
static void matcher_reset(struct matcher *m)
{
	m->ncap = 0;
	m->depth_left = MAX_DEPTH;
}

/* Does byte c belong to class letter cl (%a, %D, ...)? Any other byte
 * stands for itself, so %. matches '.'. */
static int in_class(int c, int cl)
{
	int res;
	switch (tolower(cl)) {
	case 'a': res = isalpha(c); break;
	case 'c': res = iscntrl(c); break;
	case 'd': res = isdigit(c); break;
	case 'g': res = isgraph(c); break;
	case 'l': res = islower(c); break;
	case 'p': res = ispunct(c); break;
	case 's': res = isspace(c); break;
	case 'u': res = isupper(c); break;
	case 'w': res = isalnum(c); break;
	case 'x': res = isxdigit(c); break;
	case 'z': res = (c == 0); break;  /* deprecated in 5.4, still accepted */
	default: return cl == c;
	}
	return isupper(cl) ? !res : res != 0;
}

/* Does byte c belong to the set [...] from open (its '[') to close (its ']')?
 * item_end has already checked the set is well formed. */
static int in_set(int c, const char *open, const char *close)
{
	const char *p = open + 1;
	int found = 1;
	if (*p == '^') {
		found = 0;
		p++;
	}
	for (; p < close; p++) {
		if (*p == ESC) {
			p++;
			if (in_class(c, (unsigned char)*p))
				return found;
		} else if (p[1] == '-' && p + 2 < close) {
			if ((unsigned char)p[0] <= c && c <= (unsigned char)p[2])
				return found;
			p += 2;
		} else if ((unsigned char)*p == c) {
			return found;
		}
	}
	return !found;
}

/* Returns the end of the single-character item at p (a byte, '.', %x or a
 * set), i.e. where its optional quantifier would be. Raises on a malformed
 * item. */
static const char *item_end(struct matcher *m, const char *p)
{
	int c = (unsigned char)*p++;
	if (c == ESC) {
		if (p >= m->pat_end)
			luaL_error(m->L, "malformed pattern (ends with '%%')");
		return p + 1;
	}
	if (c == '[') {
		if (pat_at(m, p) == '^')
			p++;
		/* The first byte is taken as is, so "[]]" is a set holding ']'. */
		do {
			if (p >= m->pat_end)
				luaL_error(m->L, "malformed pattern (missing ']')");
			c = (unsigned char)*p++;
			if (c == ESC && p < m->pat_end)
				p++;
		} while (pat_at(m, p) != ']');
		return p + 1;
	}
	return p;
}

/* Does the subject byte at s match the item p..ep? False at the subject's
 * end. */
static int item_matches(struct matcher *m, const char *s, const char *p, const char *ep)
{
	if (s >= m->subj_end)
		return 0;
	spend(m->L, m->budget, 1);
	int c = (unsigned char)*s;
	switch (*p) {
	case '.': return 1;
	case ESC: return in_class(c, (unsigned char)p[1]);
	case '[': return in_set(c, p, ep - 1);
	default: return (unsigned char)*p == c;
	}
}

static const char *match(struct matcher *m, const char *s, const char *p);

/* Item p..ep with '*' or '+': take as many as possible, then give back one
 * at a time until the rest of the pattern matches. */
static const char *longest(struct matcher *m, const char *s, const char *p, const char *ep)
{
	size_t n = 0;
	while (item_matches(m, s + n, p, ep))
		n++;
	for (;;) {
		const char *e = match(m, s + n, ep + 1);
		if (e || n == 0)
			return e;
		n--;
	}
}

/* Item p..ep with '-': take as few as possible, one more at a time. */
static const char *shortest(struct matcher *m, const char *s, const char *p, const char *ep)
{
	for (;;) {
		const char *e = match(m, s, ep + 1);
		if (e)
			return e;
		if (!item_matches(m, s, p, ep))
			return NULL;
		s++;
	}
}

/* '(' or '()': open a capture, match the rest, drop it again on failure. */
static const char *open_capture(struct matcher *m, const char *s, const char *p, ptrdiff_t kind)
{
	if (m->ncap >= MAX_CAPTURES)
		luaL_error(m->L, "too many captures");
	m->cap[m->ncap].start = s;
	m->cap[m->ncap].len = kind;
	m->ncap++;
	const char *e = match(m, s, p);
	if (!e)
		m->ncap--;
	return e;
}

/* ')': close the innermost open capture, reopen it on failure. */
static const char *close_capture(struct matcher *m, const char *s, const char *p)
{
	int i = m->ncap - 1;
	while (i >= 0 && m->cap[i].len != CAP_OPEN)
		i--;
	if (i < 0)
		luaL_error(m->L, "invalid pattern capture");
	m->cap[i].len = s - m->cap[i].start;
	const char *e = match(m, s, p);
	if (!e)
		m->cap[i].len = CAP_OPEN;
	return e;
}

/* %bxy at p (pointing at x): a balanced run from x to its matching y. */
static const char *balanced(struct matcher *m, const char *s, const char *p)
{
	if (m->pat_end - p < 2)
		luaL_error(m->L, "malformed pattern (missing arguments to '%%b')");
	if (s >= m->subj_end || *s != p[0])
		return NULL;
	int depth = 1;
	while (++s < m->subj_end) {
		spend(m->L, m->budget, 1);
		if (*s == p[1]) {  /* tested first: %b"" closes at the next quote */
			if (--depth == 0)
				return s + 1;
		} else if (*s == p[0]) {
			depth++;
		}
	}
	return NULL;
}

/* %1-%9 (digit is the ASCII digit): the text of an earlier closed capture
 * again. A position capture has no text and never matches, as in Lua. */
static const char *backref(struct matcher *m, const char *s, int digit)
{
	int i = digit - '1';
	if (i < 0 || i >= m->ncap || m->cap[i].len == CAP_OPEN)
		luaL_error(m->L, "invalid capture index %%%d", i + 1);
	ptrdiff_t len = m->cap[i].len;
	if (len < 0 || m->subj_end - s < len)
		return NULL;
	spend(m->L, m->budget, 1 + (size_t)len / BULK_BYTES);
	return memcmp(m->cap[i].start, s, (size_t)len) == 0 ? s + len : NULL;
}

/* Matches pattern p..pat_end against the subject from s. Returns the end of
 * the match, or NULL. Raises on malformed patterns, on recursion deeper than
 * MAX_DEPTH and when the budget is spent. Items in tail position loop here
 * instead of recursing, so depth grows only with real backtracking points
 * (quantifiers other than a plain item, captures). */
static const char *match(struct matcher *m, const char *s, const char *p)
{
	if (m->depth_left-- == 0)
		luaL_error(m->L, "pattern too complex");
	spend(m->L, m->budget, 1);
	while (s && p < m->pat_end) {
		switch (*p) {
		case '(':
			if (pat_at(m, p + 1) == ')')
				s = open_capture(m, s, p + 2, CAP_POSITION);
			else
				s = open_capture(m, s, p + 1, CAP_OPEN);
			goto out;
		case ')':
			s = close_capture(m, s, p + 1);
			goto out;
		case '$':
			if (p + 1 == m->pat_end) {
				s = (s == m->subj_end) ? s : NULL;
				goto out;
			}
			break;  /* a '$' elsewhere is an ordinary byte */
		case ESC:
			switch (pat_at(m, p + 1)) {
			case 'b':
				s = balanced(m, s, p + 2);
				p += 4;
				continue;
			case 'f': {
				p += 2;
				if (pat_at(m, p) != '[')
					luaL_error(m->L, "missing '[' after '%%f' in pattern");
				const char *ep = item_end(m, p);
				int before = (s == m->subj) ? 0 : (unsigned char)s[-1];
				if (in_set(before, p, ep - 1) || !in_set(subj_at(m, s), p, ep - 1))
					s = NULL;
				p = ep;
				continue;
			}
			case '0': case '1': case '2': case '3': case '4':
			case '5': case '6': case '7': case '8': case '9':
				s = backref(m, s, pat_at(m, p + 1));
				p += 2;
				continue;
			default:
				break;  /* %a, %%, ...: a single-character item */
			}
			break;
		default:
			break;
		}

		/* A single-character item and its optional quantifier. */
		const char *ep = item_end(m, p);
		int quant = pat_at(m, ep);
		if (!item_matches(m, s, p, ep)) {
			if (quant == '*' || quant == '?' || quant == '-') {
				p = ep + 1;  /* zero repetitions are fine */
				continue;
			}
			s = NULL;
			goto out;
		}
		switch (quant) {
		case '?': {
			const char *e = match(m, s + 1, ep + 1);
			if (e) {
				s = e;
				goto out;
			}
			p = ep + 1;
			continue;
		}
		case '+':
			s = longest(m, s + 1, p, ep);
			goto out;
		case '*':
			s = longest(m, s, p, ep);
			goto out;
		case '-':
			s = shortest(m, s, p, ep);
			goto out;
		default:
			s++;
			p = ep;
			continue;
		}
	}
out:
	m->depth_left++;
	return s;
}

/* Capture i of a successful match s..e: returns its length and sets *start,
 * or pushes the position and returns CAP_POSITION. With no captures, index 0
 * is the whole match. Raises on a bad index or an unclosed capture. */
static ptrdiff_t get_capture(struct matcher *m, int i, const char *s, const char *e,
			     const char **start)
{
	if (i >= m->ncap) {
		if (i != 0)
			luaL_error(m->L, "invalid capture index %%%d", i + 1);
		*start = s;
		return e - s;
	}
	ptrdiff_t len = m->cap[i].len;
	*start = m->cap[i].start;
	if (len == CAP_OPEN)
		luaL_error(m->L, "unfinished capture");
	if (len == CAP_POSITION)
		lua_pushinteger(m->L, (m->cap[i].start - m->subj) + 1);
	return len;
}

static void push_capture(struct matcher *m, int i, const char *s, const char *e)
{
	const char *start;
	ptrdiff_t len = get_capture(m, i, s, e, &start);
	if (len != CAP_POSITION)
		lua_pushlstring(m->L, start, (size_t)len);
}

/* Pushes the captures of match s..e, or the whole match when the pattern has
 * none (s == NULL: push nothing then, for find). Returns how many. */
static int push_captures(struct matcher *m, const char *s, const char *e)
{
	int n = (m->ncap == 0 && s) ? 1 : m->ncap;
	luaL_checkstack(m->L, n, "too many captures");
	for (int i = 0; i < n; i++)
		push_capture(m, i, s, e);
	return n;
}

/* Lua's rule for a start index: negative counts from the end, 0 and anything
 * before the start clamp to 1. Returns a 1-based index, possibly > len + 1. */
static size_t start_index(lua_Integer pos, size_t len)
{
	if (pos > 0)
		return (size_t)pos;
	if (pos == 0 || pos < -(lua_Integer)len)
		return 1;
	return len + (size_t)pos + 1;
}

static int has_specials(const char *p, size_t lp)
{
	for (size_t i = 0; i < lp; i++)
		if (p[i] != '\0' && strchr(SPECIALS, p[i]))
			return 1;
	return 0;
}

/* First occurrence of p[0..lp) in s[0..ls), or NULL. Empty p is found at s. */
static const char *plain_find(lua_State *L, struct budget *b,
			      const char *s, size_t ls, const char *p, size_t lp)
{
	if (lp == 0)
		return s;
	if (lp > ls)
		return NULL;
	const char *at = s;
	const char *last = s + (ls - lp);  /* last possible start */
	while (at <= last) {
		const char *hit = memchr(at, p[0], (size_t)(last - at) + 1);
		if (!hit)
			return NULL;
		spend(L, b, 1 + lp / BULK_BYTES);
		if (memcmp(hit + 1, p + 1, lp - 1) == 0)
			return hit;
		at = hit + 1;
	}
	return NULL;
}

static struct budget *upvalue_budget(lua_State *L)
{
	return lua_touserdata(L, lua_upvalueindex(1));
}

/* string.find (find = 1) and string.match (find = 0). */
static int find_or_match(lua_State *L, int find)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	struct budget *b = upvalue_budget(L);

	if (init > ls) {  /* starts after the end: nothing can match */
		luaL_pushfail(L);
		return 1;
	}
	if (find && (lua_toboolean(L, 4) || !has_specials(p, lp))) {
		const char *hit = plain_find(L, b, s + init, ls - init, p, lp);
		if (hit) {
			lua_pushinteger(L, (hit - s) + 1);
			lua_pushinteger(L, (lua_Integer)((size_t)(hit - s) + lp));
			return 2;
		}
		luaL_pushfail(L);
		return 1;
	}

	int anchored = lp > 0 && p[0] == '^';
	if (anchored) {
		p++;
		lp--;
	}
	struct matcher m;
	matcher_init(&m, L, b, s, ls, p, lp);
	for (const char *at = s + init;; at++) {
		matcher_reset(&m);
		const char *e = match(&m, at, p);
		if (e) {
			if (!find)
				return push_captures(&m, at, e);
			lua_pushinteger(L, (at - s) + 1);
			lua_pushinteger(L, e - s);
			return push_captures(&m, NULL, NULL) + 2;
		}
		if (anchored || at == m.subj_end)
			break;
	}
	luaL_pushfail(L);
	return 1;
}

static int l_string_find(lua_State *L)
{
	return find_or_match(L, 1);
}

static int l_string_match(lua_State *L)
{
	return find_or_match(L, 0);
}

/* gmatch's iterator state, a userdata kept alive by the iterator closure
 * (which also holds the subject and pattern strings, so the pointers inside
 * stay valid: Lua never moves strings). */
struct gmatch_state {
	struct matcher m;
	size_t next;             /* offset to resume from; > length when done */
	const char *last_end;    /* end of the previous match: no empty match there */
};

/* Upvalues: 1 budget, 2 subject, 3 pattern, 4 state. */
static int gmatch_step(lua_State *L)
{
	struct gmatch_state *g = lua_touserdata(L, lua_upvalueindex(4));
	struct matcher *m = &g->m;
	size_t len = (size_t)(m->subj_end - m->subj);
	m->L = L;  /* the iterator may be resumed from another coroutine */
	for (; g->next <= len; g->next++) {
		const char *at = m->subj + g->next;
		matcher_reset(m);
		const char *e = match(m, at, m->pat);
		if (e && e != g->last_end) {
			g->next = (size_t)(e - m->subj);
			g->last_end = e;
			return push_captures(m, at, e);
		}
	}
	return 0;
}

/* string.gmatch. As in Lua 5.4 a leading '^' is an ordinary byte here: an
 * anchor would stop the iteration after one match. */
static int l_string_gmatch(lua_State *L)
{
	size_t ls, lp;
	const char *s = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	size_t init = start_index(luaL_optinteger(L, 3, 1), ls) - 1;
	lua_settop(L, 2);  /* the (possibly number-converted) strings */
	struct gmatch_state *g = lua_newuserdatauv(L, sizeof(*g), 0);
	matcher_init(&g->m, L, upvalue_budget(L), s, ls, p, lp);
	g->next = init > ls ? ls + 1 : init;
	g->last_end = NULL;
	lua_pushvalue(L, lua_upvalueindex(1));
	lua_insert(L, 1);
	lua_pushcclosure(L, gmatch_step, 4);
	return 1;
}

/* Appends gsub's string replacement (argument 3) for match s..e, expanding
 * %0-%9 and %%. */
static void add_template(struct matcher *m, luaL_Buffer *buf, const char *s, const char *e)
{
	lua_State *L = m->L;
	size_t len;
	const char *r = lua_tolstring(L, 3, &len);
	const char *end = r + len;
	const char *esc;
	while ((esc = memchr(r, ESC, (size_t)(end - r))) != NULL) {
		luaL_addlstring(buf, r, (size_t)(esc - r));
		int c = esc + 1 < end ? (unsigned char)esc[1] : 0;
		if (c == ESC) {
			luaL_addchar(buf, ESC);
		} else if (c == '0') {
			luaL_addlstring(buf, s, (size_t)(e - s));
		} else if (isdigit(c)) {
			const char *start;
			ptrdiff_t n = get_capture(m, c - '1', s, e, &start);
			if (n == CAP_POSITION)
				luaL_addvalue(buf);  /* the integer get_capture pushed */
			else
				luaL_addlstring(buf, start, (size_t)n);
		} else {
			luaL_error(L, "invalid use of '%c' in replacement string", ESC);
		}
		r = esc + 2;
	}
	luaL_addlstring(buf, r, (size_t)(end - r));
}

/* Appends the replacement for match s..e, by the type of argument 3. Returns
 * whether the text changed (a function or table giving nil/false keeps the
 * match as is). Anything pushed here is consumed before returning, as the
 * buffer requires. */
static int add_replacement(struct matcher *m, luaL_Buffer *buf, const char *s, const char *e,
			   int type)
{
	lua_State *L = m->L;
	if (type == LUA_TFUNCTION) {
		lua_pushvalue(L, 3);
		int n = push_captures(m, s, e);
		lua_call(L, n, 1);
	} else if (type == LUA_TTABLE) {
		push_capture(m, 0, s, e);
		lua_gettable(L, 3);
	} else {
		add_template(m, buf, s, e);
		return 1;
	}
	if (!lua_toboolean(L, -1)) {
		lua_pop(L, 1);
		luaL_addlstring(buf, s, (size_t)(e - s));
		return 0;
	}
	if (!lua_isstring(L, -1))
		return luaL_error(L, "invalid replacement value (a %s)", luaL_typename(L, -1));
	luaL_addvalue(buf);
	return 1;
}

static int l_string_gsub(lua_State *L)
{
	size_t ls, lp;
	const char *src = luaL_checklstring(L, 1, &ls);
	const char *p = luaL_checklstring(L, 2, &lp);
	int type = lua_type(L, 3);
	lua_Integer max_n = luaL_optinteger(L, 4, (lua_Integer)ls + 1);
	luaL_argexpected(L, type == LUA_TNUMBER || type == LUA_TSTRING ||
			 type == LUA_TFUNCTION || type == LUA_TTABLE, 3,
			 "string/function/table");

	luaL_Buffer buf;
	luaL_buffinit(L, &buf);
	int anchored = lp > 0 && p[0] == '^';
	if (anchored) {
		p++;
		lp--;
	}
	struct matcher m;
	matcher_init(&m, L, upvalue_budget(L), src, ls, p, lp);
	const char *last_end = NULL;  /* no empty match right after a match */
	lua_Integer n = 0;
	int changed = 0;
	while (n < max_n) {
		matcher_reset(&m);
		const char *e = match(&m, src, p);
		if (e && e != last_end) {
			n++;
			changed |= add_replacement(&m, &buf, src, e, type);
			src = last_end = e;
		} else if (src < m.subj_end) {
			luaL_addchar(&buf, *src++);
		} else {
			break;
		}
		if (anchored)
			break;
	}
	if (changed) {
		luaL_addlstring(&buf, src, (size_t)(m.subj_end - src));
		luaL_pushresult(&buf);
	} else {
		lua_pushvalue(L, 1);  /* unchanged: the original string itself */
	}
	lua_pushinteger(L, n);
	return 2;
}

void tr_pattern_install(lua_State *L, tr_pattern_expired_fn expired, void *ud)
{
	static const luaL_Reg fns[] = {
		{ "find", l_string_find },
		{ "match", l_string_match },
		{ "gmatch", l_string_gmatch },
		{ "gsub", l_string_gsub },
		{ NULL, NULL },
	};
	int table = lua_absindex(L, -1);
	struct budget *b = lua_newuserdatauv(L, sizeof(*b), 0);
	b->expired = expired;
	b->ud = ud;
	b->left = CHECK_EVERY;
	for (const luaL_Reg *f = fns; f->name; f++) {
		lua_pushvalue(L, -1);
		lua_pushcclosure(L, f->func, 1);
		lua_setfield(L, table, f->name);
	}
	lua_pop(L, 1);
}
