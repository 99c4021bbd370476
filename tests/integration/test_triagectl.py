#!/usr/bin/env python3
"""triagectl as a user and a script see it: exit codes, tables, --json, ingest
line mapping across request boundaries, busy retry, robustness against odd
answers.

Most tests talk to FakeDaemon, a socketserver over AF_UNIX that answers canned
JSON and records every request, so the client is tested on its own. RealDaemon
tests start the real triaged (TRIAGED) in a temporary folder and are skipped
while that binary does not exist.

Environment (set by ctest): TRIAGECTL, TRIAGED, TR_SOURCE_DIR, TR_SHARED_DIR.
"""
import json
import os
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_DIR = os.environ.get("TR_SOURCE_DIR") or os.path.normpath(os.path.join(HERE, "..", ".."))
SHARED_DIR = os.environ.get("TR_SHARED_DIR") or os.path.normpath(os.path.join(SOURCE_DIR, "..", "shared"))


def find_binary(env_name, name):
    path = os.environ.get(env_name)
    if path:
        return path
    for build in ("build", "build-ctl"):
        cand = os.path.join(SOURCE_DIR, build, name)
        if os.path.exists(cand):
            return cand
    return None


TRIAGECTL = find_binary("TRIAGECTL", "triagectl")
TRIAGED = find_binary("TRIAGED", "triaged")


def width(s):
    """Terminal columns of s, as triagectl counts them."""
    w = 0
    for ch in s:
        if unicodedata.combining(ch):
            continue
        w += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return w


