/* Tests for daemon/pattern.c: that our string.find/match/gmatch/gsub give
 * exactly what Lua 5.4's own do (every return value, every error message) on
 * a hand-written corpus, on random patterns and on large inputs; and that the
 * budget callback stops pathological patterns in find, match, gmatch and gsub
 * within the wall-clock limit a rule is promised (SPEC §3). Not a test of the
 * sandbox or the engine: the callback here is a bare clock or counter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>
#include "tr_pattern.h"

#define BUDGET_MESSAGE "rule time budget exceeded in string pattern matching"

static double now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* A clock budget: expires limit_ms after start_ms. */
struct clock_budget {
	double start_ms;
	double limit_ms;
	unsigned long calls;
};

static int clock_expired(void *ud)
{
	struct clock_budget *b = ud;
	b->calls++;
	return now_ms() - b->start_ms >= b->limit_ms;
}

static int count_calls(void *ud)
{
	(*(unsigned long *)ud)++;
	return 0;
}

static int never_expired(void *ud)
{
	(void)ud;
	return 0;
}

/* Keeps the stock functions as string.ref_find etc., then installs ours. */
static void install_over_stock(lua_State *L, tr_pattern_expired_fn expired, void *ud)
{
	static const char *const names[] = { "find", "match", "gmatch", "gsub" };
	lua_getglobal(L, "string");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		lua_getfield(L, -1, names[i]);
		lua_pushfstring(L, "ref_%s", names[i]);
		lua_insert(L, -2);
		lua_settable(L, -3);
	}
	tr_pattern_install(L, expired, ud);
	lua_pop(L, 1);
}

static lua_State *new_state(tr_pattern_expired_fn expired, void *ud)
{
	lua_State *L = luaL_newstate();
	assert_non_null(L);
	luaL_openlibs(L);
	install_over_stock(L, expired, ud);
	return L;
}

/* Runs chunk; returns its status and leaves its first result or the error
 * message on the stack. */
static int run_chunk(lua_State *L, const char *chunk)
{
	int status = luaL_loadstring(L, chunk);
	assert_int_equal(status, LUA_OK);
	return lua_pcall(L, 0, 1, 0);
}

/* The comparison harness, in Lua. run(lib, ...) calls lib.."find" and friends
 * (lib is "ref_" for the stock library, "" for ours) and describes every
 * outcome as text: the number and type of each result, or the error message.
 * The library functions are always called through a local named `f`, so
 * argument errors name the same function for both. */
