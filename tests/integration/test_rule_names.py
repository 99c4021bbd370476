"""No silent typos (SPEC §3, issue 19), through the real daemon: a calendar,
output or ladder a rule names as a literal that the config lacks fails
`triaged --check` and a reload (the old rules keep running) with the file,
line and name; a has_calendar/has_output fallback taken while the rules
load and a config name no rule uses are warnings, printed by --check and
returned by reload; a name that is not a literal fails when the rule runs,
as an error outcome that names it."""
import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, TRIAGED  # noqa: E402

CONFIG = """calendars:
  cn-support: { timezone: Asia/Shanghai, hours: "Mon-Fri 09:00-18:00" }
outputs:
  lead: { dir: state/lead }
  erp: { dir: state/erp }
"""

# Line numbers matter: the errors name them.
TYPOS = """-- a rule with three typos
rule { name = "typos", on = "probe.x", action = function(ev)
  local t = ticket.open { key = "k", title = "t", queue = "q" }
  notify("laed", "hello", t)
  t:nudge { after = "1h", note = "n", calendar = "cn_support" }
  t:escalate { ladder = "suspention" }
  local later = time.add(ev.time or 0, "4h", "cn-support")  -- this one exists
end }
"""

FIXED = """local TEAM = time.has_calendar("jp-support") and "jp-support" or "24x7"
local LEAD = has_output("lead") and "lead" or "journal"
rule { name = "fixed", on = "probe.x", action = function(ev)
  local t = ticket.open { key = "k", title = "t", queue = "q" }
  notify(LEAD, "hello", t)
  t:nudge { after = "1h", note = "n", calendar = TEAM }
  local later = time.add(ev.time or 0, "4h", "cn-support")
end }
"""


def check(d):
    return subprocess.run([TRIAGED, "-c", d.config, "--check"], capture_output=True, text=True, timeout=60)


class Check(unittest.TestCase):
    def test_a_name_the_config_lacks_fails_check_at_its_line(self):
        d = Daemon(shipped=False, config=CONFIG, rules={"50-typos.lua": TYPOS})
        r = check(d)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        path = os.path.join(d.rules_dir, "50-typos.lua")
        lines = r.stderr.splitlines()
        self.assertIn(f"{path}:4: notify names output 'laed' that the config lacks "
                      "(outputs: lead, erp; built in: journal, watch)", lines)
        self.assertIn(f"{path}:5: option calendar names calendar 'cn_support' that the config lacks "
                      "(calendars: cn-support; built in: 24x7)", lines)
        self.assertIn(f"{path}:6: option ladder names ladder 'suspention' that no ladder{{}} declares "
                      "(ladders: none)", lines)
        self.assertNotIn("configuration ok", r.stdout)
        self.assertFalse(any("'cn-support'" in l for l in lines), lines)

        # Fixed, with a fallback taken at load and an output no rule names:
        # warnings, and the check passes.
        with open(path, "w") as f:
            f.write(FIXED)
        r = check(d)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration ok", r.stdout)
        lines = r.stderr.splitlines()
        self.assertIn(f"warning: {path}:1: calendar 'jp-support' is not in the config; the rule falls back", lines)
        self.assertIn(f"warning: {d.config}:10: outputs: output 'erp' is not used by any rule "
                      "(no rule file holds the string \"erp\")", lines)
        self.assertEqual(len(lines), 2, lines)


