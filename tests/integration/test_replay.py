#!/usr/bin/env python3
"""`triagectl replay` and `triagectl check` as an operator uses them
(SPEC §7, issue 20 points 1 and 2).

replay: the sample events go through a live triaged with the shipped
rules; a copy of the rules with one change is replayed against them and
the report names exactly the tickets that change and how (exit 1); an
identical copy reports nothing (exit 0); --type and --since choose the
events; --json gives a line per ticket and a summary; the daemon's
tickets and events are the same before and after; bad arguments, rules
that do not compile and a missing database are said, with exit 2 or 3.

check: the same lines and exit status as `triaged --check`, and every
problem at its file:line.

Environment (set by ctest): TRIAGED, TRIAGECTL, TR_SOURCE_DIR, TR_SHARED_DIR.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import SAMPLES, SHIPPED_RULES, TRIAGECTL, TRIAGED, Daemon, read_ndjson  # noqa: E402

# Besides the samples: a 2-star and a 4-star feedback, and a second
# message. With the shipped rules the 1- and 2-star ones open high
# priority tickets, the 4-star one none.
MORE = [
    {"type": "feedback.new", "id": "fb-0202", "account": "acme-us", "marketplace": "US",
     "order_id": "113-5555555-6666666", "rating": 2, "comment": "Late",
     "occurred_at": "2026-11-24T06:30:00Z"},
    {"type": "feedback.new", "id": "fb-0203", "account": "acme-us", "marketplace": "US",
     "order_id": "113-7777777-8888888", "rating": 4, "occurred_at": "2026-11-24T06:40:00Z"},
]
LATE = [
    {"type": "message.new", "id": "msg-0103", "account": "acme-us", "marketplace": "US",
     "order_id": "113-9999999-0000000", "buyer": "Sam", "subject": "Invoice", "body": "Please send one.",
     "occurred_at": "2026-11-24T08:00:00Z"},
]
FB1 = "feedback:302-3333333-4444444"
FB2 = "feedback:113-5555555-6666666"


def edited_rules(src, dst, old, new, name="feedback.lua"):
    """A copy of the rules folder src with one text change in one file."""
    shutil.copytree(src, dst)
    path = os.path.join(dst, name)
    with open(path) as f:
        text = f.read()
    assert old in text, (old, name)
    with open(path, "w") as f:
        f.write(text.replace(old, new, 1))
    return dst


class Replay(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon()
        cls.d.start()
        r = cls.d.ingest(read_ndjson(os.path.join(SAMPLES, "events_20261124.ndjson")) + MORE)
        assert r["ok"] and r["accepted"] == 7, r
        # received a second later than the rest: what --since can tell apart
        time.sleep(1.2)
        cls.late_from = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        time.sleep(1.1)
        r = cls.d.ingest(LATE)
        assert r["ok"] and r["accepted"] == 1, r
        cls.tmp = tempfile.mkdtemp(prefix="triaged-replay-")
        cls.same = shutil.copytree(cls.d.rules_dir, os.path.join(cls.tmp, "same"))
        cls.urgent = edited_rules(cls.d.rules_dir, os.path.join(cls.tmp, "urgent"),
                                  'priority = "high"', 'priority = "urgent"')
        cls.one_star = edited_rules(cls.d.rules_dir, os.path.join(cls.tmp, "one-star"),
                                    "local RATING_BELOW = 3", "local RATING_BELOW = 2")
        cls.broken = edited_rules(cls.d.rules_dir, os.path.join(cls.tmp, "broken"),
                                  "local QUEUE = ", "local QUEUE = = ")

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        shutil.rmtree(cls.d.dir, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def replay(self, *args, config=None):
        r = subprocess.run([TRIAGECTL, "-c", config or self.d.config, *args],
                           capture_output=True, text=True, timeout=120)
        for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
            self.assertNotIn(marker, r.stderr)
        return r

    def replay_json(self, *args):
        r = self.replay("--json", "replay", *args)
        lines = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertTrue(lines and lines[-1].get("summary"), r.stdout + r.stderr)
        return r, lines[:-1], lines[-1]

    def live(self):
        """What the daemon answers about its tickets and events."""
        tickets = self.d.tickets()
        shown = [self.d.request({"op": "ticket", "id": t["id"]}) for t in tickets]
        stats = self.d.request({"op": "stats"})
        events = {k: v for k, v in stats.items() if "event" in k}
        return tickets, shown, events

    def test_changed_priority_is_reported_for_exactly_those_tickets(self):
        before = self.live()
        r = self.replay("replay", "--rules", self.urgent)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = [line for line in r.stdout.splitlines() if line.startswith("feedback:")]
        self.assertEqual(len(lines), 2, r.stdout)
        self.assertTrue(lines[0].startswith(FB2 + "  2-star feedback"), lines)
        self.assertTrue(lines[1].startswith(FB1 + "  1-star feedback"), lines)
        for line in lines:
            self.assertTrue(line.endswith(": priority high → urgent"), line)
        self.assertIn("2 of 6 tickets differ: priority 2", r.stdout)
        self.assertIn("8 events replayed", r.stdout)
        self.assertEqual(self.live(), before, "a replay changed the live daemon")

    def test_json_names_each_change(self):
        r, diffs, summary = self.replay_json("--rules", self.urgent)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual([(x["key"], x["only_in"], x["changes"]) for x in diffs],
                         [(k, None, {"priority": {"baseline": "high", "replay": "urgent"}}) for k in (FB2, FB1)])
        self.assertEqual((summary["events"], summary["tickets"], summary["differing"], summary["kinds"]),
                         (8, 6, 2, {"priority": 2}))
        # the live rules replayed make what the daemon made
        self.assertEqual(summary["baseline"]["tickets"], len(self.d.tickets()))
        self.assertEqual(summary["replay"]["rules"], self.urgent)
        self.assertEqual(summary["replay"]["rule_errors"], 0)

    def test_a_ticket_one_side_never_opened(self):
        r, diffs, summary = self.replay_json("--rules", self.one_star)
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual([(x["key"], x["only_in"]) for x in diffs], [(FB2, "baseline")])
        self.assertEqual(diffs[0]["ticket"]["priority"], "high")
        self.assertEqual(summary["kinds"], {"only_baseline": 1})
        self.assertEqual(summary["replay"]["tickets"], 5)
        r = self.replay("replay", "--rules", self.one_star)
        self.assertIn(FB2 + "  2-star feedback on order 113-5555555-6666666: opened only by the live rules",
                      r.stdout)

    def test_identical_rules_differ_in_nothing(self):
        r = self.replay("replay", "--rules", self.same)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("no difference in 6 tickets", r.stdout)
        self.assertEqual(r.stderr, "")

    def test_type_and_since_choose_the_events(self):
        r, diffs, summary = self.replay_json("--rules", self.urgent, "--type", "message.*")
        self.assertEqual((r.returncode, summary["events"], diffs), (0, 4, []), r.stderr)
        self.assertEqual(summary["tickets"], 3)
        r, diffs, summary = self.replay_json("--rules", self.urgent, "--type", "feedback.new")
        self.assertEqual((r.returncode, summary["events"], len(diffs)), (1, 3, 2), r.stderr)
        r, diffs, summary = self.replay_json("--rules", self.urgent, "--since", self.late_from)
        self.assertEqual((r.returncode, summary["events"], summary["tickets"]), (0, 1, 1), r.stderr)
        r, diffs, summary = self.replay_json("--rules", self.urgent, "--until", self.late_from)
        self.assertEqual((r.returncode, summary["events"], summary["differing"]), (1, 7, 2), r.stderr)
        self.assertEqual(summary["clock_end"], self.late_from)

    def test_bad_arguments_are_named(self):
        cases = [
            (("replay",), "--rules DIR is required"),
            (("replay", "--rules", os.path.join(self.tmp, "nope")), "not a rules folder"),
            (("replay", "--rules", self.same, "--since", "yesterday"), "--since takes a time"),
            (("replay", "--rules", self.same, "--until", "2026-13-01"), "--until takes a time"),
            (("replay", "--rules", self.same, "--since", "2026-11-25", "--until", "2026-11-24"),
             "--until must be later than --since"),
            (("replay", "--rules", self.same, "--type", ""), "--type takes"),
            (("replay", "--rules", self.same, "extra"), "too many arguments"),
            (("replay", "--rules"), "option --rules needs a value"),
        ]
        for args, says in cases:
            r = self.replay(*args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn(says, r.stderr, args)

    def test_rules_that_do_not_compile_are_shown_at_their_line(self):
        r = self.replay("replay", "--rules", self.broken)
        self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
        self.assertIn(os.path.join(self.broken, "feedback.lua") + ":12:", r.stderr)
        self.assertEqual(r.stdout, "")

    def test_no_database(self):
        cfg = os.path.join(self.tmp, "empty.yaml")
        with open(cfg, "w") as f:
            f.write(f"state_dir: {os.path.join(self.tmp, 'no-state')}\nrules_dir: {self.same}\n")
        r = self.replay("replay", "--rules", self.same, config=cfg)
        self.assertEqual(r.returncode, 3, r.stdout + r.stderr)
        self.assertIn("no database at " + os.path.join(self.tmp, "no-state", "triaged.db"), r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "no-state")), "replay made a state folder")


class Check(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="triaged-check-")
        self.rules = shutil.copytree(SHIPPED_RULES, os.path.join(self.dir, "rules.d"),
                                     ignore=shutil.ignore_patterns("*.test.lua", "*.yaml"))
        self.config = os.path.join(self.dir, "triaged.yaml")
        self.write_config("")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def write_config(self, extra):
        with open(self.config, "w") as f:
            f.write(f"state_dir: {self.dir}/state\nrules_dir: {self.rules}\n{extra}")

    def both(self, *args):
        """(triaged --check, triagectl check), each as (exit, stdout, stderr)."""
        d = subprocess.run([TRIAGED, "-c", self.config, "--check"], capture_output=True, text=True, timeout=60)
        c = subprocess.run([TRIAGECTL, "check", "-c", self.config, *args], capture_output=True, text=True,
                           timeout=60)
        return (d.returncode, d.stdout, d.stderr), (c.returncode, c.stdout, c.stderr)

    def test_a_good_config_says_what_triaged_says(self):
        d, c = self.both()
        self.assertEqual(c, d)
        self.assertEqual(c[0], 0, c)
        self.assertRegex(c[1], r"^" + self.config + r": configuration ok, \d+ rules in " + self.rules + "\n$")
        # -c before the command works as well
        g = subprocess.run([TRIAGECTL, "-c", self.config, "check"], capture_output=True, text=True, timeout=60)
        self.assertEqual((g.returncode, g.stdout, g.stderr), d)

    def test_a_syntax_error_is_at_its_line(self):
        path = os.path.join(self.rules, "feedback.lua")
        with open(path) as f:
            lines = f.read().split("\n")
        lines[12] = "local QUEUE = = 1"
        with open(path, "w") as f:
            f.write("\n".join(lines))
        d, c = self.both()
        self.assertEqual(c, d)
        self.assertEqual(c[0], 1, c)
        self.assertIn(path + ":13:", c[2])

    def test_a_rules_folder_given_instead_of_the_configs(self):
        other = os.path.join(self.dir, "other")
        os.makedirs(other)
        with open(os.path.join(other, "10-x.lua"), "w") as f:
            f.write('rule { name = "x", on = "a.b", action = function(ev) end }\n\nrule { name = }\n')
        c = subprocess.run([TRIAGECTL, "check", "-c", self.config, other], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(c.returncode, 1, c)
        self.assertIn(os.path.join(other, "10-x.lua") + ":3:", c.stderr)

    def test_a_bad_config_key_is_at_its_line(self):
        self.write_config("log: { level: info }\ndurability: sometimes\n")
        d, c = self.both()
        self.assertEqual(c, d)
        self.assertEqual(c[0], 1, c)
        self.assertIn(self.config + ":4", c[2])
        self.assertIn("durability", c[2])

    def test_a_missing_config(self):
        c = subprocess.run([TRIAGECTL, "check", "-c", os.path.join(self.dir, "nope.yaml")], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(c.returncode, 1, c)
        self.assertIn("nope.yaml", c.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
