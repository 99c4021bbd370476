#!/usr/bin/env python3
"""Benchmark: 1,000,000 pending timers (issue 5). Measures
  1. start-up time (exec to the first `ping` answer) and RSS with N timers pending in the future;
  2. fires/s when all N are due: each a nudge on an open ticket (a history line and a
     timer.nudge event through the rules, exactly once), and that they fired in due order.
Goals: start-up < 1 s, RSS < 64 MiB, >= 100,000 fires/s. A benchmark, not a test: exit 0.

  python3 tests/bench/bench_timers.py [--n 1000000]
Environment: TRIAGED (default build/triaged).
"""
import argparse
import os
import sqlite3
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
from harness import Daemon  # noqa: E402


def rss_kib(pid, field="VmHWM"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def fill(db_path, n, due_at):
    """n open tickets, each with one pending nudge (a step, and the ticket's
    wake row); due times interleaved so
    that id order is not due order. Generated inside SQLite (a few seconds
    for a million)."""
    db = sqlite3.connect(db_path)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=OFF")
    now = int(time.time())
    series = "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < ?) "
    db.execute(series + "INSERT INTO tickets(id, key, title, queue, priority, state, created_at, updated_at)"
               " SELECT i, 'bench:' || i, 'ticket ' || i, 'bench', 'normal', 'open', ?, ? FROM c", (n, now, now))
    db.execute(series + "INSERT INTO steps(ticket_id, at, id, kind, payload)"
               " SELECT i, ? + (i * 7919) % ? / 1000, i, 'nudge', '{\"note\":\"n\"}' FROM c", (n, due_at, n))
    db.execute("INSERT INTO wakes SELECT at, ticket_id FROM steps")
    db.execute("UPDATE timer_ids SET next = ?", (n + 1,))
    db.commit()
    db.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000000)
    a = ap.parse_args()
    n = a.n
    print(f"machine: {os.cpu_count()} cores, {open('/proc/cpuinfo').read().split('model name')[1].split(':')[1].splitlines()[0].strip()}")
    print(f"command: {' '.join(sys.argv)}")
    with Daemon(shipped=False, durability="normal") as d:
        d.stop()
        db = os.path.join(d.dir, "state", "triaged.db")
        t0 = time.time()
        fill(db, n, int(time.time()) + 86400)
        print(f"filled {n} tickets and timers in {time.time() - t0:.1f} s")

        t0 = time.monotonic()
        d.start()
        startup = time.monotonic() - t0
        r = d.request({"op": "timers", "limit": 1})
        assert r["total"] == n, r
        rss = rss_kib(d.proc.pid)
        print(f"start-up with {n} pending timers: {startup * 1000:.0f} ms (goal < 1000 ms)  "
              f"{'MET' if startup < 1 else 'MISSED'}")
        print(f"RSS after start: {rss / 1024:.1f} MiB (goal < 64 MiB)  {'MET' if rss < 65536 else 'MISSED'}")
        d.stop()

        sq = sqlite3.connect(db)
        sq.execute("UPDATE steps SET at = at - 2 * 86400")
        sq.execute("UPDATE wakes SET at = at - 2 * 86400")
        sq.commit()
        sq.close()
        t0 = time.monotonic()
        d.start()
        while True:
            left = d.request({"op": "timers", "limit": 1})["total"]
            if left == 0:
                break
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        rss = rss_kib(d.proc.pid)
        rate = n / elapsed
        print(f"fired {n} due timers in {elapsed:.2f} s: {rate:,.0f} fires/s (goal >= 100,000)  "
              f"{'MET' if rate >= 100000 else 'MISSED'}")
        print(f"peak RSS while firing: {rss / 1024:.1f} MiB  {'MET' if rss < 65536 else 'MISSED'}")
        d.stop()
        # Each nudge left a line in timer_log (its ticket's history); in firing order their tickets' due times never go back.
        sq = sqlite3.connect(db)
        due = dict(sq.execute("SELECT id, 0 FROM tickets"))
        prev, disorder, count = None, 0, 0
        base = 0
        for (tid,) in sq.execute("SELECT ticket_id FROM timer_log WHERE action = 'nudge' ORDER BY seq"):
            count += 1
            at = (tid * 7919) % n // 1000
            if prev is not None and at < prev:
                disorder += 1
            prev = at
        sq.close()
        print(f"nudges fired: {count} (each once: {'yes' if count == n else 'NO'}), out of due order: {disorder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
