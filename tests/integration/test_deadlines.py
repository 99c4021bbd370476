"""No deadline silently lost (SPEC §3, §5), through the real daemon: an ack
pauses escalations, never deletes them, and what it paused still comes
before the due time, across a SIGKILL; a backfilled message fires only what
still means something and records the rest as skipped; a calendar changed
and reloaded moves the steps counted in it, and says so."""
import glob
import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, wait  # noqa: E402

PROBE = '''
rule { name = "open", on = "probe.open", action = function(ev, ctx)
  local t = ticket.open { key = ev.id, title = "probe " .. ev.id, due = ctx.now + ev.due }
  t:escalate { at = ctx.now + ev.escalate, level = 1, notify = "out", reason = "nobody answered" }
end }
'''
OUT = "outputs:\n  out: { dir: out }\n"


def secs(rfc3339):
    return int(time.mktime(time.strptime(rfc3339, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone)


def ticket(d, tid):
    return d.request({"op": "ticket", "id": tid})["ticket"]


def history(d, tid, action):
    return [h for h in ticket(d, tid)["history"] if h["action"] == action]


class Ack(unittest.TestCase):
    def test_an_ack_pauses_an_escalation_that_resumes_after_the_timeout_even_across_a_sigkill(self):
        with Daemon(rules={"50-probe.lua": PROBE}, shipped=False, config=OUT + "tickets: { ack_timeout: 6s }\n") as d:
            d.ingest([{"type": "probe.open", "id": "a", "due": 600, "escalate": 3}])
            [t] = d.tickets()
            r = d.ctl("ack", str(t["id"]))
            self.assertEqual(r.returncode, 0, r.stderr)
            [step] = [x for x in ticket(d, t["id"])["timers"] if x["kind"] == "escalate"]
            self.assertTrue(step["paused"], step)
            self.assertEqual(secs(step["due_at"]) - secs(step["acked_at"]), 6, step)
            self.assertEqual(history(d, t["id"], "paused")[0]["detail"], "1 escalation paused")
            d.kill9()  # the pause is a row like any other: it survives
            d.start()
            self.assertTrue(wait(lambda: ticket(d, t["id"])["level"] == 1, timeout=30), d.log())
            [esc] = history(d, t["id"], "escalate")
            self.assertIn("[resumed: acknowledged at", esc["detail"])
            self.assertGreaterEqual(secs(esc["at"]), secs(step["due_at"]))
            self.assertTrue(wait(lambda: glob.glob(os.path.join(d.dir, "out", "*.json"))), "the lead is told")
            self.assertEqual(ticket(d, t["id"])["timers"][0]["kind"], "due", "nothing else is left")

    def test_what_an_ack_pauses_still_comes_before_the_due_time(self):
        with Daemon(rules={"50-probe.lua": PROBE}, shipped=False, config=OUT + "tickets: { ack_timeout: 1h }\n") as d:
            d.ingest([{"type": "probe.open", "id": "g", "due": 8, "escalate": 1}])
            [t] = d.tickets()
            self.assertEqual(d.ctl("ack", str(t["id"])).returncode, 0)
            [step] = [x for x in ticket(d, t["id"])["timers"] if x["kind"] == "escalate"]
            self.assertLess(secs(step["due_at"]), secs(t["due_at"]), "pulled in before the deadline")
            self.assertTrue(wait(lambda: history(d, t["id"], "breached"), timeout=30), d.log())
            [esc], [breach] = history(d, t["id"], "escalate"), history(d, t["id"], "breached")
            self.assertLess(secs(esc["at"]), secs(breach["at"]), "escalated before the breach")


class Backfill(unittest.TestCase):
    def test_a_backfilled_message_sends_the_breach_only_and_records_the_rest_as_skipped(self):
        two_days_ago = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * 86400))
        with Daemon(config="outputs:\n  lead: { dir: lead }\n") as d:
            d.ingest([{"type": "message.new", "id": "old-1", "order_id": "111-1", "buyer": "Kim",
                       "subject": "Where is my order?", "occurred_at": two_days_ago}])
            [t] = d.tickets()
            self.assertTrue(wait(lambda: ticket(d, t["id"])["priority"] == "urgent"), d.log())
            skipped = [h["detail"] for h in history(d, t["id"], "skipped")]
            self.assertEqual(len(skipped), 3, skipped)  # nudges at 12 h and 20 h, the escalation at 23 h
            self.assertTrue(all("not sent, the deadline due" in s for s in skipped), skipped)
            [breach] = history(d, t["id"], "breached")
            self.assertIn("(due ", breach["detail"])  # late: when it was due and when it fired
            self.assertGreater(breach["late_s"], 86000)
            self.assertTrue(wait(lambda: glob.glob(os.path.join(d.dir, "lead", "*.json"))))
            time.sleep(1)
            sent = []
            for path in glob.glob(os.path.join(d.dir, "lead", "*.json")):
                with open(path) as f:
                    sent.append(json.load(f)["note"])
            self.assertEqual(len(sent), 1, sent)
            self.assertTrue(sent[0].startswith("Reply deadline missed"), sent)


