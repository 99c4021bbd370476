"""File drops (SPEC §4) through the real daemon: every sample file gives
the result its README states, bad rows are reported with their line,
re-drops are duplicates, files dropped while the daemon is down are taken at
start, files written in place are taken once settled, and a SIGKILL or a
locked database in the middle of a file resumes it with no row lost and none
run twice."""
import json
import os
import shutil
import signal
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import SAMPLES, SOURCE_DIR, Client, Daemon  # noqa: E402


def demo_sources():
    """The `sources:` and later keys of contrib/demo.yaml (sample mappings)."""
    with open(os.path.join(SOURCE_DIR, "contrib", "demo.yaml"), encoding="utf-8") as f:
        text = f.read()
    return text[text.index("sources:"):text.index("calendars:")]


CONFIG = "spool: { settle_ms: 100, rescan_ms: 200 }\n" + demo_sources()


class Spool:
    def __init__(self, d):
        self.d = d
        self.root = os.path.join(d.dir, "state", "spool")

    def path(self, *parts):
        return os.path.join(self.root, *parts)

    def drop(self, name, data=None, src=None):
        """Writes the file beside incoming/ and renames it in, as exporters should."""
        tmp = self.path("incoming", "." + name + ".tmp")
        if src:
            shutil.copy(src, tmp)
        else:
            with open(tmp, "wb") as f:
                f.write(data)
        os.rename(tmp, self.path("incoming", name))

    def wait_for(self, folder, name, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if os.path.exists(self.path(folder, name)):
                return
            time.sleep(0.05)
        raise AssertionError(f"{name} never reached {folder}/; log:\n{self.d.log()}")

    def errors(self, name):
        with open(self.path("rejected", name + ".errors"), encoding="utf-8") as f:
            return [line.rstrip("\n") for line in f]


def tickets_by_key(d):
    return {t["key"]: t for t in d.tickets()}


class Samples(unittest.TestCase):
    def test_every_sample_file_gives_its_readme_result(self):
        with Daemon(config=CONFIG) as d:
            s = Spool(d)
            s.drop("feedback_20261123.csv", src=os.path.join(SAMPLES, "feedback_20261123.csv"))
            s.wait_for("done", "feedback_20261123.csv")
            t = tickets_by_key(d)
            self.assertEqual(sorted(t), ["feedback:113-4567890-1234567", "feedback:113-9999999-0000002",
                                         "feedback:302-1111111-2222222"])
            sparky = t["feedback:113-9999999-0000002"]
            self.assertEqual(sparky["fields"]["buyer"], 'Sam "Sparky" O\'Neil')
            # 2026-11-23 08:15:00 in Asia/Shanghai is 00:15Z; due 2 h later
            self.assertEqual(t["feedback:113-4567890-1234567"]["due_at"], "2026-11-23T02:15:00Z")
            self.assertEqual(t["feedback:302-1111111-2222222"]["fields"]["buyer"], "Jürgen W.")
            r = d.request({"op": "explain", "type": "feedback.new", "event_id": "113-4567890-7654321"})
            self.assertEqual(r["event"]["source"], "file:feedback_20261123.csv:3")
            self.assertEqual(r["outcomes"], [])  # 5 stars: no rule acted

            s.drop("feedback_jp_20261123.csv", src=os.path.join(SAMPLES, "feedback_jp_20261123.csv"))
            s.wait_for("done", "feedback_jp_20261123.csv")
            jp = tickets_by_key(d)["feedback:503-1234567-7654321"]
            self.assertEqual(jp["due_at"], "2026-11-23T11:00:00Z")  # 18:00 JST + 2 h
            self.assertEqual(jp["account"], "acme-jp")

            s.drop("messages_20261124.csv", src=os.path.join(SAMPLES, "messages_20261124.csv"))
            s.wait_for("done", "messages_20261124.csv")
            msgs = {k: v for k, v in tickets_by_key(d).items() if k.startswith("message:")}
            self.assertEqual(len(msgs), 3)
            self.assertEqual({m["state"] for m in msgs.values()}, {"open"})
            self.assertEqual(msgs["message:113-4567890-1234567"]["due_at"], "2026-11-25T01:10:00Z")
            self.assertEqual(msgs["message:503-1234567-7654321"]["due_at"], "2026-11-24T17:00:00Z")
            r = d.request({"op": "explain", "type": "message.new", "event_id": "msg-0001"})
            self.assertEqual(r["event"]["payload"]["body"], "The item arrived broken.\nCan I get a replacement?")

            s.drop("cases_20261124.json", src=os.path.join(SAMPLES, "cases_20261124.json"))
            s.drop("alerts_20261124.yaml", src=os.path.join(SAMPLES, "alerts_20261124.yaml"))
            s.drop("events_20261124.ndjson", src=os.path.join(SAMPLES, "events_20261124.ndjson"))
            for name in ("cases_20261124.json", "alerts_20261124.yaml", "events_20261124.ndjson"):
                s.wait_for("done", name)
            stats = d.request({"op": "stats"})
            # 21 rows, plus the ticket.breached events of tickets already past due
            self.assertGreaterEqual(stats["stats"]["events_stored"], 5 + 2 + 3 + 4 + 2 + 5)
            self.assertEqual(stats["spool"]["done_today"], 6)
            keys = tickets_by_key(d)
            self.assertIn("account:acme-de:policy_warning:-", keys)
            self.assertIn("account:acme-us:listing_removed:B0C1112223", keys)
            self.assertEqual(d.stop(), 0)

    def test_bad_rows_are_listed_and_good_rows_ingested(self):
        with Daemon(config=CONFIG) as d:
            s = Spool(d)
            s.drop("bad_feedback.csv", src=os.path.join(SAMPLES, "bad_feedback.csv"))
            s.wait_for("rejected", "bad_feedback.csv.errors")
            errors = s.errors("bad_feedback.csv")
            self.assertEqual(len(errors), 3, errors)
            self.assertTrue(errors[0].startswith("bad_feedback.csv:2: ") and "rating" in errors[0], errors)
            self.assertTrue(errors[1].startswith("bad_feedback.csv:3: ") and "quote" in errors[1], errors)
            self.assertTrue(errors[2].startswith("bad_feedback.csv:4: "), errors)
            self.assertEqual(list(tickets_by_key(d)), ["feedback:113-0000000-0000012"])

            s.drop("bad_events.ndjson", src=os.path.join(SAMPLES, "bad_events.ndjson"))
            s.wait_for("rejected", "bad_events.ndjson.errors")
            errors = s.errors("bad_events.ndjson")
            self.assertEqual([e.split(":")[1] for e in errors], ["2", "3", "4", "5", "7"])
            for eid in ("ok-1", "ok-2"):
                t = "message.new" if eid == "ok-1" else "feedback.new"
                self.assertTrue(d.request({"op": "explain", "type": t, "event_id": eid})["ok"])

    def test_undecodable_file_is_rejected_with_the_reason(self):
        with Daemon(config=CONFIG) as d:
            s = Spool(d)
            s.drop("notes.docx", data=b"PK\x03\x04 not an export")
            s.wait_for("rejected", "notes.docx.errors")
            [line] = s.errors("notes.docx")
            self.assertTrue(line.startswith("notes.docx:0: unknown file type"), line)


class Lifecycle(unittest.TestCase):
    def test_redrop_is_duplicates_and_files_dropped_while_down_are_taken(self):
        with Daemon(config=CONFIG) as d:
            s = Spool(d)
            s.drop("feedback_20261123.csv", src=os.path.join(SAMPLES, "feedback_20261123.csv"))
            s.wait_for("done", "feedback_20261123.csv")
            before = d.request({"op": "stats"})["stats"]
            s.drop("feedback_20261124.csv", src=os.path.join(SAMPLES, "feedback_20261123.csv"))
            s.wait_for("done", "feedback_20261124.csv")
            s.drop("feedback_20261123.csv", src=os.path.join(SAMPLES, "feedback_20261123.csv"))
            s.wait_for("done", "feedback_20261123.csv.1")
            after = d.request({"op": "stats"})["stats"]
            self.assertEqual(after["events_stored"], before["events_stored"])
            self.assertEqual(after["tickets_total"], before["tickets_total"])
            self.assertEqual(after["duplicates"], 10)

            self.assertEqual(d.stop(), 0)
            s.drop("messages_20261124.csv", src=os.path.join(SAMPLES, "messages_20261124.csv"))
            d.start()
            s.wait_for("done", "messages_20261124.csv")
            self.assertEqual(len([k for k in tickets_by_key(d) if k.startswith("message:")]), 3)

    def test_ignored_names_stay_and_symlinks_are_refused(self):
        with Daemon(config=CONFIG) as d:
            s = Spool(d)
            for name in (".hidden.ndjson", "export.ndjson.tmp", "export.ndjson.part"):
                with open(s.path("incoming", name), "w") as f:
                    f.write('{"type":"x.y","id":"1"}\n')
            os.symlink(os.path.join(SAMPLES, "events_20261124.ndjson"), s.path("incoming", "link.ndjson"))
            s.wait_for("rejected", "link.ndjson.errors")
            self.assertIn("symbolic link", s.errors("link.ndjson")[0])
            time.sleep(0.5)
            self.assertEqual(sorted(os.listdir(s.path("incoming"))),
                             [".hidden.ndjson", "export.ndjson.part", "export.ndjson.tmp"])
            self.assertEqual(d.request({"op": "stats"})["stats"]["events_stored"], 0)

    def test_a_file_written_in_place_is_taken_once_settled(self):
        with Daemon(config="spool: { settle_ms: 600, rescan_ms: 200 }\n") as d:
            s = Spool(d)
            path = s.path("incoming", "slow.ndjson")
            with open(path, "w") as f:
                for i in range(10):
                    f.write(json.dumps({"type": "message.new", "id": f"s{i}", "order_id": f"o{i}"}) + "\n")
                    f.flush()
                    time.sleep(0.15)
            s.wait_for("done", "slow.ndjson")
            self.assertEqual(d.request({"op": "stats"})["stats"]["events_stored"], 10)

    def test_gb18030_four_byte_characters_and_quoted_newlines(self):
        cfg = CONFIG.replace('match: "feedback_*.csv"', 'match: "feedback_*.csv"', 1)
        with Daemon(config=cfg) as d:
            s = Spool(d)
            text = ("店铺,站点,订单号,买家,评分,评论内容,日期\r\n"
                    'acme-us,US,113-0,𠀀先生,1,"第一行\r\n第二行",2026-11-23 08:15:00\r\n')
            s.drop("feedback_gb.csv", data=text.encode("gb18030"))
            s.wait_for("done", "feedback_gb.csv")
            t = tickets_by_key(d)["feedback:113-0"]
            self.assertEqual(t["fields"]["buyer"], "𠀀先生")
            r = d.request({"op": "explain", "type": "feedback.new", "event_id": "113-0"})
            # a line break inside quotes is kept (as \n: CRLF exports are normalised)
            self.assertEqual(r["event"]["payload"]["comment"], "第一行\n第二行")


class HostileInput(unittest.TestCase):
    """Issue 17: input that means two things, or costs more than it is worth,
    is refused with its place named; nothing is held up or lost."""

    def test_a_key_given_twice_is_refused_on_the_socket_and_in_files(self):
        with Daemon(config=CONFIG) as d:
            # json.dumps cannot repeat a key: send the raw line
            c = d.client()
            c.send_raw(b'{"op":"ingest","events":['
                       b'{"type":"message.new","id":"ok-s","order_id":"o2"},'
                       b'{"type":"message.new","id":"d1","occurred_at":"2026-11-24T05:00:00Z",'
                       b'"occurred_at":"2020-01-01T00:00:00Z"},'
                       b'{"type":"message.new","type":"feedback.new","id":"d2","rating":1},'
                       b'{"type":"message.new","id":"d3","order":{"lines":[{"sku":"a","sku":"b"}]}}]}\n')
            r = c.recv()
            c.close()
            self.assertEqual(r["accepted"], 1, r)
            errors = {e["index"]: e["error"] for e in r["rejected"]}
            self.assertIn('"occurred_at"', errors[1])
            self.assertIn("more than once", errors[1])
            self.assertIn('"type"', errors[2])
            self.assertIn('"order.lines[0].sku"', errors[3])
            for eid in ("d1", "d2", "d3"):
                self.assertFalse(d.request({"op": "explain", "type": "message.new", "event_id": eid})["ok"])

            s = Spool(d)
            good = b'{"type":"message.new","id":"f-%d","order_id":"o"}'
            dup_at = b'{"type":"message.new","id":"f-dup","occurred_at":"2026-11-24T05:00:00Z","occurred_at":"2020-01-01T00:00:00Z"}'
            s.drop("dup.ndjson", b"\n".join([good % 1, dup_at, good % 2]) + b"\n")
            s.drop("dup.json", b"[\n" + b",\n".join([good % 3, good % 4, dup_at.replace(b"f-dup", b"f-dup2")]) + b"\n]\n")
            s.drop("dup.yaml", b"- {type: message.new, id: f-5, order_id: o}\n"
                               b"- type: message.new\n  id: f-dup3\n  type: feedback.new\n"
                               b"- type: message.new\n  id: f-6\n  order: {buyer: {name: a, name: b}}\n")
            for name, lines, key in (("dup.ndjson", ["2"], "occurred_at"), ("dup.json", ["4"], "occurred_at"),
                                     ("dup.yaml", ["2", "5"], None)):
                s.wait_for("rejected", name + ".errors")
                errors = s.errors(name)
                self.assertEqual([e.split(":")[1] for e in errors], lines, errors)
                for e in errors:
                    self.assertTrue(e.startswith(name + ":"), e)
                    self.assertIn("more than once", e)
                    if key:
                        self.assertIn(f'"{key}"', e)
            self.assertIn('"type"', s.errors("dup.yaml")[0])
            self.assertIn('"order.buyer.name"', s.errors("dup.yaml")[1])
            for i in range(1, 6):
                self.assertTrue(d.request({"op": "explain", "type": "message.new", "event_id": f"f-{i}"})["ok"], i)
            for eid in ("f-dup", "f-dup2", "f-dup3", "f-6"):
                self.assertFalse(d.request({"op": "explain", "type": "message.new", "event_id": eid})["ok"], eid)

    def test_absurd_depth_and_width_are_refused_without_holding_up_the_spool(self):
        n = 100000
        with Daemon(config="spool: { settle_ms: 50, rescan_ms: 100 }\n") as d:
            s = Spool(d)
            s.drop("deep.yaml", b"- {type: message.new, id: y1, order_id: o}\n- " + b"[" * n + b"]" * n + b"\n")
            s.drop("wide.csv", ",".join(f"c{i}" for i in range(n)).encode() + b"\n" + b"," * (n - 1) + b"\n")
            s.drop("z-after.ndjson", b'{"type":"message.new","id":"after","order_id":"o"}\n')
            t0 = time.monotonic()
            for folder, name in (("done", "z-after.ndjson"), ("rejected", "deep.yaml.errors"),
                                 ("rejected", "wide.csv.errors")):
                s.wait_for(folder, name)
            took = time.monotonic() - t0
            errors = s.errors("deep.yaml")
            self.assertEqual(len(errors), 1, errors)
            self.assertTrue(errors[0].startswith("deep.yaml:2: nested deeper than"), errors)
            self.assertTrue(d.request({"op": "explain", "type": "message.new", "event_id": "y1"})["ok"])
            [line] = s.errors("wide.csv")
            self.assertTrue(line.startswith("wide.csv:1: header: 100000 columns, more than"), line)
            # 27 s and 11 s before; the settle time and the daemon's start
            # are most of what remains
            self.assertLess(took, 5.0, f"the spool was held up {took:.1f} s")



def stored(d):
    return d.request({"op": "stats"})["stats"]["events_stored"]


def wait_until(what, check, d, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"{what} never happened; log:\n{d.log()}")


def rows(start, end, prefix="a"):
    return "".join(json.dumps({"type": "message.new", "id": f"{prefix}{i}", "order_id": f"o{i}"}) + "\n"
                   for i in range(start, end))


class Writers(unittest.TestCase):
    """SPEC §4, nothing vanishes: a writer that keeps its descriptor after
    the file settled, and a drop while the daemon is out of descriptors."""

    def claimed(self, s, name):
        return lambda: not os.path.exists(s.path("incoming", name))

    def test_rows_appended_after_the_claim_are_read(self):
        with Daemon(shipped=False, config="spool: { settle_ms: 200, rescan_ms: 100 }\n") as d:
            s = Spool(d)
            with open(s.path("incoming", "open.ndjson"), "w") as f:
                f.write(rows(0, 5))
                f.flush()
                # the descriptor stays open past settle_ms: the file is
                # claimed, and its rows read to the end, meanwhile
                wait_until("the claim", self.claimed(s, "open.ndjson"), d)
                wait_until("the first rows", lambda: stored(d) == 5, d)
                f.write(rows(5, 8))
                f.flush()
                time.sleep(0.3)
                f.write(rows(8, 10))
            s.wait_for("done", "open.ndjson")
            self.assertFalse(os.path.exists(s.path("rejected", "open.ndjson.errors")))
            self.assertEqual(stored(d), 10, d.log())
            for i in range(10):
                self.assertTrue(d.request({"op": "explain", "type": "message.new", "event_id": f"a{i}"})["ok"], i)

    def test_a_writer_that_never_closes_is_reported_not_waited_for(self):
        with Daemon(shipped=False, config="spool: { settle_ms: 100, rescan_ms: 100 }\n") as d:
            s = Spool(d)
            with open(s.path("incoming", "held.ndjson"), "w") as f:
                f.write(rows(0, 3))
                f.flush()
                wait_until("the claim", self.claimed(s, "held.ndjson"), d)
                f.write(rows(3, 4))
                f.flush()
                s.wait_for("rejected", "held.ndjson.errors", timeout=30)
                [line] = s.errors("held.ndjson")
                self.assertTrue(line.startswith("held.ndjson:0: still open for writing"), line)
                self.assertIn("4 rows were read", line)
                self.assertEqual(stored(d), 4)
                # the spool goes on with other files
                s.drop("next.ndjson", rows(0, 2, prefix="n").encode())
                s.wait_for("done", "next.ndjson")

    def test_a_file_dropped_while_out_of_descriptors_is_taken_without_another_drop(self):
        import resource
        # no periodic rescan to fall back on: only a retry can take the file
        with Daemon(shipped=False, config="spool: { settle_ms: 50, rescan_ms: 600000 }\n") as d:
            s = Spool(d)
            pid = d.proc.pid
            soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)

            def lowest_free():
                used = {int(fd) for fd in os.listdir(f"/proc/{pid}/fd")}
                return min(set(range(len(used) + 1)) - used)
            # Every descriptor below the limit in use: the next open fails.
            # The harness's ping connection may still be closing: settle.
            limit = None
            while limit != lowest_free():
                limit = lowest_free()
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, hard))
                time.sleep(0.2)
            try:
                s.drop("starved.ndjson", rows(0, 3).encode())
                wait_until("an EMFILE", lambda: "Too many open files" in d.log(), d)
                time.sleep(0.3)
            finally:
                resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
            s.wait_for("done", "starved.ndjson", timeout=10)
            self.assertEqual(stored(d), 3)