static const char harness[] =
	"local fmt = string.format\n"
	"local function val(v)\n"
	"  local t = math.type(v) or type(v)\n"
	"  if t == 'string' then return fmt('%q', v) end\n"
	"  return t .. ':' .. tostring(v)\n"
	"end\n"
	"local function describe(ok, ...)\n"
	"  local out = { ok and 'ok' or 'error', tostring(select('#', ...)) }\n"
	"  for i = 1, select('#', ...) do\n"
	"    local v = (select(i, ...))\n"
	"    out[#out + 1] = ok and val(v) or tostring(v)\n"
	"  end\n"
	"  return table.concat(out, ' ')\n"
	"end\n"
	"local function call(f, ...)\n"
	"  local r = table.pack(f(...))\n"
	"  return table.unpack(r, 1, r.n)\n"
	"end\n"
	"local function collect(f, s, p, init)\n"
	"  local it = f(s, p, init)\n"
	"  local out = {}\n"
	"  for _ = 1, 1000 do\n"
	"    local r = table.pack(it())\n"
	"    if r.n == 0 then break end\n"
	"    out[#out + 1] = describe(true, table.unpack(r, 1, r.n))\n"
	"  end\n"
	"  return table.concat(out, '; ')\n"
	"end\n"
	"local repl_table = { hello = 'HI', a = 'A', ['1'] = 'one', [1] = 'pos1',\n"
	"  [3] = 33, t = true, x = {}, f = false }\n"
	"local function repl_func(...)\n"
	"  local a = ...\n"
	"  if a == 'skip' then return nil end\n"
	"  if a == 'f' then return false end\n"
	"  if a == 't' then return {} end\n"
	"  if a == 'n' then return 7 end\n"
	"  local parts = table.pack(...)\n"
	"  for i = 1, parts.n do parts[i] = tostring(parts[i]) end\n"
	"  return '<' .. table.concat(parts, ',', 1, parts.n) .. '>'\n"
	"end\n"
	"function run(lib, s, p, init, plain, kind, repl, n)\n"
	"  local find, match = string[lib .. 'find'], string[lib .. 'match']\n"
	"  local gmatch, gsub = string[lib .. 'gmatch'], string[lib .. 'gsub']\n"
	"  local r = repl\n"
	"  if kind == 't' then r = repl_table\n"
	"  elseif kind == 'f' then r = repl_func\n"
	"  elseif kind == 'n' then r = tonumber(repl)\n"
	"  elseif kind == 'b' then r = true end\n"
	"  return table.concat({\n"
	"    'find   ' .. describe(pcall(call, find, s, p, init, plain)),\n"
	"    'match  ' .. describe(pcall(call, match, s, p, init)),\n"
	"    'gmatch ' .. describe(pcall(collect, gmatch, s, p, init)),\n"
	"    'gsub   ' .. describe(pcall(call, gsub, s, p, r, n)),\n"
	"  }, '\\n')\n"
	"end\n"
	/* Inputs too big to write out: deep recursion, many captures, long
	 * subjects (each linear, so the unbudgeted reference stays quick). */
	"function run_big(lib)\n"
	"  local a300 = ('a'):rep(300)\n"
	"  local cases = {\n"
	"    { a300, ('a?'):rep(300) },\n"
	"    { a300, ('a?'):rep(150) },\n"
	"    { a300, ('a?'):rep(198) },\n"
	"    { a300, ('a?'):rep(199) },\n"
	"    { a300, ('a?'):rep(200) },\n"
	"    { a300, '^' .. ('a?'):rep(199) },\n"
	"    { a300, ('(a?)'):rep(31) .. ('a?'):rep(150) },\n"
	"    { a300, ('a-'):rep(198) .. '$' },\n"
	"    { a300, ('a-'):rep(199) .. '$' },\n"
	"    { a300, ('(a)'):rep(32) },\n"
	"    { a300, ('(a)'):rep(33) },\n"
	"    { a300, ('()'):rep(33) },\n"
	"    { ('ab'):rep(5000), '(ab)%1' },\n"
	"    { ('ab'):rep(5000), '^(ab*)%1*' },\n"
	"    { ('x'):rep(10000) .. 'y', 'x*y' },\n"
	"    { ('x'):rep(10000) .. 'y', 'x+y$' },\n"
	"    { ('('):rep(100) .. (')'):rep(100), '%b()' },\n"
	"    { ('('):rep(100) .. (')'):rep(99), '^%b()' },\n"
	"    { ('word '):rep(2000), '%f[%w]%w+' },\n"
	"    { ('a'):rep(3000), ('a'):rep(100) },\n"
	"    { ('a'):rep(3000) .. 'b', ('a'):rep(100) .. 'b' },\n"
	"  }\n"
	"  local out = {}\n"
	"  for _, c in ipairs(cases) do\n"
	"    out[#out + 1] = run(lib, c[1], c[2], nil, nil, 's', '[%0]', nil)\n"
	"    out[#out + 1] = run(lib, c[1], c[2], 7, true, 'f', nil, 3)\n"
	"  end\n"
	"  return table.concat(out, '\\n')\n"
	"end\n";

#define NO LUA_MININTEGER  /* argument left out (passed as nil) */
#define S(lit) lit, sizeof(lit) - 1

struct pcase {
	const char *s;
	size_t ls;
	const char *p;
	size_t lp;
	lua_Integer init;  /* find/match/gmatch's 3rd argument, or NO */
	int plain;         /* find's 4th argument */
	char kind;         /* gsub replacement: 's' string, 'n' number, 't' table,
			    * 'f' function, 'b' a boolean (an argument error) */
	const char *repl;
	lua_Integer max_n; /* gsub's 4th argument, or NO */
};

#define CASE(s, p, init, plain, kind, repl, n) { S(s), S(p), init, plain, kind, repl, n }
#define C(s, p) CASE(s, p, NO, 0, 's', "<%0>", NO)
#define CI(s, p, init) CASE(s, p, init, 0, 's', "<%0>", NO)
#define CP(s, p, init) CASE(s, p, init, 1, 's', "<%0>", NO)
#define CR(s, p, repl) CASE(s, p, NO, 0, 's', repl, NO)
#define CRN(s, p, repl, n) CASE(s, p, NO, 0, 's', repl, n)
#define CT(s, p) CASE(s, p, NO, 0, 't', "", NO)
#define CF(s, p) CASE(s, p, NO, 0, 'f', "", NO)