class FakeDaemon:
    """Answers each request line with handler(request): a dict (sent as one
    JSON line, with the request's "id" echoed), bytes (sent as they are), or
    None (hang up). Records requests in .requests, in order."""

    def __init__(self, handler):
        self.dir = tempfile.mkdtemp(prefix="triagectl-test-")
        self.path = os.path.join(self.dir, "triaged.sock")
        self.handler = handler
        self.requests = []
        self.lock = threading.Lock()
        fake = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                for line in self.rfile:
                    req = json.loads(line)
                    with fake.lock:
                        fake.requests.append(req)
                    resp = fake.handler(req)
                    if resp is None:
                        return
                    if isinstance(resp, bytes):
                        self.wfile.write(resp)
                        continue
                    if "id" in req and "id" not in resp:
                        resp = dict(resp, id=req["id"])
                    self.wfile.write(json.dumps(resp, ensure_ascii=False).encode() + b"\n")

        class Server(socketserver.ThreadingUnixStreamServer):
            daemon_threads = True

            def handle_error(self, request, client_address):
                pass  # a client hanging up mid-answer is part of the tests

        self.server = Server(self.path, Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def ops(self):
        return [r.get("op") for r in self.requests]

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run(args, sock=None, env=None, stdin=None, timeout=60):
    """Runs triagectl; returns (exit code, stdout, stderr) as text."""
    full_env = dict(os.environ)
    for k in ("TRIAGED_SOCKET", "RUNTIME_DIRECTORY", "COLUMNS"):
        full_env.pop(k, None)
    full_env.update(env or {})
    cmd = [TRIAGECTL] + (["--socket", sock] if sock else []) + list(args)
    p = subprocess.run(cmd, input=stdin.encode() if isinstance(stdin, str) else stdin,
                       capture_output=True, env=full_env, timeout=timeout)
    out, err = p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
    # ASan/LSan ("Sanitizer") and UBSan ("runtime error") findings fail every test.
    assert "Sanitizer" not in err and "runtime error:" not in err, err
    return p.returncode, out, err


TICKETS = [
    {"id": 7, "key": "feedback:302-3333333-4444444", "title": "1-star feedback on 302-3333333-4444444",
     "queue": "customer-care", "priority": "high", "state": "open", "account": "acme-de",
     "assignee": None, "level": 0, "due_at": "2026-11-24T16:00:00+08:00",
     "created_at": "2026-11-24T06:00:00Z", "updated_at": "2026-11-24T06:00:00Z",
     "closed_at": None, "acked_at": None, "tags": ["feedback"], "fields": {"rating": 1}},
    {"id": 12, "key": "message:503-0000000-1111111",
     "title": "返品したい：サイズが合わないので返品したいです。至急対応してください。お客様は大変お怒りです。本当に長いタイトル",
     "queue": "jp-care", "priority": "urgent", "state": "open", "account": "acme-jp",
     "assignee": "sato", "level": 1, "due_at": None,
     "created_at": "2026-11-24T05:30:00+09:00", "updated_at": "2026-11-24T05:30:00+09:00",
     "closed_at": None, "acked_at": None, "tags": [], "fields": {}},
]


class Base(unittest.TestCase):
    handler = staticmethod(lambda req: {"ok": True})

    def setUp(self):
        self.fake = FakeDaemon(lambda req: type(self).handler(req) if self.handler_override is None
                               else self.handler_override(req))
        self.handler_override = None
        self.sock = self.fake.path
        self.tmp = tempfile.mkdtemp(prefix="triagectl-in-")

    def tearDown(self):
        self.fake.close()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def answer(self, handler):
        self.handler_override = handler

    def ctl(self, *args, **kw):
        return run(args, sock=self.sock, **kw)

    def write(self, name, text):
        path = os.path.join(self.tmp, name)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
        return path


class ExitCodes(Base):
    def test_ping_ok(self):
        self.answer(lambda req: {"ok": True, "version": "0.1.0", "uptime_s": 5})
        rc, out, err = self.ctl("ping")
        self.assertEqual(rc, 0, err)
        self.assertIn("pong", out)
        self.assertEqual(self.fake.requests, [{"op": "ping"}])

    def test_no_daemon(self):
        path = os.path.join(self.tmp, "missing.sock")
        rc, out, err = run(["ping"], sock=path)
        self.assertEqual(rc, 3)
        self.assertEqual(err.strip(),
                         f"triagectl: cannot connect to {path}: No such file or directory (is triaged running?)")

    def test_stale_socket_is_no_daemon(self):
        path = os.path.join(self.tmp, "stale.sock")
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.bind(path)
        s.close()  # bound, never listened: ECONNREFUSED
        rc, _, err = run(["status"], sock=path)
        self.assertEqual(rc, 3)
        self.assertIn("is triaged running?", err)

    def test_usage_errors(self):
        cases = [
            [], ["bogus"], ["show"], ["show", "abc"], ["show", "1", "2"], ["assign", "7"],
            ["comment", "7"], ["tickets", "--bogus"], ["tickets", "--state", "maybe"],
            ["tickets", "--limit", "x"], ["tickets", "--priority"], ["explain", "a.b"],
            ["explain", "--seq", "3", "a.b", "x"], ["raw", "{not json"], ["raw", "[1]"], ["--nope", "ping"],
            ["ingest"], ["tickets", "extra"],
        ]
        for args in cases:
            with self.subTest(args=args):
                rc, out, err = self.ctl(*args)
                self.assertEqual(rc, 2, (out, err))
                self.assertIn("usage: triagectl", err)
        self.assertEqual(self.fake.requests, [], "usage errors must not reach the daemon")

    def test_usage_before_no_daemon(self):
        rc, _, _ = run(["show", "abc"], sock=os.path.join(self.tmp, "missing.sock"))
        self.assertEqual(rc, 2)

    def test_help(self):
        for args in (["--help"], ["help"]):
            rc, out, err = run(args)
            self.assertEqual(rc, 0, err)
            for name in ("status", "stats", "ping", "ingest", "tickets", "show", "ack", "assign",
                         "comment", "close", "reopen", "explain", "rules", "raw"):
                self.assertRegex(out, rf"(?m)^  {name}\b")
        rc, out, _ = run(["help", "tickets"])
        self.assertEqual(rc, 0)
        self.assertIn("--breached", out)
        rc, out, _ = run(["tickets", "--help"])
        self.assertEqual(rc, 0)
        self.assertIn("usage: triagectl tickets", out)

    def test_daemon_says_no(self):
        self.answer(lambda req: {"ok": False, "error": {"code": "not_found", "message": "no ticket 99"}})
        rc, out, err = self.ctl("show", "99")
        self.assertEqual(rc, 1)
        self.assertEqual(err.strip(), "triagectl: not_found: no ticket 99")
        self.assertEqual(out, "")
        rc, out, err = self.ctl("--json", "show", "99")
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["error"]["code"], "not_found")

    def test_hang_up_without_answer(self):
        self.answer(lambda req: None)
        rc, _, err = self.ctl("status")
        self.assertEqual(rc, 3)
        self.assertIn("closed the connection", err)

    def test_malformed_answer(self):
        self.answer(lambda req: b"this is not json\n")
        rc, _, err = self.ctl("ping")
        self.assertEqual(rc, 1)
        self.assertIn("malformed answer", err)

    def test_answer_too_long(self):
        big = b'{"ok":true,"x":"' + b"a" * ((64 << 20) + 16) + b'"}\n'
        self.answer(lambda req: big)
        rc, _, err = self.ctl("ping", timeout=120)
        self.assertEqual(rc, 1)
        self.assertIn("longer than 64 MiB", err)


