#!/usr/bin/env python3
"""Socket benchmark for triaged (stdlib only).

Phases, each against the real daemon in a fresh temporary folder (fresh
database) with the shipped rules, once per durability (normal, full):

  throughput  N events streamed over the Unix socket in `ingest` requests of
              --batch events, --depth requests in flight on one connection;
              events/s = N / (first send .. last acknowledgement).
  latency     then, on the same daemon (its database now holding N events),
              a paced stream of --lat-rate events/s in requests of
              --lat-batch events for --lat-seconds, open loop (each request
              sent on time whether or not the ones before were answered);
              acknowledgement latency (send .. answer) p50/p99/max.
  rss         the daemon's peak RSS (VmHWM) after each phase.

Then the Python peer (shared/bench/py_pipeline.py, --runs 1, same events,
its defaults: synchronous=NORMAL, batch 1000) on the same file, and a summary
against the goals. Before all that, a "client ceiling" check runs the same
driver against a sink that answers at once, to show the client is not the
bottleneck (it pushes millions of events/s, far above the daemon, so no C
load generator is needed).

A benchmark, not a test: it exits 0 when a goal is missed (1 only when the
run itself went wrong: wrong counts, rejected events, daemon errors).

  python3 tests/bench/bench_socket.py            # 1,000,000 events, a few minutes
  python3 tests/bench/bench_socket.py --quick    # 50,000 events, under a minute

Environment: TRIAGED (daemon binary), TR_SHARED_DIR (the shared/ folder with
bench/gen_events.py and bench/py_pipeline.py); see tests/bench/README.md.
"""
import argparse
import collections
import json
import os
import platform
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
SHARED = os.environ.get("TR_SHARED_DIR") or os.path.join(REPO, "..", "shared")
SEED = 42

GOALS = {
    "normal_eps": 150_000,
    "full_eps": 50_000,
    "p99_ms": 5.0,
    "rss_mib": 64.0,
    "peer_ratio": 1.7,
}


def log(msg=""):
    print(msg, flush=True)


# ---------------------------------------------------------------- workload

def find_triaged(explicit):
    cands = [explicit, os.environ.get("TRIAGED"),
             os.path.join(REPO, "build-bench", "triaged"), os.path.join(REPO, "build", "triaged")]
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    sys.exit("triaged binary not found: build it (see tests/bench/README.md) or pass --triaged / TRIAGED=")


def build_info(binary):
    """Build type and sanitizer flag from the CMakeCache.txt beside the binary, and the checkout."""
    parts = []
    cache = os.path.join(os.path.dirname(binary), "CMakeCache.txt")
    try:
        with open(cache) as f:
            text = f.read()
        m = re.search(r"^CMAKE_BUILD_TYPE:\w+=(.*)$", text, re.M)
        parts.append(f"CMAKE_BUILD_TYPE={m.group(1) if m and m.group(1) else '?'}")
        if re.search(r"^TR_SANITIZE:\w+=(ON|1|TRUE)$", text, re.M | re.I):
            parts.append("TR_SANITIZE=ON (figures meaningless)")
    except OSError:
        parts.append("build type unknown")
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "--", "daemon",
                                "include", "rules"], capture_output=True, text=True).stdout.strip()
        if head:
            parts.append(f"checkout {head}{' + uncommitted changes' if dirty else ''}")
        built = os.path.getmtime(binary)
        newer = [os.path.join(sub, n) for sub in ("daemon", "include") if os.path.isdir(os.path.join(REPO, sub))
                 for n in os.listdir(os.path.join(REPO, sub))
                 if os.path.getmtime(os.path.join(REPO, sub, n)) > built]
        if newer:
            parts.append(f"WARNING: {len(newer)} source files are newer than the binary (e.g. {newer[0]}): rebuild")
    except OSError:
        pass
    return ", ".join(parts)