static const struct pcase corpus[] = {
	/* literals, empty pattern, empty subject, anchors */
	C("hello world", "o"),
	C("hello world", "o w"),
	C("hello world", "l+"),
	C("hello world", ""),
	C("", ""),
	C("", "a"),
	C("", ".*"),
	C("", "^$"),
	C("", "^"),
	C("abc", "^$"),
	C("abc", "^"),
	C("abc", "$"),
	C("abc", "^abc$"),
	C("abc", "^ab"),
	C("abc", "^b"),
	C("abc", "c$"),
	C("abc", "b$"),
	C("a$b", "$b"),
	C("a$b", "a$"),
	C("a$b", "%$"),
	C("a$b", "$*b"),
	C("^a^", "a^"),
	C("^a^", "^^"),
	C("^a^a", "^a"),
	C("aaa", "^a"),
	C("a.b", "%."),
	C("a.b", "."),
	C("a+b", "a+b"),
	C("a+b", "a%+b"),
	C("hello", "ell"),
	C("a.b", "a.b"),
	/* quantifiers */
	C("aaa", "a*"),
	C("aaa", "a-"),
	C("aaa", "a-$"),
	C("aaa", "a?"),
	C("aaa", "a?a?a?a?"),
	C("baaac", "a+"),
	C("baaac", "ba*c"),
	C("bc", "ba*c"),
	C("bc", "ba+c"),
	C("bc", "ba?c"),
	C("bac", "ba?c"),
	C("baac", "ba?c"),
	C("xyz", "x.-z"),
	C("<a><b>", "<.->"),
	C("<a><b>", "<.*>"),
	C("abc", "a*"),
	C("abc", ".-"),
	C("a,b,,c", "[^,]*"),
	C("", "x*"),
	C("aaa", "(a*)"),
	C("aaa", "(a-)b"),
	C("aaab", "(a-)b"),
	C("aaab", "(a*)(a)b"),
	C("aaab", "a-(a+)b"),
	C("x+", "x++"),
	C("x?", "x??"),
	/* classes and their complements */
	C("abc123def", "%d+"),
	C("abc123def", "%D+"),
	C("  padded  ", "^%s*(.-)%s*$"),
	C("key = value", "(%w+)%s*=%s*(%w+)"),
	C("Hello World", "%u%l+"),
	C("Hello World", "%U+"),
	C("tab\tnew\nline", "%c"),
	C("tab\tnew\nline", "%C+"),
	C("a,b;c!", "%p"),
	C("a,b;c!", "%P+"),
	C("0x1F zz", "%x+"),
	C("0x1F zz", "%X+"),
	C("snake_case_id", "[%w_]+"),
	C("under_score", "%W"),
	C("visible text", "%g+"),
	C("visible text", "%G"),
	C("mixed CASE", "%L+"),
	C("a%b", "%%"),
	C("a%b", "a%%b"),
	C("za", "%z"),
	C("aZ", "%Z"),
	C("a\x7f b", "%c"),
	C("\x80\xff", "%a"),
	/* sets */
	C("a]b", "[]]"),
	C("a]b", "[^]]+"),
	C("a-b", "[a-]+"),
	C("a-b", "[-a]+"),
	C("a-b", "[%-]"),
	C("az-", "[a-z]+"),
	C("AZ09", "[A-Z0-9]+"),
	C("abc", "[^%a]"),
	C("ab1", "[^%a]"),
	C("a^b", "[%^b]+"),
	C("a^b", "[b^]+"),
	C("a^b", "[^^]+"),
	C("b-d", "[a-c-e]+"),
	C("x%y", "[%%]"),
	C("x.y", "[.]"),
	C("c", "[c-a]"),
	C("a]", "[%]]"),
	C("1a_", "[%d%a]+"),
	/* malformed patterns */
	C("]", "[]"),
	C("x", "[a"),
	C("x", "[a%"),
	C("x", "[%a"),
	C("x", "[^"),
	C("x", "["),
	C("x", "%"),
	C("x", "a%"),
	C("x", "("),
	C("x", ")"),
	C("x", "(()"),
	C("x", "x)"),
	C("x", "%1"),
	C("x", "%0"),
	C("xx", "(x)%2"),
	C("xx", "(x%1)"),
	C("x", "%b"),
	C("x", "%bx"),
	C("x", "%f"),
	C("x", "%fa"),
	C("x", "%f[a"),
	C("x", "%f[]"),
	/* captures and back-references */
	C("hello", "(h)(e)(l)(l)(o)"),
	C("hello", "()ll()"),
	C("hello", "()"),
	C("hello", "(l)()"),
	C("hello", "((l)(l))"),
	C("hello", "(h(e(l)))"),
	C("abcabc", "(abc)%1"),
	C("abab", "(a)(b)%1%2"),
	C("aa bb cc", "(%a)%1"),
	C("x = 'str' y", "(['\"])(.-)%1"),
	C("x = \"s'q\" y", "(['\"])(.-)%1"),
	C("()", "()%1"),
	C("aXa", "(.)X%1"),
	C("abc", "(a)(b)(c)(d?)"),
	C("date 2024-01-15", "(%d+)-(%d+)-(%d+)"),
	C("a", "(a)$"),
	C("a", "(a$)"),
	C("a$", "(a$)"),
	C("foo.bar.baz", "^(.-)%."),
	C("foo.bar.baz", "^(.*)%."),
	C("foo.bar.baz", "([^.]+)$"),
	C("aaaa", "(a+)%1"),
	C("abcab", "(a)(b)c%1%2"),
	/* %b */
	C("f(a(b)c)d", "%b()"),
	C("f(a(b)c", "%b()"),
	C("((", "%b()"),
	C("[[x]]", "%b[]"),
	C("\"a\"b\"", "%b\"\""),
	C("if (a) then (b) end", "%b()%s*then"),
	C("{a}{b}", "%b{}%b{}"),
	C("x(y)", "x%b()$"),
	C("x(y)*z", "%b()*"),
	C("<<>>", "%b<>"),
	C("(a)(b)", "(%b())"),
	/* %f */
	C("THE (quick) fox", "%f[%a]%a+"),
	C("THE (quick) fox", "%f[%a]%a+%f[%A]"),
	C("hello world", "%f[%w]%w+$"),
	C("end", "%f[%z]"),
	C("word", "%f[%W]"),
	C("aaa bbb", "%f[%S]"),
	C("a1b2", "%f[%d]"),
	C("", "%f[%a]"),
	C("", "%f[^%a]"),
	C("x]", "%f[]]"),
	C("THE the", "%f[%l]%a+"),
	/* init, including negative and beyond the end */
	CI("hello", "l", 4),
	CI("hello", "l", 5),
	CI("hello", "l", -1),
	CI("hello", "l", -2),
	CI("hello", "l", -100),
	CI("hello", "l", 0),
	CI("hello", "", 6),
	CI("hello", "", 7),
	CI("hello", "", 100),
	CI("hello", "^h", 1),
	CI("hello", "^e", 2),
	CI("hello", "^h", 2),
	CI("hello", "o$", -1),
	CI("hello", "()", 3),
	CI("", "", 1),
	CI("", "", 2),
	CI("", "", -1),
	CI("abc", ".", 4),
	CI("abc", "$", 4),
	CI("abc", "x", LUA_MAXINTEGER),
	CI("abc", "a", LUA_MININTEGER + 1),
	CI("a,b,,c", "([^,]*)", 1),
	CI("a,b,,c", "([^,]*)", 3),
	CI("one two three", "%a+", 5),
	CI("one two three", "%a+", -5),
	CI("xay", "^a", 2),
	CI("hello", "%f[%a]", 2),
	/* plain find, and patterns without specials */
	CP("a.b", ".", NO),
	CP("a.b", "%.", NO),
	CP("a+b", "+", NO),
	CP("abc", "", NO),
	CP("abc", "", 4),
	CP("abc", "", 5),
	CP("abc", "c", -1),
	CP("abc", "abcd", NO),
	CP("aaab", "aab", NO),
	CP("x(y)", "(y)", 2),
	CP("x^y", "^y", NO),
	CP("[a]", "[a]", NO),
	CP("abcabc", "bc", 3),
	CP("a\0b", "\0", NO),
	/* embedded NUL bytes */
	C("a\0b", "\0"),
	C("a\0b", "[\0]"),
	C("a\0b", ".\0."),
	C("a\0b", "a%\0b"),
	C("x\0", "\0$"),
	C("a\0a", "(a)\0%1"),
	C("a\0b", "%z"),
	C("\0\0x", "[^\0]"),
	/* UTF-8 subjects (patterns see bytes) */
	C("h\xc3\xa9llo w\xc3\xb6rld", "w.rld"),
	C("h\xc3\xa9llo w\xc3\xb6rld", "w..rld"),
	C("h\xc3\xa9llo", "[\xc3][\x80-\xbf]"),
	C("日本語テキスト", "本"),
	C("日本語テキスト", "本."),
	C("日本語テキスト", "[\x80-\xbf]+"),
	C("こんにちは", "^[\xe3][\x81-\x82][\x80-\xbf]"),
	C("naïve café", "%a+"),
	C("naïve café", "[\x01-\x7f\xc2-\xf4][\x80-\xbf]*"),
	C("ümlaut", "[\xc0-\xff][\x80-\xbf]*"),
	CI("日本語", "語", -3),
	CI("日本語", ".", -2),
	C("emoji \xf0\x9f\x98\x80!", "\xf0\x9f\x98\x80"),
	C("emoji \xf0\x9f\x98\x80!", "%p"),
	C("店铺：旗舰店", "：(.*)$"),
	/* gsub with a string replacement */
	CR("hello world", "o", "0"),
	CR("hello world", "(o)", "[%1]"),
	CR("hello world", "%w+", "%0 %0"),
	CR("hello world", "(%w+) (%w+)", "%2 %1"),
	CR("hello", "", "-"),
	CR("", "", "x"),
	CR("abc", "%w", "%%"),
	CR("abc", "%w", "%"),
	CR("abc", "%w", "%x"),
	CR("abc", "(%w)", "%2"),
	CR("abc", "%w", "%1"),
	CR("abc", "%w", "%2"),
	CR("abc", "()", "%1"),
	CR("abc", "()b()", "%2-%1"),
	CR("abc", "(", "x"),
	CR("abc", "(b", "%1"),
	CR("hello world", "^h", "H"),
	CR("hello hello", "^hello", "bye"),
	CR("hello", "^", ">"),
	CR("hello", "$", "<"),
	CR("hello", "l*", "L"),
	CR("hello", "x*", "-"),
	CR("abc", ".-", "-"),
	CR("a b c", " ", ""),
	CR("path/to/file", "/", "\\"),
	CR("abc", "b", "%0%0%%%0"),
	CR("abc", "(a)(b)(c)", "%3%2%1%0"),
	CR("abc", "x", "%9"),
	/* gsub's max-n */
	CRN("aaaa", "a", "b", 2),
	CRN("aaaa", "a", "b", 0),
	CRN("aaaa", "a", "b", -1),
	CRN("aaaa", "a", "b", 10),
	CRN("aaaa", "", "-", 3),
	CRN("a b c d", "%a", "X", 3),
	CRN("hello", "^h", "J", 5),
	CRN("hello", "x", "J", 1),
	/* gsub with a number, a table, a function, a bad type */
	CASE("abc", "b", NO, 0, 'n', "42", NO),
	CASE("abc", "b", NO, 0, 'n', "4.5", NO),
	CASE("abc", "b", NO, 0, 'b', "", NO),
	CT("hello world", "%w+"),
	CT("a b t", "%w"),
	CT("t", "t"),
	CT("x", "x"),
	CT("f a", "%w"),
	CT("1 2 3", "%d"),
	CT("abc", "()a"),
	CT("abc", "()c"),
	CT("aaa", "(a)(a)"),
	CT("nothing", "z"),
	CF("hello world", "%w+"),
	CF("hello world", "(%w)(%w*)"),
	CF("a skip b", "%w+"),
	CF("f", "f"),
	CF("t", "t"),
	CF("n", "n"),
	CF("abc", "()"),
	CF("", ""),
	CF("abc", "x"),
	CF("abc", "(a)(b)()"),
	CASE("a b c", "%a", NO, 0, 'f', "", 2),
	CASE("a b c", "%a", NO, 0, 't', "", 1),
	/* arguments of other types */
	CASE("12345", "3", NO, 0, 's', "x", NO),
	CASE("abc", "b", 2, 1, 's', "", 1),
};