class SocketPath(Base):
    def test_env(self):
        rc, _, err = run(["ping"], env={"TRIAGED_SOCKET": self.sock})
        self.assertEqual(rc, 0, err)

    def test_option_beats_env(self):
        rc, _, err = run(["ping"], sock=self.sock, env={"TRIAGED_SOCKET": "/nonexistent/x.sock"})
        self.assertEqual(rc, 0, err)

    def test_runtime_directory(self):
        rc, _, err = run(["ping"], env={"RUNTIME_DIRECTORY": self.fake.dir})
        self.assertEqual(rc, 0, err)

    def test_config_socket_key(self):
        cfg = self.write("triaged.yaml", f"socket: {self.sock}\n")
        rc, _, err = run(["-c", cfg, "ping"], env={"RUNTIME_DIRECTORY": "/nonexistent"})
        self.assertEqual(rc, 0, err)

    def test_env_beats_config(self):
        cfg = self.write("triaged.yaml", "socket: /nonexistent/triaged.sock\n")
        rc, _, err = run(["-c", cfg, "ping"], env={"TRIAGED_SOCKET": self.sock})
        self.assertEqual(rc, 0, err)

    def test_bad_config(self):
        cfg = self.write("triaged.yaml", "socket: [unclosed\n")
        rc, _, err = run(["-c", cfg, "ping"])
        self.assertEqual(rc, 2)
        self.assertIn("triaged.yaml", err)

    def test_default_path_in_message(self):
        rc, _, err = run(["ping"], env={"RUNTIME_DIRECTORY": os.path.join(self.tmp, "rt")})
        self.assertEqual(rc, 3)
        self.assertIn(os.path.join(self.tmp, "rt", "triaged.sock"), err)


class Tickets(Base):
    def test_table(self):
        self.answer(lambda req: {"ok": True, "tickets": TICKETS})
        rc, out, err = self.ctl("tickets", "--state", "all", "--queue", "jp-care", "--account", "acme-jp",
                                "--priority", "urgent", "--breached", "--text", "返品", "--limit", "20")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.fake.requests, [{"op": "tickets", "state": "all", "queue": "jp-care",
                                               "account": "acme-jp", "priority": "urgent", "breached": True,
                                               "text": "返品", "limit": 20}])
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["ID", "PRI", "STATE", "DUE", "ACCOUNT", "QUEUE", "TITLE"])
        self.assertEqual(len(lines), 3)
        row7 = lines[1].split()
        self.assertEqual(row7[:6], ["7", "high", "open", "2026-11-24T16:00:00+08:00", "acme-de", "customer-care"])
        row12 = lines[2]
        self.assertTrue(row12.split()[:6] == ["12", "urgent", "open", "-", "acme-jp", "jp-care"], row12)
        # The title column starts where the header says, for every row: the
        # columns are aligned in terminal cells, CJK counting two.
        col = width(lines[0][:lines[0].index("TITLE")])
        for line in lines[1:]:
            i = 0
            while width(line[:i]) < col:
                i += 1
            title = line[i:]
            self.assertEqual(width(line[:i]), col, line)
            self.assertLessEqual(width(title), 60)
        self.assertIn("…", row12)
        self.assertIn("返品したい", row12)
        self.assertNotIn("本当に長いタイトル", row12)

    def test_empty(self):
        self.answer(lambda req: {"ok": True, "tickets": []})
        rc, out, _ = self.ctl("tickets")
        self.assertEqual((rc, out.strip()), (0, "no tickets"))
        self.assertEqual(self.fake.requests, [{"op": "tickets"}])

    def test_json(self):
        resp = {"ok": True, "tickets": TICKETS}
        self.answer(lambda req: resp)
        for args in (["--json", "tickets"], ["tickets", "--json"]):
            rc, out, err = self.ctl(*args)
            self.assertEqual(rc, 0, err)
            self.assertEqual(json.loads(out), resp)

    def test_odd_shapes(self):
        """Missing fields print as "-"; wrong types never crash."""
        odd = [{"id": "x"}, {"title": None, "due_at": 5, "tags": "no"}, 3, None, {"title": "bell\a\x1b[31mred"}]
        self.answer(lambda req: {"ok": True, "tickets": odd})
        rc, out, err = self.ctl("tickets")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(out.splitlines()), 6)
        self.assertIn("-", out.splitlines()[2])
        self.assertNotIn("\x1b", out)
        for shape in ({"ok": True, "tickets": "nope"}, {"ok": True}, {"ok": True, "ticket": []}, {"ok": "yes"}):
            self.answer(lambda req, s=shape: s)
            for args in (["tickets"], ["show", "1"], ["status"], ["stats"], ["rules"], ["explain", "--seq", "1"],
                         ["ack", "1"]):
                rc, out, err = self.ctl(*args)
                self.assertIn(rc, (0, 1), (shape, args, err))

    def test_show(self):
        ticket = dict(TICKETS[0], history=[
            {"at": "2026-11-24T06:00:00Z", "actor": "rule", "rule": "negative-feedback", "event_seq": 42,
             "action": "open", "detail": "1-star feedback"},
            {"at": "2026-11-24T07:00:00Z", "actor": "uid:1000", "action": "comment", "detail": "called the buyer"},
        ], timers=[{"id": 3, "due_at": "2026-11-24T15:00:00+08:00", "kind": "nudge", "note": "Contact the buyer"},
                   {"id": 4, "due_at": "2026-11-25T06:00:00Z", "kind": "escalate",
                    "payload": {"note": "from payload"}}])
        self.answer(lambda req: {"ok": True, "ticket": ticket})
        rc, out, err = self.ctl("show", "7")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.fake.requests, [{"op": "ticket", "id": 7}])
        self.assertRegex(out, r"(?m)^title\s+1-star feedback on 302-3333333-4444444$")
        self.assertRegex(out, r"(?m)^due\s+2026-11-24T16:00:00\+08:00$")
        self.assertRegex(out, r"(?m)^assignee\s+-$")
        self.assertRegex(out, r"(?m)^AT\s+ACTOR/RULE\s+ACTION\s+DETAIL$")
        self.assertRegex(out, r"(?m)^2026-11-24T06:00:00Z\s+rule/negative-feedback #42\s+open\s+1-star feedback$")
        self.assertRegex(out, r"(?m)^2026-11-24T07:00:00Z\s+uid:1000\s+comment\s+called the buyer$")
        self.assertRegex(out, r"(?m)^3\s+2026-11-24T15:00:00\+08:00\s+nudge\s+Contact the buyer$")
        self.assertIn("from payload", out)
        self.assertRegex(out, r"(?m)^fields.rating\s+1$")

    def test_updates(self):
        def handler(req):
            return {"ok": True, "ticket": dict(TICKETS[0], state="closed" if req["action"] == "close" else "open")}
        self.answer(handler)
        cases = [
            (["ack", "7"], {"action": "ack"}, "ticket 7 acknowledged"),
            (["assign", "7", "li.wei"], {"action": "assign", "assignee": "li.wei"}, "ticket 7 assigned to li.wei"),
            (["comment", "7", "called", "the", "buyer"], {"action": "comment", "text": "called the buyer"},
             "ticket 7 commented"),
            (["comment", "7", "-5 stars", "--json"], {"action": "comment", "text": "-5 stars --json"},
             "ticket 7 commented"),
            (["close", "7", "refund", "sent"], {"action": "close", "reason": "refund sent"}, "ticket 7 closed"),
            (["close", "7"], {"action": "close"}, "ticket 7 closed"),
            (["reopen", "7"], {"action": "reopen"}, "ticket 7 reopened"),
        ]
        for args, fields, confirm in cases:
            with self.subTest(args=args):
                self.fake.requests.clear()
                rc, out, err = self.ctl(*args)
                self.assertEqual(rc, 0, err)
                self.assertEqual(self.fake.requests, [dict({"op": "ticket.update", "id": 7}, **fields)])
                self.assertEqual(len(out.splitlines()), 1)
                self.assertTrue(out.startswith(confirm), out)


