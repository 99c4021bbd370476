"""Hostile rules against the real daemon (SPEC §3 isolation and budgets,
§5 sandbox). Each case is one rule a hostile or careless author could
write: proxies handed to the bindings, writes through the read-only
library tables, slow library calls in a loop, memory kept between events,
floods of log lines and timers, and the classic escapes. For every case
the test asserts the outcome (status and message), that the run stopped
within limits.rule_time_ms + 100 ms, that the next event is processed by a
rule in another file that finds every library intact, that the loop kept
answering pings meanwhile, and that the daemon's memory stays bounded."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon  # noqa: E402

TIME_MS = 200
SLACK_MS = 100          # SPEC §3: a run stops within rule_time_ms + 100 ms
MEMORY_MB = 32
STATE_MB = 96
RSS_BOUND_MB = 400      # state cap + one run's budget + SQLite and the loop, with room

CONFIG = (f"limits: {{ rule_time_ms: {TIME_MS}, rule_memory_mb: {MEMORY_MB}, "
          f"lua_state_mb: {STATE_MB}, rule_log_lines: 20, rule_timers: 50 }}\n")

# A proxy whose every field is computed by rule code: the shape that made
# ticket.open read freed memory.
PROXY = 'setmetatable({}, {__index = function(_, k) return k .. math.random() end})'
# An empty table claiming 2^24 - 1 elements, just under the table library's cap.
LONG = 'setmetatable({}, {__len = function() return (1 << 24) - 1 end})'
# The same, read and written through C functions: a loop over it runs no VM
# instruction at all (rawlen(t, k) is 0, rawequal(t, k, v) stores nothing).
LONG_C = ('setmetatable({}, {__len = function() return (1 << 24) - 1 end, '
          '__index = rawlen, __newindex = rawequal})')

# (name, action body, expected status, text the error must contain)
# "budget" matches the instruction, memory and time budgets alike.
CASES = [
    # bindings read option tables as plain data
    ("proxy_open", f"ticket.open({PROXY})", "error", "plain table"),
    ("proxy_open_fields", f"ticket.open{{ key = 'k1', title = 't', fields = {PROXY} }}", "ok", None),
    ("proxy_nudge", f"ticket.open{{ key = 'k2', title = 't' }}:nudge({PROXY})", "error", "plain table"),
    ("proxy_escalate", f"ticket.open{{ key = 'k3', title = 't' }}:escalate({PROXY})", "error", "plain table"),
    ("proxy_set", f"ticket.open{{ key = 'k4', title = 't' }}:set({PROXY})", "error", "plain table"),
    ("proxy_schedule", f"schedule({PROXY})", "error", "plain table"),
    ("proxy_schedule_event", f"schedule{{ after = '1h', event = {PROXY} }}", "error", "plain table"),
    ("proxy_state_incr", f"state.incr('k', {PROXY})", "error", "plain table"),
    ("number_key", "ticket.open{ key = 12345, title = 't' }", "error", "must be a string"),
    ("table_title", "ticket.open{ key = 'k5', title = {} }", "error", "must be a string"),
    ("nul_key", "ticket.open{ key = 'a\\0b', title = 't' }", "error", "NUL"),
    ("nul_find", "ticket.find('a\\0b')", "error", "NUL"),
    ("nul_state_key", "state.set('a\\0b', 1)", "error", "NUL"),
    ("nul_comment", "ticket.open{ key = 'k6', title = 't' }:comment('a\\0b')", "error", "NUL"),
    ("nul_field_key", "ticket.open{ key = 'k7', title = 't', fields = { ['a\\0'] = 1 } }", "error", "NUL"),
    ("nul_field_value", "ticket.open{ key = 'k8', title = 't', fields = { a = 'x\\0y' } }", "error", "NUL"),
    ("tostring_trap_in_fields",
     "ticket.open{ key = 'k9', title = 't', fields = { x = setmetatable({}, "
     "{ __tostring = function() while true do end end }) } }", "ok", None),
    # what one rule could change for all
    ("pairs_ticket_write", "local _, real = pairs(ticket); real.open = nil", "error", "read-only"),
    ("pairs_G_write", "local _, real = pairs(_G); real.tostring = nil", "error", "read-only"),
    ("pairs_string_write", "local _, real = pairs(string); real.upper = function() return 'pwned' end",
     "error", "read-only"),
    ("pairs_iterate", "local n = 0; for k, v in pairs(string) do n = n + 1 end; assert(n > 10)", "ok", None),
    ("next_on_proxy", "assert(next(string) == nil); assert(rawget(string, 'upper') == nil)", "ok", None),
    ("string_metatable", "getmetatable('').__index.upper = nil", "error", "boolean"),
    ("G_assign", "_G.tostring = nil", "error", "read-only"),
    ("library_assign", "string.upper = function() return 'pwned' end", "error", "read-only"),
    ("env_metatable", "setmetatable(_ENV, nil)", "error", "protected metatable"),
    ("ticket_metatable", "getmetatable(ticket.open{ key = 'k10', title = 't' }).methods = {}", "error",
     "boolean"),
    ("rawset_absent", "rawset(string, 'upper', nil)", "error", "rawset"),
    ("load_writes_base", "load('string.upper = nil')()", "error", "read-only"),
    ("load_env_base", "local f = load('return _G'); f().print = nil", "error", "read-only"),
    ("finalizer", "setmetatable({}, { __gc = function() end })", "error", "finalizers"),
    # the classic escapes
    ("io_open", "io.open('/etc/passwd')", "error", "io"),
    ("os_execute", "os.execute('true')", "error", "execute"),
    ("package_loadlib", "package.loadlib('libc.so.6', 'system')", "error", "package"),
    ("binary_chunk", "assert(load('\\27Lua', 'x', 'b'))", "error", "text chunks"),
    ("string_dump", "string.dump(function() end)", "error", "dump"),
    ("debug_lib", "debug.getregistry()", "error", "debug"),
    ("require_escape", "require('../../etc/passwd')", "error", "invalid module name"),
    ("collectgarbage", "collectgarbage('stop')", "error", "collectgarbage"),
    ("coroutine", "coroutine.wrap(function() end)()", "error", "coroutine"),
    ("dofile", "dofile('/etc/passwd')", "error", "dofile"),
    # time inside library calls: every one stops on the clock
    ("sort_c_index", f"table.sort({LONG_C})", "error", "budget"),
    ("sort_numbers", "local t = table.pack(string.byte(('ab'):rep(150000), 1, -1)); t.n = nil\n"
     "  for i = 1, 50 do table.sort(t, nil) end", "error", "budget"),
    ("sort_lua_lt", "local t = table.pack(string.byte(('ab'):rep(150000), 1, -1)); t.n = nil\n"
     "  table.sort(t, function(a, b) return a > b end)", "error", "budget"),
    ("concat_c_index", f"table.concat({LONG_C})", "error", "budget"),
    ("concat_numbers", "local t = table.pack(string.byte(('ab'):rep(150000), 1, -1)); t.n = nil\n"
     "  for i = 1, 100 do table.concat(t, ',') end", "error", "budget"),
    ("insert_long", f"local t = {LONG}; for i = 1, 100 do table.insert(t, 1, 'x') end", "error", "budget"),
    ("remove_long", f"local t = {LONG}; for i = 1, 100 do table.remove(t, 1) end", "error", "budget"),
    ("unpack_huge", "table.unpack({}, 1, 1e8)", "error", "too many results"),
    ("move_huge", "table.move({}, 1, 1 << 40, 2)", "error", "budget"),
    ("rep_huge", "local s = ('x'):rep(1 << 30)", "error", "memory"),
    ("rep_empty", "local s = (''):rep(1e12)", "ok", None),
    ("rep_loop", "for i = 1, 1e6 do local s = ('x'):rep(4 << 20) end", "error", "budget"),
    ("upper_loop", "local s = ('x'):rep(4 << 20); for i = 1, 1e6 do s:upper() end", "error", "budget"),
    ("reverse_loop", "local s = ('x'):rep(4 << 20); for i = 1, 1e6 do s:reverse() end", "error", "budget"),
    ("date_format_huge", "os.date(('%c'):rep(1e6))", "error", "format longer"),
    ("date_loop", "for i = 1, 1e6 do os.date('%c %x %X %Y') end", "error", "budget"),
    ("load_huge", "load(('x = 1 '):rep(1e6))", "error", "limit for rules"),
    ("load_loop", "local src = ('local x = 1 '):rep(20000); for i = 1, 1e5 do load(src) end",
     "error", "budget"),
    ("pattern_backtrack", "string.find(('a'):rep(600), '.-.-.-.-b')", "error", "budget"),
    ("gsub_loop", "local s = ('a'):rep(1 << 20); for i = 1, 1e6 do s:gsub('a', 'b') end", "error", "budget"),
    ("format_loop", "local s = ('x'):rep(4 << 20); for i = 1, 1e6 do ('%s'):format(s) end", "error",
     "budget"),
    ("utf8_len_loop", "local s = ('\\u{e9}'):rep(2 << 20); for i = 1, 1e6 do utf8.len(s) end", "error",
     "budget"),
    ("byte_slice", "string.byte(('x'):rep(8 << 20), 1, -1)", "error", "string slice too long"),
    # budgets that pcall cannot swallow
    ("pcall_swallow", "while true do pcall(function() while true do end end) end", "error", "budget"),
    ("xpcall_handler_spins", "xpcall(error, function() while true do end end)", "error", "budget"),
    ("error_tostring_spins",
     "error(setmetatable({}, { __tostring = function() while true do end end }))", "error", "budget"),
    ("tail_call_forever", "local function f() return f() end; f()", "error", "budget"),
    ("deep_recursion", "local function f() return 1 + f() end; f()", "error", ""),
    ("alloc_table", "local t = {}; for i = 1, 1e9 do t[i] = ('x'):rep(1 << 16) .. i end", "error",
     "budget"),
    # floods
    ("log_flood", "for i = 1, 1e5 do log.info(('x'):rep(1e5)) end", "any", None),
    ("print_flood", "for i = 1, 1e5 do print(i) end", "any", None),
    ("timer_flood", "for i = 1, 1000 do schedule{ after = '1h', event = { type = 'x.later' } } end",
     "error", "limits.rule_timers"),
    ("nudge_flood", "local t = ticket.open{ key = 'k11', title = 't' }\n"
     "  for i = 1, 1000 do t:nudge{ after = '1h', note = 'n' } end", "error", "limits.rule_timers"),
    # last: it shadows the libraries for the rest of its own file, and only there
    ("shadow_own_file", "string = { upper = function() return 'pwned' end }; ticket = nil", "ok", None),
]

# Every C function the sandbox exposes, called for ever with a large input:
# each loop must stop on a budget within rule_time_ms + 100 ms. S is a
# 4 MiB string, T a list of 200,000 numbers, U 200,000 two-byte characters,
# P a packed copy of S (defined at the top of the file: see LOOP_PRELUDE).
WORST = {
    "assert": "assert(S)", "error": "pcall(error, S)", "ipairs": "for _ in ipairs(T) do end",
    "next": "next(T)", "pairs": "for _ in pairs(T) do end", "rawequal": "rawequal(S, S)",
    "rawget": "rawget(T, 100000)", "rawlen": "rawlen(T)", "select": "select('#', table.unpack(T))",
    "setmetatable": "setmetatable({}, {})", "getmetatable": "getmetatable(S)",
    "tonumber": "tonumber(S)", "tostring": "tostring(T)", "type": "type(S)",
    "pcall": "pcall(string.upper, S)", "xpcall": "xpcall(string.upper, tostring, S)",
    "load": "load(SRC)", "require": "pcall(require, 'absent')", "print": "print(S)",
    "string.byte": "S:byte(1, 200000)", "string.char": "string.char(table.unpack(T, 1, 100000))",
    "string.find": "S:find('y', 1, true)", "string.format": "('%s%s'):format(S, S)",
    "string.gmatch": "for _ in S:gmatch('xxxxxxxx') do end", "string.gsub": "S:gsub('x', 'y')",
    "string.len": "S:len()", "string.lower": "S:lower()", "string.match": "S:match('.-y')",
    "string.rep": "('ab'):rep(1 << 20)", "string.reverse": "S:reverse()", "string.sub": "S:sub(2)",
    "string.upper": "S:upper()", "string.pack": "string.pack('s4', S)",
    "string.packsize": "string.packsize('i16i16i16')", "string.unpack": "string.unpack('s4', P)",
    "table.concat": "table.concat(T, ',')", "table.insert": "table.insert(T, 1, 0)",
    "table.move": "table.move(T, 1, #T, 2, {})", "table.pack": "table.pack(table.unpack(T))",
    "table.remove": "table.remove(T, 1)", "table.sort": "table.sort(T)",
    "table.unpack": "table.unpack(T)", "math.max": "math.max(table.unpack(T))",
    "math.random": "math.random()", "math.floor": "math.floor(1.5)",
    "utf8.char": "utf8.char(table.unpack(T, 1, 100000))", "utf8.codepoint": "utf8.codepoint(U, 1, 200000)",
    "utf8.codes": "for _ in utf8.codes(U) do end", "utf8.len": "utf8.len(U)",
    "utf8.offset": "utf8.offset(U, 200000)", "os.time": "os.time()", "os.date": "os.date('%c')",
    "os.clock": "os.clock()", "os.difftime": "os.difftime(2, 1)",
    "ticket.find": "ticket.find(S:sub(1, 200))", "ticket.get": "ticket.get(1)",
    "state.get": "state.get('k')", "state.set": "state.set('k', S:sub(1, 100000))",
    "state.incr": "state.incr('k')", "time.now": "time.now()",
    "time.format": "time.format(0, 'Asia/Shanghai')",
    "time.parse": "time.parse('2026-11-24 09:00', 'Asia/Tokyo')", "time.add": "time.add(0, '3d')",
    "log.info": "log.info(S)", "has_output": "has_output('lead')", "param": "param('x', 1)",
    "ticket.open": "ticket.open{ key = 'loop', title = S:sub(1, 1000) }",
}
LOOP_PRELUDE = r"""
S = ("x"):rep(4 << 20)
T = table.pack(string.byte(("ab"):rep(100000), 1, -1)); T.n = nil
U = ("\u{e9}"):rep(200000)
P = string.pack("s4", S)
SRC = ("local x = 1 "):rep(20000)
"""


def loop_rules():
    out = [LOOP_PRELUDE]
    for fn, call in WORST.items():
        name = "loop_" + fn.replace(".", "_")
        out.append(f'rule {{ name = "{name}", on = "{event_type(name)}", action = function(ev)\n'
                   f'  while true do {call} end\nend }}\n')
    return "".join(out)


# Lua globals kept between events grow until the state cap rebuilds them.
GROWER = f'''
rule {{ name = "grow", on = "hostile.grow", action = function(ev)
  kept = kept or {{}}
  kept[#kept + 1] = ("x"):rep(8 << 20) .. ev.id
  ticket.open {{ key = "grow:" .. ev.id, title = tostring(#kept) }}
end }}
'''

# Lives in a file of its own: what the hostile file did to its own globals
# must not reach it.
CANARY = r'''
rule { name = "canary", on = "hostile.next", action = function(ev)
  local broken = {}
  local function check(name, ok) if not ok then broken[#broken + 1] = name end end
  check("string.upper", string.upper("a") == "A")
  check("method upper", ("b"):upper() == "B")
  check("tostring", tostring(12) == "12")
  check("ticket.open", type(ticket.open) == "function")
  check("print", type(print) == "function")
  check("table.sort", type(table.sort) == "function")
  local t = {3, 1, 2}; table.sort(t); check("sorted", t[1] == 1 and t[3] == 3)
  check("concat", table.concat({"a", "b"}, "-") == "a-b")
  check("pairs", type(pairs) == "function" and type(next) == "function")
  check("os.time", type(os.time) == "function")
  ticket.open { key = "next:" .. ev.id, title = #broken == 0 and "intact" or table.concat(broken, ",") }
end }
'''


def event_type(name):
    return "hostile." + name.lower()


def hostile_rules():
    out = []
    for name, body, _, _ in CASES:
        out.append(f'rule {{ name = "{name}", on = "{event_type(name)}", action = function(ev)\n'
                   f'  {body}\nend }}\n')
    return "".join(out)


# A sanitizer build holds freed memory back for a while (its quarantine):
# keep that small, and allow for its shadow memory in the bounds.
QUIET_ENV = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8"}


def sanitized(pid):
    with open(f"/proc/{pid}/maps") as f:
        return "libasan" in f.read()


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0


class Pinger(threading.Thread):
    """Pings on its own connection all along; keeps the slowest answer."""

    def __init__(self, d):
        super().__init__(daemon=True)
        self.client = d.client()
        self.stop = threading.Event()
        self.worst = 0.0

    def run(self):
        while not self.stop.is_set():
            t0 = time.monotonic()
            assert self.client.request({"op": "ping"})["ok"]
            self.worst = max(self.worst, time.monotonic() - t0)
            time.sleep(0.02)


class HostileRules(unittest.TestCase):
    def test_every_hostile_rule_is_stopped_and_the_next_event_runs(self):
        self.assertGreaterEqual(len(CASES), 60)
        self.assertGreaterEqual(len(WORST), 60)
        rules = {"50-hostile.lua": hostile_rules(), "55-loops.lua": loop_rules(), "60-canary.lua": CANARY}
        cases = CASES + [("loop_" + fn.replace(".", "_"), None, "error", "budget") for fn in WORST]
        with Daemon(rules=rules, shipped=False, config=CONFIG, durability="normal", env=QUIET_ENV) as d:
            rss_bound = RSS_BOUND_MB * (2 if sanitized(d.proc.pid) else 1)
            pinger = Pinger(d)
            pinger.start()
            failures = []
            for name, _, want, needle in cases:
                t0 = time.monotonic()
                r = d.ingest([{"type": event_type(name), "id": "1"}])
                wall = time.monotonic() - t0
                self.assertEqual(r.get("accepted"), 1, (name, r))
                [o] = d.request({"op": "explain", "type": event_type(name), "event_id": "1"})["outcomes"]
                took_ms = o["duration_us"] / 1000
                problems = []
                if want != "any" and o["status"] != want:
                    problems.append(f"status {o['status']} ({o.get('error')}), want {want}")
                if want == "error" and needle is not None and needle not in (o.get("error") or ""):
                    problems.append(f"error {o.get('error')!r} lacks {needle!r}")
                if took_ms > TIME_MS + SLACK_MS:
                    problems.append(f"ran {took_ms:.0f} ms, budget {TIME_MS} + {SLACK_MS} ms")
                if wall > 2:
                    problems.append(f"the ingest took {wall:.1f} s")
                d.ingest([{"type": "hostile.next", "id": name}])
                [t] = [t for t in d.tickets() if t["key"] == f"next:{name}"] or [None]
                if not t or t["title"] != "intact":
                    problems.append(f"the next event found: {t and t['title']}")
                rss = rss_mb(d.proc.pid)
                if rss > rss_bound:
                    problems.append(f"RSS {rss:.0f} MB")
                if problems:
                    failures.append(f"{name}: " + "; ".join(problems))
            pinger.stop.set()
            pinger.join()
            self.assertEqual(failures, [], "\n".join(failures))
            # the loop kept answering while each hostile rule ran
            self.assertLess(pinger.worst, (TIME_MS + SLACK_MS) / 1000 + 0.5)
            # one event's flood left a bounded trace in the journal
            log = d.log()
            self.assertLess(log.count("rule log_flood (hostile.log_flood 1):"), 25)
            self.assertIn("more log lines dropped", log)

    def test_lua_state_kept_between_events_is_capped_and_rebuilt(self):
        with Daemon(rules={"50-grow.lua": GROWER}, shipped=False, config=CONFIG,
                    durability="normal", env=QUIET_ENV) as d:
            base = rss_mb(d.proc.pid)
            statuses = []
            for i in range(40):
                d.ingest([{"type": "hostile.grow", "id": str(i)}])
                [o] = d.request({"op": "explain", "type": "hostile.grow", "event_id": str(i)})["outcomes"]
                statuses.append(o["status"])
                self.assertLess(rss_mb(d.proc.pid), base + 2 * STATE_MB + MEMORY_MB, i)
            # 40 x 8 MiB kept would be 320 MiB; the state was rebuilt instead
            self.assertIn("Lua state was rebuilt", d.log())
            counts = [int(t["title"]) for t in d.tickets() if t["key"].startswith("grow:")]
            self.assertLess(max(counts), STATE_MB // 8 + 1)
            self.assertEqual(statuses.count("ok"), len(counts))
            self.assertGreater(statuses.count("ok"), 30)

    def test_a_schedule_storm_dies_out_at_its_first_timer(self):
        storm = r'''
rule { name = "storm", on = "storm.tick", action = function(ev)
  schedule { after = "0s", event = { type = "storm.tick" } }
  schedule { after = "0s", event = { type = "storm.tick" } }
end }
rule { name = "daily", on = "daily.check", action = function(ev)
  schedule { after = "24h", event = { type = "daily.check" } }
end }
'''
        with Daemon(rules={"50-storm.lua": storm}, shipped=False, config=CONFIG,
                    durability="normal") as d:
            d.ingest([{"type": "storm.tick", "id": "seed"}, {"type": "daily.check", "id": "seed"}])
            time.sleep(2)
            outcomes = [d.request({"op": "explain", "type": "storm.tick", "event_id": f"timer:{i}"})
                        for i in (1, 2)]
            for x in outcomes:
                self.assertTrue(x["ok"], x)
                [o] = x["outcomes"]
                self.assertEqual(o["status"], "error", o)
                self.assertIn("at least 1m ahead", o["error"])
            timers = d.request({"op": "timers"})
            # the two storm timers fired and added nothing; the daily chain waits a day
            self.assertEqual(timers["total"], 1, timers)


if __name__ == "__main__":
    unittest.main()
