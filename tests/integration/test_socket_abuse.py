"""SPEC §6 overload: one client cannot take the daemon down. Five hundred
connections at once, most of them misbehaving (pipelining 1 MB answers they
never read, 1 MiB and 64 MiB lines, invalid UTF-8, half-closed sockets,
unfinished lines), while a well-behaved client pings: its pings stay fast,
memory stays bounded, and once the attackers leave the daemon goes back to
what it used before (memory, descriptors, an idle CPU), not on answering
peers that are gone. SIGTERM ends it promptly with such clients connected.

Numbers this test asserts are bounds, not measurements (those belong in
tests/bench/README.md)."""
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Client, Daemon, wait  # noqa: E402

TICKETS = 2000          # open tickets: a `tickets` answer with all of them is about 1 MB
CONNECTIONS = 500       # attackers connected at once
PING_P99_MS = 50        # SPEC §6: one client never starves another
PINGS = 500             # round trips measured while the attack runs
# The daemon's RSS after the attack: baseline plus this. The allocator keeps
# freed pages a while (jemalloc gives them back as they decay, when it is
# asked for memory again: an idle daemon keeps about 40-50 MiB of them here);
# the old code's unread answers alone were hundreds of MiB.
RSS_SLACK_KB = 64 << 10
FD_SLACK = 2            # descriptors after the attack: baseline plus this
DRAIN_S = 5             # main.c DRAIN_MS: how long clients get to read their last answers at SIGTERM

ALL_TICKETS = (json.dumps({"op": "tickets", "state": "open", "limit": 100000}) + "\n").encode()


def sanitized(path):
    """True when the daemon is built with AddressSanitizer or
    ThreadSanitizer: its runtime is linked in."""
    with open(path, "rb") as f:
        data = f.read()
    return b"__asan_init" in data or b"__tsan_init" in data


def raise_fd_limit(want):
    """The daemon inherits this process's limit (harness.Daemon starts it
    with subprocess.Popen): 500 clients need more than the usual 1024 on
    each side. Returns the soft limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        soft = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return soft


def proc_status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def rss_kb(pid):
    return proc_status(pid, "VmRSS")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def cpu_s(pid):
    """User plus system CPU time the process has used, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def event(i):
    return {"type": "message.new", "id": f"m{i}", "account": "acme-us", "marketplace": "US",
            "order_id": f"111-0000000-{i:07d}", "buyer": "John Smith", "subject": "Where is my order?"}


def open_tickets(d):
    for k in range(0, TICKETS, 500):
        r = d.ingest([event(i) for i in range(k, k + 500)])
        assert r["ok"] and r["accepted"] == 500, r


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def send_some(s, data):
    """Sends what the socket takes now; a client that stops reading its
    answers soon finds the daemon no longer reads its requests."""
    s.setblocking(False)
    try:
        s.send(data)
    except (BlockingIOError, BrokenPipeError, ConnectionResetError):
        pass


