"""Integration-test harness: the real triaged in a temporary folder, spoken
to over its Unix socket as a user would (or through triagectl).

    with Daemon(rules={"50-count.lua": SRC}) as d:
        d.request({"op": "ping"})
        d.ingest([{...}])
        d.ctl("tickets", "--json")
        d.kill9(); d.start()

Environment (set by ctest): TRIAGED, TRIAGECTL, TR_SOURCE_DIR, TR_SHARED_DIR,
TR_FSYNC_SHIM.
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

SOURCE_DIR = os.environ.get("TR_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SHARED_DIR = os.environ.get("TR_SHARED_DIR", os.path.join(SOURCE_DIR, "..", "shared"))
TRIAGED = os.environ.get("TRIAGED", os.path.join(SOURCE_DIR, "build", "triaged"))
TRIAGECTL = os.environ.get("TRIAGECTL", os.path.join(SOURCE_DIR, "build", "triagectl"))
SAMPLES = os.path.join(SHARED_DIR, "samples")
SHIPPED_RULES = os.path.join(SOURCE_DIR, "rules")


class Client:
    """One connection speaking NDJSON."""

    def __init__(self, path, timeout=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def send(self, obj):
        self.send_raw(json.dumps(obj, ensure_ascii=False).encode() + b"\n")

    def recv(self):
        while b"\n" not in self.buf:
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ConnectionError("daemon closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def request(self, obj):
        self.send(obj)
        return self.recv()

    def close(self):
        self.sock.close()


class Daemon:
    """A triaged in a temp folder. rules: {filename: source} written into
    rules.d (shipped=True also copies rules/*.lua). config: extra YAML."""

    def __init__(self, rules=None, shipped=True, config="", durability="full", env=None):
        self.dir = tempfile.mkdtemp(prefix="triaged-test-")
        self.rules_dir = os.path.join(self.dir, "rules.d")
        os.makedirs(self.rules_dir)
        if shipped:
            for name in sorted(os.listdir(SHIPPED_RULES)):
                if name.endswith(".lua") and not name.endswith(".test.lua"):
                    shutil.copy(os.path.join(SHIPPED_RULES, name), self.rules_dir)
        for name, src in (rules or {}).items():
            os.makedirs(os.path.dirname(os.path.join(self.rules_dir, name)), exist_ok=True)
            with open(os.path.join(self.rules_dir, name), "w") as f:
                f.write(src)
        self.socket = os.path.join(self.dir, "triaged.sock")
        self.config = os.path.join(self.dir, "triaged.yaml")
        with open(self.config, "w") as f:
            f.write(f"state_dir: state\nsocket: triaged.sock\nrules_dir: rules.d\n"
                    f"durability: {durability}\nlog: {{ level: info }}\n{config}")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.log_path = os.path.join(self.dir, "triaged.log")

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        if exc[0] is None:
            shutil.rmtree(self.dir, ignore_errors=True)
        else:
            print(f"daemon folder kept for inspection: {self.dir}")
            print(self.log())

    def start(self, timeout=20):
        self.log_file = open(self.log_path, "ab")
        self.proc = subprocess.Popen([TRIAGED, "-c", self.config], stdout=self.log_file,
                                     stderr=subprocess.STDOUT, env=self.env)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"triaged exited with {self.proc.returncode}:\n{self.log()}")
            try:
                c = Client(self.socket, timeout=5)
                r = c.request({"op": "ping"})
                c.close()
                if r.get("ok"):
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("triaged did not answer ping:\n" + self.log())

    def log(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit code. Fails on any sanitizer
        report in the daemon's log."""
        if not self.proc or self.proc.poll() is not None:
            rc = self.proc.returncode if self.proc else None
        else:
            self.proc.send_signal(signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                rc = self.proc.wait()
            self.log_file.close()
        self.check_sanitizers()
        return rc

    def check_sanitizers(self):
        log = self.log()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:", "WARNING: ThreadSanitizer"):
            if marker in log:
                raise AssertionError(f"sanitizer report in triaged's log:\n{log}")

    def kill9(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log_file.close()

    def client(self):
        return Client(self.socket)

    def request(self, obj):
        c = self.client()
        try:
            return c.request(obj)
        finally:
            c.close()

    def ingest(self, events):
        return self.request({"op": "ingest", "events": events})

    def tickets(self, **filters):
        r = self.request(dict({"op": "tickets", "state": "all", "limit": 100000}, **filters))
        assert r["ok"], r
        return r["tickets"]

    def ctl(self, *args, input=None):
        return subprocess.run([TRIAGECTL, "--socket", self.socket, *args], input=input,
                              capture_output=True, text=True, timeout=60)


FSYNC_SHIM = os.environ.get("TR_FSYNC_SHIM", "")


class DiskShim:
    """The disk as tests/integration/fsync_shim.c makes it, preloaded into
    the daemon: set("delay MS" | "fail" | "full" | "eio") from now on, or
    set(None) to pass through. env() is what the daemon needs for it."""

    def __init__(self, name):
        self.control = os.path.join(tempfile.gettempdir(), f"tr-shim-{os.getpid()}-{name}")

    def set(self, what):
        if what is None:
            if os.path.exists(self.control):
                os.unlink(self.control)
        else:
            with open(self.control, "w") as f:
                f.write(what + "\n")

    def env(self):
        return {"LD_PRELOAD": FSYNC_SHIM, "TR_FSYNC_CONTROL": self.control,
                # under ASan the preloaded shim comes before the sanitizer's runtime
                "ASAN_OPTIONS": os.environ.get("ASAN_OPTIONS", "") + ":verify_asan_link_order=0"}


def wait(pred, timeout=20, every=0.05):
    """pred's first true value within timeout seconds, else its last."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(every)
    return pred()


def read_ndjson(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
