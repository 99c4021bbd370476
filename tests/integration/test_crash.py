"""SPEC §3 exactly-once: a SIGKILL in the middle of a stream of
acknowledged ingests, then a restart, loses no acknowledged event and runs
no rule twice. A counting rule numbers every run it makes; after the crash
the numbers must be exactly 1..N for the N stored events, each once.
Open tickets are found by key through a map the daemon keeps in memory:
a ticket opened by a rule that then failed leaves no key behind, and after
a SIGKILL the map comes back from the database, so a buyer's next message
joins the open ticket of its order and a closed order's gets a new one."""
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

    def test_open_keys_after_a_failed_rule_and_a_sigkill(self):
        failing = ('rule { name = "opens-then-fails", on = "test.fail", action = function(ev)\n'
                   '  ticket.open { key = "message:" .. ev.order_id, title = "phantom" }\n'
                   '  error("fails after opening")\n'
                   'end }\n')
        msg = {"type": "message.new", "buyer": "Ann", "subject": "Where is my parcel?", "body": "Hello"}
        with Daemon(rules={"90-fail.lua": failing}) as d:
            r = d.ingest([dict(msg, id="m1", order_id="111-A"), dict(msg, id="m2", order_id="222-B"),
                          {"type": "message.replied", "id": "r2", "order_id": "222-B"},
                          {"type": "test.fail", "id": "f3", "order_id": "333-C"}])
            self.assertEqual(r["accepted"], 4, r)
            # the failed rule's ticket is gone, and so is its key
            r = d.ingest([dict(msg, id="m3", order_id="333-C")])
            self.assertEqual(r["accepted"], 1, r)
            before = {t["key"]: t for t in d.tickets()}
            self.assertEqual(sorted(before), ["message:111-A", "message:222-B", "message:333-C"])
            self.assertEqual(before["message:333-C"]["title"], "Reply to Ann: Where is my parcel?")
            d.kill9()
            d.start()
            r = d.ingest([dict(msg, id="m4", order_id="111-A"), dict(msg, id="m5", order_id="222-B"),
                          dict(msg, id="m6", order_id="333-C")])
            self.assertEqual(r["accepted"], 3, r)
            after = d.tickets()
            self.assertEqual(len(after), 4, after)  # 222-B was closed: a new ticket
            by_key = {}
            for t in after:
                by_key.setdefault(t["key"], []).append(t)
            self.assertEqual([t["id"] for t in by_key["message:111-A"]], [before["message:111-A"]["id"]])
            self.assertEqual([t["id"] for t in by_key["message:333-C"]], [before["message:333-C"]["id"]])
            self.assertEqual(sorted(t["state"] for t in by_key["message:222-B"]), ["closed", "open"])
            shown = d.request({"op": "ticket", "id": before["message:111-A"]["id"]})
            self.assertIn("Another message (m4)", str(shown))
            self.assertEqual(d.stop(), 0)

    def test_sigkill_full(self):
        self.run_crash("full")

    def test_sigkill_normal(self):
        self.run_crash("normal")


if __name__ == "__main__":
    unittest.main(verbosity=2)
