"""The core pipeline through the socket: samples give the tickets their
README describes, duplicates, malformed requests, ticket operations."""
import json
import os
import pwd
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Client, Daemon, SAMPLES, read_ndjson  # noqa: E402


class SampleEvents(unittest.TestCase):
    def test_events_sample_gives_the_readme_tickets(self):
        with Daemon() as d:
            events = read_ndjson(os.path.join(SAMPLES, "events_20261124.ndjson"))
            r = d.ingest(events)
            self.assertEqual(r, {"ok": True, "accepted": 5, "duplicates": 0, "rejected": []})
            tickets = {t["key"]: t for t in d.tickets()}
            # message answered in 2 h: its ticket closes
            msg = tickets["message:113-2222222-3333333"]
            self.assertEqual(msg["state"], "closed")
            self.assertEqual(msg["close_reason"], "replied")
            self.assertEqual(msg["due_at"], "2026-11-25T05:00:00Z")
            # 1-star feedback: high priority, due 2 h after it was left
            fb = tickets["feedback:302-3333333-4444444"]
            self.assertEqual((fb["priority"], fb["state"], fb["due_at"]), ("high", "open", "2026-11-24T08:00:00Z"))
            # suspension: urgent, plan of action due in 72 h
            susp = [t for k, t in tickets.items() if k.startswith("account:acme-us:suspension")]
            self.assertEqual(len(susp), 1)
            self.assertEqual((susp[0]["priority"], susp[0]["due_at"]), ("urgent", "2026-11-27T04:00:00Z"))
            # Japanese return request: open, tagged, due 24 h after 05:30 JST
            jp = tickets["message:503-0000000-1111111"]
            self.assertEqual(jp["state"], "open")
            self.assertIn("return-request", jp["tags"])
            self.assertEqual(jp["due_at"], "2026-11-24T20:30:00Z")
            self.assertEqual(len(tickets), 4)

            # the same events again are all duplicates and change nothing
            r = d.ingest(events)
            self.assertEqual(r, {"ok": True, "accepted": 0, "duplicates": 5, "rejected": []})
            self.assertEqual(len(d.tickets()), 4)
            self.assertEqual(d.stop(), 0)

    def test_bad_events_are_rejected_with_their_index(self):
        with Daemon() as d:
            events = [
                {"type": "message.new", "id": "ok-1", "order_id": "1"},
                {"id": "no-type"},
                ["not", "an", "object"],
                {"type": "Bad Type!", "id": "x"},
                {"type": "feedback.new", "id": "bad-rating", "rating": "six", "order_id": "9"},
                {"type": "feedback.new", "id": "ok-2", "rating": 2, "order_id": "2"},
                {"type": "message.new", "id": "bad-time", "occurred_at": "yesterday"},
            ]
            r = d.ingest(events)
            self.assertTrue(r["ok"])
            self.assertEqual(r["accepted"], 2)
            rejected = {x["index"]: x["error"] for x in r["rejected"]}
            self.assertEqual(sorted(rejected), [1, 2, 3, 4, 6])
            self.assertIn("type", rejected[1])
            self.assertIn("object", rejected[2])
            self.assertIn("rating", rejected[4])
            self.assertIn("occurred_at", rejected[6])