class Views(Base):
    def test_explain(self):
        resp = {"ok": True,
                "event": {"seq": 42, "type": "feedback.new", "id": "fb-0201", "source": "socket",
                          "account": "acme-de", "marketplace": "DE", "occurred_at": "2026-11-24T06:00:00Z",
                          "received_at": "2026-11-24T14:00:01+08:00", "payload": {"rating": 1}},
                "outcomes": [
                    {"rule": "negative-feedback", "status": "ok", "duration_us": 1234, "error": None,
                     "location": None, "effects": [{"op": "ticket.open", "id": 7}, {"op": "nudge", "after": "1h"}]},
                    {"rule": "broken", "status": "error", "duration_us": 87, "effects": [],
                     "error": "attempt to index a nil value", "location": "rules.d/broken.lua:12"}]}
        self.answer(lambda req: resp)
        rc, out, err = self.ctl("explain", "feedback.new", "fb-0201")
        self.assertEqual(rc, 0, err)
        rc2, _, _ = self.ctl("explain", "--seq", "42")
        self.assertEqual(rc2, 0)
        self.assertEqual(self.fake.requests, [{"op": "explain", "type": "feedback.new", "event_id": "fb-0201"},
                                              {"op": "explain", "seq": 42}])
        self.assertRegex(out, r"(?m)^event\s+42$")
        self.assertRegex(out, r"(?m)^type\s+feedback.new$")
        self.assertRegex(out, r"(?m)^received\s+2026-11-24T14:00:01\+08:00$")
        self.assertIn("rule negative-feedback: ok, 1.2 ms", out)
        self.assertIn("  ticket.open id=7\n", out)  # in words, never raw JSON
        self.assertIn("  nudge after=1h\n", out)
        self.assertIn("rule broken: error, 87 us", out)
        self.assertIn("error: attempt to index a nil value (at rules.d/broken.lua:12)", out)

    def test_rules(self):
        self.answer(lambda req: {"ok": True, "rules": [
            {"name": "negative-feedback", "file": "rules.d/feedback.lua", "line": 3, "on": ["feedback.new"],
             "priority": 0, "runs": 12, "errors": 0, "last_error": None},
            {"name": "cases", "file": "rules.d/cases.lua", "line": 9, "on": ["case.opened", "case.update"],
             "priority": 10, "runs": 5, "errors": 1, "last_error": "boom"}]})
        rc, out, err = self.ctl("rules")
        self.assertEqual(rc, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["NAME", "ON", "PRIO", "RUNS", "ERRORS", "FILE", "LAST", "ERROR"])
        self.assertEqual(lines[1].split(), ["negative-feedback", "feedback.new", "0", "12", "0",
                                            "rules.d/feedback.lua:3", "-"])
        self.assertEqual(lines[2].split(), ["cases", "case.opened,", "case.update", "10", "5", "1",
                                            "rules.d/cases.lua:9", "boom"])

    def test_status(self):
        self.answer(lambda req: {"ok": True, "stats": {
            "version": "0.1.0", "uptime_s": 93784, "events_stored": 1200, "events_accepted": 1000,
            "duplicates": 3, "rejected": 2, "tickets_open": 5, "clients": 1, "pending_events": 0,
            "durability": "full", "rules": 4, "wal_flushes": 120, "wal_flush_mean_ms": 1.5,
            "wal_flush_max_ms": 9.25, "ingest_answer_ms": {"last": 900, "p50": 0.5, "p99": 4.25, "max": 12}},
            "spool": {"queued": 2, "in_progress": [{"file": "feedback_20261123.csv", "rows_done": 1200}],
                      "rejected_today": 1}})
        rc, out, err = self.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.fake.ops(), ["stats"])
        for pattern in (r"uptime\s+1d 2h 3m", r"events\s+1200", r"duplicates\s+3", r"rejected\s+2",
                        r"open tickets\s+5", r"clients\s+1", r"pending\s+0", r"durability\s+full", r"rules\s+4",
                        r"spool queued\s+2", r"spool working\s+feedback_20261123.csv \(1200 rows done\)",
                        r"spool rejected\s+1 today",
                        r"answers\s+p50 0.50 ms, p99 4.25 ms, max 12.00 ms \(last 900 ingests\)",
                        r"disk flushes\s+120, mean 1.50 ms, worst 9.25 ms"):
            self.assertRegex(out, "(?m)^" + pattern + "$")

    def test_status_flat_and_missing(self):
        self.answer(lambda req: {"ok": True, "uptime_s": 5, "events": 10})
        rc, out, err = self.ctl("status")
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^uptime\s+5s$")
        self.assertRegex(out, r"(?m)^events\s+10$")
        self.assertRegex(out, r"(?m)^clients\s+-$")
        self.assertNotIn("spool", out)

    def test_stats(self):
        resp = {"ok": True, "stats": {"events_stored": 10, "durability": "full", "nested": {"a": 1}},
                "spool": {"queued": 0, "in_progress": []}}
        self.answer(lambda req: resp)
        rc, out, err = self.ctl("stats")
        self.assertEqual(rc, 0, err)
        for pattern in (r"events_stored\s+10", r"durability\s+full", r"nested\.a\s+1", r"spool\.queued\s+0",
                        r"spool\.in_progress\s+\[\]"):
            self.assertRegex(out, "(?m)^" + pattern + "$")
        self.assertNotRegex(out, r"(?m)^ok\b")
        rc, out, _ = self.ctl("stats", "--json")
        self.assertEqual(json.loads(out), resp)

    def test_raw(self):
        self.answer(lambda req: {"ok": True, "echo": req})
        rc, out, err = self.ctl("raw", '{"op": "ping",\n "big": 12345678901234567890}')
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["echo"]["op"], "ping")
        self.assertEqual(self.fake.requests[0]["big"], 12345678901234567890)  # digits kept
        self.answer(lambda req: {"ok": False, "error": {"code": "bad_request", "message": "unknown op"}})
        rc, out, err = self.ctl("raw", '{"op":"nope"}')
        self.assertEqual(rc, 1)
        self.assertEqual(json.loads(out)["ok"], False)
        self.assertIn("triagectl: bad_request: unknown op", err)


