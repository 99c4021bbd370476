"""SPEC §3 exactly-once: a SIGKILL in the middle of a stream of
acknowledged ingests, then a restart, loses no acknowledged event and runs
no rule twice. A counting rule numbers every run it makes; after the crash
the numbers must be exactly 1..N for the N stored events, each once."""
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon  # noqa: E402

COUNTING = '''
rule { name = "count", on = "*", action = function(ev)
  local n = state.incr("runs")
  ticket.open { key = "run:" .. n, title = ev.id }
end }
'''


def stream(d, acked, stop, batch=50):
    """Sends batches one after another; records ids the daemon acknowledged."""
    c = d.client()
    i = 0
    try:
        while not stop.is_set():
            events = [{"type": "load.event", "id": f"e{i + k}", "n": i + k} for k in range(batch)]
            c.send({"op": "ingest", "events": events})
            r = c.recv()
            if r.get("ok"):
                acked.extend(e["id"] for e in events)
            i += batch
    except (OSError, ValueError, ConnectionError):
        pass  # the daemon died under us


class Crash(unittest.TestCase):
    def run_crash(self, durability):
        with Daemon(rules={"50-count.lua": COUNTING}, shipped=False, durability=durability) as d:
            acked, stop = [], threading.Event()
            t = threading.Thread(target=stream, args=(d, acked, stop))
            t.start()
            time.sleep(1.0)
            d.kill9()
            stop.set()
            t.join(30)
            self.assertGreater(len(acked), 0)
            d.start()
            tickets = d.tickets()
            runs = sorted(int(t["key"].split(":")[1]) for t in tickets)
            ids = [t["title"] for t in tickets]
            # no rule ran twice: one run per event, numbered without gaps
            self.assertEqual(len(ids), len(set(ids)), "an event's rule ran twice")
            gaps = [n for i, n in enumerate(runs, 1) if n != i][:5]
            self.assertEqual(gaps, [], f"run numbers not 1..{len(runs)}: first off {gaps}")
            # no acknowledged event lost
            missing = set(acked) - set(ids)
            self.assertEqual(len(missing), 0, f"{len(missing)} acknowledged events lost, e.g. {sorted(missing)[:5]}")
            stats = d.request({"op": "stats"})["stats"]
            self.assertEqual(stats["events_stored"], len(ids))
            # the stream resumes: what was sent again is a duplicate, new ones run
            r = d.ingest([{"type": "load.event", "id": acked[0]}, {"type": "load.event", "id": "new"}])
            self.assertEqual((r["accepted"], r["duplicates"]), (1, 1))
            self.assertEqual(d.stop(), 0)
            print(f"{durability}: {len(acked)} acknowledged before SIGKILL, {len(ids)} stored")

    def test_sigkill_full(self):
        self.run_crash("full")

    def test_sigkill_normal(self):
        self.run_crash("normal")


if __name__ == "__main__":
    unittest.main(verbosity=2)