/* Pushes the value for one optional integer argument. */
static void push_opt_integer(lua_State *L, lua_Integer v)
{
	if (v == NO)
		lua_pushnil(L);
	else
		lua_pushinteger(L, v);
}

/* Pushes run(lib, case...)'s description of the case. */
static void describe_case(lua_State *L, const char *lib, const struct pcase *c)
{
	lua_getglobal(L, "run");
	lua_pushstring(L, lib);
	lua_pushlstring(L, c->s, c->ls);
	lua_pushlstring(L, c->p, c->lp);
	push_opt_integer(L, c->init);
	lua_pushboolean(L, c->plain);
	lua_pushlstring(L, &c->kind, 1);
	lua_pushstring(L, c->repl);
	push_opt_integer(L, c->max_n);
	assert_int_equal(lua_pcall(L, 8, 1, 0), LUA_OK);
}

/* Compares the two descriptions on top of the stack, pops them; returns 1 when
 * they differ (after printing both). */
static int differ(lua_State *L, const char *label)
{
	size_t la, lb;
	const char *a = lua_tolstring(L, -2, &la);
	const char *b = lua_tolstring(L, -1, &lb);
	int bad = la != lb || memcmp(a, b, la) != 0;
	if (bad)
		print_message("MISMATCH %s\n--- stock Lua:\n%s\n--- ours:\n%s\n", label, a, b);
	lua_pop(L, 2);
	return bad;
}

