"""SPEC §6 metrics and §7 `triagectl metrics`: the daemon's counters as
Prometheus text. Through the real daemon with the shipped rules: events
sent (one a duplicate, one malformed) move the counters by exactly that
much, the open tickets gauge counts the ticket by its queue, a dropped file
counts by source and folder, and `promtool check metrics` finds nothing to
say about the text, also with a rule whose name holds a quote, a backslash
and a newline."""
import json
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, wait  # noqa: E402

# A rule name a user could write, with every character the format escapes.
HOSTILE = 'say "hi" \\ then\nnewline'
RULES = {
    "90-metrics.lua": """
rule { name = %s, on = "probe.ok", action = function(ev) end }
rule { name = "probe-fails", on = "probe.fail", action = function(ev) error("boom") end }
rule { name = "probe-undone", on = "probe.undone", action = function(ev)
  ticket.open { key = "undone:" .. ev.id, title = "undone", queue = "probes" }
  error("after opening")
end }
rule { name = "probe-moves", on = "probe.move", action = function(ev)
  ticket.find(ev.key):set { priority = "urgent" }
end }
""" % json.dumps(HOSTILE),
}

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def unescape(v):
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), v)


def parse(text):
    """{(name, frozenset(labels)): value} of every sample; the HELP and
    TYPE lines checked to come first for each family."""
    samples, typed = {}, set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        m = SAMPLE.match(line)
        assert m, f"not a sample line: {line!r}"
        name = m.group(1)
        family = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in typed or family in typed, f"{name} has no TYPE line before it"
        labels = frozenset((k, unescape(v)) for k, v in LABEL.findall(m.group(3) or ""))
        samples[(name, labels)] = float(m.group(4))
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def feedback(i, rating):
    return {"type": "feedback.new", "id": f"fb{i}", "account": "acme-us", "marketplace": "US",
            "order_id": f"111-0000000-{i:07d}", "rating": rating}