class Attack:
    """The misbehaving clients. start() connects them all; stop() closes
    every socket (many with answers unread) and joins the threads."""

    def __init__(self, path):
        self.path = path
        self.socks = []
        self.threads = []
        self.stop_flag = threading.Event()
        self.errors = []
        self.too_large = 0

    def thread(self, fn, *args):
        def run():
            # Linux's nice(2) is per thread: the load generator yields the
            # CPU to the daemon and to the pinging process, which are measured
            os.nice(10)
            try:
                fn(*args)
            except (OSError, ConnectionError):
                pass  # the attack ending closes sockets under the threads
            except Exception as e:  # noqa: BLE001: reported by the test
                self.errors.append(repr(e))
        t = threading.Thread(target=run, daemon=True)
        t.start()
        self.threads.append(t)

    def sock(self):
        s = connect(self.path)
        self.socks.append(s)
        return s

    def hoarder(self, n):
        """Pipelines n requests for every open ticket (~1 MB each); never reads."""
        send_some(self.sock(), ALL_TICKETS * n)

    def long_lines(self, n):
        """n lines of 1 MiB, valid requests and garbage mixed; never reads."""
        s = self.sock()
        pad = "x" * (1 << 20)
        lines = [(json.dumps({"op": "ping", "pad": pad}) + "\n").encode(), b"{" + b"z" * (1 << 20) + b"\n"]

        def send():
            s.settimeout(30)
            for i in range(n):
                if self.stop_flag.is_set():
                    return
                s.sendall(lines[i % 2])
        self.thread(send)

    def huge_line(self, blob):
        """One 64 MiB line (past limits.request_bytes): answered too_large."""
        s = self.sock()

        def send():
            s.settimeout(60)
            s.sendall(blob)
            s.sendall(b"\n")
            buf = b""
            while b"\n" not in buf and not self.stop_flag.is_set():
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            answer = json.loads(buf.split(b"\n", 1)[0])
            if answer.get("error", {}).get("code") != "too_large":
                self.errors.append(f"a 64 MiB line was answered {answer}")
            else:
                self.too_large += 1
        self.thread(send)

    def bad_utf8(self, reads):
        """Fifty lines that are not UTF-8; some clients read the answers."""
        s = self.sock()
        bad = [b'{"op":"ping","id":"\xff\xfe"}\n', b'{"op":"tickets","text":"\xc3\x28"}\n',
               b'\xed\xa0\x80\xed\xb0\x80\n', b'\x80\x81\x82 not json\n', b'{"op":"\xf8\x88\x80\x80\x80"}\n']
        data = b"".join(bad[i % len(bad)] for i in range(50))
        if not reads:
            send_some(s, data)
            return

        def run():
            s.settimeout(30)
            s.sendall(data)
            c = Client.__new__(Client)
            c.sock, c.buf = s, b""
            for _ in range(50):
                if self.stop_flag.is_set():
                    return
                a = c.recv()
                if a.get("ok"):
                    self.errors.append(f"invalid UTF-8 was accepted: {a}")
        self.thread(run)

    def half_closed(self, reads):
        """Sends five requests, then shutdown(SHUT_WR): the answers are
        still owed; some clients read them, some never do."""
        s = self.sock()
        reqs = [b'{"op":"tickets","limit":100}\n', b'{"op":"ping","id":1}\n', b'{"op":"tickets","limit":100}\n',
                b'{"op":"ping","id":2}\n', b'{"op":"stats"}\n']
        s.sendall(b"".join(reqs))
        s.shutdown(socket.SHUT_WR)
        if not reads:
            return

        def run():
            s.settimeout(30)
            got = b""
            while not self.stop_flag.is_set():
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += chunk
            answers = got.count(b"\n")
            if not self.stop_flag.is_set() and answers != len(reqs):
                self.errors.append(f"a half-closed client got {answers} answers of {len(reqs)}")
        self.thread(run)

    def idler(self, i):
        """An unfinished line, or one ping never read."""
        s = self.sock()
        send_some(s, b'{"op":"pi' if i % 2 else b'{"op":"ping"}\n')

    def start(self, blob):
        self.hoarder(3000)  # the probe of issue 17
        for _ in range(19):
            self.hoarder(200)
        for _ in range(10):
            self.long_lines(8)
        for _ in range(4):
            self.huge_line(blob)
        for i in range(30):
            self.bad_utf8(reads=i % 2 == 0)
        for i in range(40):
            self.half_closed(reads=i % 2 == 0)
        for i in range(CONNECTIONS - len(self.socks)):
            self.idler(i)

    def stop(self):
        self.stop_flag.set()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass
        for t in self.threads:
            t.join(10)


# The well-behaved client runs in a process of its own: in this one, the
# attackers' threads would hold its answers back (the GIL), not the daemon.
# It connects and warms up first, then waits for "go" on stdin, so that
# its own start is not measured.
PINGER = """
import json, socket, sys, time
path, n, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(timeout)
s.connect(path)
buf = b""
def ping(i):
    global buf
    t0 = time.monotonic()
    s.sendall(json.dumps({"op": "ping", "id": i}).encode() + b"\\n")
    while b"\\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("the daemon closed the connection")
        buf += chunk
    line, buf = buf.split(b"\\n", 1)
    ms = (time.monotonic() - t0) * 1000
    r = json.loads(line)
    if not r.get("ok") or r.get("id") != i:
        sys.exit(f"ping {i} answered {r}")
    return ms
for i in range(20):
    ping(i)
print("ready", flush=True)
sys.stdin.readline()
times = []
for i in range(n):
    times.append(ping(i))
    time.sleep(0.01)
print(json.dumps(times), flush=True)
"""