/* Setup and teardown of the equivalence tests: a state with both libraries
 * and the harness, closed even when a test fails. */
static int harness_setup(void **state)
{
	lua_State *L = new_state(never_expired, NULL);
	*state = L;
	return luaL_dostring(L, harness);
}

static int harness_teardown(void **state)
{
	lua_close(*state);
	return 0;
}

static void test_equivalence_corpus(void **state)
{
	lua_State *L = *state;
	size_t n = sizeof(corpus) / sizeof(corpus[0]);
	int mismatches = 0;
	assert_true(n >= 150);
	for (size_t i = 0; i < n; i++) {
		char label[160];
		snprintf(label, sizeof(label), "case %zu: pattern %.*s", i,
			 (int)corpus[i].lp, corpus[i].p);
		describe_case(L, "ref_", &corpus[i]);
		describe_case(L, "", &corpus[i]);
		mismatches += differ(L, label);
	}
	assert_int_equal(lua_gettop(L), 0);
	assert_int_equal(mismatches, 0);
}

static void test_equivalence_large(void **state)
{
	lua_State *L = *state;
	lua_getglobal(L, "run_big");
	lua_pushstring(L, "ref_");
	assert_int_equal(lua_pcall(L, 1, 1, 0), LUA_OK);
	lua_getglobal(L, "run_big");
	lua_pushstring(L, "");
	assert_int_equal(lua_pcall(L, 1, 1, 0), LUA_OK);
	/* the big cases do hit the limits they are there for */
	assert_non_null(strstr(lua_tostring(L, -1), "pattern too complex"));
	assert_non_null(strstr(lua_tostring(L, -1), "too many captures"));
	assert_int_equal(differ(L, "large inputs"), 0);
}

