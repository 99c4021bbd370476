"""`watch` (SPEC §6, §7; issue 20 point 7) through the real daemon and
triagectl: with the shipped rules, a `triagectl watch` sees a ticket being
opened, the notification a rule sends to an exec output, and a person's ack
as a change line; a notification to the built-in "watch" output comes once;
a watcher that stops reading is dropped with a last line saying why while a
burst of ingests goes on being acknowledged, and the daemon's memory stays
bounded; `stats` counts the dropped watcher."""
import json
import os
import queue
import select
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
import harness  # noqa: E402
from harness import Daemon, wait  # noqa: E402

LEAD = "outputs:\n  lead: { exec: [/bin/true] }\n"

# A notification to the built-in "watch" output, and one to the journal.
PROBE = '''
rule { name = "probe-watch", on = "probe.say", action = function(ev)
  notify(ev.output, "said " .. ev.id)
end }
'''


# The burst: BURSTS ingests of 100 suspensions each, whose stream (~30 MiB)
# is many times both a watcher's bound (4 MiB unread) and RSS_BOUND_KIB, the
# most the daemon's memory may grow meanwhile (SQLite's cache and the
# allocator's arenas included).
BURSTS = 100
RSS_BOUND_KIB = 12 * 1024
WARM = 60


# A nudge and an escalation a second or two after the ticket opens.
STEPS = '''
rule { name = "steps", on = "probe.open", action = function(ev, ctx)
  local t = ticket.open { key = "p:" .. ev.id, title = "probe " .. ev.id }
  t:nudge { at = ctx.now + 1, note = "wake up", notify = "journal" }
  t:escalate { at = ctx.now + 2, level = 1, reason = "no answer" }
end }
'''

# A nudge already an hour overdue when the ticket opens (a late export).
LATE = '''
rule { name = "late", on = "probe.late", action = function(ev, ctx)
  local t = ticket.open { key = "l:" .. ev.id, title = "late " .. ev.id }
  t:nudge { at = ctx.now - 3600, note = "an hour late" }
end }
'''


def suspension(i, account="acme"):
    return {"type": "account.alert", "id": f"sus-{account}-{i}", "account": f"{account}-{i}",
            "kind": "suspension", "marketplace": "US"}