CAL_RULES = '''
rule { name = "open", on = "probe.open", action = function(ev, ctx)
  local t = ticket.open { key = ev.id, title = "probe " .. ev.id }
  t:nudge { after = "30h", calendar = "team", note = "30 open hours on" }
  t:nudge { after = "1h", note = "round the clock" }
end }
'''

TEAM = "calendars:\n  team: { timezone: UTC, hours: \"Mon-Sun 00:00-24:00\"%s }\n"


def make_holiday(d, day):
    """The team calendar of d's config gets day (YYYY-MM-DD) as a holiday."""
    with open(d.config) as f:
        text = f.read()
    with open(d.config, "w") as f:
        f.write(text.replace(TEAM % "", TEAM % (", holidays: [%s]" % day)))


class Calendars(unittest.TestCase):
    def test_a_reloaded_calendar_moves_the_steps_counted_in_it_and_says_so(self):
        with Daemon(rules={"50-cal.lua": CAL_RULES}, shipped=False, config=TEAM % "") as d:
            d.ingest([{"type": "probe.open", "id": "c"}])
            [t] = d.tickets()
            before = {x["note"]: x["due_at"] for x in ticket(d, t["id"])["timers"]}
            # the day the nudge falls on becomes a holiday
            day = before["30 open hours on"][:10]
            make_holiday(d, day)
            r = d.ctl("reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("moved: 1 pending step to where the new calendars put them", r.stdout)
            after = {x["note"]: x["due_at"] for x in ticket(d, t["id"])["timers"]}
            self.assertEqual(after["round the clock"], before["round the clock"], "not counted in a calendar")
            self.assertGreater(after["30 open hours on"], before["30 open hours on"])
            self.assertGreater(after["30 open hours on"][:10], day, "counted past the new holiday")
            [moved] = history(d, t["id"], "moved")
            self.assertIn("calendar 'team' changed", moved["detail"])
            self.assertEqual(d.request({"op": "reload"})["moved"], 0, "a second reload moves nothing")

    def test_a_big_recount_goes_on_after_the_reload_answers(self):
        # More waiting tickets than a reload recounts before it answers
        # (4 slices of 250): the rest follow on later turns of the loop.
        n = 1300
        with Daemon(rules={"50-cal.lua": CAL_RULES}, shipped=False, config=TEAM % "") as d:
            for k in range(0, n, 500):
                d.ingest([{"type": "probe.open", "id": f"c{i}"} for i in range(k, min(n, k + 500))])
            last = [t for t in d.tickets(limit=n) if t["key"] == f"c{n - 1}"][0]
            before = {x["note"]: x["due_at"] for x in ticket(d, last["id"])["timers"]}
            day = before["30 open hours on"][:10]
            make_holiday(d, day)
            r = d.request({"op": "reload"})
            self.assertTrue(r["ok"], r)
            self.assertEqual((r["moved"], r.get("recounting")), (1000, True), r)
            # the rest are recounted while the daemon goes on answering
            self.assertTrue(d.request({"op": "ping"})["ok"])
            self.assertTrue(wait(lambda: f"reload: {n} pending steps moved" in d.log()), d.log()[-2000:])
            after = {x["note"]: x["due_at"] for x in ticket(d, last["id"])["timers"]}
            self.assertGreater(after["30 open hours on"][:10], day, "the last ticket too")
            self.assertNotIn("recounting", d.request({"op": "reload"}), "done: nothing left")


if __name__ == "__main__":
    unittest.main(verbosity=2)