class Protocol(unittest.TestCase):
    def test_malformed_lines_get_errors_and_the_connection_stays_usable(self):
        with Daemon() as d:
            c = d.client()
            c.send_raw(b'{"op": "ping"\n')
            r = c.recv()
            self.assertEqual(r["error"]["code"], "bad_request")
            c.send_raw(b'[1,2]\n')
            self.assertEqual(c.recv()["error"]["code"], "bad_request")
            c.send_raw(b'{"op": "frobnicate", "id": 7}\n')
            r = c.recv()
            self.assertEqual((r["error"]["code"], r["id"]), ("bad_request", 7))
            c.send_raw(b'\xff\xfe garbage\n')
            self.assertEqual(c.recv()["error"]["code"], "bad_request")
            c.send({"op": "ping", "id": "abc"})
            r = c.recv()
            self.assertEqual((r["ok"], r["id"]), (True, "abc"))
            c.close()

    def test_over_long_line_is_too_large_and_skipped(self):
        with Daemon(config="limits: { request_bytes: 100000 }\n") as d:
            c = d.client()
            c.send_raw(b'{"op":"ping","pad":"' + b"x" * 300000 + b'"}\n{"op":"ping","id":2}\n')
            self.assertEqual(c.recv()["error"]["code"], "too_large")
            self.assertEqual(c.recv()["id"], 2)
            c.close()

    def test_deeply_nested_event_is_a_clean_rejection(self):
        with Daemon() as d:
            c = d.client()
            deep = "[" * 10000 + "]" * 10000
            c.send_raw(('{"op":"ingest","events":[{"type":"x.y","id":"d","v":' + deep + '}]}\n').encode())
            r = c.recv()
            self.assertFalse(r["ok"])
            self.assertEqual(r["error"]["code"], "bad_request")
            c.send({"op": "ingest", "events": [{"type": "x.y", "id": "d2", "v": json.loads("[" * 100 + "]" * 100)}]})
            r = c.recv()
            self.assertEqual(r["accepted"], 0)
            self.assertIn("nested", r["rejected"][0]["error"])
            self.assertTrue(c.request({"op": "ping"})["ok"])
            c.close()

    def test_event_over_event_bytes_is_rejected_alone(self):
        with Daemon(config="limits: { event_bytes: 4096 }\n") as d:
            big = {"type": "message.new", "id": "big", "order_id": "o1", "body": "x" * 5000}
            small = {"type": "message.new", "id": "small", "order_id": "o2"}
            r = d.ingest([big, small])
            self.assertEqual(r["accepted"], 1)
            self.assertEqual(r["rejected"][0]["index"], 0)
            self.assertIn("limits.event_bytes", r["rejected"][0]["error"])

    def test_pipelined_requests_are_answered_in_order(self):
        # Long lines are parsed on the worker thread, short ones at once on
        # the loop: answers still come back in the order of the requests.
        with Daemon() as d:
            c = d.client()
            lines = b""
            for i in range(200):
                if i % 3 == 0:
                    lines += json.dumps({"op": "ping", "id": i}).encode() + b"\n"
                elif i % 5 == 0:
                    evs = [{"type": "message.new", "id": f"m{i}-{k}", "order_id": f"o{i}-{k}"} for k in range(100)]
                    line = json.dumps({"op": "ingest", "id": i, "events": evs}).encode()
                    self.assertGreater(len(line), 4096)
                    lines += line + b"\n"
                else:
                    ev = {"type": "message.new", "id": f"m{i}", "order_id": f"o{i}"}
                    lines += json.dumps({"op": "ingest", "id": i, "events": [ev]}).encode() + b"\n"
            c.send_raw(lines)
            for i in range(200):
                r = c.recv()
                self.assertEqual(r["id"], i)
                self.assertTrue(r["ok"])
                if i % 3 and i % 5 == 0:
                    self.assertEqual(r["accepted"], 100)
            c.close()

    def test_overload_answers_busy_and_loses_nothing(self):
        with Daemon(config="limits: { max_pending_events: 100 }\n") as d:
            c = d.client()
            burst = b""
            for r in range(20):
                events = [{"type": "message.new", "id": f"b{r}-{k}", "order_id": f"o{r}-{k}"} for k in range(50)]
                if r % 2:  # a long line: parsed on the worker thread
                    for e in events:
                        e["body"] = "x" * 100
                burst += json.dumps({"op": "ingest", "id": r, "events": events}).encode() + b"\n"
            c.send_raw(burst)
            answers = [c.recv() for _ in range(20)]
            self.assertEqual([a["id"] for a in answers], list(range(20)))
            busy = [a for a in answers if not a["ok"]]
            self.assertTrue(busy, "a burst past max_pending_events gets busy answers")
            self.assertEqual({a["error"]["code"] for a in busy}, {"busy"})
            accepted = sum(a["accepted"] for a in answers if a["ok"])
            self.assertEqual(accepted, 50 * (20 - len(busy)))
            # what was refused left no trace; what was accepted is stored
            self.assertEqual(d.request({"op": "stats"})["stats"]["events_stored"], accepted)
            # retried, the refused requests go through
            for a in busy:
                r = a["id"]
                events = [{"type": "message.new", "id": f"b{r}-{k}", "order_id": f"o{r}-{k}"} for k in range(50)]
                if r % 2:
                    for e in events:
                        e["body"] = "x" * 100
                self.assertEqual(c.request({"op": "ingest", "events": events})["accepted"], 50)
            c.close()

    def test_half_closed_client_still_gets_answers(self):
        import socket
        with Daemon() as d:
            c = d.client()
            c.send({"op": "ingest", "events": [{"type": "message.new", "id": "hc", "order_id": "1"}]})
            c.sock.shutdown(socket.SHUT_WR)
            self.assertEqual(c.recv()["accepted"], 1)
            c.close()


