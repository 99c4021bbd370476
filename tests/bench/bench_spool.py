#!/usr/bin/env python3
"""Benchmark: a 1,000,000-row GBK CSV export (Chinese headers) dropped into the
spool, through the shipped rules (issue 4). Prints rows/s (claim to done/),
the daemon's peak RSS, and `ping` latency measured while the file is read
(p50/p99/max). Goals: >= 150,000 rows/s, RSS < 64 MiB, ping within 10 ms.
A benchmark, not a test: exits 0 when a goal is missed.

  python3 tests/bench/bench_spool.py [--n 1000000] [--durability normal] [--times file|receipt]
                                     [--rules shipped|peer]
Environment: TRIAGED (default build/triaged), TR_SHARED_DIR.
"""
import argparse
import os
import shutil
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "integration"))
from harness import SHARED_DIR, Client, Daemon  # noqa: E402

SOURCE = """
spool: {{ settle_ms: 100, rescan_ms: 200 }}
sources:
  - match: "orders_*.csv"
    encoding: gbk
    timezone: UTC
    columns: {{ 事件ID: id, 类型: type, 店铺账号: account, 站点: marketplace, 订单号: order_id,
               买家: buyer, 评分: rating, 主题: subject, 留言内容: body, 接收时间: {time_field} }}
"""


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(len(xs) * p))] if xs else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1000000)
    ap.add_argument("--durability", default="normal")
    ap.add_argument("--times", choices=["file", "receipt"], default="file",
                    help="file: the rows' 接收时间 is when each event occurred, so with the generator's"
                         " dates (from 2026-11-24) most nudges, escalations and breaches fall due at once"
                         " and fire during the import; receipt: that column is kept as a plain field and"
                         " events occur when read, like the socket benchmark's (timers in the future)")
    ap.add_argument("--rules", choices=["shipped", "peer"], default="shipped",
                    help="shipped: rules/*.lua; peer: tests/bench/peer_rules.lua, the Python peer's job"
                         " (store every row, a ticket for JP messages and feedback of 2 stars or fewer),"
                         " to tell the file path's own speed from the shipped rules' work")
    ap.add_argument("--data", default="/tmp/triaged-bench")
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    src = os.path.join(a.data, f"orders-{a.n}-gbk.csv")
    if not os.path.exists(src):
        subprocess.run([sys.executable, os.path.join(SHARED_DIR, "bench", "gen_events.py"), "-n", str(a.n),
                        "--format", "csv", "--zh-headers", "--encoding", "gbk", "-o", src], check=True)
    print(f"machine: {os.cpu_count()} cores; file {src} ({os.path.getsize(src) / 1e6:.0f} MB)")
    print(f"command: {' '.join(sys.argv)}")
    time_field = "occurred_at" if a.times == "file" else "exported_at"
    print(f"times: {a.times} (接收时间 -> {time_field}); rules: {a.rules}")
    peer = {}
    if a.rules == "peer":
        with open(os.path.join(HERE, "peer_rules.lua")) as f:
            peer = {"peer.lua": f.read()}
    with Daemon(rules=peer, shipped=a.rules == "shipped", config=SOURCE.format(time_field=time_field),
                durability=a.durability) as d:
        incoming = os.path.join(d.dir, "state", "spool", "incoming")
        done = os.path.join(d.dir, "state", "spool", "done", "orders_bench.csv")
        rejected = os.path.join(d.dir, "state", "spool", "rejected", "orders_bench.csv")
        shutil.copy(src, os.path.join(incoming, ".orders_bench.csv.tmp"))
        pings, stop = [], threading.Event()

        def pinger():
            c = Client(d.socket)
            while not stop.is_set():
                t0 = time.monotonic()
                c.request({"op": "ping"})
                pings.append((time.monotonic() - t0) * 1000)
                time.sleep(0.01)
            c.close()

        t0 = time.monotonic()
        os.rename(os.path.join(incoming, ".orders_bench.csv.tmp"), os.path.join(incoming, "orders_bench.csv"))
        th = threading.Thread(target=pinger)
        th.start()
        while not (os.path.exists(done) or os.path.exists(rejected)):
            time.sleep(0.05)
        elapsed = time.monotonic() - t0
        stop.set()
        th.join()
        with open(f"/proc/{d.proc.pid}/status") as f:
            hwm = next(int(l.split()[1]) for l in f if l.startswith("VmHWM"))
        stats = d.request({"op": "stats"})
        rate = a.n / elapsed
        print(f"rows: {a.n} in {elapsed:.2f} s = {rate:,.0f} rows/s (goal >= 150,000)  "
              f"{'MET' if rate >= 150000 else 'MISSED'}")
        print(f"events stored: {stats['stats']['events_stored']}, outcome: "
              f"{'done' if os.path.exists(done) else 'rejected (see .errors)'}")
        print(f"peak RSS: {hwm / 1024:.1f} MiB (goal < 64 MiB)  {'MET' if hwm < 65536 else 'MISSED'}")
        print(f"ping while reading: {len(pings)} pings, p50 {pct(pings, 0.5):.2f} ms, p99 {pct(pings, 0.99):.2f} ms, "
              f"max {max(pings):.2f} ms (goal: within 10 ms)  {'MET' if max(pings) <= 10 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
