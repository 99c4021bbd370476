#!/usr/bin/env python3
"""Replay benchmark for triaged (issue 20 point 1; stdlib only).

  load     N generated events (shared/bench/gen_events.py) streamed into a
           real triaged with the shipped rules, as bench_socket.py does:
           the live ingest rate of these events, events/s.
  alone    a stream of further events, STREAM_SECONDS long, with nothing
           else running: the live rate a replay must not slow by more
           than 20 %.
  replay   `triagectl replay --rules COPY --until END-OF-LOAD` (an
           identical copy of the shipped rules: both sides run them) over
           the N stored events,
           while the same kind of stream goes on: replay events/s (events
           replayed / its wall time) and the live rate during it.
  alone    the stream alone again, so a drift of the machine shows.

Goals: replay events/s at least the live ingest rate of the load phase;
the live rate during the replay at least 80 % of the mean of the two
alone phases. A benchmark, not a test: it exits 0 when a goal is missed
(1 only when the run itself went wrong).

  python3 tests/bench/bench_replay.py               # 1,000,000 events
  python3 tests/bench/bench_replay.py --n 100000    # a quick run

Environment: TRIAGED, TRIAGECTL (binaries; default build-bench/, build/),
TR_SHARED_DIR (the shared/ folder with bench/gen_events.py).
"""
import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import bench_socket as bs  # noqa: E402

GOALS = {"replay_vs_live": 1.0, "live_during_replay": 0.8}


def find_triagectl(explicit, triaged):
    for c in (explicit, os.environ.get("TRIAGECTL"), os.path.join(os.path.dirname(triaged), "triagectl")):
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    sys.exit("triagectl binary not found: pass --triagectl or TRIAGECTL=")


def requests_of(path, skip, n, batch, passes=1):
    """n events of the file after the first skip, as ingest requests of
    batch events, read as they are needed (a generator). With passes > 1
    the same events come again, each pass with its own ids ("p2-…"), so
    that a stream never runs dry nor turns into duplicates."""
    head, tail = b'{"op":"ingest","events":[', b"]}\n"
    for p in range(passes):
        cur, count = [], 0
        with open(path, "rb") as f:
            for line in f:
                line = line.rstrip(b"\r\n")
                if not line:
                    continue
                count += 1
                if count <= skip:
                    continue
                if p:
                    line = line.replace(b'"id":"', b'"id":"p%d-' % (p + 1), 1)
                cur.append(line)
                if len(cur) == batch or count == skip + n:
                    yield head + b",".join(cur) + tail
                    cur = []
                if count == skip + n:
                    break