class Wal(unittest.TestCase):
    FAT = """
rule { name = "fat", on = "bulk", action = function(ev) state.set("fat:" .. ev.id, ev.blob) end }
"""

    def test_wal_starts_over_under_steady_load_and_pings_are_answered(self):
        # 20,000 events of ~3 KB, each stored twice (event, state): ~130 MiB
        # through the WAL without a pause in the load. With limits.wal_mb
        # 16 it must start over soon after 16 MiB (a checkpoint's last pass
        # with the writes held), well before the 64 MiB at which the loop
        # would block for one; the file keeps its largest size.
        with Daemon(rules={"fat.lua": self.FAT}, shipped=False, config="limits: { wal_mb: 16 }\n") as d:
            wal = os.path.join(d.dir, "state", "triaged.db-wal")
            c, pinger = d.client(), d.client()
            blob = "x" * 3000
            sent = answered = biggest = 0
            slowest_ping = 0.0
            depth, batch, total = 4, 200, 20000
            while answered < total // batch:
                while sent < total // batch and sent - answered < depth:
                    c.send({"op": "ingest", "events": [{"type": "bulk", "id": f"e{sent}-{k}", "blob": blob}
                                                       for k in range(batch)]})
                    sent += 1
                a = c.recv()
                self.assertTrue(a["ok"], a)
                self.assertEqual(a["accepted"], batch)
                answered += 1
                if answered % 10 == 0:
                    t0 = time.monotonic()
                    self.assertTrue(pinger.request({"op": "ping"})["ok"])
                    slowest_ping = max(slowest_ping, time.monotonic() - t0)
                    biggest = max(biggest, os.path.getsize(wal) if os.path.exists(wal) else 0)
            self.assertEqual(d.request({"op": "stats"})["stats"]["events_stored"], total)
            self.assertLess(biggest, 48 << 20, f"the WAL grew to {biggest >> 20} MiB")
            self.assertNotIn("checkpointing now", d.log(), "the loop had to block for a checkpoint")
            self.assertLess(slowest_ping, 5.0)
            c.close()
            pinger.close()


