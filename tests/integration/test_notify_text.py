"""Notifications a person can act on (issue 20): a notification about a
ticket names it — priority, title, account, marketplace, order or case, the
due time in the team's zone and the time left — before the rule's note,
whichever way it was made (notify(), an escalation, a nudge firing later);
the payload keeps each part for scripts that format their own."""
import datetime
import glob
import json
import os
import re
import sys
import time
import unittest
import zoneinfo

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, wait  # noqa: E402

RULES = '''
rule { name = "open", on = "probe.open", action = function(ev, ctx)
  local t = ticket.open { key = ev.id, title = "Probe " .. ev.id, priority = "high", due = "2h",
                          fields = { order_id = ev.order_id } }
  if ev.calendar then t:due("3h", ev.calendar) end
  notify("lead", "look at it", t)
  t:nudge { after = "1s", note = "still open", notify = "lead" }
end }
rule { name = "plain", on = "probe.plain", action = function(ev, ctx)
  notify("lead", "no ticket here")
end }
'''

CONFIG = '''display_timezone: Europe/Berlin
calendars:
  tokyo: { timezone: Asia/Tokyo, hours: "Mon-Sun 00:00-24:00" }
outputs:
  lead: { dir: lead }
'''


def sent(d):
    out = []
    for path in sorted(glob.glob(os.path.join(d.dir, "lead", "*.json"))):
        with open(path) as f:
            out.append(json.load(f))
    return out


def local(iso, zone):
    t = datetime.datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(zoneinfo.ZoneInfo(zone))
    return t.strftime("%a %d %b %H:%M ") + zone


class NotificationText(unittest.TestCase):
    def test_a_note_goes_out_with_its_ticket_in_the_display_zone(self):
        now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        with Daemon(rules={"50-p.lua": RULES}, shipped=False, config=CONFIG) as d:
            r = d.ingest([{"type": "probe.open", "id": "p1", "account": "acme-de", "marketplace": "amazon.de",
                           "order_id": "303-1", "occurred_at": now},
                          {"type": "probe.plain", "id": "x1"}])
            self.assertEqual(r["accepted"], 2, r)
            notes = wait(lambda: len(sent(d)) >= 3 and sent(d))
            self.assertEqual(len(notes), 3, notes)
            by_note = {n["note"]: n for n in notes}
            [t] = d.tickets()
            due = local(t["due_at"], "Europe/Berlin")
            first = by_note["look at it"]
            self.assertRegex(first["message"], "^" + re.escape(f"[high] Probe p1 — acme-de (amazon.de), order 303-1 — due {due} (in ")
                             + r"(2 h|1 h 59 min)\) — look at it$")
            # the parts, for scripts: the marketplace came from the event
            tk = first["ticket"]
            self.assertEqual((tk["id"], tk["account"], tk["marketplace"], tk["order_id"], tk["case_id"]),
                             (t["id"], "acme-de", "amazon.de", "303-1", None))
            self.assertEqual((tk["zone"], tk["due_local"]), ("Europe/Berlin", due))
            self.assertTrue(7080 <= tk["time_left_s"] <= 7200, tk["time_left_s"])
            # a nudge that fires later says as much
            later = by_note["still open"]
            self.assertTrue(later["message"].startswith("[high] Probe p1 — acme-de (amazon.de), order 303-1 — due "),
                            later["message"])
            self.assertTrue(later["message"].endswith(" — still open"), later["message"])
            # a note about no ticket goes out as it is
            self.assertEqual(by_note["no ticket here"]["message"], "no ticket here")
            self.assertNotIn("ticket", by_note["no ticket here"])

    def test_a_due_time_counted_in_a_calendar_is_shown_in_its_zone(self):
        with Daemon(rules={"50-p.lua": RULES}, shipped=False, config=CONFIG) as d:
            d.ingest([{"type": "probe.open", "id": "p2", "account": "acme-jp", "calendar": "tokyo"}])
            notes = wait(lambda: sent(d))
            [t] = d.tickets()
            first = [n for n in notes if n["note"] == "look at it"][0]
            self.assertEqual(first["ticket"]["zone"], "Asia/Tokyo")
            self.assertIn(f"— due {local(t['due_at'], 'Asia/Tokyo')} (in ", first["message"])
            self.assertNotIn("order", first["message"])  # no order id: no empty part

    def test_a_bad_display_timezone_is_an_error_naming_the_key(self):
        with Daemon(rules={"50-p.lua": RULES}, shipped=False, config=CONFIG) as d:
            d.stop()
            with open(d.config) as f:
                text = f.read()
            with open(d.config, "w") as f:
                f.write(text.replace("display_timezone: Europe/Berlin", "display_timezone: Mars/Olympus"))
            with self.assertRaises(RuntimeError) as e:
                d.start(timeout=5)
            self.assertIn("display_timezone", str(e.exception))
            self.assertIn("Mars/Olympus", str(e.exception))


if __name__ == "__main__":
    unittest.main(verbosity=2)
