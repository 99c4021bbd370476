"""Time (SPEC §3, §5) through the real daemon: timers are rows that fire
once, also when they fell due while the daemon was SIGKILLed; pending timers
show in `timers` and on the ticket; closing a ticket cancels them; ack
pauses a ladder; notifications reach a dir output and `watch` clients."""
import glob
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import TRIAGED, Daemon, wait  # noqa: E402

NUDGE = '''
rule { name = "nudge-soon", on = "probe.open", action = function(ev, ctx)
  local t = ticket.open { key = "p:" .. ev.id, title = "probe " .. ev.id }
  t:nudge { at = ctx.now + (ev.delay or 2), note = "wake up", notify = "out" }
end }
rule { name = "count-nudges", on = "timer.nudge", action = function(ev)
  local t = ticket.get(ev.ticket_id)
  t:comment("rule saw the nudge " .. ev.id)
  local n = state.incr("nudges")
  ticket.open { key = "counter", title = "nudges" }:set { fields = { n = n } }
end }
rule { name = "schedule", on = "probe.schedule", action = function(ev, ctx)
  schedule { at = ctx.now + 1, event = { type = "probe.later", id = "later-" .. ev.id } }
end }
rule { name = "later", on = "probe.later", action = function(ev)
  ticket.open { key = "later:" .. ev.id, title = "scheduled event arrived" }
end }
rule { name = "nudge-closed", on = "probe.nudge_closed", action = function(ev, ctx)
  local t = ticket.get(ev.ticket)
  t:nudge { after = "1h", note = "too late" }
  t:escalate { after = "2h", level = 2 }
end }
'''


class Timers(unittest.TestCase):
    def config(self, d):
        return f"outputs:\n  out: {{ dir: notes }}\n"

    def test_a_nudge_fires_once_and_notifies(self):
        with Daemon(rules={"50-t.lua": NUDGE}, shipped=False, config="outputs:\n  out: { dir: notes }\n") as d:
            d.ingest([{"type": "probe.open", "id": "a", "delay": 1}])
            t = d.tickets(text="probe a")[0]
            r = d.request({"op": "ticket", "id": t["id"]})
            self.assertEqual([x["kind"] for x in r["ticket"]["timers"]], ["nudge"])
            timers = d.request({"op": "timers"})
            self.assertEqual(timers["total"], 1)
            self.assertTrue(wait(lambda: d.tickets(text="counter")))
            counter = d.tickets(text="counter")[0]
            self.assertEqual(counter["fields"]["n"], 1)
            notes = wait(lambda: glob.glob(os.path.join(d.dir, "notes", "*.json")))
            self.assertEqual(len(notes), 1)
            with open(notes[0]) as f:
                note = json.load(f)
            self.assertEqual((note["output"], note["note"]), ("out", "wake up"))
            self.assertTrue(note["message"].startswith("[normal] probe a") and note["message"].endswith(" — wake up"),
                            note["message"])  # the line names its ticket (test_notify_text.py)
            self.assertEqual(note["ticket"]["id"], t["id"])
            self.assertEqual(d.request({"op": "timers"})["total"], 0)
            r = d.ctl("timers")
            self.assertEqual((r.returncode, r.stdout.strip()), (0, "no pending timers"))

    def test_a_nudge_due_during_a_sigkilled_downtime_fires_exactly_once_after_restart(self):
        with Daemon(rules={"50-t.lua": NUDGE}, shipped=False, config="outputs:\n  out: { dir: notes }\n") as d:
            d.ingest([{"type": "probe.open", "id": "b", "delay": 2}])
            d.kill9()
            time.sleep(2.5)  # it falls due while the daemon is down
            d.start()
            self.assertTrue(wait(lambda: d.tickets(text="counter")))
            time.sleep(0.5)
            d.kill9()  # and again, right after it fired: it must not fire twice
            d.start()
            time.sleep(1.0)
            counter = d.tickets(text="counter")[0]
            self.assertEqual(counter["fields"]["n"], 1)
            self.assertEqual(len(glob.glob(os.path.join(d.dir, "notes", "*.json"))), 1)
            t = d.tickets(text="probe b")[0]
            hist = [h["action"] for h in d.request({"op": "ticket", "id": t["id"]})["ticket"]["history"]]
            self.assertEqual(hist.count("nudge"), 1)

    def test_closing_cancels_and_schedule_injects_an_event(self):
        with Daemon(rules={"50-t.lua": NUDGE}, shipped=False, config="outputs:\n  out: { dir: notes }\n") as d:
            d.ingest([{"type": "probe.open", "id": "c", "delay": 60}])
            t = d.tickets(text="probe c")[0]
            r = d.request({"op": "ticket.update", "id": t["id"], "action": "close"})
            self.assertTrue(r["ok"])
            self.assertEqual(d.request({"op": "timers"})["total"], 0)
            # A closed ticket's timers have ended: a rule's nudge on it adds none.
            r = d.ingest([{"type": "probe.nudge_closed", "id": "nc", "ticket": t["id"]}])
            self.assertEqual(r["accepted"], 1, r)
            [o] = d.request({"op": "explain", "type": "probe.nudge_closed", "event_id": "nc"})["outcomes"]
            self.assertEqual((o["status"], o["effects"]), ("ok", []), o)
            self.assertEqual(d.request({"op": "timers"})["total"], 0)
            d.ingest([{"type": "probe.schedule", "id": "s"}])
            self.assertTrue(wait(lambda: d.tickets(text="scheduled event arrived")))
            r = d.request({"op": "explain", "type": "probe.later", "event_id": "later-s"})
            self.assertTrue(r["event"]["source"].startswith("timer:"))

    def test_watch_streams_notifications(self):
        with Daemon(rules={"50-t.lua": NUDGE.replace('notify = "out"', 'notify = "watch"')}, shipped=False) as d:
            watchers = [d.client(), d.client()]  # each gets every line
            for w in watchers:
                self.assertTrue(w.request({"op": "watch"})["watching"])
            d.ingest([{"type": "probe.open", "id": "w", "delay": 1}])
            for w in watchers:
                w.sock.settimeout(15)
                line = w.recv()
                while "notification" not in line:  # ticket changes stream too
                    line = w.recv()
                self.assertEqual(line["notification"]["note"], "wake up")
                w.close()


