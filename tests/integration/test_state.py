#!/usr/bin/env python3
"""Rule state as one keyspace (SPEC §5), through the real daemon: what a
rule counts with state.incr another reads with state.get, and an operator
sees with the `state` op (SPEC §6) and `triagectl state` (SPEC §7): keys in
order under a prefix, values and counters with their window, page by page,
bad fields named, exit codes 0/1/2/3.

Environment (set by ctest): TRIAGED, TRIAGECTL, TR_SOURCE_DIR, TR_SHARED_DIR.
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Daemon  # noqa: E402

RULES = r'''
rule { name = "count", on = "case.opened", action = function(ev)
  state.incr("cases:" .. ev.account, { window = "24h" })
  state.set("last:" .. ev.account, { id = ev.id, subject = ev.subject })
  state.incr("ever")
end }
rule { name = "read", on = "probe.read", action = function(ev)
  ticket.open { key = "read:" .. ev.id, title = tostring(state.get(ev.key)) }
end }
rule { name = "many", on = "probe.many", action = function(ev)
  for i = 1, ev.n do state.set(("many:%05d"):format(i), i) end
end }
'''


class State(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.d = Daemon(rules={"50-state.lua": RULES}, shipped=False)
        cls.d.start()
        # no occurred_at: the events happen now, so their counts are in
        # the window the op reads at now
        r = cls.d.ingest([
            {"type": "case.opened", "id": "c1", "account": "acme-us", "subject": "A"},
            {"type": "case.opened", "id": "c2", "account": "acme-us", "subject": "B"},
            {"type": "case.opened", "id": "c3", "account": "acme-de", "subject": "東京"},
        ])
        assert r["ok"] and r["accepted"] == 3, r

    @classmethod
    def tearDownClass(cls):
        cls.d.__exit__(None, None, None)

    def state(self, **fields):
        r = self.d.request(dict({"op": "state"}, **fields))
        return r

    def test_get_reads_what_incr_counted(self):
        r = self.d.ingest([{"type": "probe.read", "id": "r1", "key": "cases:acme-us"}])
        self.assertEqual(r["accepted"], 1, r)
        t = [t for t in self.d.tickets() if t["key"] == "read:r1"][0]
        self.assertEqual(t["title"], "2")

    def test_op_lists_values_and_counters_by_prefix(self):
        r = self.state(prefix="cases:")
        self.assertTrue(r["ok"], r)
        self.assertFalse(r["more"])
        self.assertEqual(r["state"], [
            {"key": "cases:acme-de", "count": 1, "window": "24h", "window_s": 86400},
            {"key": "cases:acme-us", "count": 2, "window": "24h", "window_s": 86400},
        ])
        r = self.state(prefix="last:acme-de")
        self.assertEqual(r["state"], [{"key": "last:acme-de", "value": {"id": "c3", "subject": "東京"}}])
        r = self.state(prefix="ever")
        self.assertEqual(r["state"], [{"key": "ever", "count": 3, "window": None, "window_s": 0}])
        r = self.state(prefix="nothing:")
        self.assertEqual((r["state"], r["more"]), ([], False))

    def test_pages_in_key_order(self):
        r = self.state(limit=2)
        keys = [x["key"] for x in r["state"]]
        self.assertEqual(keys, ["cases:acme-de", "cases:acme-us"])
        self.assertTrue(r["more"])
        r = self.state(limit=2, after="cases:acme-us")
        self.assertEqual([x["key"] for x in r["state"]], ["ever", "last:acme-de"])
        r = self.state()  # the default limit, 100, holds them all
        keys = [x["key"] for x in r["state"] if not x["key"].startswith("many:")]
        self.assertEqual(keys, ["cases:acme-de", "cases:acme-us", "ever", "last:acme-de", "last:acme-us"])

    def test_bad_fields_are_named(self):
        for fields, name in ((dict(prefix=5), "prefix"), (dict(prefix="x" * 513), "prefix"),
                             (dict(after=["k"]), "after"), (dict(limit=0), "limit"),
                             (dict(limit=1001), "limit"), (dict(limit="10"), "limit"),
                             (dict(limit=2.5), "limit")):
            r = self.state(**fields)
            self.assertFalse(r["ok"], fields)
            self.assertEqual(r["error"]["code"], "bad_request", fields)
            self.assertIn(f'"{name}"', r["error"]["message"], fields)
        self.assertTrue(self.state(limit=1000)["ok"])

    def test_triagectl_table_and_json(self):
        p = self.d.ctl("state", "cases:")
        self.assertEqual(p.returncode, 0, p.stderr)
        lines = p.stdout.splitlines()
        self.assertEqual(lines[0].split(), ["KEY", "COUNT", "WINDOW", "VALUE"])
        self.assertEqual(lines[1].split(), ["cases:acme-de", "1", "24h", "-"])
        self.assertEqual(lines[2].split(), ["cases:acme-us", "2", "24h", "-"])
        self.assertEqual(len(lines), 3)
        p = self.d.ctl("state", "last:acme-us")
        self.assertEqual(p.stdout.splitlines()[1].split()[:3], ["last:acme-us", "-", "-"])
        self.assertIn('"subject":"B"', p.stdout)
        p = self.d.ctl("state", "ever")
        self.assertEqual(p.stdout.splitlines()[1].split(), ["ever", "3", "forever", "-"])
        p = self.d.ctl("--json", "state", "cases:acme-us")
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["state"][0]["count"], 2)
        p = self.d.ctl("state", "nothing:")
        self.assertEqual((p.returncode, p.stdout), (0, "no state under 'nothing:'\n"))

    def test_triagectl_pages_through_every_key(self):
        r = self.d.ingest([{"type": "probe.many", "id": "m1", "n": 1205}])
        self.assertEqual(r["accepted"], 1, r)
        p = self.d.ctl("--json", "state", "many:")
        self.assertEqual(p.returncode, 0, p.stderr)
        pages = [json.loads(line) for line in p.stdout.splitlines()]
        self.assertEqual([len(x["state"]) for x in pages], [1000, 205])
        p = self.d.ctl("state", "many:")
        rows = p.stdout.splitlines()[1:]
        self.assertEqual(len(rows), 1205)
        self.assertEqual(rows[-1].split(), ["many:01205", "-", "-", "1205"])
        p = self.d.ctl("state", "many:", "--limit", "3")
        lines = p.stdout.splitlines()
        self.assertEqual([x.split()[0] for x in lines[1:4]], ["many:00001", "many:00002", "many:00003"])
        self.assertEqual(lines[4], "more keys after 'many:00003' (--limit 3 shown)")

    def test_triagectl_exit_codes(self):
        self.assertEqual(self.d.ctl("state", "a", "b").returncode, 2)
        self.assertEqual(self.d.ctl("state", "--limit", "0").returncode, 2)
        p = self.d.ctl("state", "x" * 600)  # the daemon says no
        self.assertEqual(p.returncode, 1)
        self.assertIn("prefix", p.stderr)
        p = self.d.ctl("--socket", os.path.join(self.d.dir, "none.sock"), "state")
        self.assertEqual(p.returncode, 3)
        self.assertIn("state [PREFIX]", self.d.ctl("help").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)