class Lines:
    """The stdout of a `triagectl watch` subprocess, line by line, with a
    deadline (a missing line fails the test instead of hanging it). With
    keep_up, a thread reads it as it comes, as a person's terminal would;
    without, nothing reads it until next() is called."""

    def __init__(self, d, *args, keep_up=True):
        self.proc = subprocess.Popen([harness.TRIAGECTL, "--socket", d.socket, "watch", *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines = queue.Queue()
        self.buf = b""
        self.thread = None
        if keep_up:
            self.thread = threading.Thread(target=self._read, daemon=True)
            self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip(b"\n").decode())
        self.lines.put(None)

    def next(self, timeout=20):
        if self.thread:
            try:
                line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no line from triagectl watch within {timeout} s")
            if line is None:
                raise AssertionError("triagectl watch ended: " + self.proc.stderr.read().decode())
            return line
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.proc.stdout], [], [], left)[0]:
                raise AssertionError(f"no line from triagectl watch within {timeout} s")
            chunk = os.read(self.proc.stdout.fileno(), 1 << 16)
            if not chunk:
                raise AssertionError("triagectl watch ended: " + self.proc.stderr.read().decode())
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def until(self, pred, timeout=20):
        """Lines up to and including the first for which pred is true."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            seen.append(self.next(max(0.1, deadline - time.monotonic())))
            if pred(seen[-1]):
                return seen

    def stop(self):
        self.proc.send_signal(signal.SIGINT)
        rc = self.proc.wait(10)
        if self.thread:
            self.thread.join(10)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return rc


def drain(sock):
    """Reads sock to its end; returns its last line, parsed."""
    data = b""
    sock.settimeout(15)
    while True:
        chunk = sock.recv(1 << 16)
        if not chunk:
            break
        data += chunk
    return json.loads(data.rstrip(b"\n").rsplit(b"\n", 1)[-1])


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class Watch(unittest.TestCase):
    def test_json_stream_shows_opening_notification_and_ack(self):
        with Daemon(rules={"60-probe.lua": PROBE}, config=LEAD) as d:
            w = Lines(d, "--json")
            self.assertEqual(json.loads(w.next()), {"ok": True, "watching": True})
            r = d.ingest([suspension(1)])
            self.assertEqual(r["accepted"], 1, r)
            lines = [json.loads(x) for x in w.until(lambda x: '"notification"' in x)]
            opened = [x for x in lines if x.get("change", {}).get("action") == "opened"]
            self.assertEqual(len(opened), 1, lines)
            t = opened[0]["ticket"]
            self.assertEqual((t["queue"], t["priority"], t["state"], t["account"]),
                             ("account-health", "urgent", "open", "acme-1"))
            self.assertEqual(opened[0]["change"]["actor"], "rule:account-alert")
            n = lines[-1]["notification"]
            self.assertEqual(n["output"], "lead")  # an exec output: streamed when committed
            self.assertEqual(n["ticket"]["id"], t["id"])
            self.assertIn("Freeze the related listings", n["message"])
            self.assertIsInstance(n["id"], int)
            # a person's ack, through triagectl, is a change line naming them
            r = d.ctl("ack", str(t["id"]))
            self.assertEqual(r.returncode, 0, r.stderr)
            [ack] = [json.loads(x) for x in w.until(lambda x: '"action":"ack"' in x)][-1:]
            self.assertEqual(ack["ticket"]["id"], t["id"])
            self.assertNotEqual(ack["change"]["actor"], "")
            self.assertFalse(ack["change"]["actor"].startswith("rule:"))
            # notifications to every output come, once each: journal, the
            # built-in "watch" output (once, not again at its delivery)
            d.ingest([{"type": "probe.say", "id": "j", "output": "journal"},
                      {"type": "probe.say", "id": "w", "output": "watch"}])
            got = [json.loads(x) for x in w.until(lambda x: "said w" in x)]
            said = [x["notification"] for x in got if "notification" in x]
            self.assertEqual([(x["output"], x["message"]) for x in said],
                             [("journal", "said j"), ("watch", "said w")])
            # the "watch" row is delivered meanwhile; a later marker proves
            # nothing else came for it
            self.assertTrue(wait(lambda: d.request({"op": "stats"})["stats"]["outputs"]["watch"]["delivered"] == 1))
            d.ingest([{"type": "probe.say", "id": "end", "output": "journal"}])
            rest = w.until(lambda x: "said end" in x)
            self.assertFalse([x for x in rest if "said w" in x], rest)
            self.assertEqual(w.stop(), 0)  # Ctrl-C ends a watch: exit 0

    def test_fired_steps_are_change_lines_once(self):
        with Daemon(rules={"50-steps.lua": STEPS}, shipped=False) as d:
            w = Lines(d, "--json")
            self.assertIn("watching", w.next())
            d.ingest([{"type": "probe.open", "id": "s"}])
            lines = [json.loads(x) for x in w.until(lambda x: '"action":"escalate"' in x)]
            # the nudge's notification came with it, before the escalation
            [n] = [x["notification"] for x in lines if "notification" in x]
            self.assertEqual((n["output"], n["ticket"]["title"]), ("journal", "probe s"))
            changes = [(x["change"]["action"], x["change"]["actor"]) for x in lines if "change" in x]
            self.assertEqual(changes.count(("opened", "rule:steps")), 1, changes)
            # the nudge fired: a step line, by the timer, saying when it was due
            [nudge] = [x["change"] for x in lines if x.get("change", {}).get("action") == "nudge"]
            self.assertEqual((nudge["actor"], nudge["detail"]), ("timer", "wake up"))
            self.assertTrue(nudge["due_at"].endswith("Z"))
            # the escalation writes its own history line: once, not again as a step
            self.assertEqual([a for a, _ in changes].count("escalate"), 1, changes)
            self.assertNotIn(None, [a for a, _ in changes])
            self.assertEqual(w.stop(), 0)

    def test_a_step_due_before_the_ones_streamed_is_streamed_too(self):
        # The steps are not streamed in due order but as they fire: a late
        # event's overdue nudge fires after a step due later already went by.
        with Daemon(rules={"50-steps.lua": STEPS, "51-late.lua": LATE}, shipped=False) as d:
            w = Lines(d, "--json")
            self.assertIn("watching", w.next())
            d.ingest([{"type": "probe.open", "id": "s"}])
            w.until(lambda x: '"action":"escalate"' in x)
            d.ingest([{"type": "probe.late", "id": "x"}])
            [line] = [json.loads(x) for x in w.until(lambda x: "an hour late" in x)][-1:]
            self.assertEqual((line["ticket"]["title"], line["change"]["action"], line["change"]["actor"]),
                             ("late x", "nudge", "timer"))
            self.assertEqual(w.stop(), 0)

    def test_a_watch_with_a_filter_it_does_not_have_is_refused(self):
        with Daemon(shipped=False) as d:
            c = d.client()
            r = c.request({"op": "watch", "queue": "returns", "id": 4})
            self.assertEqual((r["ok"], r["error"]["code"], r["id"]), (False, "bad_request", 4), r)
            self.assertIn('field "queue"', r["error"]["message"])
            # the connection is not watching: a ticket change does not reach it
            self.assertEqual(d.request({"op": "stats"})["stats"]["watchers"], 0)
            c.close()
            r = d.request({"op": "wtach"})
            self.assertIn("watch", r["error"]["message"])  # the known ops name it

    def test_people_lines_and_exit_codes(self):
        with Daemon(config=LEAD) as d:
            w = Lines(d)
            self.assertTrue(wait(lambda: d.request({"op": "stats"})["stats"]["watchers"] == 1))
            d.ingest([suspension(1)])
            lines = w.until(lambda x: "\u2192 lead" in x)
            t = d.tickets()[0]
            self.assertTrue(any(f"#{t['id']}  opened  by rule:account-alert" in x for x in lines), lines)
            self.assertIn(f"[#{t['id']} {t['title']}]", lines[-1])
            self.assertEqual(d.ctl("comment", str(t["id"]), "called", "the", "buyer").returncode, 0)
            [line] = w.until(lambda x: "comment" in x)[-1:]
            self.assertRegex(line, rf"^\S+  #{t['id']}  comment  by \S+  called the buyer$")
            self.assertEqual(w.stop(), 0)
            # the daemon going away ends a watch with 3 (no daemon)
            w = Lines(d)
            self.assertTrue(wait(lambda: d.request({"op": "stats"})["stats"]["watchers"] == 1))
            d.stop()
            self.assertEqual(w.proc.wait(15), 3)
            self.assertIn("closed the connection", w.proc.stderr.read().decode())
            w.proc.stdout.close()
            w.proc.stderr.close()
        # no daemon at all: 3
        r = subprocess.run([harness.TRIAGECTL, "--socket", "/nonexistent/triaged.sock", "watch"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_a_watcher_that_stops_reading_is_dropped_while_ingest_goes_on(self):
        # ASan keeps freed memory in quarantine; a small one keeps RSS
        # about what the daemon holds
        env = {"ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=8"}
        with Daemon(config=LEAD, durability="normal", env=env) as d:
            stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            stuck.connect(d.socket)
            stuck.sendall(b'{"op":"watch","id":"w"}\n')
            stuck.settimeout(10)
            answer = b""
            while b"\n" not in answer:
                answer += stuck.recv(1)  # its answer alone, not a byte of the stream
            self.assertEqual(json.loads(answer), {"ok": True, "watching": True, "id": "w"})
            # a watcher that reads, alongside
            reader = Lines(d, "--json")
            self.assertIn("watching", reader.next())
            # warm up: the daemon's steady memory with shipped rules at work,
            # SQLite's page cache (16 MB) filled by a database larger than it
            for b in range(WARM):
                r = d.ingest([suspension(i, f"warm{b}") for i in range(100)])
                self.assertEqual(r["accepted"], 100, r)
            reader.until(lambda x: f"warm{WARM - 1}-99" in x and '"notification"' in x, timeout=60)
            before = rss_kib(d.proc.pid)
            # a burst whose stream (~3 KiB an event) is many times the
            # watcher's bound (4 MiB unread): every ingest is acknowledged
            slowest, tail = 0.0, None
            for b in range(BURSTS):
                t0 = time.monotonic()
                r = d.ingest([suspension(i, f"burst{b}") for i in range(100)])
                slowest = max(slowest, time.monotonic() - t0)
                self.assertEqual(r["accepted"], 100, r)
                if tail is None and d.request({"op": "stats"})["stats"]["watchers_dropped"] == 1:
                    # dropped: its socket has what it had, then the last
                    # line saying why (it reads within the grace), then
                    # end of stream
                    tail = drain(stuck)
                if b % 10 == 9:
                    reader.until(lambda x, b=b: f"burst{b}-99" in x and '"notification"' in x, timeout=60)
            self.assertLess(slowest, 5.0, "ingest stalled behind a watcher that does not read")
            # SPEC §6 never grows memory without bound: the unread stream
            # (tens of MiB) is not held for the watcher that left it
            grown = rss_kib(d.proc.pid) - before
            self.assertLess(grown, RSS_BOUND_KIB, f"RSS grew {grown} KiB during the burst")
            stats = d.request({"op": "stats"})["stats"]
            # the stream (4 lines an event, ~3 KiB) went far past the bound
            self.assertGreater(stats["watch_lines"], 4 * 100 * BURSTS, stats)
            self.assertEqual((stats["watchers_dropped"], stats["watchers"]), (1, 1), stats)  # the reader stays
            self.assertIsNotNone(tail, "the watcher that did not read was not dropped")
            self.assertTrue(tail["dropped"], tail)
            self.assertIn("did not read", tail["reason"])
            stuck.close()
            self.assertIn("watch: dropping the watcher of uid", d.log())
            # the reader still streams
            d.ingest([suspension(0, "after")])
            reader.until(lambda x: "after-0" in x)
            self.assertEqual(reader.stop(), 0)

    def test_triagectl_watch_dropped_says_why_and_exits_1(self):
        with Daemon(config=LEAD, durability="normal") as d:
            # a triagectl watch whose stdout nobody reads stops reading its socket
            w = Lines(d, "--json", keep_up=False)
            self.assertIn("watching", w.next())
            for b in range(40):
                r = d.ingest([suspension(i, f"b{b}") for i in range(100)])
                self.assertEqual(r["accepted"], 100, r)
                if d.request({"op": "stats"})["stats"]["watchers_dropped"] == 1:
                    break
            self.assertEqual(d.request({"op": "stats"})["stats"]["watchers_dropped"], 1)
            # now it reads: what was queued, the reason, exit 1
            out = b""
            while True:
                chunk = w.proc.stdout.read(1 << 16)
                if not chunk:
                    break
                out += chunk
            self.assertEqual(w.proc.wait(15), 1)
            err = w.proc.stderr.read().decode()
            self.assertIn("dropped this watcher", err)
            self.assertIn("did not read", err)
            w.proc.stdout.close()
            w.proc.stderr.close()


if __name__ == "__main__":
    unittest.main()
