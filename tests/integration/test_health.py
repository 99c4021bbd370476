"""SPEC §6 stats and §7 status: while commits fail (a full disk, I/O errors)
the daemon says so, "health": "degraded" with the reason, and goes back to
"ok" once a commit succeeds; meanwhile nothing is acknowledged that was not
stored (SPEC §3). The disk is made full by a shim LD_PRELOADed into the
daemon (tests/integration/fsync_shim.c) that fails writes to the WAL."""
import json
import os
import signal
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import FSYNC_SHIM, Daemon, DiskShim  # noqa: E402

def event(i):
    return {"type": "message.new", "id": f"h{i}", "account": "acme-us", "marketplace": "US",
            "order_id": f"111-0000000-{i:07d}", "buyer": "John Smith", "subject": "Where is my order?"}


@unittest.skipUnless(os.path.exists(FSYNC_SHIM), "TR_FSYNC_SHIM (built by ctest) not found")
class HealthWhileCommitsFail(unittest.TestCase):
    def setUp(self):
        self.shim = DiskShim(f"health-{self._testMethodName}")
        self.disk = self.shim.set

    def tearDown(self):
        self.shim.set(None)

    def daemon(self, durability):
        env = self.shim.env()
        return Daemon(durability=durability, env=env)

    def stats(self, d):
        r = d.request({"op": "stats"})
        self.assertTrue(r["ok"], r)
        return r["stats"]

    def check(self, durability, fault, reason):
        with self.daemon(durability) as d:
            self.assertEqual(d.ingest([event(1)])["accepted"], 1)
            s = self.stats(d)
            self.assertEqual(s["health"], "ok", s)
            self.assertNotIn("health_reason", s)
            self.assertNotIn("commit_failures", s)

            self.disk(fault)
            for i in (2, 3):
                r = d.ingest([event(i)])
                # never a false ok: the client is told, and nothing of it is kept
                self.assertFalse(r["ok"], r)
                self.assertEqual(r["error"]["code"], "internal", r)
            s = self.stats(d)
            self.assertEqual(s["health"], "degraded", s)
            self.assertIn(reason, s["health_reason"])
            self.assertIn("2 in a row", s["health_reason"])
            self.assertEqual(s["commit_failures"]["in_a_row"], 2, s)
            self.assertIn(reason, s["commit_failures"]["last_error"])
            out = d.ctl("status")
            self.assertEqual(out.returncode, 0, out.stderr)
            first = out.stdout.splitlines()[0]
            self.assertTrue(first.startswith("HEALTH: DEGRADED: commits are failing"), out.stdout)
            self.assertIn(reason, first)

            self.disk(None)
            # the refused events were not kept: sent again, they are new, not duplicates
            r = d.ingest([event(2), event(3)])
            self.assertEqual((r["accepted"], r["duplicates"]), (2, 0), r)
            s = self.stats(d)
            self.assertEqual(s["health"], "ok", s)
            self.assertNotIn("health_reason", s)
            self.assertEqual(s["commit_failures"]["in_a_row"], 0, s)
            self.assertEqual(s["commit_failures"]["total"], 2, s)
            out = d.ctl("status")
            self.assertNotIn("DEGRADED", out.stdout)
            self.assertRegex(out.stdout, r"(?m)^health\s+ok$")
            self.assertRegex(out.stdout, r"(?m)^last commit failure\s+.*" + reason)
            self.assertEqual(len(d.tickets()), 3)

            # nothing was lost or damaged on disk: after a crash, all three are there
            d.kill9()
            d.start()
            r = d.ingest([event(1), event(2), event(3)])
            self.assertEqual((r["accepted"], r["duplicates"]), (0, 3), r)
            self.assertEqual(len(d.tickets()), 3)
            self.assertEqual(self.stats(d)["health"], "ok")
            self.assertEqual(d.stop(), 0)

    def test_full_disk_under_durability_full(self):
        self.check("full", "full", "database or disk is full")

    def test_full_disk_under_durability_normal(self):
        self.check("normal", "full", "database or disk is full")

    def test_io_errors(self):
        self.check("full", "eio", "disk I/O error")

    def test_a_spool_file_waits_out_the_full_disk(self):
        """A dropped file is not moved to done/ while its rows cannot be
        committed, and is finished once they can."""
        with self.daemon("full") as d:
            d.proc.send_signal(signal.SIGSTOP)  # the file is dropped whole while the daemon cannot look
            self.disk("full")
            spool = os.path.join(d.dir, "state", "spool")
            with open(os.path.join(spool, "incoming", "drop.ndjson"), "w") as f:
                f.writelines(json.dumps(event(10 + i)) + "\n" for i in range(3))
            d.proc.send_signal(signal.SIGCONT)
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and self.stats(d)["health"] == "ok":
                time.sleep(0.05)
            s = self.stats(d)
            self.assertEqual(s["health"], "degraded", s)
            self.assertFalse(os.path.exists(os.path.join(spool, "done", "drop.ndjson")))
            self.disk(None)
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not os.path.exists(os.path.join(spool, "done", "drop.ndjson")):
                time.sleep(0.05)
            self.assertTrue(os.path.exists(os.path.join(spool, "done", "drop.ndjson")), d.log())
            self.assertEqual(len(d.tickets()), 3)
            self.assertEqual(self.stats(d)["health"], "ok")
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