class Backlog(unittest.TestCase):
    def test_a_backlog_of_due_timers_fires_once_in_order_while_the_socket_answers(self):
        import sqlite3
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
        from bench_timers import fill
        n = 1000000  # a million pending timers load and fire once, in due order
        with Daemon(shipped=False) as d:
            d.stop()
            db = os.path.join(d.dir, "state", "triaged.db")
            fill(db, n, int(time.time()) - 86400)  # all fell due while the daemon was down
            d.start()
            # the first answers come while most of the backlog is still due
            first = d.request({"op": "timers", "limit": 1})["total"]
            self.assertGreater(first, n // 2, "the daemon answered only after firing the backlog")
            worst, left = 0.0, n
            while left:
                t0 = time.monotonic()
                left = d.request({"op": "timers", "limit": 1})["total"]
                worst = max(worst, time.monotonic() - t0)
            self.assertLess(worst, 0.5, "the socket is served while the backlog fires")
            self.assertEqual(d.stop(), 0)
            sq = sqlite3.connect(db)
            fired = list(sq.execute("SELECT ticket_id, fired_at FROM step_log WHERE action = 'nudge' ORDER BY at, id"))
            sq.close()
            self.assertEqual(len(fired), n)
            self.assertEqual(len(set(t for t, _ in fired)), n, "each timer fired once")
            at = [f for _, f in fired]
            self.assertEqual(at, sorted(at), "in due order (to the second they fired in)")


    def test_due_timers_fire_while_a_client_keeps_the_socket_busy(self):
        # A slice of timers lets a waiting client go first (tr_slice), but
        # never twice in a row: a client that streams without pause must not
        # hold the timers back until it stops.
        import threading
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "bench"))
        from bench_timers import fill
        n = 5000
        with Daemon(shipped=False) as d:
            d.stop()
            # due 3 to 8 s from now: after the stream has started
            fill(os.path.join(d.dir, "state", "triaged.db"), n, int(time.time()) + 3)
            d.start()
            stop, sent = threading.Event(), [0]

            # made beforehand and kept 16 deep, so that the socket always
            # has a request waiting: the daemon, not the client, is busy
            body = ",".join('{"type":"noise.tick","id":"n%d"}' % i for i in range(500))
            reqs = [('{"op":"ingest","events":[%s]}\n' % body.replace('"n', '"n%d-' % k)).encode()
                    for k in range(200)]

            def stream():
                c = d.client()
                k, inflight = 0, 0
                while not stop.is_set() or inflight:
                    while not stop.is_set() and inflight < 16:
                        c.send_raw(reqs[k % len(reqs)])  # later rounds are duplicates: still work
                        k, inflight = k + 1, inflight + 1
                    self.assertTrue(c.recv()["ok"])
                    inflight -= 1
                    sent[0] += 1
                c.close()

            th = threading.Thread(target=stream)
            th.start()
            try:
                self.assertTrue(wait(lambda: sent[0] > 20), "the stream runs")
                self.assertGreater(d.request({"op": "timers", "limit": 1})["total"], n // 2)
                at_start = sent[0]
                left = wait(lambda: d.request({"op": "timers", "limit": 1})["total"] == 0, timeout=120)
                during = sent[0] - at_start
            finally:
                stop.set()
                th.join()
            self.assertTrue(left, "every due timer fired while the client streamed")
            self.assertGreater(during, 0, "the stream went on meanwhile")


class Shipped(unittest.TestCase):
    def test_the_case_guard_limit_comes_from_the_config_params(self):
        with Daemon(config="params:\n  cases.max_per_day: 2\n") as d:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            d.ingest([{"type": "case.opened", "id": f"c{i}", "case_id": f"17{i}", "account": "acme-us",
                       "subject": "s", "occurred_at": now} for i in range(3)])
            [warning] = [t for t in d.tickets() if t["key"] == "case-guard:acme-us"]
            self.assertIn("opened 3 cases in 24 h", warning["title"])
            # reload reads params again; a config with errors keeps the old ones
            with open(d.config) as f:
                good = f.read()
            with open(d.config, "w") as f:
                f.write(good.replace("cases.max_per_day: 2", "cases.max_per_day: [2]"))
            r = d.request({"op": "reload"})
            self.assertFalse(r["ok"])
            self.assertIn("params.cases.max_per_day", r["error"]["message"])
            with open(d.config, "w") as f:
                f.write(good.replace("cases.max_per_day: 2", "cases.max_per_day: 0"))
            self.assertEqual(d.ctl("reload").returncode, 0)
            d.ingest([{"type": "case.opened", "id": "d0", "case_id": "180", "account": "acme-de",
                       "subject": "s", "occurred_at": now}])
            self.assertEqual([t["key"] for t in d.tickets() if t["key"] == "case-guard:acme-de"],
                             ["case-guard:acme-de"])
        d = Daemon(config="params:\n  cases.max_per_day: lots\n")  # not started
        r = subprocess.run([TRIAGED, "-c", d.config, "--check"], capture_output=True, text=True)
        shutil.rmtree(d.dir, ignore_errors=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cases.lua:", r.stderr)
        self.assertIn("param 'cases.max_per_day': \"lots\" in the config's params is not a number", r.stderr)

    def test_suspension_ladder_and_ack_through_triagectl(self):
        cfg = "outputs:\n  lead: { dir: lead }\n"
        with Daemon(config=cfg) as d:
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            d.ingest([{"type": "account.alert", "id": "sus", "account": "acme-us", "kind": "suspension",
                       "occurred_at": now}])
            [t] = d.tickets(priority="urgent")
            r = d.ctl("show", str(t["id"]))
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("escalate", r.stdout)
            timers = d.request({"op": "ticket", "id": t["id"]})["ticket"]["timers"]
            self.assertEqual(sorted(x["kind"] for x in timers), ["due"] + ["escalate"] * 4)
            r = d.ctl("ack", str(t["id"]))
            self.assertEqual(r.returncode, 0, r.stderr)
            # SPEC §5: an ack pauses, never deletes: the first level waits 4 h, the rest stay
            after = d.request({"op": "ticket", "id": t["id"]})["ticket"]["timers"]
            self.assertEqual(sorted(x["kind"] for x in after), ["due"] + ["escalate"] * 4)
            [paused] = [x for x in after if x.get("paused")]
            self.assertEqual((paused["level"], paused["scheduled_at"]), (1, timers[0]["due_at"]))
            r = d.ctl("show", str(t["id"]))
            self.assertIn("[paused by an ack; was due %s]" % timers[0]["due_at"], r.stdout)
            self.assertIn("[4h 0m 0s before the due time]", r.stdout)
            self.assertNotIn("{", r.stdout.split("pending timers:")[1], "no raw JSON in the table")
            # the suspension notified the lead through the dir output
            self.assertTrue(wait(lambda: glob.glob(os.path.join(d.dir, "lead", "*.json"))))

    def test_ladder_name_with_quotes_arms_its_levels(self):
        # the ladder travels as JSON: a quote in its name must not break it
        src = ('ladder { name = \'the "big" one\', levels = { { after = "1h", note = "n" } } }\n'
               'rule { name = "l", on = "x.y", action = function(ev)\n'
               '  local t = ticket.open { key = "k", title = "t" }\n'
               '  t:escalate { ladder = \'the "big" one\' }\n'
               'end }\n')
        with Daemon(rules={"50-ladder.lua": src}, shipped=False) as d:
            r = d.ingest([{"type": "x.y", "id": "1"}])
            self.assertEqual(r["accepted"], 1)
            [t] = d.tickets()
            timers = d.request({"op": "ticket", "id": t["id"]})["ticket"]["timers"]
            self.assertEqual([x["kind"] for x in timers], ["escalate"])
            out = d.request({"op": "explain", "type": "x.y", "event_id": "1"})
            self.assertNotIn("error", json.dumps([o["status"] for o in out["outcomes"]]))
    def test_a_ladder_repeats_its_top_level_until_done_or_acked(self):
        src = ('ladder { name = "twice", repeat_every = "1s", repeat_times = 2,\n'
               '  levels = { { after = "1s", note = "n1" }, { after = "1s", notify = "out", note = "top" } } }\n'
               'ladder { name = "forever", repeat_every = "1s", levels = { { after = "1s", notify = "out" } } }\n'
               'rule { name = "l", on = "x.y", action = function(ev)\n'
               '  ticket.open { key = ev.id, title = ev.id }:escalate { ladder = ev.ladder }\n'
               'end }\n')
        with Daemon(rules={"50-ladder.lua": src}, shipped=False, config="outputs:\n  out: { dir: notes }\n") as d:
            d.ingest([{"type": "x.y", "id": "a", "ladder": "twice"}, {"type": "x.y", "id": "b", "ladder": "forever"}])
            a, b = (d.tickets(text=k)[0]["id"] for k in ("a", "b"))

            def escalations(tid):
                return [h["detail"] for h in d.request({"op": "ticket", "id": tid})["ticket"]["history"]
                        if h["action"] == "escalate"]
            self.assertTrue(wait(lambda: len(escalations(b)) >= 2, timeout=20), escalations(b))
            self.assertEqual(d.ctl("ack", str(b)).returncode, 0)
            self.assertTrue(wait(lambda: len(escalations(a)) == 4, timeout=20), escalations(a))
            self.assertEqual(escalations(a), ["level 1: n1", "level 2: top", "level 2 (repeat 1): top",
                                              "level 2 (repeat 2): top"])
            seen_b = len(escalations(b))
            time.sleep(2.5)
            self.assertEqual(len(escalations(a)), 4, "repeat.times = 2: two repeats, no more")
            self.assertEqual(len(escalations(b)), seen_b, "an acknowledged ticket's repeats pause")
            # ...for tickets.ack_timeout (4 h by default), not for good
            [resume] = d.request({"op": "timers"})["timers"]
            self.assertEqual((resume["ticket"], resume["kind"], resume["paused"]), (b, "escalate", True))
            wait_s = time.mktime(time.strptime(resume["due_at"], "%Y-%m-%dT%H:%M:%SZ")) - time.mktime(
                time.strptime(resume["acked_at"], "%Y-%m-%dT%H:%M:%SZ"))
            self.assertEqual(wait_s, 4 * 3600)
            notes = glob.glob(os.path.join(d.dir, "notes", "*.json"))
            self.assertEqual(len(notes), 3 + seen_b)  # a's top level three times, b's each time

    def test_a_bad_repeat_fails_the_load_at_its_line(self):
        src = 'ladder { name = "x", repeat_every = "soon", levels = { { after = "1h" } } }\n'
        d = Daemon(rules={"50-ladder.lua": src}, shipped=False)  # not started
        r = subprocess.run([TRIAGED, "-c", d.config, "--check"], capture_output=True, text=True)
        shutil.rmtree(d.dir, ignore_errors=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("50-ladder.lua:1:", r.stderr)
        self.assertIn("repeat_every must be a duration", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