def events_file(data_dir, total):
    """A cached gen_events.py file with at least `total` events (same seed:
    a longer file starts with the same events, so any longer file will do)."""
    os.makedirs(data_dir, exist_ok=True)
    best = None
    for name in os.listdir(data_dir):
        m = re.fullmatch(r"events-(\d+)-s(\d+)\.ndjson", name)
        if m and int(m.group(2)) == SEED and int(m.group(1)) >= total:
            if best is None or int(m.group(1)) < best[0]:
                best = (int(m.group(1)), os.path.join(data_dir, name))
    if best:
        return best[1]
    gen = os.path.join(SHARED, "bench", "gen_events.py")
    if not os.path.isfile(gen):
        sys.exit(f"{gen} not found: set TR_SHARED_DIR to the shared/ folder")
    path = os.path.join(data_dir, f"events-{total}-s{SEED}.ndjson")
    log(f"generating {total} events with {gen} -> {path} ...")
    t0 = time.perf_counter()
    subprocess.run([sys.executable, gen, "-n", str(total), "--seed", str(SEED), "-o", path + ".tmp"], check=True)
    os.replace(path + ".tmp", path)
    log(f"  generated in {time.perf_counter() - t0:.1f} s")
    return path


def load_requests(path, n, lat_n, batch, lat_batch):
    """Raw NDJSON lines joined into request strings (no re-parsing)."""
    head = b'{"op":"ingest","events":['
    tail = b"]}\n"
    thr, lat, cur = [], [], []
    count = 0
    with open(path, "rb") as f:
        for line in f:
            line = line.rstrip(b"\r\n")
            if not line:
                continue
            in_thr = count < n
            cur.append(line)
            count += 1
            if count == n or (in_thr and len(cur) == batch):
                thr.append(head + b",".join(cur) + tail)
                cur = []
            elif not in_thr and (len(cur) == lat_batch or count == n + lat_n):
                lat.append(head + b",".join(cur) + tail)
                cur = []
            if count == n + lat_n:
                break
    if count < n + lat_n:
        sys.exit(f"{path} holds only {count} events, {n + lat_n} needed")
    return thr, lat


# ---------------------------------------------------------------- daemon

LIVE = set()  # daemons started and not yet stopped: killed if the script dies


