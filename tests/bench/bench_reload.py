#!/usr/bin/env python3
"""Reload benchmark for triaged (issue 20): how long acknowledgements stall
while a big rules folder is swapped in under a steady stream of events.

The real daemon in a fresh folder runs the shipped rules plus --files extra
rule files (each a copy of the shape of rules/feedback.lua: a rule with a
`when`, a ticket with a nudge, on an event type of its own so the stream's
work stays that of the shipped rules). A paced, open-loop stream sends
--rate events/s over the socket (requests of --batch events) for --seconds;
every --every seconds, from a second connection, `reload` is asked for. Each
acknowledgement's latency is the time from its request's send to its
answer. Reported: the reload's own time (the `reload` answer's round trip),
the longest acknowledgement latency of a request in flight while a reload
ran, and the longest and p99 of the others. Goal: longest in-flight latency
under 50 ms. The config has the team calendar and the `lead` output the
shipped rules use; with --change-calendar every reload also adds or removes
a holiday, so each reload recounts every pending step counted in a calendar
(SPEC §3) — the worst case, not the weekly rule edit.

A benchmark, not a test: exits 0 when the goal is missed, 1 when the run
went wrong (errors, rejected events, a reload that failed).

  python3 tests/bench/bench_reload.py              # 200 files, 10,000 events/s, 20 s
  python3 tests/bench/bench_reload.py --seconds 8  # shorter
"""
import argparse
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_socket as bs  # noqa: E402  (the workload, the daemon, the paced driver)

GOAL_MS = 50.0

RULE = """-- generated for the reload benchmark: the shape of rules/feedback.lua
rule {{
  name = "bench-{i:03d}",
  on = "bench.kind{i:03d}",
  when = function(ev) return tonumber(ev.rating or 5) < 3 end,
  action = function(ev)
    local t = ticket.open {{
      key = "bench{i:03d}:" .. tostring(ev.order_id),
      title = ("%d-star feedback on order %s"):format(tonumber(ev.rating), tostring(ev.order_id)),
      queue = "customer-care", priority = "high", account = ev.account,
      due = "24h",
    }}
    t:nudge {{ after = "2h", note = "Contact the buyer through buyer-seller messaging" }}
  end,
}}
"""


def pct(vals, p):
    if not vals:
        return 0.0
    s = sorted(vals)
    return s[min(len(s) - 1, int(p / 100.0 * len(s)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=200, help="extra rule files (default 200)")
    ap.add_argument("--rate", type=int, default=10_000, help="events/s streamed (default 10,000)")
    ap.add_argument("--batch", type=int, default=50, help="events per ingest request (default 50)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of the stream (default 20)")
    ap.add_argument("--every", type=float, default=2.0, help="seconds between reloads (default 2)")
    ap.add_argument("--durability", default="full", choices=["full", "normal"])
    ap.add_argument("--data", default="/tmp/triaged-bench", help="cache for generated events and run folders")
    ap.add_argument("--change-calendar", action="store_true",
                    help="every reload also changes a calendar (its steps are recounted)")
    ap.add_argument("--triaged", help="daemon binary (default $TRIAGED, build-bench/, build/)")
    a = ap.parse_args()

    binary = bs.find_triaged(a.triaged)
    n_req = int(a.rate * a.seconds / a.batch)
    n = n_req * a.batch
    data_dir = os.path.abspath(a.data)
    path = bs.events_file(data_dir, n + 1)
    _, requests = bs.load_requests(path, 0, n, a.batch, a.batch)
    bs.log(f"triaged: {binary} ({bs.build_info(binary)})")
    bs.log(f"stream: {n} events in {len(requests)} requests of {a.batch} at {a.rate} events/s; "
           f"{a.files} extra rule files; a reload every {a.every:g} s"
           f"{' changing a calendar' if a.change_calendar else ''}; durability {a.durability}")

    d = bs.Daemon(binary, a.durability, data_dir)
    with open(d.config) as f:
        base_config = f.read()
    outbox = os.path.join(d.dir, "outbox")

    def write_config(holiday):
        with open(d.config, "w") as f:
            f.write(base_config + "calendars:\n  cn-support: { timezone: Asia/Shanghai, "
                    f"hours: \"Mon-Fri 09:00-18:00\", holidays: [{holiday}] }}\n"
                    f"outputs:\n  lead: {{ dir: {outbox} }}\n")

    write_config("2026-10-01")
    rules = os.path.join(d.dir, "rules.d")
    for i in range(a.files):
        with open(os.path.join(rules, f"60-bench-{i:03d}.lua"), "w") as f:
            f.write(RULE.format(i=i))
    d.start()
    failed = False
    try:
        t0 = time.perf_counter()
        r = d.request({"op": "reload"})
        bs.log(f"one reload with nothing streaming: {1000 * (time.perf_counter() - t0):.1f} ms "
               f"({r.get('rules')} rules)")
        if not r.get("ok"):
            bs.log(f"reload failed: {r}")
            return 1

        result = {}

        def stream():
            result["res"] = bs.drive_paced(d.socket, requests, a.rate / a.batch)

        th = threading.Thread(target=stream)
        th.start()
        windows = []  # (start, end) of each reload, perf_counter
        moved = []  # steps each reload moved
        time.sleep(a.every / 2)
        flip = 0
        while th.is_alive():
            if a.change_calendar:
                flip ^= 1
                write_config("2026-10-01, 2026-10-02" if flip else "2026-10-01")
            ts = time.perf_counter()
            r = d.request({"op": "reload"})
            te = time.perf_counter()
            if not r.get("ok"):
                bs.log(f"reload failed: {r}")
                failed = True
            windows.append((ts, te))
            moved.append(r.get("moved", 0))
            time.sleep(max(0.0, a.every - (te - ts)))
        th.join()
        res = result["res"]
        if res.errors or res.rejected or res.accepted + res.duplicates != n:
            bs.log(f"stream went wrong: {len(res.errors)} errors, {len(res.rejected)} rejected, "
                   f"{res.accepted} accepted + {res.duplicates} duplicates of {n}")
            failed = True

        # A request was "in flight during a reload" when its send..answer
        # interval overlaps a reload's round trip.
        during, other = [], []
        for sent, lat in zip(res.sent, res.latencies):
            overlaps = any(sent < we and sent + lat > ws for ws, we in windows)
            (during if overlaps else other).append(lat * 1000)
        reload_ms = [1000 * (we - ws) for ws, we in windows]
        longest = max(during) if during else 0.0
        bs.log(f"reloads: {len(windows)}, each {min(reload_ms):.1f} .. {max(reload_ms):.1f} ms "
               f"(median {pct(reload_ms, 50):.1f}); steps moved: {moved}")
        bs.log(f"acks in flight during a reload: {len(during)}, longest {longest:.1f} ms, "
               f"p99 {pct(during, 99):.1f} ms")
        bs.log(f"other acks: {len(other)}, longest {max(other) if other else 0:.1f} ms, "
               f"p99 {pct(other, 99):.1f} ms, p50 {pct(other, 50):.1f} ms; late sends {res.late}, busy {res.busy}")
        bs.log(f"goal: longest ack pause during a reload < {GOAL_MS:g} ms: {bs.mark(longest < GOAL_MS)}")
    finally:
        rc, _ = d.stop()
        if rc != 0:
            bs.log(f"triaged exited {rc}:\n{d.log()[-2000:]}")
            failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