class Stream:
    """Streams requests with `depth` in flight until stop() (or they run
    out); rate() is events acknowledged per second while it ran."""

    def __init__(self, sock_path, requests, depth):
        self.sock_path, self.requests, self.depth = sock_path, requests, depth
        self.more = True
        self.accepted = 0
        self.errors = []
        self.halt = threading.Event()

    def run(self, seconds=None, until=None):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(120)
        s.connect(self.sock_path)
        inflight, buf = 0, b""
        accepted0 = self.accepted
        t0 = time.perf_counter()
        end = t0 + seconds if seconds else None
        while True:
            done = self.halt.is_set() or (end and time.perf_counter() >= end) or (until and until())
            while not done and inflight < self.depth and self.more:
                req = next(self.requests, None)
                if req is None:
                    self.more = False
                    break
                s.sendall(req)
                inflight += 1
            if inflight == 0:
                break
            line, buf = bs.read_line(s, buf)
            inflight -= 1
            a = json.loads(line)
            if a.get("ok"):
                self.accepted += a.get("accepted", 0)
            elif (a.get("error") or {}).get("code") != "busy":
                self.errors.append(a)
        s.close()
        secs = time.perf_counter() - t0
        return (self.accepted - accepted0) / secs if secs > 0 else 0.0, secs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="events stored, then replayed (default 1,000,000)")
    ap.add_argument("--stream-seconds", type=float, default=10.0, help="length of each alone phase")
    ap.add_argument("--durability", default="normal", choices=["normal", "full"])
    ap.add_argument("--batch", type=int, default=500, help="events per ingest request")
    ap.add_argument("--depth", type=int, default=4, help="requests in flight")
    ap.add_argument("--data", default="/tmp/triaged-bench", help="cache for generated events and run folders")
    ap.add_argument("--triaged")
    ap.add_argument("--triagectl")
    ap.add_argument("--keep", action="store_true", help="keep the run folder")
    a = ap.parse_args()

    triaged = bs.find_triaged(a.triaged)
    triagectl = find_triagectl(a.triagectl, triaged)
    data_dir = os.path.abspath(a.data)
    # the live streams take further events, as many as stored, again and
    # again with new ids (a stream that still runs out ends its phase
    # early, and says so)
    stream_n = max(a.n, 300_000)
    path = bs.events_file(data_dir, a.n + stream_n)
    load = list(requests_of(path, 0, a.n, a.batch))
    further = requests_of(path, a.n, stream_n, a.batch, passes=100)
    bs.log(f"events: {path}: {a.n} to store and replay, up to {stream_n} for the live streams")
    bs.log(f"daemon: {triaged} ({bs.build_info(triaged)}), durability {a.durability}")

    d = bs.Daemon(triaged, a.durability, data_dir)
    d.start()
    ok = True
    try:
        res = bs.drive_pipelined(d.socket, load, a.depth)
        del load
        if res.errors or res.rejected or res.accepted != a.n:
            bs.log(f"load went wrong: accepted {res.accepted}, errors {res.errors[:3]}, rejected {res.rejected[:3]}")
            return 1
        live = a.n / res.seconds
        bs.log(f"\nload: {a.n} events in {res.seconds:.1f} s = {live:,.0f} events/s (live ingest)")

        # --until a second after the load: the replay takes the N stored
        # events, not the stream's (received_at has whole seconds)
        until = int(time.time()) + 1
        time.sleep(max(0.0, until - time.time()) + 0.05)
        until_text = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(until))
        same = shutil.copytree(os.path.join(d.dir, "rules.d"), os.path.join(d.dir, "rules-copy"))
        stream = Stream(d.socket, further, a.depth)
        alone1, _ = stream.run(seconds=a.stream_seconds)
        bs.log(f"alone:  live stream {alone1:,.0f} events/s")

        box = {}

        def replay():
            t0 = time.perf_counter()
            p = subprocess.run([triagectl, "-c", d.config, "--json", "replay", "--rules", same,
                                "--until", until_text],
                               capture_output=True, text=True, cwd=d.dir)
            box["secs"] = time.perf_counter() - t0
            box["proc"] = p

        th = threading.Thread(target=replay)
        th.start()
        during, dsecs = stream.run(until=lambda: not th.is_alive())
        th.join()
        p = box["proc"]
        lines = [json.loads(line) for line in p.stdout.splitlines() if line.strip()]
        summary = lines[-1] if lines and lines[-1].get("summary") else None
        if p.returncode != 0 or not summary:
            bs.log(f"replay went wrong after {box['secs']:.1f} s: exit {p.returncode}\n{p.stdout[-2000:]}\n{p.stderr[-2000:]}")
            return 1
        replayed = summary["events"]
        rate = replayed / box["secs"]
        bs.log(f"replay: {replayed} events in {box['secs']:.1f} s = {rate:,.0f} events/s "
               f"({summary['tickets']} tickets compared, {summary['differing']} differ); "
               f"live stream meanwhile {during:,.0f} events/s over {dsecs:.1f} s")
        alone2, _ = stream.run(seconds=a.stream_seconds)
        bs.log(f"alone:  live stream {alone2:,.0f} events/s")
        if not stream.more:
            bs.log("the stream ran out of events: its last phase was short")
        if stream.errors:
            bs.log(f"stream errors: {stream.errors[:3]}")
            return 1

        base = (alone1 + alone2) / 2
        r1, r2 = rate / live, during / base if base else 0.0
        bs.log("\nsummary")
        bs.log(f"  replay {rate:,.0f} events/s vs live ingest {live:,.0f}: {r1:.2f}x "
               f"(goal >= {GOALS['replay_vs_live']:.1f}x) {bs.mark(r1 >= GOALS['replay_vs_live'])}")
        bs.log(f"  live stream during the replay {during:,.0f} vs alone {base:,.0f}: {r2:.0%} "
               f"(goal >= {GOALS['live_during_replay']:.0%}) {bs.mark(r2 >= GOALS['live_during_replay'])}")
    finally:
        rc, _ = d.stop()
        ok = rc == 0
        if not a.keep:
            shutil.rmtree(d.dir, ignore_errors=True)
        else:
            bs.log(f"run folder kept: {d.dir}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
