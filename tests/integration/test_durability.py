"""SPEC §3 acknowledged means durable, under durability full (the default):
the WAL is flushed off the loop thread, and an answer waits for the flush
that covers its commit. fdatasync is slowed or made to fail on demand by a
shim LD_PRELOADed into the daemon (tests/integration/fsync_shim.c)."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import FSYNC_SHIM, Daemon, DiskShim  # noqa: E402

def event(i):
    return {"type": "message.new", "id": f"d{i}", "account": "acme-us", "marketplace": "US",
            "order_id": f"111-0000000-{i:07d}", "buyer": "John Smith", "subject": "Where is my order?"}


@unittest.skipUnless(os.path.exists(FSYNC_SHIM), "TR_FSYNC_SHIM (built by ctest) not found")
class FlushBeforeAnswer(unittest.TestCase):
    def setUp(self):
        self.shim = DiskShim(f"fsync-{self._testMethodName}")
        self.fsync = self.shim.set

    def tearDown(self):
        self.shim.set(None)

    def daemon(self, config=""):
        env = self.shim.env()
        return Daemon(durability="full", env=env, config=config)

    def test_answers_wait_for_the_flush_and_pings_do_not(self):
        with self.daemon() as d:
            self.fsync("delay 700")
            c, other = d.client(), d.client()
            t0 = time.monotonic()
            c.send({"op": "ingest", "events": [event(1)], "id": "a"})
            c.send({"op": "ping", "id": "b"})
            time.sleep(0.1)
            # another client's ping goes at once: the loop is not waiting for the disk
            self.assertTrue(other.request({"op": "ping"})["ok"])
            ping_s = time.monotonic() - t0
            first = c.recv()
            ingest_s = time.monotonic() - t0
            second = c.recv()
            self.assertEqual((first["id"], first["accepted"]), ("a", 1), first)
            self.assertEqual(second["id"], "b", second)  # in order, behind the held answer
            self.assertLess(ping_s, 0.5)
            self.assertGreaterEqual(ingest_s, 0.6, "the ingest was answered before its flush")
            self.fsync(None)
            # normal speed again, and every answer stays in order
            for i in range(20):
                c.send({"op": "ingest", "events": [event(100 + i)], "id": i})
            self.assertEqual([c.recv()["id"] for _ in range(20)], list(range(20)))
            self.assertEqual(len(d.tickets()), 21)
            stats = d.request({"op": "stats"})["stats"]
            self.assertGreaterEqual(stats["wal_flushes"], 2, stats)
            self.assertGreaterEqual(stats["wal_flush_max_ms"], 650, stats)
            # the daemon's own answer times include the wait for the flush
            answers = stats["ingest_answer_ms"]
            self.assertEqual(answers["last"], 21, answers)
            self.assertGreaterEqual(answers["max"], 650, answers)
            self.assertLess(answers["p50"], 650, answers)
            # SIGTERM while an answer waits for its flush: it is flushed, answered, and the exit is clean
            self.fsync("delay 500")
            c.send({"op": "ingest", "events": [event(200)], "id": "last"})
            time.sleep(0.1)
            d.proc.send_signal(signal.SIGTERM)
            last = c.recv()
            self.assertEqual((last["id"], last["accepted"]), ("last", 1), last)
            self.assertEqual(d.proc.wait(20), 0)
            self.fsync(None)
            self.assertEqual(d.stop(), 0)

    def test_a_failed_flush_stops_the_daemon_before_it_answers(self):
        with self.daemon() as d:
            self.assertEqual(d.ingest([event(1)])["accepted"], 1)
            self.fsync("fail")
            c = d.client()
            c.send({"op": "ingest", "events": [event(2)]})
            with self.assertRaises((ConnectionError, OSError)):
                c.recv()  # never an ok for what may not be on disk
            self.assertEqual(d.proc.wait(20), -signal.SIGABRT)
            d.log_file.close()
            self.assertIn("cannot flush", d.log())
            self.assertIn("-wal", d.log())
            self.fsync(None)
            d.start()  # the WAL is recovered: both events are there (the process died, not the disk)
            self.assertEqual(d.ingest([event(1), event(2)])["duplicates"], 2)
            self.assertEqual(d.stop(), 0)

    def test_a_file_moves_to_done_once_its_end_is_durable(self):
        with self.daemon(config="spool: { settle_ms: 50, rescan_ms: 100 }\n") as d:
            self.fsync("delay 1000")
            spool = os.path.join(d.dir, "state", "spool")
            tmp = os.path.join(spool, ".flush.ndjson.tmp")
            with open(tmp, "w") as f:
                f.writelines(json.dumps(event(i)) + "\n" for i in range(3))
            os.rename(tmp, os.path.join(spool, "incoming", "flush.ndjson"))
            in_work = in_done = None
            deadline = time.monotonic() + 30
            while in_done is None and time.monotonic() < deadline:
                now = time.monotonic()
                if in_work is None and os.listdir(os.path.join(spool, "work")):
                    in_work = now
                if os.path.exists(os.path.join(spool, "done", "flush.ndjson")):
                    in_done = now
                time.sleep(0.01)
            self.assertIsNotNone(in_work, "the file was never seen in work/")
            self.assertIsNotNone(in_done, "the file never reached done/:\n" + d.log())
            # claimed (a flush), read and finished at once, then moved after the next flush
            self.assertGreaterEqual(in_done - in_work, 0.9)
            self.fsync(None)
            self.assertEqual(len(d.tickets()), 3)
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