class Daemon:
    """A triaged in a fresh folder, like tests/integration/harness.py."""

    def __init__(self, binary, durability, parent, rules_from=None, shipped_dir=None):
        self.binary = binary
        self.dir = tempfile.mkdtemp(prefix=f"run-{durability}-", dir=parent)
        rules = os.path.join(self.dir, "rules.d")
        os.makedirs(rules)
        src = shipped_dir or os.path.join(REPO, "rules")
        if rules_from:  # one file instead of the shipped rules (--rules)
            shutil.copy(rules_from, rules)
            src = None
        for name in sorted(os.listdir(src)) if src else []:
            if name.endswith(".lua") and not name.endswith(".test.lua"):
                shutil.copy(os.path.join(src, name), rules)
        if src and os.path.isdir(os.path.join(src, "lib")):
            shutil.copytree(os.path.join(src, "lib"), os.path.join(rules, "lib"))
        self.socket = os.path.join(self.dir, "triaged.sock")
        self.config = os.path.join(self.dir, "triaged.yaml")
        with open(self.config, "w") as f:
            f.write(f"state_dir: state\nsocket: triaged.sock\nrules_dir: rules.d\n"
                    f"durability: {durability}\nlog: {{ level: {os.environ.get('TR_BENCH_LOG_LEVEL', 'info')} }}\n")
        self.log_path = os.path.join(self.dir, "triaged.log")
        self.proc = None

    def start(self, timeout=30):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([self.binary, "-c", self.config], stdout=self.log_file,
                                     stderr=subprocess.STDOUT, cwd=self.dir)
        LIVE.add(self)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"triaged exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if self.request({"op": "ping"}).get("ok"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("triaged did not answer ping:\n" + self.log())

    def request(self, obj, timeout=60):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect(self.socket)
            s.sendall(json.dumps(obj).encode() + b"\n")
            buf = b""
            while b"\n" not in buf:
                chunk = s.recv(1 << 16)
                if not chunk:
                    raise ConnectionError("daemon closed the connection")
                buf += chunk
            return json.loads(buf.split(b"\n", 1)[0])
        finally:
            s.close()

    def status(self):
        """VmHWM / VmRSS in MiB."""
        out = {}
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS"):
                    out[k] = int(v.split()[0]) / 1024
        return out

    def cpu_seconds(self):
        """(user, system) CPU time of the daemon so far."""
        with open(f"/proc/{self.proc.pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        tick = os.sysconf("SC_CLK_TCK")
        return int(fields[11]) / tick, int(fields[12]) / tick

    def schedstat(self):
        """(seconds on a CPU, seconds runnable but waiting for a CPU) of the main thread
        (the event loop), from /proc/PID/schedstat."""
        try:
            with open(f"/proc/{self.proc.pid}/schedstat") as f:
                run, wait, _ = f.read().split()
            return int(run) / 1e9, int(wait) / 1e9
        except (OSError, ValueError):
            return 0.0, 0.0

    def io(self):
        """bytes passed to write(2)/pwrite(2) (wchar) and sent to the block layer (write_bytes)."""
        out = {}
        try:
            with open(f"/proc/{self.proc.pid}/io") as f:
                for line in f:
                    k, _, v = line.partition(":")
                    out[k] = int(v)
        except (OSError, ValueError):
            pass
        return out

    def db_files(self):
        """MiB on disk of the database and its WAL."""
        out = {}
        for suffix in ("", "-wal"):
            try:
                out["db" + suffix] = os.path.getsize(os.path.join(self.dir, "state", "triaged.db" + suffix)) / 2**20
            except OSError:
                out["db" + suffix] = 0.0
        return out

    def stop(self, timeout=60):
        t0 = time.perf_counter()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log_file.close()
        LIVE.discard(self)
        return self.proc.returncode, time.perf_counter() - t0

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def log_problems(self):
        return [l for l in self.log().splitlines()
                if re.search(r"\b(error|fatal|crit|warn|busy|rolled back)\b", l, re.I)]


# ---------------------------------------------------------------- drivers

class Result:
    def __init__(self):
        self.accepted = self.duplicates = self.busy = 0
        self.rejected = []
        self.errors = []
        self.seconds = 0.0
        self.latencies = []
        self.sent = []  # send time of each latency, same order
        self.late = 0


def read_line(sock, buf):
    """(line, rest) from a blocking socket, buf being what was read before."""
    while True:
        nl = buf.find(b"\n")
        if nl >= 0:
            return buf[:nl], buf[nl + 1:]
        chunk = sock.recv(1 << 16)
        if not chunk:
            raise ConnectionError("daemon closed the connection")
        buf += chunk


def account(res, i, line):
    """Books one answer; returns False when the request must be sent again (busy)."""
    a = json.loads(line)
    if a.get("ok"):
        res.accepted += a.get("accepted", 0)
        res.duplicates += a.get("duplicates", 0)
        for r in a.get("rejected") or []:
            res.rejected.append((i, r))
        return True
    code = (a.get("error") or {}).get("code")
    if code == "busy":
        res.busy += 1
        return False
    res.errors.append((i, a))
    return True


def drive_pipelined(path, requests, depth, timeout=600):
    """Python driver: keeps `depth` requests in flight on one connection."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
    res = Result()
    todo = collections.deque(range(len(requests)))
    inflight = collections.deque()
    buf = b""
    t0 = time.perf_counter()
    while todo or inflight:
        while todo and len(inflight) < depth:
            i = todo.popleft()
            s.sendall(requests[i])
            inflight.append(i)
        line, buf = read_line(s, buf)
        i = inflight.popleft()
        if not account(res, i, line):
            todo.appendleft(i)
            if len(inflight) == 0:
                time.sleep(0.001)
    res.seconds = time.perf_counter() - t0
    s.close()
    return res


def drive_paced(path, requests, rps, timeout=60, max_inflight=256):
    """Open loop, as events arrive at a real source: request k is sent at
    t0 + k/rps whether or not earlier ones were answered (one thread waits in
    select() for the next send time or an answer), so a slow answer delays no
    later send and its queueing is in the figures. Latency = answer received -
    request sent. A send more than one interval behind its time counts as
    `late`; a `busy` answer is sent again, its latency running from the first
    send."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    res = Result()
    interval = 1.0 / rps
    inflight = collections.deque()  # (k, first send time), in send order
    out = bytearray()
    buf = b""
    nxt = answered = 0
    t0 = time.perf_counter() + 0.01
    deadline = t0 + len(requests) * interval + timeout
    while answered < len(requests):
        now = time.perf_counter()
        if now > deadline:
            raise TimeoutError(f"latency stream: {answered} of {len(requests)} answered")
        while nxt < len(requests) and t0 + nxt * interval <= now and len(inflight) < max_inflight:
            if now - (t0 + nxt * interval) > interval:
                res.late += 1
            inflight.append((nxt, now))
            out += requests[nxt]
            nxt += 1
        wait = max(0.0, t0 + nxt * interval - now) if nxt < len(requests) else 1.0
        r, w, _ = select.select([s], [s] if out else [], [], wait)
        if w:
            out = out[s.send(out):]
        if not r:
            continue
        chunk = s.recv(1 << 16)
        if not chunk:
            raise ConnectionError("daemon closed the connection")
        buf += chunk
        te = time.perf_counter()
        while True:
            nl = buf.find(b"\n")
            if nl < 0:
                break
            line, buf = buf[:nl], buf[nl + 1:]
            k, ts = inflight.popleft()
            if account(res, k, line):
                res.latencies.append(te - ts)
                res.sent.append(ts)
                answered += 1
            else:
                inflight.append((k, ts))
                out += requests[k]
    res.seconds = time.perf_counter() - t0
    s.close()
    return res


SINK = r"""
import os, socket, sys
path = sys.argv[1]
ans = b'{"ok":true,"accepted":0,"duplicates":0,"rejected":[]}\n'
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path); srv.listen(1)
print("ready", flush=True)
c, _ = srv.accept()
buf = bytearray(1 << 20)
while True:
    n = c.recv_into(buf)
    if n == 0:
        break
    k = buf.count(b"\n", 0, n)
    if k:
        c.sendall(ans * k)
"""


def against_sink(workdir, drive):
    """Runs drive(path) against a sink that discards requests and answers
    each line at once, to see what the driver alone costs."""
    path = os.path.join(workdir, f"sink-{os.getpid()}.sock")
    if os.path.exists(path):
        os.unlink(path)
    p = subprocess.Popen([sys.executable, "-c", SINK, path], stdout=subprocess.PIPE, text=True)
    try:
        p.stdout.readline()
        return drive(path)
    finally:
        p.wait(10)
        if os.path.exists(path):
            os.unlink(path)


def client_ceiling(requests, depth, workdir):
    """How fast the client alone can push the prepared requests."""
    return against_sink(workdir, lambda path: drive_pipelined(path, requests, depth)).seconds


def latency_floor(requests, rps, workdir):
    """The paced stream against the sink: the latency the driver, the sink
    (Python too) and this machine add before any daemon work."""
    res = against_sink(workdir, lambda path: drive_paced(path, requests, rps))
    lats = sorted(x * 1000 for x in res.latencies)
    return pct(lats, 50), pct(lats, 99), lats[-1]


# ---------------------------------------------------------------- peer

def run_peer(events_path, n, workdir):
    peer = os.path.join(SHARED, "bench", "py_pipeline.py")
    db = os.path.join(workdir, f"py-{os.getpid()}.db")
    cmd = [sys.executable, peer, "--events", events_path, "--db", db, "--n", str(n), "--runs", "1"]
    log("  $ " + " ".join(cmd))
    out = subprocess.run(cmd, capture_output=True, text=True)
    for line in out.stdout.splitlines():
        log("  | " + line)
    if out.returncode != 0:
        log("  peer failed:\n" + out.stderr)
        return None
    m = re.search(r"median (\d+(?:\.\d+)?) events/s", out.stdout)
    return float(m.group(1)) if m else None


# ---------------------------------------------------------------- report

def pct(sorted_vals, p):
    if not sorted_vals:
        return float("nan")
    k = max(0, min(len(sorted_vals) - 1, int(round(p / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


def machine_info(data_dir):
    info = {}
    info["nproc"] = os.cpu_count()
    try:
        info["nproc_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info["cpu"] = model
    mem = {}
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                k, _, v = line.partition(":")
                mem[k] = int(v.split()[0]) // 1024
    except OSError:
        pass
    info["mem"] = f"total {mem.get('MemTotal', '?')} MiB, free {mem.get('MemFree', '?')} MiB, " \
                  f"available {mem.get('MemAvailable', '?')} MiB"
    info["kernel"] = platform.release()
    info["python"] = platform.python_version()
    try:
        fs = subprocess.run(["df", "-T", data_dir], capture_output=True, text=True).stdout.splitlines()[-1].split()
        info["data_fs"] = f"{data_dir} on {fs[1]} ({fs[0]})"
    except (OSError, IndexError):
        pass
    try:
        info["loadavg"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        pass
    return info


def mark(ok):
    return "MET   " if ok else "MISSED"


# ---------------------------------------------------------------- main

def flush_log(phase, stats, before):
    """Durability full: the WAL flushes (fdatasync off the loop) of a phase."""
    n = stats.get("wal_flushes", 0) - before.get("wal_flushes", 0)
    if not n:
        return
    total = stats["wal_flush_mean_ms"] * stats["wal_flushes"] - \
        before.get("wal_flush_mean_ms", 0) * before.get("wal_flushes", 0)
    log(f"  WAL flushes during {phase}: {n:,}, mean {total / n:.2f} ms "
        f"(worst since start {stats['wal_flush_max_ms']:.1f} ms)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="events in the throughput run (default 1,000,000)")
    ap.add_argument("--quick", action="store_true", help="sanity run: 50,000 events, 3 s latency runs")
    ap.add_argument("--data", default="/tmp/triaged-bench", help="cache for generated events and run folders")
    ap.add_argument("--batch", type=int, default=500, help="events per ingest request (throughput)")
    ap.add_argument("--depth", type=int, default=4, help="requests in flight on the connection (throughput)")
    ap.add_argument("--durability", default="normal,full", help="comma list of durabilities to run")
    ap.add_argument("--lat-rate", type=int, default=10_000, help="events/s of the paced latency stream")
    ap.add_argument("--lat-batch", type=int, default=10, help="events per request in the latency stream")
    ap.add_argument("--lat-seconds", type=float, default=10.0, help="length of the latency stream")
    ap.add_argument("--no-latency", action="store_true")
    ap.add_argument("--no-peer", action="store_true")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the client-ceiling check")
    ap.add_argument("--triaged", help="daemon binary (default $TRIAGED, build-bench/, build/)")
    ap.add_argument("--perf", type=float, default=0.0, metavar="SECONDS",
                    help="perf record -g the daemon for SECONDS during the first throughput run")
    ap.add_argument("--keep", action="store_true", help="keep the run folders (database, log)")
    ap.add_argument("--rules", choices=["shipped", "peer"], default="shipped",
                    help="shipped: rules/*.lua; peer: tests/bench/peer_rules.lua, the peer's job as rules")
    ap.add_argument("--shipped-dir", help="the shipped rules to run (default rules/): an older binary's own")
    a = ap.parse_args()
    if a.quick:
        a.n = min(a.n, 50_000)
        a.lat_seconds = min(a.lat_seconds, 3.0)
    durabilities = [d.strip() for d in a.durability.split(",") if d.strip()]

    binary = find_triaged(a.triaged)
    lat_requests = 0 if a.no_latency else max(1, int(round(a.lat_rate * a.lat_seconds / a.lat_batch)))
    lat_n = lat_requests * a.lat_batch
    data_dir = os.path.abspath(a.data)
    path = events_file(data_dir, a.n + lat_n)
    t0 = time.perf_counter()
    thr_req, lat_req = load_requests(path, a.n, lat_n, a.batch, a.lat_batch)
    nbytes = sum(len(r) for r in thr_req)
    log(f"events: {path}")
    log(f"  throughput: {a.n} events in {len(thr_req)} requests of {a.batch} "
        f"({nbytes / 1e6:.1f} MB, {nbytes / a.n:.0f} B/event), depth {a.depth}")
    if lat_n:
        log(f"  latency: {lat_n} further events in {len(lat_req)} requests of {a.lat_batch} at "
            f"{a.lat_rate} events/s = {a.lat_rate / a.lat_batch:g} requests/s for {a.lat_seconds:g} s")
    log(f"  prepared in {time.perf_counter() - t0:.1f} s")
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
    except OSError:
        version = "?"
    binfo = build_info(binary)
    log(f"daemon: {binary} ({version}; {binfo})")

    failures = []
    ceiling = None
    if not a.no_ceiling:
        secs = client_ceiling(thr_req, a.depth, data_dir)
        ceiling = a.n / secs
        log(f"\nclient ceiling (this driver against a sink that answers at once): "
            f"{ceiling:,.0f} events/s ({secs:.2f} s)")
        if lat_req:
            p50, p99, worst = latency_floor(lat_req, a.lat_rate / a.lat_batch, data_dir)
            log(f"latency floor (the paced stream against the same sink): p50 {p50:.2f} ms, "
                f"p99 {p99:.2f} ms, max {worst:.2f} ms")

    results = {}
    perf_done = False
    for dur in durabilities:
        log(f"\n=== durability: {dur} ===")
        os.sync()  # untimed: flush earlier runs' dirty pages so runs don't interfere (as py_pipeline.py does)
        d = Daemon(binary, dur, data_dir,
                   os.path.join(HERE, "peer_rules.lua") if a.rules == "peer" else None, a.shipped_dir)
        try:
            d.start()
        except RuntimeError as e:
            log(f"  daemon did not start (folder kept: {d.dir}):\n{e}")
            return 1
        log(f"  daemon pid {d.proc.pid}, folder {d.dir}")
        perf = None
        if a.perf and not perf_done:
            perf_out = os.path.join(data_dir, f"perf-{dur}.data")
            perf = subprocess.Popen(["perf", "record", "-g", "-o", perf_out, "-p", str(d.proc.pid),
                                     "--", "sleep", str(a.perf)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                    text=True)
            time.sleep(0.5)
            perf_done = True
        cpu0 = d.cpu_seconds()
        run0, wait0 = d.schedstat()
        io0 = d.io()
        res = drive_pipelined(d.socket, thr_req, a.depth)
        io1 = d.io()
        cpu1 = d.cpu_seconds()
        user, system = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1]
        cpu = user + system
        run1, wait1 = d.schedstat()
        rq_wait = wait1 - wait0
        eps = a.n / res.seconds
        st = d.status()
        stats = d.request({"op": "stats"}).get("stats", {})
        r = {"eps": eps, "seconds": res.seconds, "rss_thr": st["VmHWM"], "busy": res.busy,
             "cpu": cpu / res.seconds, "rq_wait": rq_wait / res.seconds}
        log(f"  throughput: {eps:,.0f} events/s  ({a.n} events in {res.seconds:.2f} s; "
            f"accepted {res.accepted}, duplicates {res.duplicates}, rejected {len(res.rejected)}, "
            f"busy retries {res.busy}, errors {len(res.errors)})")
        log(f"  daemon CPU (all threads) during throughput: {cpu:.1f} s = {100 * cpu / res.seconds:.0f}% of one core "
            f"({1e6 * cpu / a.n:.1f} us of CPU per event: user {1e6 * user / a.n:.1f}, system "
            f"{1e6 * system / a.n:.1f}); loop thread on a CPU {100 * (run1 - run0) / res.seconds:.0f}%, "
            f"runnable but waiting for a CPU "
            f"{100 * rq_wait / res.seconds:.0f}% (other processes), the rest blocked "
            f"(disk, or waiting for the client)")
        if io0 and io1:
            wchar = io1.get("wchar", 0) - io0.get("wchar", 0)
            wdisk = io1.get("write_bytes", 0) - io0.get("write_bytes", 0)
            log(f"  daemon writes during throughput: {wchar / 2**20:,.0f} MiB through write calls "
                f"({wchar / a.n / 1024:.1f} KiB per event, socket answers included), "
                f"{wdisk / 2**20:,.0f} MiB to disk")
        files = d.db_files()
        log(f"  on disk after throughput: database {files['db']:,.0f} MiB, WAL {files['db-wal']:,.0f} MiB")
        log(f"  daemon RSS after throughput: peak {st['VmHWM']:.1f} MiB, now {st['VmRSS']:.1f} MiB")
        flush_log("throughput", stats, {})
        log("  stats: " + json.dumps({k: stats.get(k) for k in (
            "events_stored", "events_accepted", "duplicates", "rejected", "rule_errors", "quarantined",
            "tickets_open", "tickets_total", "busy_answers", "requests")}))
        if res.accepted + res.duplicates != a.n:
            failures.append(f"{dur}: accepted {res.accepted} + duplicates {res.duplicates} != {a.n}")
        if res.rejected:
            failures.append(f"{dur}: {len(res.rejected)} events rejected, first {res.rejected[0]}")
        if res.errors:
            failures.append(f"{dur}: {len(res.errors)} error answers, first {res.errors[0]}")
        if stats.get("rule_errors"):
            log(f"  NOTE: {stats['rule_errors']} rule errors recorded during the run")
        if perf:
            _, err = perf.communicate()
            log(f"  perf data: {perf_out} (perf record exit {perf.returncode}"
                f"{'; ' + err.strip().splitlines()[-1] if err.strip() else ''})")
            log(f"    perf report -i {perf_out} --no-children --sort symbol --stdio")

        if lat_req:
            time.sleep(1.0)
            lio0 = d.io()
            lr = drive_paced(d.socket, lat_req, a.lat_rate / a.lat_batch)
            lio1 = d.io()
            lats = sorted(x * 1000 for x in lr.latencies)
            # When the slow answers came: a pause (a checkpoint's held pass,
            # a stalled write) shows as one bad second, load as many.
            by_second = collections.defaultdict(list)
            for ts, lat in zip(lr.sent, lr.latencies):
                by_second[int(ts - lr.sent[0])].append(lat * 1000)
            r.update(p50=pct(lats, 50), p99=pct(lats, 99), max=lats[-1], mean=sum(lats) / len(lats),
                     lat_late=lr.late, lat_rate=lat_n / lr.seconds)
            st2 = d.status()
            r["rss_lat"] = st2["VmHWM"]
            log(f"  latency ({len(lat_req)} requests of {a.lat_batch} at {a.lat_rate / a.lat_batch:g}/s, "
                f"open loop, DB holding {a.n} events): p50 {r['p50']:.2f} ms, p99 {r['p99']:.2f} ms, "
                f"max {r['max']:.2f} ms, mean {r['mean']:.2f} ms; late sends {lr.late}, busy {lr.busy}; "
                f"achieved {r['lat_rate']:,.0f} events/s"
                + (" (could not keep the pace: the figures are service times under saturation)"
                   if r["lat_rate"] < 0.97 * a.lat_rate else ""))
            log("  latency p99/max ms by second: " + " ".join(
                f"{pct(sorted(v), 99):.1f}/{max(v):.0f}" for _, v in sorted(by_second.items())))
            if lio0 and lio1:
                log(f"  daemon writes during latency: {(lio1['wchar'] - lio0['wchar']) / lat_n / 1024:.1f} KiB "
                    f"per event (small commits rewrite more pages per event)")
            log(f"  daemon RSS after latency: peak {st2['VmHWM']:.1f} MiB, now {st2['VmRSS']:.1f} MiB")
            lstats = d.request({"op": "stats"}).get("stats", {})
            flush_log("latency", lstats, stats)
            own = lstats.get("ingest_answer_ms")
            if own:
                # from the line read to the answer handed to the socket; not in it: the time a
                # line waited in the socket before the loop read it, and the client's own time
                log(f"  the daemon's own answer times, last {own['last']:,} ingests"
                    f"{' (the latency stream)' if own['last'] <= len(lat_req) else ''}: "
                    f"p50 {own['p50']:.2f} ms, p99 {own['p99']:.2f} ms, max {own['max']:.2f} ms")
            if lr.accepted + lr.duplicates != lat_n or lr.rejected or lr.errors:
                failures.append(f"{dur} latency: accepted {lr.accepted} dup {lr.duplicates} "
                                f"rejected {len(lr.rejected)} errors {lr.errors[:1]}")
        rc, secs = d.stop()
        r["stop_rc"], r["stop_s"] = rc, secs
        log(f"  SIGTERM: exit {rc} after {secs:.2f} s")
        if rc != 0:
            failures.append(f"{dur}: daemon exited {rc} on SIGTERM")
        probs = d.log_problems()
        if probs:
            log(f"  daemon log: {len(probs)} warning/error lines, first ones:")
            for l in probs[:5]:
                log("    " + l)
        if a.keep:
            log(f"  kept: {d.dir}")
        else:
            shutil.rmtree(d.dir, ignore_errors=True)
        results[dur] = r

    peer = None
    if not a.no_peer:
        log("\n=== Python peer (py_pipeline.py) ===")
        peer = run_peer(path, a.n, data_dir)

    # ------------------------------------------------------------ summary
    info = machine_info(data_dir)
    log("\n" + "=" * 72)
    log("SUMMARY")
    log("  command: " + " ".join([os.path.basename(sys.executable)] + sys.argv))
    log(f"  daemon: {binary} ({version}; {binfo})")
    log(f"  machine: nproc {info['nproc']} (usable {info.get('nproc_usable', '?')}), cpu {info['cpu']}")
    log(f"           memory {info['mem']}")
    log(f"           kernel {info['kernel']}, python {info['python']}, {info.get('data_fs', '')}, "
        f"load average before summary {' '.join(info.get('loadavg', []))}")
    log(f"  workload: gen_events.py seed {SEED}, {a.n} events, batches of {a.batch}, depth {a.depth}, "
        f"rules: {a.rules}, Python driver" + (f" (client ceiling {ceiling:,.0f} events/s)" if ceiling else ""))
    if lat_n:
        log(f"  latency stream: {a.lat_rate} events/s as {a.lat_rate / a.lat_batch:g} requests/s of "
            f"{a.lat_batch} events, {a.lat_seconds:g} s, open loop")
    log("")
    log(f"  {'durability':<10} {'events/s':>10} {'CPU':>5} {'rq wait':>7} {'p50 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'peak RSS MiB':>13}")

    def ms(r, k):
        return f"{r[k]:.2f}" if k in r else "-"
    for dur, r in results.items():
        rss = max(r["rss_thr"], r.get("rss_lat", 0))
        log(f"  {dur:<10} {r['eps']:>10,.0f} {100 * r['cpu']:>4.0f}% {100 * r['rq_wait']:>6.0f}% "
            f"{ms(r, 'p50'):>8} {ms(r, 'p99'):>8} {ms(r, 'max'):>8} {rss:>13.1f}")
    if peer:
        log(f"  {'peer':<10} {peer:>10,.0f}   (py_pipeline.py, synchronous=NORMAL, batch 1000)")
    log("")
    log("  goals (from the issue):")
    rows = []
    if "normal" in results:
        v = results["normal"]["eps"]
        rows.append((v >= GOALS["normal_eps"], f">= {GOALS['normal_eps']:,} events/s, durability normal, "
                                               f"batches of {a.batch}", f"{v:,.0f}"))
    if "full" in results:
        v = results["full"]["eps"]
        rows.append((v >= GOALS["full_eps"], f">= {GOALS['full_eps']:,} events/s, durability full, "
                                             f"batches of {a.batch}", f"{v:,.0f}"))
    for dur, r in results.items():
        if "p99" in r:
            kept = r["lat_rate"] >= 0.97 * a.lat_rate
            rows.append((r["p99"] < GOALS["p99_ms"] and kept,
                         f"p99 < {GOALS['p99_ms']:g} ms at {a.lat_rate:,} events/s ({dur})",
                         f"{r['p99']:.2f} ms" + ("" if kept else f" (pace not kept: {r['lat_rate']:,.0f}/s)")))
    if results:
        rss = max(max(r["rss_thr"], r.get("rss_lat", 0)) for r in results.values())
        rows.append((rss < GOALS["rss_mib"], f"peak RSS < {GOALS['rss_mib']:g} MiB", f"{rss:.1f} MiB"))
    if peer and "normal" in results:
        ratio = results["normal"]["eps"] / peer
        rows.append((ratio >= GOALS["peer_ratio"], f">= {GOALS['peer_ratio']}x the Python peer "
                                                   f"(normal vs its NORMAL)", f"{ratio:.2f}x"))
    for ok, what, got in rows:
        log(f"    {mark(ok)}  {what:<58} {got}")
    if failures:
        log("\n  RUN PROBLEMS (the figures above may not mean much):")
        for f in failures:
            log("    - " + f)
    log("=" * 72)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    finally:
        for daemon in list(LIVE):
            if daemon.proc.poll() is None:
                print(f"stopping daemon {daemon.proc.pid} left by the failure; folder {daemon.dir}", file=sys.stderr)
                daemon.proc.kill()
                daemon.proc.wait()