class Metrics(unittest.TestCase):
    def scrape(self, d):
        r = d.request({"op": "metrics"})
        self.assertTrue(r["ok"], r)
        return parse(r["metrics"])

    def test_counters_move_by_what_was_sent(self):
        with Daemon(rules=RULES, config="spool: { settle_ms: 100, rescan_ms: 200 }\n") as d:
            before = self.scrape(d)
            self.assertEqual(value(before, "triaged_build_info", version=d.request({"op": "ping"})["version"]), 1)
            self.assertGreater(value(before, "triaged_start_time_seconds"), 1.7e9)

            r = d.ingest([feedback(1, 1), feedback(2, 5), feedback(1, 1), {"id": "no-type"},
                          {"type": "probe.ok", "id": "p1"}, {"type": "probe.fail", "id": "p2"}])
            self.assertTrue(r["ok"], r)
            self.assertEqual((r["accepted"], r["duplicates"], len(r["rejected"])), (4, 1, 1), r)
            after = self.scrape(d)

            def moved(name, **labels):
                return value(after, name, **labels) - value(before, name, **labels)

            self.assertEqual(moved("triaged_events_total", type="feedback.new", source="socket"), 2)
            self.assertEqual(moved("triaged_events_total", type="probe.ok", source="socket"), 1)
            self.assertEqual(moved("triaged_events_duplicate_total"), 1)
            self.assertEqual(moved("triaged_events_rejected_total", source="socket"), 1)
            # the 1-star feedback opened a ticket, the 5-star one was declined by `when`
            self.assertEqual(moved("triaged_rule_runs_total", rule="negative-feedback", result="ok"), 1)
            self.assertEqual(moved("triaged_rule_runs_total", rule="negative-feedback", result="declined"), 1)
            self.assertEqual(moved("triaged_rule_runs_total", rule=HOSTILE, result="ok"), 1)
            self.assertEqual(moved("triaged_rule_runs_total", rule="probe-fails", result="error"), 1)
            self.assertEqual(moved("triaged_rule_run_seconds_count"), 3)
            self.assertEqual(moved("triaged_rule_run_seconds_bucket", le="+Inf"), 3)
            self.assertGreater(moved("triaged_commit_seconds_count"), 0)
            self.assertGreater(moved("triaged_wal_flush_seconds_count"), 0)  # durability full

            t = [t for t in d.tickets() if t["key"].startswith("feedback:")]
            self.assertEqual(len(t), 1, t)
            self.assertEqual(value(after, "triaged_tickets_open", queue=t[0]["queue"], priority=t[0]["priority"]), 1)
            self.assertEqual(sum(v for (n, _), v in after.items() if n == "triaged_tickets_open"),
                             len(d.tickets(state="open")))
            self.assertEqual(value(after, "triaged_tickets_breached"), 0)
            # the ticket waits for its nudge and due time: one ticket waiting
            self.assertGreaterEqual(value(after, "triaged_timers_pending", kind="ticket"), 1)

            # a rule that opened a ticket and then failed opened none
            self.assertEqual(d.ingest([{"type": "probe.undone", "id": "u1"}])["accepted"], 1)
            s = self.scrape(d)
            self.assertEqual(value(s, "triaged_tickets_open", queue="probes", priority="normal"), 0)
            # a ticket that changes priority moves between series
            q = t[0]["queue"]
            self.assertEqual(d.ingest([{"type": "probe.move", "id": "m1", "key": t[0]["key"]}])["accepted"], 1)
            s = self.scrape(d)
            self.assertEqual(value(s, "triaged_tickets_open", queue=q, priority=t[0]["priority"]), 0)
            self.assertEqual(value(s, "triaged_tickets_open", queue=q, priority="urgent"), 1)
            # a closed ticket leaves the gauge, a reopened one comes back, and a restart counts afresh
            self.assertEqual(d.ctl("close", str(t[0]["id"]), "done").returncode, 0)
            self.assertEqual(value(self.scrape(d), "triaged_tickets_open", queue=q, priority="urgent"), 0)
            self.assertEqual(d.ctl("reopen", str(t[0]["id"])).returncode, 0)
            self.assertEqual(value(self.scrape(d), "triaged_tickets_open", queue=q, priority="urgent"), 1)
            d.kill9()
            d.start()
            self.assertEqual(value(self.scrape(d), "triaged_tickets_open", queue=q, priority="urgent"), 1)
            self.assertEqual(d.ctl("close", str(t[0]["id"]), "done").returncode, 0)
            closed = self.scrape(d)
            self.assertEqual(value(closed, "triaged_tickets_open", queue=q, priority="urgent"), 0)

            # a dropped file: its good row counts as a file event, its bad row as a rejection
            spool = os.path.join(d.dir, "state", "spool")
            tmp = os.path.join(spool, "incoming", ".drop.tmp")
            with open(tmp, "w") as f:
                f.write(json.dumps({"type": "probe.ok", "id": "f1"}) + "\n" + json.dumps({"id": "f2"}) + "\n")
            os.rename(tmp, os.path.join(spool, "incoming", "drop.ndjson"))
            wait(lambda: os.path.exists(os.path.join(spool, "rejected", "drop.ndjson")))
            filed = self.scrape(d)
            self.assertEqual(value(filed, "triaged_events_total", type="probe.ok", source="file")
                             - value(closed, "triaged_events_total", type="probe.ok", source="file"), 1)
            self.assertEqual(value(filed, "triaged_events_rejected_total", source="file")
                             - value(closed, "triaged_events_rejected_total", source="file"), 1)
            # the .errors report beside it is not a file of the spool
            self.assertEqual(value(filed, "triaged_spool_files", state="rejected"), 1)
            self.assertEqual(value(filed, "triaged_spool_files", state="incoming"), 0)
            self.assertEqual(value(filed, "triaged_spool_files", state="work"), 0)

    def test_timer_lag_and_breached(self):
        rules = {"90-late.lua": """
rule { name = "late", on = "late.open", action = function(ev)
  ticket.open { key = "late:" .. ev.id, title = "late", queue = "ops", due = "2s" }
end }
"""}
        with Daemon(rules=rules, shipped=False) as d:
            self.assertEqual(d.ingest([{"type": "late.open", "id": "x"}])["accepted"], 1)
            s = self.scrape(d)
            self.assertEqual(value(s, "triaged_tickets_open", queue="ops", priority="normal"), 1)
            self.assertEqual(value(s, "triaged_tickets_breached"), 0)
            self.assertEqual(value(s, "triaged_timer_lag_seconds"), 0)
            # down while the due time passes: at start it fires, late by the time it was down
            d.kill9()
            time.sleep(5)
            d.start()
            tid = d.tickets()[0]["id"]

            def breached():
                t = d.request({"op": "ticket", "id": tid})["ticket"]
                return any(h.get("action") == "breached" for h in t["history"])
            wait(breached)
            s = self.scrape(d)
            self.assertEqual(value(s, "triaged_tickets_breached"), 1)
            self.assertGreaterEqual(value(s, "triaged_timer_lag_seconds"), 2)

    def test_notifications_by_output_and_held_by_a_silence(self):
        rules = {"90-notify.lua": """
rule { name = "tell", on = "probe.notify", action = function(ev) notify("drop", "hello " .. ev.id) end }
"""}
        with Daemon(rules=rules, shipped=False, config="outputs:\n  drop: { dir: drops }\n") as d:
            self.assertEqual(d.ingest([{"type": "probe.notify", "id": "n1"}])["accepted"], 1)
            wait(lambda: value(self.scrape(d), "triaged_notifications_total", output="drop", result="delivered") == 1)
            s = self.scrape(d)
            self.assertEqual(value(s, "triaged_notifications_pending", output="drop"), 0)
            self.assertEqual(value(s, "triaged_output_failing", output="drop"), 0)
            self.assertEqual(value(s, "triaged_notifications_held_total"), 0)

            r = d.request({"op": "silence", "action": "add", "output": "drop", "until": "1h", "reason": "test"})
            self.assertTrue(r["ok"], r)
            self.assertEqual(value(self.scrape(d), "triaged_silences_active"), 1)
            self.assertEqual(d.ingest([{"type": "probe.notify", "id": "n2"}])["accepted"], 1)
            wait(lambda: value(self.scrape(d), "triaged_notifications_held_total") == 1)
            s = self.scrape(d)
            self.assertEqual(value(s, "triaged_notifications_held"), 1)
            self.assertEqual(value(s, "triaged_notifications_total", output="drop", result="delivered"), 1)

    def test_promtool_finds_nothing(self):
        promtool = shutil.which("promtool")
        if not promtool:
            print("promtool not found (Debian: apt install prometheus): the format is only checked by parse()")
            self.skipTest("promtool not installed")
        with Daemon(rules=RULES) as d:
            d.ingest([feedback(1, 1), {"type": "probe.ok", "id": "p1"}, {"type": "probe.fail", "id": "p2"},
                      {"id": "bad"}])
            # a sender inventing types: past 200 they are one type, "_other"
            r = d.ingest([{"type": f"made.up{i}", "id": f"m{i}"} for i in range(250)])
            self.assertEqual(r["accepted"], 250, r)
            out = d.ctl("metrics")
            self.assertEqual(out.returncode, 0, out.stderr)
            s = parse(out.stdout)
            types = [dict(k[1])["type"] for k in s if k[0] == "triaged_events_total"]
            self.assertEqual(len(types), 201, types)
            self.assertIn("_other", types)
            self.assertEqual(sum(v for k, v in s.items() if k[0] == "triaged_events_total"), 253)
            self.assertIn('rule="say \\"hi\\" \\\\ then\\nnewline"', out.stdout)
            check = subprocess.run([promtool, "check", "metrics"], input=out.stdout, capture_output=True,
                                   text=True, timeout=60)
            self.assertEqual((check.returncode, check.stdout.strip(), check.stderr.strip()), (0, "", ""),
                             out.stdout)

    def test_json_answer_and_usage(self):
        with Daemon(shipped=False) as d:
            out = d.ctl("--json", "metrics")
            self.assertEqual(out.returncode, 0, out.stderr)
            r = json.loads(out.stdout)
            self.assertTrue(r["ok"])
            self.assertIn("# TYPE triaged_events_total counter", r["metrics"])
            out = d.ctl("metrics", "extra")
            self.assertEqual(out.returncode, 2, out)


if __name__ == "__main__":
    unittest.main()