# Every run bumps a counter kept on one ticket: if any row's rule ran twice,
# the count would exceed the rows.
COUNTING = '''
rule { name = "count", on = "*", action = function(ev)
  local n = state.incr("runs")
  ticket.open { key = "row:" .. ev.id, title = ev.id }
  ticket.open { key = "counter", title = "runs" }:set { fields = { runs = n } }
end }
'''


def big_ndjson(path, n, prefix="r"):
    with open(path, "w") as f:
        for i in range(n):
            f.write('{"type":"load.row","id":"%s%d","n":%d}\n' % (prefix, i, i))


class Resume(unittest.TestCase):
    def test_sigkill_mid_file_resumes_without_loss_or_repeat(self):
        # 60,000 rows, killed after 5,000: under ASan with durability full
        # every 2 ms step of ~16 rows waits for an fsync, and 200,000 rows
        # took 250 s alone; 20,000 rows did not always come within
        # past_row's minute while other tests ran beside it. 55,000 rows
        # still lie ahead of the kill.
        n = 60000
        with counting_daemon("full") as d:
            s = drop_big(d, n)
            # wait until the file is being read, then kill
            self.assertEqual(past_row(d, 5000)["file"], "big.ndjson")
            d.kill9()
            self.assertEqual(os.listdir(s.path("work")) != [], True)
            d.start()
            s.wait_for("done", "big.ndjson", timeout=300)
            self.assertIn("resuming big.ndjson", d.log())
            each_row_once(self, d, n)

    def test_a_locked_database_mid_file_reads_again_from_the_last_commit(self):
        # Another program holding the write lock (an operator's sqlite3 shell
        # left in a transaction) fails a step's BEGIN once busy_timeout (5 s)
        # runs out: the rows read ahead are dropped, the file is opened again
        # a second later and read from its last committed row, and every row
        # still runs once.
        import sqlite3
        n = 30000
        with counting_daemon("normal") as d:
            s = drop_big(d, n)
            past_row(d, 3000)
            db = sqlite3.connect(os.path.join(d.dir, "state", "triaged.db"), timeout=0, isolation_level=None)
            # The daemon takes the lock again right after each step's commit:
            # stop it, and take the lock when it was stopped between steps.
            for _ in range(5000):
                os.kill(d.proc.pid, signal.SIGSTOP)
                try:
                    db.execute("BEGIN IMMEDIATE")
                    locked = True
                except sqlite3.OperationalError:
                    locked = False
                os.kill(d.proc.pid, signal.SIGCONT)
                if locked:
                    break
                time.sleep(0.001)
            self.assertTrue(locked, "the write lock was never free")
            time.sleep(6.5)
            db.execute("ROLLBACK")
            db.close()
            s.wait_for("done", "big.ndjson", timeout=300)
            each_row_once(self, d, n)
            self.assertIn("big.ndjson: database error; retrying", d.log())
            self.assertIn("resuming big.ndjson", d.log())