class Pinger:
    """start(): connected and warmed up; run(): n pings, their round trips in ms."""

    def __init__(self, path, n, timeout):
        self.n, self.timeout = n, timeout
        self.proc = subprocess.Popen([sys.executable, "-c", PINGER, path, str(n), str(timeout)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def run(self):
        out, _ = self.proc.communicate("go\n", timeout=self.timeout * 2 + self.n)
        assert self.proc.returncode == 0, "the pinger failed"
        return json.loads(out)

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def p99(times):
    s = sorted(times)
    return s[min(len(s) - 1, int(len(s) * 0.99))]


class SocketAbuse(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if raise_fd_limit(4096) < 2 * CONNECTIONS + 100:
            raise unittest.SkipTest("RLIMIT_NOFILE's hard limit is too low for 500 clients")
        cls.blob = b"y" * (64 << 20)

    def daemon(self):
        # max_clients above the attack: every connection is served, none refused
        return Daemon(durability="full", config=f"limits: {{ max_clients: {CONNECTIONS + 100} }}\n")

    def baseline(self, d):
        """The daemon's steady state with the tickets open, after one of
        each kind of request the attack sends (caches filled), and how long
        the largest of them (every ticket) takes, in ms."""
        c = d.client()
        t0 = time.monotonic()
        self.assertEqual(len(c.request({"op": "tickets", "state": "open", "limit": 100000})["tickets"]), TICKETS)
        query_ms = (time.monotonic() - t0) * 1000
        c.request({"op": "ping", "pad": "x" * (1 << 20)})
        c.close()
        time.sleep(0.5)
        return rss_kb(d.proc.pid), fd_count(d.proc.pid), query_ms

    def test_pings_stay_fast_and_the_daemon_recovers(self):
        with self.daemon() as d:
            pid = d.proc.pid
            open_tickets(d)
            rss0, fds0, query_ms = self.baseline(d)
            san = sanitized(d.proc.args[0])

            attack = Attack(d.socket)
            pinger = Pinger(d.socket, PINGS, timeout=20)
            t_attack = time.monotonic()
            try:
                attack.start(self.blob)
                # every attacker is in and has had its first request run, as
                # any client would; its pipeline waits behind it
                time.sleep(1)
                times = pinger.run()
                during = {"rss_kb": rss_kb(pid), "fds": fd_count(pid)}
            finally:
                pinger.kill()
                attack.stop()
            attack_s = time.monotonic() - t_attack
            print(f"ping ms: p50 {sorted(times)[len(times) // 2]:.1f} p99 {p99(times):.1f} max {max(times):.1f}; "
                  f"RSS {rss0} kB before, {during['rss_kb']} kB during; fds {fds0} before, {during['fds']} during; "
                  f"attack {attack_s:.1f} s; one query of every ticket {query_ms:.0f} ms", flush=True)
            self.assertEqual(attack.errors, [])
            self.assertEqual(attack.too_large, 4, "each 64 MiB line is answered too_large")
            self.assertGreaterEqual(during["fds"], fds0 + CONNECTIONS // 2, "the attackers were connected")
            # A ping waits for at most about one large request and a loop
            # turn. A sanitized build runs that request several times
            # slower (measured above): there the bound grows by it.
            bound = PING_P99_MS + (3 * query_ms if san else 0)
            slow = [(i, round(t)) for i, t in enumerate(times) if t > PING_P99_MS]
            self.assertLess(p99(times), bound, f"a well-behaved client's pings wait behind the attackers: {slow}")

            # Gone clients: their answers are dropped and what they queued is
            # not run; descriptors and memory go back, the CPU goes idle.
            self.assertTrue(wait(lambda: fd_count(pid) <= fds0 + FD_SLACK, 10),
                            f"descriptors after the attack: {fd_count(pid)}, before {fds0}")
            cpu0 = cpu_s(pid)
            time.sleep(1)
            busy = cpu_s(pid) - cpu0
            self.assertLess(busy, 0.2, f"the daemon used {busy:.2f} s of CPU in 1 s with no client left")
            # (not under sanitizers: AddressSanitizer keeps freed memory in
            # quarantine, 256 MiB by default, and neither returns it)
            if not san:
                self.assertTrue(wait(lambda: d.request({"op": "ping"})["ok"] and rss_kb(pid) <= rss0 + RSS_SLACK_KB,
                                         10), f"RSS after the attack: {rss_kb(pid)} kB, before {rss0} kB")
            print(f"after: RSS {rss_kb(pid)} kB, fds {fd_count(pid)}, CPU {busy:.2f} s in 1 s idle", flush=True)
            self.assertTrue(d.request({"op": "ping"})["ok"])

            # SIGTERM with misbehaving clients connected: drained with a bound,
            # they are closed, and the daemon exits 0.
            attack = Attack(d.socket)
            try:
                for _ in range(20):
                    attack.hoarder(3000)
                for i in range(20):
                    attack.half_closed(reads=False)
                for i in range(50):
                    attack.idler(i)
                time.sleep(0.5)
                t0 = time.monotonic()
                d.proc.send_signal(signal.SIGTERM)
                try:
                    rc = d.proc.wait(DRAIN_S + 5)
                except Exception:
                    rc = None
                stop_s = time.monotonic() - t0
            finally:
                attack.stop()
            print(f"SIGTERM to exit: {stop_s:.1f} s", flush=True)
            self.assertEqual(rc, 0, f"SIGTERM did not end the daemon within {DRAIN_S + 5} s")
            self.assertLess(stop_s, DRAIN_S + 3)
            self.assertEqual(d.stop(), 0)


if __name__ == "__main__":
    unittest.main()