class Busy(Base):
    def test_retry_then_ok(self):
        calls = []

        def handler(req):
            calls.append(time.monotonic())
            if len(calls) <= 2:
                return {"ok": False, "error": {"code": "busy", "message": "try later"}}
            return {"ok": True}
        self.answer(handler)
        rc, out, err = self.ctl("ping")
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(calls), 3)
        self.assertGreater(calls[2] - calls[0], 0.1, "retries back off")

    def test_give_up(self):
        self.answer(lambda req: {"ok": False, "error": {"code": "busy", "message": "overloaded"}})
        start = time.monotonic()
        rc, out, err = self.ctl("tickets")
        took = time.monotonic() - start
        self.assertEqual(rc, 1)
        self.assertIn("triagectl: busy: overloaded", err)
        self.assertTrue(3.5 < took < 9, took)

    def test_ingest_busy_batch_is_resent(self):
        seen = {"busy": 0}

        def handler(req):
            if req["op"] == "ingest" and req["id"] == 2 and seen["busy"] < 2:
                seen["busy"] += 1
                return {"ok": False, "error": {"code": "busy", "message": "queue full"}}
            return {"ok": True, "accepted": len(req["events"]), "duplicates": 0, "rejected": []}
        self.answer(handler)
        path = self.write("events.ndjson", "".join(
            json.dumps({"type": "message.new", "id": f"m{i}"}) + "\n" for i in range(1, 1201)))
        rc, out, err = self.ctl("ingest", path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.splitlines()[0], "accepted 1200, duplicates 0, rejected 0")
        ids = [r["id"] for r in self.fake.requests]
        self.assertEqual(sorted(set(ids)), [1, 2, 3])
        self.assertEqual(ids.count(2), 3)
        taken = {}
        for r in self.fake.requests:
            taken[r["id"]] = [e["id"] for e in r["events"]]
        self.assertEqual(sum(taken.values(), []), [f"m{i}" for i in range(1, 1201)])