/* Small deterministic generator, so a failure reproduces. */
static uint32_t next_random(uint32_t *seed)
{
	*seed = *seed * 1103515245u + 12345u;
	return (*seed >> 16) & 0x7fff;
}

/* Random short patterns from pattern-ish pieces (many of them malformed on
 * purpose) against random short subjects. Kept short so the stock matcher,
 * which has no budget, cannot blow up. */
static void test_equivalence_random(void **state)
{
	static const char *const pieces[] = {
		"a", "b", ".", "%a", "%d", "%s", "%W", "[ab]", "[^a]", "[a-c]", "(", ")",
		"()", "*", "+", "-", "?", "^", "$", "%b()", "%f[%w]", "%f[^a]", "%1",
		"%2", "%", "[", "]", "x", " ", "%%", "\xc3\xa9",
	};
	static const char alphabet[] = "aab b(x)1 .%\xc3\xa9";
	static const char *const repls[] = { "<%0>", "%1", "%2%1", "%%", "-", "%" };
	const size_t npieces = sizeof(pieces) / sizeof(pieces[0]);
	lua_State *L = *state;
	uint32_t seed = 20240915;
	int mismatches = 0;
	for (int i = 0; i < 3000; i++) {
		char subject[16], pattern[64];
		size_t ls = next_random(&seed) % 11, lp = 0;
		for (size_t k = 0; k < ls; k++)
			subject[k] = alphabet[next_random(&seed) % (sizeof(alphabet) - 1)];
		int items = (int)(next_random(&seed) % 6);
		pattern[0] = '\0';
		for (int k = 0; k < items; k++) {
			const char *piece = pieces[next_random(&seed) % npieces];
			lp += (size_t)snprintf(pattern + lp, sizeof(pattern) - lp, "%s", piece);
		}
		struct pcase c = {
			.s = subject, .ls = ls, .p = pattern, .lp = lp,
			.init = (lua_Integer)(next_random(&seed) % 15) - 7,
			.plain = next_random(&seed) % 8 == 0,
			.kind = "sstf"[next_random(&seed) % 4],
			.repl = repls[next_random(&seed) % (sizeof(repls) / sizeof(repls[0]))],
			.max_n = next_random(&seed) % 3 == 0 ? (lua_Integer)(next_random(&seed) % 4) : NO,
		};
		char label[128];
		snprintf(label, sizeof(label), "random %d: subject %.*s pattern %s", i,
			 (int)ls, subject, pattern);
		describe_case(L, "ref_", &c);
		describe_case(L, "", &c);
		mismatches += differ(L, label);
	}
	assert_int_equal(mismatches, 0);
}

