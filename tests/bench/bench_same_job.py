#!/usr/bin/env python3
"""triaged against the same-job peers, interleaved (issue 19's goal).

Runs, round after round on the same generated events (durability normal):
each triaged binary given (bench_socket.py's throughput phase, shipped
rules), shared/bench/py_shipped.py (and --lean: one wake-up per ticket),
and shared/bench/node_shipped/shipped.js when its node_modules are there.
Prints each figure per round, the medians, and the ratios: triaged / peer,
and the first binary / each other one. A benchmark, not a test: exit 0.

  python3 tests/bench/bench_same_job.py --triaged build/triaged [--triaged OLD/triaged] \
      [--n 300000] [--rounds 3] [--node DIR]

--node DIR: a copy of shared/bench/node_shipped with `npm install` done in
it (better-sqlite3 builds from source against Debian's nodejs headers:
`npm install --nodedir=/usr`).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("TR_SHARED_DIR", os.path.join(HERE, "..", "..", "..", "shared"))
sys.path.insert(0, HERE)
from bench_socket import SEED, events_file  # noqa: E402


def run(cmd, pattern):
    out = subprocess.run(cmd, capture_output=True, text=True)
    m = re.search(pattern, out.stdout + out.stderr)
    if out.returncode or not m:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}):\n{out.stdout[-2000:]}\n{out.stderr[-2000:]}")
    return float(m.group(1).replace(",", ""))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--triaged", action="append", required=True, help="a daemon binary (repeat to compare)")
    ap.add_argument("--n", type=int, default=300_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--node", help="node_shipped folder with node_modules installed")
    ap.add_argument("--data", default="/tmp/triaged-bench")
    a = ap.parse_args()
    events = events_file(a.data, a.n)
    print(f"machine: {os.cpu_count()} cores; events: gen_events.py seed {SEED}, {a.n}, durability normal")
    work = tempfile.mkdtemp(prefix="same-job-")
    runs = {}
    for i, binary in enumerate(a.triaged):
        # each binary with the shipped rules of its own checkout (BIN is CHECKOUT/build*/triaged)
        rules = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(binary))), "rules")
        runs[f"triaged[{i}] {binary}"] = [sys.executable, os.path.join(HERE, "bench_socket.py"), "--n", str(a.n),
                                          "--durability", "normal", "--no-latency", "--no-peer", "--no-ceiling",
                                          "--data", a.data, "--triaged", binary, "--shipped-dir", rules]
    py = os.path.join(SHARED, "bench", "py_shipped.py")
    db = os.path.join(work, "peer.db")
    runs["py_shipped"] = [sys.executable, py, "--events", events, "--db", db, "--n", str(a.n), "--sync", "NORMAL"]
    runs["py_shipped --lean"] = runs["py_shipped"] + ["--lean"]
    if a.node:
        runs["node_shipped"] = ["node", os.path.join(a.node, "shipped.js"), events, db, str(a.n), "NORMAL"]
    figures = {k: [] for k in runs}
    for r in range(a.rounds):
        for name, cmd in runs.items():
            if os.path.exists(db):
                os.unlink(db)
            pat = r"throughput: ([\d,]+) events/s" if name.startswith("triaged") else r"median (\d+) events/s"
            figures[name].append(run(cmd, pat))
            print(f"round {r + 1}  {name:<40} {figures[name][-1]:>10,.0f} events/s", flush=True)
    med = {k: statistics.median(v) for k, v in figures.items()}
    print("\nmedians:")
    for k, v in med.items():
        print(f"  {k:<40} {v:>10,.0f} events/s")
    first = next(iter(runs))
    print("\nratios (per round, then of the medians):")
    for k in runs:
        if k == first:
            continue
        pairs = " ".join(f"{x / y:.2f}" for x, y in zip(figures[first], figures[k]))
        print(f"  {first} / {k}: {pairs}  ->  {med[first] / med[k]:.2f}x")


if __name__ == "__main__":
    main()