def ingest_handler(req):
    """Accepts events like triaged: a type is required, dotted lowercase;
    "dup" events are duplicates."""
    accepted = duplicates = 0
    rejected = []
    for i, ev in enumerate(req["events"]):
        t = ev.get("type")
        if not isinstance(t, str):
            rejected.append({"index": i, "error": "field \"type\": required"})
        elif not all(c.islower() or c == "." for c in t):
            rejected.append({"index": i, "error": f"field \"type\": invalid name \"{t}\""})
        elif ev.get("dup"):
            duplicates += 1
        else:
            accepted += 1
    return {"ok": True, "accepted": accepted, "duplicates": duplicates, "rejected": rejected}


class Ingest(Base):
    def setUp(self):
        super().setUp()
        self.answer(ingest_handler)

    def test_line_numbers_across_batches(self):
        lines = []
        for n in range(1, 1201):
            if n == 3:
                lines.append('{"type":"message.new","id":')  # broken JSON: rejected locally
            elif n == 777:
                lines.append(json.dumps({"id": "no-type-777"}))  # rejected by the daemon, 2nd request
            elif n == 1190:
                lines.append(json.dumps({"type": "Bad!", "id": "x"}))  # 3rd request
            elif n == 10:
                lines.append("   ")  # blank lines are skipped
            elif n == 11:
                lines.append(json.dumps({"type": "message.new", "id": "d", "dup": True}))
            else:
                lines.append(json.dumps({"type": "message.new", "id": f"m{n}", "body": "返品したい"},
                                        ensure_ascii=False))
        path = self.write("events.ndjson", "\r\n".join(lines) + "\r\n")
        rc, out, err = self.ctl("ingest", path)
        self.assertEqual(rc, 1, err)
        out_lines = out.splitlines()
        self.assertEqual(out_lines[0], "accepted 1195, duplicates 1, rejected 3")
        self.assertRegex(out_lines[1], rf"^{path}:3: invalid JSON")
        self.assertEqual(out_lines[2], f'{path}:777: field "type": required')
        self.assertEqual(out_lines[3], f'{path}:1190: field "type": invalid name "Bad!"')
        self.assertEqual(len(out_lines), 4)
        sizes = [len(r["events"]) for r in self.fake.requests]
        self.assertEqual(sizes, [500, 500, 198])
        self.assertEqual([r["id"] for r in self.fake.requests], [1, 2, 3])
        self.assertEqual(self.fake.requests[0]["events"][0]["body"], "返品したい")

    def test_json_output(self):
        path = self.write("e.ndjson", '{"type":"a.b","id":"1"}\n[1]\n{"id":"x"}\n')
        rc, out, err = self.ctl("--json", "ingest", path)
        self.assertEqual(rc, 1, err)
        got = json.loads(out)
        self.assertEqual(got["accepted"], 1)
        self.assertEqual(got["duplicates"], 0)
        self.assertEqual([(r["line"], r["error"]) for r in got["rejected"]],
                         [(2, "not a JSON object"), (3, 'field "type": required')])

    def test_shared_bad_events(self):
        path = os.path.join(SHARED_DIR, "samples", "bad_events.ndjson")
        if not os.path.exists(path):
            self.skipTest("no shared samples")
        rc, out, err = self.ctl("ingest", path)
        self.assertEqual(rc, 1, err)
        lines = out.splitlines()
        self.assertEqual(lines[0], "accepted 2, duplicates 0, rejected 5")
        self.assertEqual([int(l[len(path) + 1:].split(":")[0]) for l in lines[1:]], [2, 3, 4, 5, 7])

    def test_json_document(self):
        path = os.path.join(SHARED_DIR, "samples", "cases_20261124.json")
        if not os.path.exists(path):
            self.skipTest("no shared samples")
        rc, out, err = self.ctl("ingest", path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "accepted 4, duplicates 0, rejected 0")
        events = self.fake.requests[0]["events"]
        self.assertEqual([e["case_id"] for e in events], ["17234567891"] * 3 + ["17299990000"])

    def test_json_array_lines(self):
        doc = ('\ufeff[\n  {"type": "a.b",\n   "id": "1"},\n  "text",\n  {"id": "2",\n'
               '   "note": "multi\\nline"},\n  {"type": "a.b", "id": 3, "big": 12345678901234567890}\n]\n')
        path = self.write("events.json", doc)
        rc, out, err = self.ctl("ingest", path)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.splitlines(), ["accepted 2, duplicates 0, rejected 2",
                                            f"{path}:4: not a JSON object",
                                            f'{path}:5: field "type": required'])
        self.assertEqual(self.fake.requests[0]["events"][2]["big"], 12345678901234567890)

    def test_json_single_object_and_broken(self):
        path = self.write("one.json", '{"type": "a.b",\n "id": "1"}\n')
        rc, out, _ = self.ctl("ingest", path)
        self.assertEqual((rc, out.strip()), (0, "accepted 1, duplicates 0, rejected 0"))
        path = self.write("broken.json", '[\n{"type":"a.b","id":"1"},\n{"type":"a.b","id":"2"}\n{"x":1}]\n')
        rc, out, _ = self.ctl("ingest", path)
        self.assertEqual(rc, 1)
        self.assertEqual(out.splitlines(), ["accepted 2, duplicates 0, rejected 1",
                                            f"{path}:4: invalid JSON: expected ',' or ']'"])
        for text, line in (("[\n{\"type\":\"a.b\"", 2), ("", None), ("[]", None), ("[1,]", 1)):
            path = self.write("x.json", text)
            rc, out, _ = self.ctl("ingest", path)
            if line is None:
                self.assertEqual((rc, out.strip()), (0, "accepted 0, duplicates 0, rejected 0"))
            else:
                self.assertEqual(rc, 1, text)
                self.assertIn(f"{path}:{line}: invalid JSON", out)

    def test_stdin(self):
        rc, out, err = self.ctl("ingest", "-", stdin='{"type":"a.b","id":"1"}\n\nnope\n')
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.splitlines(), ["accepted 1, duplicates 0, rejected 1", "<stdin>:3: invalid JSON at column 1"])
        rc, out, err = self.ctl("ingest", "-", stdin='  [\n{"type":"a.b","id":"1"},\n{"type":"a.b","id":"2"}]')
        self.assertEqual((rc, out.strip()), (0, "accepted 2, duplicates 0, rejected 0"), err)

    def test_line_too_long(self):
        big = '{"type":"a.b","id":"big","body":"' + "x" * (9 << 20) + '"}'
        path = self.write("big.ndjson", big + "\n" + '{"type":"a.b","id":"1"}\n' + big)
        rc, out, err = self.ctl("ingest", path)
        self.assertEqual(rc, 1, err)
        self.assertEqual(out.splitlines(), ["accepted 1, duplicates 0, rejected 2",
                                            f"{path}:1: line longer than 8 MiB",
                                            f"{path}:3: line longer than 8 MiB"])

    def test_missing_file(self):
        rc, _, err = self.ctl("ingest", os.path.join(self.tmp, "nope.ndjson"))
        self.assertEqual(rc, 2)
        self.assertIn("No such file or directory", err)
        self.assertEqual(self.fake.requests, [])

    def test_whole_request_refused(self):
        def handler(req):
            if req["id"] == 2:
                return {"ok": False, "error": {"code": "too_large", "message": "request too large"}}
            return ingest_handler(req)
        self.answer(handler)
        path = self.write("e.ndjson", "".join(json.dumps({"type": "a.b", "id": str(i)}) + "\n" for i in range(600)))
        rc, out, _ = self.ctl("ingest", path)
        self.assertEqual(rc, 1)
        lines = out.splitlines()
        self.assertEqual(lines[0], "accepted 500, duplicates 0, rejected 100")
        self.assertEqual(lines[1], f"{path}:501: too_large: request too large")
        self.assertEqual(lines[-1], f"{path}:600: too_large: request too large")

    def test_daemon_leaves_mid_ingest(self):
        def handler(req):
            return None if req["id"] == 2 else ingest_handler(req)
        self.answer(handler)
        path = self.write("e.ndjson", "".join(json.dumps({"type": "a.b", "id": str(i)}) + "\n" for i in range(1200)))
        rc, _, err = self.ctl("ingest", path)
        self.assertEqual(rc, 3)
        self.assertIn("triagectl:", err)

    def test_pipelined(self):
        """Requests are written before earlier answers are read: the fake
        holds its first answer until the fourth request has arrived."""
        def handler(req):
            deadline = time.monotonic() + 10
            while req["id"] == 1 and len(self.fake.requests) < 4:
                if time.monotonic() > deadline:
                    return {"ok": False, "error": {"code": "internal", "message": "not pipelined"}}
                time.sleep(0.01)
            return ingest_handler(req)

        # The fake server reads requests in one thread: hold answers in a
        # second reader so request 4 can arrive while answer 1 is pending.
        self.fake.close()
        self.fake = PipelineFake(handler)
        self.sock = self.fake.path
        path = self.write("e.ndjson", "".join(json.dumps({"type": "a.b", "id": str(i)}) + "\n" for i in range(2000)))
        rc, out, err = self.ctl("ingest", path)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip(), "accepted 2000, duplicates 0, rejected 0")