/* Runs chunk under a budget that expires after 50 ms and asserts it fails
 * with the budget error well within the 250 ms a caller can afford. */
static void expect_budget_stop(const char *chunk)
{
	struct clock_budget b = { .limit_ms = 50 };
	lua_State *L = new_state(clock_expired, &b);
	b.start_ms = now_ms();
	int status = run_chunk(L, chunk);
	double elapsed = now_ms() - b.start_ms;
	assert_int_equal(status, LUA_ERRRUN);
	assert_non_null(strstr(lua_tostring(L, -1), BUDGET_MESSAGE));
	assert_true(elapsed >= 50);
	assert_true(elapsed < 250);
	lua_pop(L, 1);
	/* the state is still usable, and the stack balanced */
	assert_int_equal(run_chunk(L, "return (string.find('hello', 'l+'))"), LUA_OK);
	assert_int_equal(lua_tointeger(L, -1), 3);
	lua_pop(L, 1);
	assert_int_equal(lua_gettop(L), 0);
	lua_close(L);
}

static void test_pathological_find(void **state)
{
	(void)state;
	expect_budget_stop("return string.find(('a'):rep(600), '.-.-.-.-b')");
}

static void test_pathological_match(void **state)
{
	(void)state;
	expect_budget_stop("return ('a'):rep(600):match('(.-)(.-)(.-)(.-)b')");
}

static void test_pathological_gsub(void **state)
{
	(void)state;
	expect_budget_stop("return string.gsub(('a'):rep(600), '.-.-.-.-b', 'x')");
	expect_budget_stop("return string.gsub(('a'):rep(600), 'a*a*a*a*b', function() end)");
}

static void test_pathological_gmatch(void **state)
{
	(void)state;
	expect_budget_stop("for w in string.gmatch(('a'):rep(600), '.-.-.-.-b') do end");
	expect_budget_stop("local it = string.gmatch(('a'):rep(600), 'a-a-a-a-b', 2) return it()");
}

/* A rule catching the budget error with pcall still cannot get past it:
 * every further pattern call fails while the callback says expired. */
static void test_budget_error_is_catchable_and_sticky(void **state)
{
	(void)state;
	struct clock_budget b = { .limit_ms = 50 };
	lua_State *L = new_state(clock_expired, &b);
	b.start_ms = now_ms();
	int status = run_chunk(L,
		"local ok, err = pcall(string.find, ('a'):rep(600), '.-.-.-.-b')\n"
		"assert(not ok and err:find('budget', 1, true))\n"
		"ok, err = pcall(string.gsub, ('a'):rep(600), '.-.-.-.-b', '')\n"
		"assert(not ok and err:find('budget', 1, true))\n"
		"return 'both stopped'");
	assert_int_equal(status, LUA_OK);
	assert_string_equal(lua_tostring(L, -1), "both stopped");
	assert_true(now_ms() - b.start_ms < 250);
	lua_close(L);
}

/* The callback is asked during a long match (that then completes normally),
 * and steps add up across many small calls too. */
static void test_callback_counted(void **state)
{
	(void)state;
	unsigned long calls = 0;
	lua_State *L = new_state(count_calls, &calls);
	assert_int_equal(run_chunk(L, "return string.find(('a'):rep(200), '.-.-b')"), LUA_OK);
	assert_true(lua_isnil(L, -1));
	lua_pop(L, 1);
	assert_true(calls >= 100);  /* ~1.4 million steps: one call per 1024 */

	unsigned long before = calls;
	assert_int_equal(run_chunk(L,
		"local n = 0\n"
		"for i = 1, 20000 do\n"
		"  if string.find('key=value', '=') then n = n + 1 end\n"
		"  n = n + select(2, string.gsub('a b', '%a', '')) \n"
		"end\n"
		"return n"), LUA_OK);
	assert_int_equal(lua_tointeger(L, -1), 60000);
	lua_pop(L, 1);
	assert_true(calls > before);
	lua_close(L);
}

