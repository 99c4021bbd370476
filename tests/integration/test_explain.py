#!/usr/bin/env python3
"""`explain` says why not: besides what each rule did, the rules whose `on`
took the event and whose `when` said no ("declined"), over the socket and
in `triagectl explain`, and after a restart (they are stored with the
event). A rule whose `on` does not take the event is not listed.

Environment (set by ctest): TRIAGED, TRIAGECTL, TR_SOURCE_DIR.
"""
import json
import unittest

from harness import Daemon

RULES = """
rule { name = "big", on = "probe.*", when = function(ev) return ev.size > 10 end,
       action = function(ev) ticket.open { key = "big:" .. ev.id, title = "big", queue = "q" } end }
rule { name = "small", on = "probe.sized", when = function(ev) return ev.size <= 10 end,
       action = function(ev) end }
rule { name = "odd", on = "probe.*", when = function(ev) return ev.size % 2 == 1 end,
       action = function(ev) end }
rule { name = "other", on = "elsewhere.*", when = function() return false end, action = function() end }
"""


class Explain(unittest.TestCase):
    def test_declined_rules_are_listed(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False) as d:
            r = d.ingest([{"type": "probe.sized", "id": "a", "size": 4},
                          {"type": "probe.sized", "id": "b", "size": 13},
                          {"type": "probe.plain", "id": "c", "size": 12}])
            self.assertEqual(r["accepted"], 3, r)

            r = d.request({"op": "explain", "type": "probe.sized", "event_id": "a"})
            self.assertEqual([o["rule"] for o in r["outcomes"]], ["small"])
            self.assertEqual(r["declined"], [{"rule": "big"}, {"rule": "odd"}])

            r = d.request({"op": "explain", "type": "probe.sized", "event_id": "b"})
            self.assertEqual([o["rule"] for o in r["outcomes"]], ["big", "odd"])
            self.assertEqual(r["declined"], [{"rule": "small"}])

            r = d.request({"op": "explain", "type": "probe.plain", "event_id": "c"})
            self.assertEqual(r["declined"], [{"rule": "odd"}], "small's `on` does not take probe.plain")

            p = d.ctl("explain", "probe.sized", "a")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn("rule small: ok", p.stdout)
            self.assertIn("declined by their `when`: big, odd", p.stdout)
            p = d.ctl("--json", "explain", "probe.sized", "a")
            self.assertEqual(json.loads(p.stdout)["declined"], [{"rule": "big"}, {"rule": "odd"}])

            d.stop()
            d.start()
            r = d.request({"op": "explain", "type": "probe.sized", "event_id": "b"})
            self.assertEqual(r["declined"], [{"rule": "small"}], "kept with the event")

    def test_nothing_declined_is_an_empty_list(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False) as d:
            d.ingest([{"type": "probe.plain", "id": "x", "size": 11}])
            r = d.request({"op": "explain", "type": "probe.plain", "event_id": "x"})
            self.assertEqual(r["declined"], [])
            p = d.ctl("explain", "probe.plain", "x")
            self.assertNotIn("declined", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=1)
