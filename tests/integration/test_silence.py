"""Silences (SPEC §6 `silence`, issue 20 point 6) through the real daemon:
during a holiday, a silence on account A holds A's notifications while B's
go out; A's tickets and escalations still advance, and each held
notification is a line in its ticket's history; `silence expire` (or the
silence's own end) releases what it held, and it is delivered then; a
silence survives SIGKILL; every malformed request is refused naming its
field."""
import datetime
import glob
import json
import os
import subprocess
import sys
import time
import unittest
from zoneinfo import ZoneInfo

sys.path.insert(0, os.path.dirname(__file__))
from harness import TRIAGECTL, Daemon, wait  # noqa: E402

RULES = '''
rule { name = "open", on = "probe.open", action = function(ev)
  local t = ticket.open { key = "p:" .. ev.id, title = "probe " .. ev.id, account = ev.account,
                          queue = ev.queue or "care" }
  notify("lead", "opened " .. ev.id, t)
  t:escalate { after = "1s", level = 1, reason = "no answer", notify = "lead" }
end }
'''
CONFIG = "outputs:\n  lead: { dir: lead }\n"


def delivered(d):
    """The lead's notifications as (account, what), in file order: what is
    "opened x" or "escalated" (the message words them for people)."""
    out = []
    for path in sorted(glob.glob(os.path.join(d.dir, "lead", "*.json"))):
        with open(path) as f:
            n = json.load(f)
        words = n["message"].split("opened ", 1)
        out.append((n["ticket"]["account"], "opened " + words[1] if len(words) == 2 else
                    "escalated" if "no answer" in n["message"] else n["message"]))
    return out


def ticket(d, key):
    return [t for t in d.tickets() if t["key"] == key][0]


def stats(d):
    r = d.request({"op": "stats"})
    assert r["ok"], r
    return r["stats"]


