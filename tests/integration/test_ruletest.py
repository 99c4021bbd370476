#!/usr/bin/env python3
"""`triagectl test` as a rule writer and a script see it: the shipped rules
pass with no -c (their fixture declares what they need), a failure shows
its file:line, its whole message and the log of that test, --json gives a
record per test and a summary, the exit code says whether all passed, and a
fixture that is wrong stops the file with the key at fault.

Environment (set by ctest): TRIAGECTL, TR_SOURCE_DIR.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("TR_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
TRIAGECTL = os.environ.get("TRIAGECTL") or os.path.join(SOURCE_DIR, "build", "triagectl")

RULES = """
rule {
  name = "noisy",
  on = "probe.*",
  action = function(ev)
    print("noisy saw " .. ev.id)
    log.warn("careful with " .. ev.id)
    ticket.open { key = "probe:" .. ev.id, title = "Probe " .. ev.id, queue = "q" }
  end,
}
"""

TESTS = """
test("passes", function()
  ingest { type = "probe.a", id = "1" }
  eq(find("probe:1").queue, "q")
end)

test("a long difference", function()
  ingest { type = "probe.a", id = "2" }
  eq(find("probe:2").title, ("x"):rep(700) .. "END", "the title")
end)

test("tables are shown whole", function()
  eq({ a = 1, list = { "x", 2 } }, { a = 1, list = { "x", "2" } })
end)
"""


def run(*args, cwd=None):
    return subprocess.run([TRIAGECTL, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


class RuleTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="ruletest-")
        self.write("rules.lua", RULES)
        self.write("probe.test.lua", TESTS)

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name, text):
        with open(os.path.join(self.dir, name), "w") as f:
            f.write(text)

    def test_shipped_rules_pass_without_a_config(self):
        p = run("test", os.path.join(SOURCE_DIR, "rules"))
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertRegex(p.stdout, r"\n\d+ passed, 0 failed\n$")

    def test_a_failure_shows_where_the_whole_message_and_the_log(self):
        p = run("test", self.dir)
        self.assertEqual(p.returncode, 1, p.stdout + p.stderr)
        out = p.stdout
        self.assertIn("ok - probe.test.lua: passes\n", out)
        self.assertIn("not ok - probe.test.lua: a long difference\n", out)
        self.assertIn("probe.test.lua:9: the title: got \"Probe 2\", expected \"" + "x" * 700 + "END\"", out)
        # the log of the failed test, and only its own
        self.assertIn("info: rule noisy (probe.a 2): noisy saw 2", out)
        self.assertIn("warn: rule noisy (probe.a 2): careful with 2", out)
        self.assertNotIn("noisy saw 1", out)
        self.assertIn('got {a = 1, list = {"x", 2}}, expected {a = 1, list = {"x", "2"}}', out)
        self.assertTrue(out.endswith("1 passed, 2 failed\n"), out)

    def test_json_records_and_summary(self):
        p = run("--json", "test", self.dir)
        self.assertEqual(p.returncode, 1, p.stderr)
        recs = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual(len(recs), 4)
        first, long_, tables, summary = recs
        self.assertEqual(first["test"], "passes")
        self.assertIs(first["ok"], True)
        self.assertIsNone(first["error"])
        self.assertTrue(first["file"].endswith("probe.test.lua"))
        self.assertEqual(first["log"], ["info: rule noisy (probe.a 1): noisy saw 1",
                                        "warn: rule noisy (probe.a 1): careful with 1"])
        self.assertIsInstance(first["duration_ms"], (int, float))
        self.assertIs(long_["ok"], False)
        self.assertTrue(long_["error"].startswith("probe.test.lua:9: the title: got"), long_["error"])
        self.assertTrue(long_["error"].endswith("END\""), long_["error"])
        self.assertIs(tables["ok"], False)
        self.assertEqual(summary["summary"], True)
        self.assertEqual((summary["passed"], summary["failed"], summary["load_errors"]), (1, 2, 0))
        self.assertIs(summary["ok"], False)

    def test_all_passing_exits_0(self):
        self.write("probe.test.lua", 'test("fine", function() ok(true) end)\n')
        p = run("--json", "test", self.dir)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(json.loads(p.stdout.splitlines()[-1])["passed"], 1)

    def test_a_wrong_fixture_stops_the_file_with_its_key(self):
        self.write("fixture.yaml", "state_dir: /tmp\ncalendars:\n  team: { timezone: Nowhere/Land, hours: \"Mon-Fri 09:00-17:00\" }\n")
        p = run("--json", "test", self.dir)
        self.assertEqual(p.returncode, 2, p.stdout + p.stderr)
        self.assertIn("fixture.yaml:1:1: state_dir: unknown key (known keys here: calendars, outputs, params, display_timezone)",
                      p.stderr)
        self.assertIn("calendars.team.timezone", p.stderr)
        recs = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertIs(recs[0]["ok"], False)
        self.assertIsNone(recs[0]["test"])
        self.assertEqual(recs[-1]["load_errors"], 2)

    def test_a_fixture_call_inside_a_test_is_refused(self):
        self.write("probe.test.lua", 'test("late", function() fixture { params = { a = 1 } } end)\n')
        p = run("test", self.dir)
        self.assertEqual(p.returncode, 1)
        self.assertIn("fixture: call it at the top of the file", p.stdout)

    def test_a_bad_fixture_call_names_the_key(self):
        self.write("probe.test.lua", 'fixture { outputs = { lead = { journal = true } } }\n'
                                     'test("x", function() end)\n')
        p = run("test", self.dir)
        self.assertEqual(p.returncode, 2)
        self.assertIn("probe.test.lua:1: fixture: outputs.lead.journal: unknown key", p.stderr)


if __name__ == "__main__":
    if not os.path.exists(TRIAGECTL):
        print("TRIAGECTL is not set and no built triagectl was found", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=1)