class Tickets(unittest.TestCase):
    def test_filters_show_update_and_explain(self):
        with Daemon() as d:
            d.ingest(read_ndjson(os.path.join(SAMPLES, "events_20261124.ndjson")))
            self.assertEqual(len(d.tickets(state="open")), 3)
            self.assertEqual(len(d.tickets(state="closed")), 1)
            self.assertEqual([t["account"] for t in d.tickets(state="open", account="acme-de")], ["acme-de"])
            # urgent: the suspension, and the JP message whose 24 h ran out on 2026-11-24
            # (its due timer fired at once and the messages rule raised it)
            self.assertEqual(len(d.tickets(priority="urgent")), 2)
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            past_due = [t for t in d.tickets(state="open") if t["due_at"] and t["due_at"] < now]
            # the JP message asks for a return: the messages rule routes it to the returns desk
            self.assertEqual(len(d.tickets(queue="messages")), 1)
            self.assertEqual(len(d.tickets(queue="returns")), 1)
            self.assertEqual(len(d.tickets(text="返品")), 1)
            self.assertEqual(len(d.tickets(breached=True)), len(past_due))
            self.assertGreaterEqual(len(past_due), 2)  # the feedback and the JP message

            fb = d.tickets(text="1-star")[0]
            r = d.request({"op": "ticket.update", "id": fb["id"], "action": "assign", "assignee": "mei"})
            self.assertEqual(r["ticket"]["assignee"], "mei")
            r = d.request({"op": "ticket.update", "id": fb["id"], "action": "comment", "text": "called the buyer"})
            self.assertTrue(r["ok"])
            r = d.request({"op": "ticket.update", "id": fb["id"], "action": "ack"})
            self.assertIsNotNone(r["ticket"]["acked_at"])
            r = d.request({"op": "ticket.update", "id": fb["id"], "action": "close", "reason": "refunded"})
            self.assertEqual((r["ticket"]["state"], r["ticket"]["close_reason"]), ("closed", "refunded"))
            r = d.request({"op": "ticket.update", "id": fb["id"], "action": "close"})
            self.assertEqual(r["error"]["code"], "bad_request")
            r = d.request({"op": "ticket.update", "id": fb["id"], "action": "reopen"})
            self.assertEqual(r["ticket"]["state"], "open")
            r = d.request({"op": "ticket.update", "id": 9999, "action": "ack"})
            self.assertEqual(r["error"]["code"], "not_found")

            r = d.request({"op": "ticket", "id": fb["id"]})
            actions = [(h["actor"].split(":")[0], h["action"]) for h in r["ticket"]["history"]]
            self.assertEqual(actions[0], ("rule", "opened"))
            me = pwd.getpwuid(os.getuid()).pw_name  # the caller's user name (test_actor.py)
            self.assertIn((me, "assign"), actions)
            self.assertIn((me, "close"), actions)
            self.assertEqual(actions[-1], (me, "reopen"))

            r = d.request({"op": "explain", "type": "feedback.new", "event_id": "fb-0201"})
            self.assertEqual(r["event"]["id"], "fb-0201")
            [o] = r["outcomes"]
            self.assertEqual((o["rule"], o["status"]), ("negative-feedback", "ok"))
            self.assertEqual(o["effects"][0]["op"], "ticket.open")
            r = d.request({"op": "explain", "type": "feedback.new", "event_id": "nope"})
            self.assertEqual(r["error"]["code"], "not_found")

            rules = d.request({"op": "rules"})["rules"]
            self.assertEqual({r["name"] for r in rules},
                             {"negative-feedback", "negative-feedback-breached", "message-reply-deadline",
                              "message-answered", "message-breached",
                              "account-alert", "case-opened", "case-rate-guard", "case-update"})
            stats = d.request({"op": "stats"})["stats"]
            # the 5 events, and one ticket.breached per ticket past due (a rule handles those)
            self.assertEqual((stats["events_stored"], stats["tickets_total"]), (5 + len(past_due), 4))

    def test_reopen_refused_while_another_ticket_holds_the_key(self):
        opener = 'rule { name = "opener", on = "x.open", action = function(ev) ticket.open { key = "k:" .. ev.k, title = ev.id } end }\n'
        with Daemon(rules={"50-open.lua": opener}, shipped=False) as d:
            d.ingest([{"type": "x.open", "id": "1", "k": "a"}])
            [first] = d.tickets()
            r = d.request({"op": "ticket.update", "id": first["id"], "action": "close"})
            self.assertTrue(r["ok"], r)
            d.ingest([{"type": "x.open", "id": "2", "k": "a"}])
            second = [t for t in d.tickets(state="open")]
            self.assertEqual([t["title"] for t in second], ["2"])
            r = d.request({"op": "ticket.update", "id": first["id"], "action": "reopen"})
            self.assertEqual(r["error"]["code"], "bad_request", r)
            self.assertIn("another open ticket has the key k:a", r["error"]["message"])
            r = d.request({"op": "ticket.update", "id": second[0]["id"], "action": "close"})
            r = d.request({"op": "ticket.update", "id": first["id"], "action": "reopen"})
            self.assertEqual(r["ticket"]["state"], "open", r)
            self.assertEqual([t["id"] for t in d.tickets(state="open")], [first["id"]])