class PipelineFake:
    """Reads requests and answers them from separate threads, in order."""

    def __init__(self, handler):
        self.dir = tempfile.mkdtemp(prefix="triagectl-test-")
        self.path = os.path.join(self.dir, "triaged.sock")
        self.requests = []
        self.srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.srv.bind(self.path)
        self.srv.listen(1)
        self.handler = handler
        threading.Thread(target=self.serve, daemon=True).start()

    def serve(self):
        conn, _ = self.srv.accept()
        import queue
        q = queue.Queue()

        def answer():
            while True:
                req = q.get()
                if req is None:
                    return
                resp = dict(self.handler(req), id=req["id"])
                conn.sendall(json.dumps(resp).encode() + b"\n")
        t = threading.Thread(target=answer, daemon=True)
        t.start()
        with conn.makefile("rb") as f:
            for line in f:
                req = json.loads(line)
                self.requests.append(req)
                q.put(req)
        q.put(None)
        t.join()
        conn.close()

    def close(self):
        self.srv.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@unittest.skipUnless(TRIAGED and os.path.exists(TRIAGED), "the daemon is not built yet")
class RealDaemon(unittest.TestCase):
    """triagectl against the real triaged, in a temporary folder."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="triagectl-real-")
        cls.sock = os.path.join(cls.tmp, "triaged.sock")
        rules = os.path.join(SOURCE_DIR, "rules")
        cfg = os.path.join(cls.tmp, "triaged.yaml")
        with open(cfg, "w") as f:
            f.write(f"state_dir: {cls.tmp}/state\nsocket: {cls.sock}\nrules_dir: {rules}\n"
                    f"durability: normal\n")
        cls.cfg = cfg
        cls.log = open(os.path.join(cls.tmp, "triaged.log"), "w")
        cls.proc = subprocess.Popen([TRIAGED, "-c", cfg], stdout=cls.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(cls.sock) and run(["ping"], sock=cls.sock)[0] == 0:
                return
            if cls.proc.poll() is not None:
                break
            time.sleep(0.1)
        cls.tearDownClass()
        raise RuntimeError("triaged did not start; see its log")

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.send_signal(signal.SIGTERM)
            try:
                cls.proc.wait(20)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.log.close()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_ping_status_stats(self):
        self.assertEqual(run(["ping"], sock=self.sock)[0], 0)
        rc, out, err = run(["-c", self.cfg, "status"])
        self.assertEqual(rc, 0, err)
        self.assertRegex(out, r"(?m)^uptime\s+\d")
        rc, out, err = run(["--json", "stats"], sock=self.sock)
        self.assertEqual(rc, 0, err)
        self.assertTrue(json.loads(out)["ok"])

    def test_ingest_bad_events_and_tickets(self):
        path = os.path.join(SHARED_DIR, "samples", "bad_events.ndjson")
        if not os.path.exists(path):
            self.skipTest("no shared samples")
        rc, out, err = run(["ingest", path], sock=self.sock)
        self.assertEqual(rc, 1, err)
        lines = out.splitlines()
        self.assertRegex(lines[0], r"^accepted \d+, duplicates \d+, rejected 5$")
        self.assertEqual([int(l[len(path) + 1:].split(":")[0]) for l in lines[1:]], [2, 3, 4, 5, 7])
        rc, out, err = run(["--json", "tickets", "--state", "all"], sock=self.sock)
        self.assertEqual(rc, 0, err)
        self.assertIsInstance(json.loads(out)["tickets"], list)
        rc, _, err = run(["show", "999999"], sock=self.sock)
        self.assertEqual(rc, 1)
        self.assertIn("triagectl: not_found:", err)


if __name__ == "__main__":
    if not TRIAGECTL or not os.path.exists(TRIAGECTL):
        print("TRIAGECTL is not set and no built triagectl was found", file=sys.stderr)
        sys.exit(1)
    unittest.main(verbosity=1)