/* Runs chunk and returns how often the callback was asked meanwhile. */
static unsigned long calls_during(lua_State *L, unsigned long *calls, const char *chunk)
{
	unsigned long before = *calls;
	assert_int_equal(run_chunk(L, chunk), LUA_OK);
	lua_pop(L, 1);
	return *calls - before;
}

/* A single match() call doing a long linear scan (a %b run, a '*' run, a
 * plain find) still reaches the callback: about once per 1024 bytes. */
static void test_long_subject_budgeted(void **state)
{
	(void)state;
	unsigned long calls = 0;
	lua_State *L = new_state(count_calls, &calls);
	assert_int_equal(run_chunk(L, "s = ('('):rep(1 << 22)"), LUA_OK);
	lua_pop(L, 1);
	assert_true(calls_during(L, &calls, "assert(not s:find('^%b()'))") >= 4000);
	assert_true(calls_during(L, &calls, "assert(s:find('^(.*)$'))") >= 4000);
	assert_true(calls_during(L, &calls,
		"assert(not s:find(('('):rep(64) .. ')', 1, true))") >= 4000);
	lua_close(L);
}

/* gmatch iterators keep what they need alive even if the string table's
 * functions (and so their upvalues) are dropped. */
static void test_gmatch_outlives_table(void **state)
{
	(void)state;
	lua_State *L = new_state(never_expired, NULL);
	assert_int_equal(run_chunk(L,
		"local it = string.gmatch('a b c', '%a')\n"
		"string.find, string.match, string.gmatch, string.gsub = nil\n"
		"collectgarbage() collectgarbage()\n"
		"return it() .. it() .. it() .. tostring((it()))"), LUA_OK);
	assert_string_equal(lua_tostring(L, -1), "abcnil");
	lua_close(L);
}

/* An allocator with a ceiling, like the sandbox's. */
struct capped {
	size_t used, cap;
};

static void *capped_alloc(void *ud, void *ptr, size_t osize, size_t nsize)
{
	struct capped *c = ud;
	size_t old = ptr ? osize : 0;
	if (nsize == 0) {
		free(ptr);
		c->used -= old;
		return NULL;
	}
	if (nsize > old && c->used + (nsize - old) > c->cap)
		return NULL;
	void *p = realloc(ptr, nsize);
	if (p)
		c->used = c->used - old + nsize;
	return p;
}

/* gsub's result grows through the Lua allocator: a rule that builds too much
 * gets a memory error, and nothing leaks (ASan checks the C side). */
static void test_gsub_memory_capped(void **state)
{
	(void)state;
	struct capped c = { 0, 8u << 20 };
	lua_State *L = lua_newstate(capped_alloc, &c);
	assert_non_null(L);
	luaL_openlibs(L);
	lua_getglobal(L, "string");
	tr_pattern_install(L, never_expired, NULL);
	lua_pop(L, 1);
	int status = run_chunk(L,
		"return string.gsub(('a'):rep(100000), 'a', ('b'):rep(200))");
	assert_int_equal(status, LUA_ERRMEM);
	lua_pop(L, 1);
	assert_int_equal(run_chunk(L, "return (string.gsub('abc', 'b', 'B'))"), LUA_OK);
	assert_string_equal(lua_tostring(L, -1), "aBc");
	lua_close(L);
	assert_int_equal(c.used, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_equivalence_corpus, harness_setup, harness_teardown),
		cmocka_unit_test_setup_teardown(test_equivalence_large, harness_setup, harness_teardown),
		cmocka_unit_test_setup_teardown(test_equivalence_random, harness_setup, harness_teardown),
		cmocka_unit_test(test_pathological_find),
		cmocka_unit_test(test_pathological_match),
		cmocka_unit_test(test_pathological_gsub),
		cmocka_unit_test(test_pathological_gmatch),
		cmocka_unit_test(test_budget_error_is_catchable_and_sticky),
		cmocka_unit_test(test_callback_counted),
		cmocka_unit_test(test_long_subject_budgeted),
		cmocka_unit_test(test_gmatch_outlives_table),
		cmocka_unit_test(test_gsub_memory_capped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