class Reload(unittest.TestCase):
    def test_reload_keeps_the_old_rules_and_answers_with_warnings(self):
        good = 'rule { name = "old", on = "probe.x", action = function() notify("lead", "hi") end }\n'
        with Daemon(shipped=False, config=CONFIG, rules={"50-r.lua": good}) as d:
            path = os.path.join(d.rules_dir, "50-r.lua")
            with open(path, "w") as f:
                f.write(TYPOS)
            r = d.request({"op": "reload"})
            self.assertFalse(r["ok"], r)
            self.assertIn("old rules keep running", r["error"]["message"])
            self.assertIn(f"{path}:4: notify names output 'laed' that the config lacks",
                          "\n".join(r["error"]["problems"]))
            self.assertEqual(len(r["error"]["problems"]), 3, r)
            self.assertEqual([x["name"] for x in d.request({"op": "rules"})["rules"]], ["old"])
            c = d.ctl("reload")
            self.assertEqual(c.returncode, 1)
            self.assertIn("names output 'laed'", c.stderr)

            with open(path, "w") as f:
                f.write(FIXED)
            r = d.request({"op": "reload"})
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["warnings"], [
                f"{path}:1: calendar 'jp-support' is not in the config; the rule falls back",
                f"{d.config}:10: outputs: output 'erp' is not used by any rule (no rule file holds the string \"erp\")",
            ])
            self.assertEqual([x["name"] for x in d.request({"op": "rules"})["rules"]], ["fixed"])
            c = d.ctl("reload")
            self.assertEqual(c.returncode, 0, c.stderr)
            self.assertIn("reloaded: 1 rules", c.stdout)
            self.assertIn(f"warning: {path}:1: calendar 'jp-support' is not in the config; the rule falls back",
                          c.stderr.splitlines())
            self.assertIn(f"reload: {path}:1: calendar 'jp-support' is not in the config", d.log())
            self.assertEqual(d.stop(), 0)


# One rule per binding, each given a name the config lacks that is no
# literal: the scan cannot see it, so the run must fail and say which.
RUNTIME = """
local function probe(name, fn)
  rule { name = name, on = "probe.names", action = function(ev)
    local t = ticket.open { key = "k:" .. name, title = name, queue = "q" }
    fn(ev, t)
  end }
end
probe("notify", function(ev, t) notify(ev.out, "x", t) end)
probe("nudge-notify", function(ev, t) t:nudge { after = "1h", note = "n", notify = ev.out } end)
probe("nudge-calendar", function(ev, t) t:nudge { after = "1h", note = "n", calendar = ev.cal } end)
probe("escalate-notify", function(ev, t) t:escalate { level = 1, notify = ev.out } end)
probe("escalate-later", function(ev, t) t:escalate { after = "1h", notify = ev.out } end)
probe("escalate-calendar", function(ev, t) t:escalate { after = "1h", calendar = ev.cal } end)
probe("escalate-ladder", function(ev, t) t:escalate { ladder = ev.ladder } end)
probe("due", function(ev, t) t:due("1h", ev.cal) end)
probe("time.add", function(ev, t) time.add(0, "1h", ev.cal) end)
probe("time.is_open", function(ev, t) time.is_open(0, ev.cal) end)
probe("time.last_open", function(ev, t) time.last_open(86400, ev.cal, "1h") end)
"""


class RunTime(unittest.TestCase):
    def test_a_name_that_is_no_literal_fails_its_run_and_is_named(self):
        with Daemon(shipped=False, config=CONFIG, rules={"50-runtime.lua": RUNTIME}) as d:
            r = d.ingest([{"type": "probe.names", "id": "1", "out": "laed", "cal": "cn_support",
                           "ladder": "suspention"}])
            self.assertEqual(r["accepted"], 1, r)
            r = d.request({"op": "explain", "type": "probe.names", "event_id": "1"})
            outcomes = {o["rule"]: o for o in r["outcomes"]}
            self.assertEqual(len(outcomes), 11, r)
            for rule, o in outcomes.items():
                self.assertEqual(o["status"], "error", (rule, o))
                name = {"escalate-ladder": "suspention"}.get(rule, "cn_support" if "calendar" in rule
                                                            or rule in ("due", "time.add", "time.is_open",
                                                                        "time.last_open") else "laed")
                self.assertIn(f"'{name}'", o["error"], (rule, o))
                self.assertIn("50-runtime.lua:", o["location"], (rule, o))
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