class Silence(unittest.TestCase):
    def add(self, d, **fields):
        r = d.request(dict({"op": "silence", "action": "add"}, **fields))
        self.assertTrue(r["ok"], r)
        return r["silence"]

    def error(self, d, req):
        r = d.request(dict({"op": "silence"}, **req))
        self.assertFalse(r["ok"], r)
        return r["error"]["code"], r["error"]["message"]

    def test_a_silence_holds_one_accounts_notifications_until_it_is_expired(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False, config=CONFIG) as d:
            r = d.ctl("silence", "add", "--account", "A", "--until", "1h", "--reason", "Spring Festival")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("silence 1 holds notifications that match account=A", r.stdout)
            d.ingest([{"type": "probe.open", "id": "a1", "account": "A"},
                      {"type": "probe.open", "id": "b1", "account": "B"}])
            # B's opening and escalation go out; A's are held
            self.assertEqual(sorted(wait(lambda: len(delivered(d)) == 2 and delivered(d))),
                             [("B", "escalated"), ("B", "opened b1")])
            # A's ticket goes on: its escalation fires (level 1) though nobody is told
            self.assertTrue(wait(lambda: ticket(d, "p:a1")["level"] == 1))
            self.assertTrue(wait(lambda: stats(d)["notifications_held"] == 2))
            time.sleep(0.5)
            self.assertEqual(len(delivered(d)), 2)
            s = stats(d)
            self.assertEqual((s["silences_active"], s["notifications_held_total"]), (1, 2))
            # the ticket's history says what was held, by which silence and until when
            a1 = ticket(d, "p:a1")["id"]
            show = d.ctl("show", str(a1))
            self.assertEqual(show.returncode, 0, show.stderr)
            self.assertEqual(show.stdout.count("held      notification to lead held by silence 1"), 2)
            hist = d.request({"op": "ticket", "id": a1})["ticket"]["history"]
            held = [h for h in hist if h["action"] == "held"]
            self.assertEqual([(h["actor"], h["detail"][:63]) for h in held],
                             [("silence", "notification to lead held by silence 1 (Spring Festival) until ")] * 2)
            # list: for people and for scripts
            r = d.ctl("silence", "list")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"(?m)^1 +active +account=A +\S+ +\S.* +2 +\S+ +Spring Festival")
            listed = json.loads(d.ctl("--json", "silence", "list").stdout)["silences"]
            self.assertEqual([(x["id"], x["account"], x["held"], x["reason"]) for x in listed],
                             [(1, "A", 2, "Spring Festival")])
            self.assertEqual(d.ctl("status").stdout.count("silences"), 1)
            # expire: what it held is delivered now, and the silence is over
            r = d.ctl("silence", "expire", "1")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("2 held notifications released", r.stdout)
            self.assertEqual(sorted(wait(lambda: len(delivered(d)) == 4 and delivered(d))),
                             [("A", "escalated"), ("A", "opened a1"), ("B", "escalated"), ("B", "opened b1")])
            s = stats(d)
            self.assertEqual((s["silences_active"], s["notifications_held"]), (0, 0))
            # the ticket says why they went before the silence's time
            hist = d.request({"op": "ticket", "id": a1})["ticket"]["history"]
            released = [h["detail"] for h in hist if h["action"] == "released"]
            self.assertEqual(len(released), 2)
            self.assertRegex(released[0], r"^notification to lead released: silence 1 \(Spring Festival\) expired by \S+$")
            self.assertEqual(d.ctl("silence", "list").stdout.strip(),
                             "no silence is running or waiting (--all: ended ones too)")
            everything = d.request({"op": "silence", "action": "list", "all": True})["silences"]
            self.assertEqual([(x["state"], x["expired_by"] is not None, x["held"]) for x in everything],
                             [("expired", True, 0)])
            # a new notification of A goes at once
            d.ingest([{"type": "probe.open", "id": "a2", "account": "A"}])
            self.assertTrue(wait(lambda: ("A", "opened a2") in delivered(d)))

    def test_held_notifications_go_when_the_silence_ends_by_itself(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False, config=CONFIG) as d:
            self.add(d, queue="care-*", output="lead", until="3s", reason="ERP outage")
            # one that starts in an hour holds nothing yet, and is not active
            self.assertEqual(self.add(d, account="A", starts="1h", until="2h", reason="later")["state"], "waiting")
            self.assertEqual(stats(d)["silences_active"], 1)
            d.ingest([{"type": "probe.open", "id": "x", "account": "A", "queue": "care-eu"},
                      {"type": "probe.open", "id": "y", "account": "A", "queue": "returns"}])
            self.assertTrue(wait(lambda: len(delivered(d)) == 2))
            self.assertEqual(sorted(m for _, m in delivered(d)), ["escalated", "opened y"])
            self.assertEqual(stats(d)["notifications_held"], 2)
            # the silence's end is the held rows' due time: no expire needed
            self.assertTrue(wait(lambda: len(delivered(d)) == 4, timeout=15))
            self.assertEqual(stats(d)["notifications_held"], 0)
            ended = d.request({"op": "silence", "action": "list", "all": True})["silences"]
            self.assertEqual([x["state"] for x in ended], ["waiting", "ended"])

    def test_a_silence_on_a_marketplace_holds_only_its_tickets(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False, config=CONFIG) as d:
            r = d.ctl("silence", "add", "--marketplace", "DE", "--until", "1h", "--reason", "amazon.de down")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("match marketplace=DE", r.stdout)
            d.ingest([{"type": "probe.open", "id": "de", "account": "A", "marketplace": "DE"},
                      {"type": "probe.open", "id": "us", "account": "A", "marketplace": "US"}])
            self.assertTrue(wait(lambda: len(delivered(d)) == 2))
            self.assertTrue(wait(lambda: stats(d)["notifications_held"] == 2))
            self.assertEqual(sorted(m for _, m in delivered(d)), ["escalated", "opened us"])
            [x] = d.request({"op": "silence", "action": "list"})["silences"]
            self.assertEqual((x["marketplace"], x["account"], x["held"]), ("DE", None, 2))
            # the silence survives a restart with its marketplace
            d.kill9()
            d.start()
            [x] = d.request({"op": "silence", "action": "list"})["silences"]
            self.assertEqual(x["marketplace"], "DE")

    def test_a_silence_survives_sigkill_and_still_holds(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False, config=CONFIG) as d:
            s = self.add(d, account="A", until="2h", reason="holiday")
            d.ingest([{"type": "probe.open", "id": "a1", "account": "A"}])
            self.assertTrue(wait(lambda: stats(d)["notifications_held"] == 2))
            d.kill9()
            d.start()
            listed = d.request({"op": "silence", "action": "list"})["silences"]
            self.assertEqual([(x["id"], x["state"], x["held"]) for x in listed], [(s["id"], "active", 2)])
            d.ingest([{"type": "probe.open", "id": "a2", "account": "A"},
                      {"type": "probe.open", "id": "b2", "account": "B"}])
            self.assertTrue(wait(lambda: len(delivered(d)) == 2))
            self.assertTrue(wait(lambda: stats(d)["notifications_held"] == 4))
            self.assertEqual({a for a, _ in delivered(d)}, {"B"})
            r = d.request({"op": "silence", "action": "expire", "id": s["id"]})
            self.assertTrue(r["ok"], r)
            self.assertEqual(r["released"], 4)
            self.assertTrue(wait(lambda: len(delivered(d)) == 6))

    def test_holding_a_flood_does_not_hold_up_the_others(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False, config=CONFIG) as d:
            self.add(d, account="A", until="1h", reason="outage")
            # ten delivery batches of A, then one of B behind them
            d.ingest([{"type": "probe.open", "id": f"a{i}", "account": "A"} for i in range(640)])
            d.ingest([{"type": "probe.open", "id": "b", "account": "B"}])
            start = time.monotonic()
            self.assertTrue(wait(lambda: ("B", "opened b") in delivered(d), timeout=30))
            # a second between batches would be ten here
            self.assertLess(time.monotonic() - start, 6)
            self.assertTrue(wait(lambda: stats(d)["notifications_held"] >= 640))
            self.assertEqual({a for a, _ in delivered(d)}, {"B"})

    def test_a_time_without_an_offset_is_the_readers_wall_clock(self):
        day = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=2)).date()
        def utc(zone):
            t = datetime.datetime.combine(day, datetime.time(8, 0), ZoneInfo(zone))
            return t.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        typed = f"{day.isoformat()} 08:00"
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False,
                    config=CONFIG + "display_timezone: Asia/Shanghai\n") as d:
            # over the socket: the config's display_timezone
            s = self.add(d, account="A", until=typed, reason="r")
            self.assertEqual(s["until"], utc("Asia/Shanghai"))
            # triagectl: TZ wins (SPEC §7)
            r = subprocess.run([TRIAGECTL, "--socket", d.socket, "--json", "silence", "add", "--account", "B",
                                "--until", typed, "--reason", "r"], capture_output=True, text=True, timeout=60,
                               env=dict(os.environ, TZ="America/New_York"))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(json.loads(r.stdout)["silence"]["until"], utc("America/New_York"))

    def test_bad_requests_name_their_field(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False, config=CONFIG) as d:
            base = {"action": "add", "account": "A", "until": "1h", "reason": "r"}
            cases = [
                ({"action": "mute"}, "bad_request", 'field "action": add, list or expire, not "mute"'),
                (dict(base, until=None), "bad_request", 'field "until": required'),
                (dict(base, until="2020-01-01T00:00:00Z"), "bad_request", 'field "until": 2020-01-01T00:00:00Z is in the past'),
                (dict(base, until="tomorrow"), "bad_request", 'field "until": an RFC 3339 time'),
                (dict(base, until="800d"), "bad_request", 'field "until":'),
                (dict(base, reason=None), "bad_request", 'field "reason": required'),
                (dict(base, reason=""), "bad_request", 'field "reason": required'),
                (dict(base, account=None), "bad_request", 'field "account", "queue", "output", "priority" or "marketplace"'),
                (dict(base, account=7), "bad_request", 'field "account": a string'),
                (dict(base, account="a*b"), "bad_request", "field \"account\": '*' may only end the text"),
                (dict(base, output="laed"), "bad_request", 'field "output": no output "laed" (known: journal, watch, lead)'),
                (dict(base, priority="hgih"), "bad_request", 'field "priority": low, normal, high or urgent'),
                (dict(base, acount="B"), "bad_request", 'field "acount": not a field of silence add'),
                (dict(base, starts="3h"), "bad_request", 'field "starts": must come before "until"'),
                ({"action": "list", "all": "yes"}, "bad_request", 'field "all"'),
                ({"action": "expire"}, "bad_request", 'field "id": the silence\'s number'),
                ({"action": "expire", "id": 99}, "not_found", "no silence 99"),
            ]
            for req, code, msg in cases:
                req = {k: v for k, v in req.items() if v is not None}
                got = self.error(d, req)
                self.assertEqual(got[0], code, (req, got))
                self.assertIn(msg, got[1], req)
            s = self.add(d, account="A", until="1h", reason="r")
            self.assertTrue(d.request({"op": "silence", "action": "expire", "id": s["id"]})["ok"])
            self.assertEqual(self.error(d, {"action": "expire", "id": s["id"]}),
                             ("bad_request", f"silence {s['id']} has already been expired"))
            # triagectl: a usage error is exit 2 before anything is sent; the daemon's no is 1
            for args in (["silence", "add", "--account", "A", "--reason", "r"],
                         ["silence", "add", "--account", "A", "--until", "1h"],
                         ["silence", "add", "--until", "1h", "--reason", "r"],
                         ["silence", "list", "--until", "1h"],
                         ["silence", "expire"], ["silence", "expire", "x"], ["silence", "pause"]):
                r = d.ctl(*args)
                self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
                self.assertIn("usage: triagectl silence", r.stderr)
            r = d.ctl("silence", "add", "--queue", "q", "--until", "yesterday", "--reason", "r")
            self.assertEqual(r.returncode, 1)
            self.assertIn('field "until"', r.stderr)
            self.assertEqual(d.request({"op": "silence", "action": "list"})["silences"], [])

    def test_the_number_of_silences_is_capped(self):
        with Daemon(rules={"50-probe.lua": RULES}, shipped=False, config=CONFIG) as d:
            c = d.client()
            try:
                for i in range(256):
                    r = c.request({"op": "silence", "action": "add", "account": f"acct-{i}", "until": "1h",
                                   "reason": "r"})
                    self.assertTrue(r["ok"], r)
                r = c.request({"op": "silence", "action": "add", "account": "one-more", "until": "1h",
                               "reason": "r"})
            finally:
                c.close()
            self.assertFalse(r["ok"])
            self.assertIn("256 silences are running or waiting", r["error"]["message"])
            self.assertEqual(stats(d)["silences_active"], 256)
            # ending one makes room
            self.assertTrue(d.request({"op": "silence", "action": "expire", "id": 1})["ok"])
            self.add(d, account="one-more", until="1h", reason="r")


if __name__ == "__main__":
    unittest.main()