class Check(unittest.TestCase):
    def test_check_lists_every_problem_with_file_and_line(self):
        import subprocess
        from harness import TRIAGED
        d = Daemon(rules={"50-bad.lua": 'rule { name = "x", on = "a.b", action = function() end\n'})
        with open(d.config, "a") as f:
            f.write("durability: sometimes\nlimits: { rule_time_ms: -5 }\nbogus: 1\n")
        r = subprocess.run([TRIAGED, "-c", d.config, "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        lines = r.stderr.strip().splitlines()
        self.assertTrue(any("durability" in l and ":6:" in l for l in lines), lines)
        self.assertTrue(any("rule_time_ms" in l and ":7:" in l for l in lines), lines)
        self.assertTrue(any("bogus" in l and ":8:" in l for l in lines), lines)
        r = subprocess.run([TRIAGED, "-c", d.config], capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 1)
        with open(d.config) as f:
            good = f.read().replace("durability: sometimes\nlimits: { rule_time_ms: -5 }\nbogus: 1\n", "")
        with open(d.config, "w") as f:
            f.write(good)
        r = subprocess.run([TRIAGED, "-c", d.config, "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 1)
        self.assertIn("50-bad.lua:", r.stderr)
        os.remove(os.path.join(d.rules_dir, "50-bad.lua"))
        r = subprocess.run([TRIAGED, "-c", d.config, "--check"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration ok", r.stdout)


class Reload(unittest.TestCase):
    def test_reload_swaps_rules_whole_or_keeps_the_old_ones(self):
        import signal
        with Daemon() as d:
            extra = os.path.join(d.rules_dir, "90-extra.lua")
            with open(extra, "w") as f:
                f.write('rule { name = "extra", on = "probe.x", action = function() end }\n'
                        'rule { name = "broken", on = "probe.y", action = function() end\n')
            r = d.request({"op": "reload"})
            self.assertFalse(r["ok"])
            self.assertIn("90-extra.lua:", r["error"]["message"])
            names = {x["name"] for x in d.request({"op": "rules"})["rules"]}
            self.assertNotIn("extra", names)
            self.assertIn("negative-feedback", names)
            r = d.ctl("reload")
            self.assertEqual(r.returncode, 1)
            self.assertIn("old rules keep running", r.stderr)

            with open(extra, "w") as f:
                f.write('rule { name = "extra", on = "probe.x", action = function() end }\n')
            d.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline:
                names = {x["name"] for x in d.request({"op": "rules"})["rules"]}
                if "extra" in names:
                    break
                time.sleep(0.05)
            self.assertIn("extra", names)
            r = d.ctl("reload")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("extra", {x["name"] for x in d.request({"op": "rules"})["rules"]})
            self.assertEqual(d.stop(), 0)


FRAGILE = """
rule { name = "fragile", on = "probe.order", action = function(ev)
  %s
  ticket.open { key = "probe:" .. ev.order_id, title = "Order " .. ev.order_id, queue = "q" }
end }
rule { name = "steady", on = "probe.order", action = function(ev) state.incr("steady") end }
"""


class Retry(unittest.TestCase):
    def outcomes(self, d, event_id):
        r = d.request({"op": "explain", "type": "probe.order", "event_id": event_id})
        self.assertTrue(r["ok"], r)
        return [(o["rule"], o["status"]) for o in r["outcomes"]]

    def test_failed_outcomes_run_again_once_the_rule_is_fixed(self):
        fragile = os.path.join("rules.d", "50-fragile.lua")
        with Daemon(shipped=False, rules={"50-fragile.lua": FRAGILE % 'error("not yet")'}) as d:
            r = d.ingest([{"type": "probe.order", "id": f"e{i}", "order_id": f"o{i}"} for i in range(3)])
            self.assertEqual(r["accepted"], 3, r)
            self.assertEqual(self.outcomes(d, "e0"), [("fragile", "error"), ("steady", "ok")])

            # Still broken: each failure is retried once and fails again.
            r = d.request({"op": "retry", "limit": 2})
            self.assertTrue(r["ok"], r)
            self.assertEqual((r["failed_again"], r["succeeded"], r["more"]), (2, 0, True), r)
            self.assertEqual(self.outcomes(d, "e0"), [("fragile", "retried"), ("steady", "ok"),
                                                      ("fragile", "error")])
            self.assertEqual(d.tickets(), [])

            with open(os.path.join(d.dir, fragile), "w") as f:
                f.write(FRAGILE % "")
            self.assertEqual(d.ctl("reload").returncode, 0)
            r = d.ctl("retry", "--rule", "fragile")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("retried 3: 3 ok, 0 failed again", r.stdout)
            self.assertIn("rule fragile: ok", r.stdout)
            # The fix ran once per event; the rule that had worked did not run again.
            self.assertEqual(sorted(t["key"] for t in d.tickets()), ["probe:o0", "probe:o1", "probe:o2"])
            self.assertEqual(self.outcomes(d, "e0"), [("fragile", "retried"), ("steady", "ok"),
                                                      ("fragile", "retried"), ("fragile", "ok")])
            self.assertIn("retried 0:", d.ctl("retry").stdout)

            # A rule that no longer matches the event is skipped (and not
            # asked again); a failure whose rule is gone stays as it is.
            with open(os.path.join(d.dir, fragile), "w") as f:
                f.write(FRAGILE % 'error("again")')
            self.assertEqual(d.ctl("reload").returncode, 0)
            d.ingest([{"type": "probe.order", "id": f"e{i}", "order_id": f"o{i}"} for i in (8, 9)])
            seq8 = d.request({"op": "explain", "type": "probe.order", "event_id": "e8"})["event"]["seq"]
            with open(os.path.join(d.dir, fragile), "w") as f:
                f.write('rule { name = "fragile", on = "probe.other", action = function() end }\n')
            self.assertEqual(d.ctl("reload").returncode, 0)
            r = d.request({"op": "retry", "seq": seq8})
            self.assertEqual([x["result"] for x in r["results"]], ["skipped"], r)
            self.assertEqual(self.outcomes(d, "e8")[0], ("fragile", "retried"))
            with open(os.path.join(d.dir, fragile), "w") as f:
                f.write('rule { name = "other", on = "probe.order", action = function() end }\n')
            self.assertEqual(d.ctl("reload").returncode, 0)
            r = d.ctl("retry")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("fragile: not_retried (no rule named fragile is loaded)", r.stdout)
            self.assertIn("retried 0: 0 ok, 0 failed again, 0 skipped, 1 not retried", r.stdout)
            self.assertEqual(self.outcomes(d, "e9")[0], ("fragile", "error"))
            for bad in ({"limit": 0}, {"limit": 1001}, {"rule": 7}, {"seq": -1}, {"after": "x"}):
                r = d.request(dict({"op": "retry"}, **bad))
                self.assertEqual(r["error"]["code"], "bad_request", (bad, r))
            self.assertEqual(d.ctl("retry", "--seq", "x").returncode, 2)
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main(verbosity=2)
