"""Rules are isolated (SPEC §3, §5): the escapes that hit Redis's Lua fail,
budgets stop endless loops, unbounded allocation and pathological patterns,
a failing rule is rolled back alone, and an event whose rules hang the
process is quarantined after a restart instead of hanging it again."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon  # noqa: E402

# Each escape runs inside pcall; the rule opens a ticket saying whether the
# attempt worked. Nothing here may succeed.
ESCAPES = r'''
local attempts = {
  io_open = function() return io.open("/etc/passwd") end,
  os_execute = function() return os.execute("touch /tmp/triaged-escaped") end,
  os_exit = function() return os.exit(1) end,
  package_loadlib = function() return package.loadlib("libc.so.6", "system") end,
  binary_chunk = function()
    local f, err = load("\27Lua\84\0\25\147\13\10\26\10\4\8\8", "x", "b")
    if not f then error(err) end
  end,
  binary_chunk_default_mode = function()
    local f, err = load("\27LuaT")
    if not f then error(err) end
  end,
  string_dump = function() return string.dump(function() end) end,
  string_metatable = function() getmetatable("").__index = { upper = function() return "pwned" end } end,
  string_table = function() string.upper = function() return "pwned" end end,
  debug_lib = function() return debug.getregistry() end,
  require_outside_lib = function() return require("../../../../etc/passwd") end,
  require_stdlib = function() return require("io") end,
  dofile = function() return dofile("/etc/passwd") end,
  collectgarbage = function() return collectgarbage("stop") end,
  setmetatable_string = function() return setmetatable("", {}) end,
  rawset_G = function() rawset(_G, "ticket", nil) end,
  G_assign = function() _G.ticket = nil end,
}
rule { name = "escapes", on = "probe.escape", action = function(ev)
  for name, f in pairs(attempts) do
    local ok, err = pcall(f)
    ticket.open { key = "escape:" .. name, title = name .. " " .. tostring(ok) .. " " .. tostring(err) }
  end
  ticket.open { key = "escape:upper", title = ("still"):upper() }
  ticket.open { key = "escape:lib", title = require("helpers").greet("lib") }
end }
'''

HELPERS = 'local M = {} function M.greet(x) return "hello " .. x end return M\n'

BUDGETS = r'''
rule { name = "loop", on = "probe.loop", action = function() while true do end end }
rule { name = "loop-pcall", on = "probe.loop_pcall", action = function()
  while true do pcall(function() while true do end end) end
end }
rule { name = "alloc", on = "probe.alloc", action = function()
  local t = {}
  for i = 1, 1e9 do t[i] = ("x"):rep(1 << 16) .. i end
end }
rule { name = "rep", on = "probe.rep", action = function() local s = ("x"):rep(1 << 30) end }
rule { name = "pattern", on = "probe.pattern", action = function()
  string.find(("a"):rep(600), ".-.-.-.-b")
end }
rule { name = "partial", on = "probe.partial", action = function(ev)
  ticket.open { key = "partial", title = "must be rolled back" }
  error("fails after opening a ticket")
end }
rule { name = "sibling", on = "probe.partial", action = function(ev)
  ticket.open { key = "sibling", title = "still runs" }
end }
rule { name = "unknown-option", on = "probe.typo", action = function(ev)
  ticket.open { key = "typo", title = "x", priorty = "high" }
end }
'''


def outcome(d, type_, id_):
    r = d.request({"op": "explain", "type": type_, "event_id": id_})
    assert r["ok"], r
    return r["outcomes"]


class Sandbox(unittest.TestCase):
    def test_escapes_fail(self):
        with Daemon(rules={"50-escapes.lua": ESCAPES, "lib/helpers.lua": HELPERS}, shipped=False) as d:
            r = d.ingest([{"type": "probe.escape", "id": "1"}])
            self.assertEqual(r["accepted"], 1)
            [o] = outcome(d, "probe.escape", "1")
            self.assertEqual(o["status"], "ok", o)
            titles = {t["key"][len("escape:"):]: t["title"] for t in d.tickets()}
            for name, title in titles.items():
                if name in ("upper", "lib"):
                    continue
                self.assertTrue(title.startswith(name + " false "), f"{name} escaped: {title}")
            self.assertIn("binary", titles["binary_chunk"])
            self.assertEqual(titles["upper"], "STILL")
            self.assertEqual(titles["lib"], "hello lib")
            self.assertFalse(os.path.exists("/tmp/triaged-escaped"))

    def test_budgets_stop_runaway_rules_and_the_daemon_goes_on(self):
        cases = {
            "probe.loop": "instruction budget",
            "probe.loop_pcall": "instruction budget",
            "probe.alloc": "budget exceeded",
            "probe.rep": "memory",
            "probe.pattern": "time budget",
        }
        with Daemon(rules={"50-budgets.lua": BUDGETS}) as d:
            for type_, expected in cases.items():
                t0 = time.monotonic()
                r = d.ingest([{"type": type_, "id": "1"}])
                elapsed = time.monotonic() - t0
                self.assertEqual(r["accepted"], 1, r)
                [o] = outcome(d, type_, "1")
                self.assertEqual(o["status"], "error", o)
                self.assertIn(expected, o["error"], o)
                self.assertIsNotNone(o["location"], o)
                self.assertIn("50-budgets.lua:", o["location"])
                # within budget: rule_time_ms defaults to 200 ms; allow slack for sanitizers
                self.assertLess(elapsed, 10, type_)
            self.assertTrue(d.request({"op": "ping"})["ok"])
            rules = {r["name"]: r for r in d.request({"op": "rules"})["rules"]}
            self.assertEqual(rules["loop"]["errors"], 1)
            self.assertIn("instruction budget", rules["loop"]["last_error"])

    def test_a_failing_rule_is_rolled_back_alone(self):
        with Daemon(rules={"50-budgets.lua": BUDGETS}) as d:
            d.ingest([{"type": "probe.partial", "id": "1"}])
            by_rule = {o["rule"]: o for o in outcome(d, "probe.partial", "1")}
            self.assertEqual(by_rule["partial"]["status"], "error")
            self.assertIn("fails after opening", by_rule["partial"]["error"])
            self.assertEqual(by_rule["partial"]["location"], "50-budgets.lua:16")
            self.assertEqual(by_rule["sibling"]["status"], "ok")
            keys = {t["key"] for t in d.tickets()}
            self.assertEqual(keys, {"sibling"})

    def test_unknown_option_is_an_error_at_the_rules_line(self):
        with Daemon(rules={"50-budgets.lua": BUDGETS}) as d:
            d.ingest([{"type": "probe.typo", "id": "1"}])
            [o] = outcome(d, "probe.typo", "1")
            self.assertEqual(o["status"], "error")
            self.assertIn("unknown option 'priorty'", o["error"])
            self.assertEqual(o["location"], "50-budgets.lua:22")


HANG = '''
rule { name = "hang", on = "probe.hang", action = function() while true do end end }
rule { name = "count", on = "probe.*", action = function(ev)
  ticket.open { key = "seen:" .. ev.id, title = ev.type }
end }
'''


class PoisonPill(unittest.TestCase):
    def hang(self, d):
        c = d.client()
        c.send({"op": "ingest", "events": [{"type": "probe.hang", "id": "pill"}]})
        time.sleep(1.0)
        with self.assertRaises(OSError):
            c.sock.settimeout(0.5)
            c.recv()
        d.kill9()  # as the service manager's watchdog would
        c.close()
        d.start()

    def test_an_event_that_hangs_the_daemon_twice_is_quarantined(self):
        # Budgets large enough that the rule hangs the process, as a rule stuck
        # in a C library call would.
        cfg = "limits: { rule_instructions: 2000000000, rule_time_ms: 600000 }\n"
        with Daemon(rules={"50-hang.lua": HANG}, shipped=False, config=cfg) as d:
            self.assertEqual(d.ingest([{"type": "probe.ok", "id": "before"}])["accepted"], 1)
            self.hang(d)
            self.assertIn("if that happens again", d.log())
            # the client retries its unacknowledged event: it hangs again
            self.hang(d)
            self.assertIn("it is quarantined", d.log())
            # and retries once more: recorded, not run, no crash loop
            r = d.ingest([{"type": "probe.hang", "id": "pill"}, {"type": "probe.ok", "id": "after"}])
            self.assertEqual(r["accepted"], 2)
            [o] = outcome(d, "probe.hang", "pill")
            self.assertEqual(o["status"], "quarantined")
            keys = {t["key"] for t in d.tickets()}
            self.assertEqual(keys, {"seen:before", "seen:after"})
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