def counting_daemon(durability):
    """A daemon with only the COUNTING rule and a quick spool."""
    return Daemon(rules={"50-count.lua": COUNTING}, shipped=False, durability=durability,
                  config="spool: { settle_ms: 50, rescan_ms: 100 }\n")


def drop_big(d, n):
    """Drops big.ndjson, n rows, into d's spool; returns the Spool."""
    s = Spool(d)
    src = os.path.join(d.dir, "big.ndjson")
    big_ndjson(src, n)
    s.drop("big.ndjson", src=src)
    return s


def past_row(d, rows):
    """The spool's file in progress once it is past `rows` rows."""
    deadline = time.time() + 60
    while time.time() < deadline:
        prog = d.request({"op": "stats"}).get("spool", {}).get("in_progress", [])
        if prog and prog[0]["rows_done"] > rows:
            return prog[0]
        time.sleep(0.01)
    raise AssertionError(f"no file was seen past row {rows}; log:\n{d.log()}")


def each_row_once(test, d, n):
    """COUNTING ran once for each of the n rows, and each row is stored once."""
    stats = d.request({"op": "stats"})["stats"]
    test.assertEqual(stats["events_stored"], n, "every row stored once")
    test.assertEqual(stats["tickets_total"], n + 1, "every row's rule ran")
    [counter] = d.tickets(text="counter")
    test.assertEqual(counter["fields"]["runs"], n, "no row's rule ran twice")


class Responsive(unittest.TestCase):
    def test_socket_answers_while_a_large_file_is_read(self):
        n = 500000
        with Daemon(shipped=False, config="spool: { settle_ms: 50, rescan_ms: 100 }\n") as d:
            s = Spool(d)
            src = os.path.join(d.dir, "large.ndjson")
            big_ndjson(src, n, prefix="L")
            s.drop("large.ndjson", src=src)
            c = d.client()
            worst, pings = 0.0, 0
            while not os.path.exists(s.path("done", "large.ndjson")):
                t0 = time.monotonic()
                self.assertTrue(c.request({"op": "ping"})["ok"])
                worst = max(worst, time.monotonic() - t0)
                pings += 1
                time.sleep(0.01)
            c.close()
            self.assertEqual(d.request({"op": "stats"})["stats"]["events_stored"], n)
            print(f"{pings} pings while reading {n} rows, slowest {worst * 1000:.1f} ms")
            self.assertLess(worst, 2.0)  # the 10 ms goal is measured by the benchmark


if __name__ == "__main__":
    unittest.main(verbosity=2)
