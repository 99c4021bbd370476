"""Notifications you can see (issue 20): a delivery that keeps failing is
parked after its output's attempts, shows in `status`, `stats` and
`triagectl outbox --failed`, writes one log line (not one per retry),
survives a SIGKILL, and goes again with `triagectl outbox retry`; an
output with a group_wait sends a burst as one digest."""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, wait  # noqa: E402

NOTIFY = '''
rule { name = "tell", on = "probe.tell", action = function(ev, ctx)
  notify(ev.output or "lead", "about " .. ev.id)
end }
'''

# An exec output whose script exits with the code in its folder's `rc`
# file (7 until the test writes 0) and appends each run's stdin and
# {message} argument to runs.ndjson.
SCRIPT = '''#!/bin/sh
dir=$(dirname "$0")
payload=$(cat)
printf '{"message": "%s", "stdin": %s}\\n' "$1" "$payload" >> "$dir/runs.ndjson"
exit $(cat "$dir/rc")
'''


def make_script(folder, rc):
    path = os.path.join(folder, "notify.sh")
    with open(path, "w") as f:
        f.write(SCRIPT)
    os.chmod(path, 0o755)
    with open(os.path.join(folder, "rc"), "w") as f:
        f.write(f"{rc}\n")
    return path


def runs(folder):
    try:
        with open(os.path.join(folder, "runs.ndjson")) as f:
            return [json.loads(line) for line in f if line.strip()]
    except FileNotFoundError:
        return []


class Folder:
    """Where the script lives and writes, made before the daemon (whose
    config names it)."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="triaged-outbox-")
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)


def stats(d):
    r = d.request({"op": "stats"})
    assert r["ok"], r
    return r["stats"]


class Parking(unittest.TestCase):
    def test_a_failing_exec_output_is_parked_shown_and_sent_again(self):
        with Folder() as folder:
            script = make_script(folder, 7)
            config = f'outputs:\n  lead: {{ exec: ["{script}", "{{message}}"], attempts: 3 }}\n'
            with Daemon(rules={"50-tell.lua": NOTIFY}, shipped=False, config=config) as d:
                self.parked_then_sent(d, folder)

    def parked_then_sent(self, d, folder):
        d.ingest([{"type": "probe.tell", "id": "a"}])
        # tried 3 times (1 s, then 2 s apart), then parked
        self.assertTrue(wait(lambda: stats(d)["outputs"]["lead"]["failed"] == 1, timeout=30), d.log())
        self.assertEqual(len(runs(folder)), 3)
        s = stats(d)
        lead = s["outputs"]["lead"]
        self.assertEqual(lead["state"], "degraded")
        self.assertEqual(lead["pending"], 0)
        self.assertEqual(lead["last_error"], "exit status 7")
        self.assertEqual(lead["failed_attempts"], 3)
        self.assertEqual(s["health"], "degraded")
        self.assertIn("output lead has 1 parked delivery (last error: exit status 7)", s["health_reason"])
        self.assertEqual(s["outputs"]["journal"]["state"], "ok")
        # status shows it first and loud
        st = d.ctl("status")
        self.assertEqual(st.returncode, 0, st.stderr)
        self.assertIn("DEGRADED", st.stdout)
        self.assertIn("output lead", st.stdout)
        # the log: one line when it started failing, one parked line, no line per retry
        log = d.log()
        self.assertEqual(log.count("output lead failing: exit status 7 (retrying)"), 1, log)
        self.assertEqual(log.count("parked as failed"), 1, log)
        self.assertNotIn("attempt 2", log)
        # triagectl outbox --failed, for people and scripts
        out = d.ctl("outbox", "--failed")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("about a", out.stdout)
        self.assertIn("exit status 7", out.stdout)
        j = json.loads(d.ctl("outbox", "--failed", "--json").stdout)
        [row] = j["outbox"]
        self.assertEqual((row["state"], row["output"], row["attempts"]), ("failed", "lead", 3))
        self.assertEqual(row["message"], "about a")
        # parked is a row like any other: it survives a SIGKILL, and is not retried
        d.kill9()
        d.start()
        self.assertEqual(stats(d)["outputs"]["lead"]["failed"], 1)
        self.assertEqual(stats(d)["health"], "degraded")
        time.sleep(1.5)
        self.assertEqual(len(runs(folder)), 3, "a parked delivery is not tried again by itself")
        # the script is fixed: retry --all sends it, and the output is ok again
        make_script(folder, 0)
        r = d.ctl("outbox", "retry", "--all")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("1", r.stdout)
        self.assertTrue(wait(lambda: len(runs(folder)) == 4), d.log())
        self.assertTrue(wait(lambda: stats(d)["outputs"]["lead"]["delivered"] == 1), d.log())
        s = stats(d)
        self.assertEqual((s["health"], s["outputs"]["lead"]["state"], s["outputs"]["lead"]["failed"]),
                         ("ok", "ok", 0))
        self.assertEqual(runs(folder)[-1]["message"], "about a")
        self.assertEqual(d.ctl("outbox", "--failed", "--json").stdout.count('"id"'), 0)
        self.assertIn("put back by", d.log())

    def test_retry_names_what_is_wrong(self):
        with Daemon(rules={"50-tell.lua": NOTIFY}, shipped=False, config="outputs:\n  lead: { dir: lead }\n") as d:
            r = d.request({"op": "outbox", "retry": 42})
            self.assertEqual(r["error"]["code"], "not_found", r)
            self.assertIn("retry", r["error"]["message"])
            for bad, field in (({"retry": "x"}, "retry"), ({"retry_all": 1}, "retry_all"),
                               ({"limit": 0}, "limit"), ({"retyr": 1}, "retyr"), ({"failed": "yes"}, "failed")):
                r = d.request(dict({"op": "outbox"}, **bad))
                self.assertEqual(r["error"]["code"], "bad_request", (bad, r))
                self.assertIn(f'"{field}"', r["error"]["message"])
            r = d.ctl("outbox", "retry")
            self.assertEqual(r.returncode, 2, r.stderr)
            r = d.ctl("outbox", "retry", "abc")
            self.assertEqual(r.returncode, 2, r.stderr)


    def test_a_delivery_older_than_max_age_is_parked_before_its_attempts_run_out(self):
        with Folder() as folder:
            script = make_script(folder, 7)
            config = f'outputs:\n  lead: {{ exec: ["{script}"], attempts: 50, max_age: 2s }}\n'
            with Daemon(rules={"50-tell.lua": NOTIFY}, shipped=False, config=config) as d:
                d.ingest([{"type": "probe.tell", "id": "old"}])
                self.assertTrue(wait(lambda: stats(d)["outputs"]["lead"]["failed"] == 1, timeout=20), d.log())
                [row] = d.request({"op": "outbox", "failed": True})["outbox"]
                self.assertLess(row["attempts"], 5, "parked by age, long before 50 tries")
                self.assertEqual(d.log().count("parked as failed"), 1)


class Grouping(unittest.TestCase):
    def test_a_burst_within_group_wait_goes_as_one_digest(self):
        with Folder() as folder:
            script = make_script(folder, 0)
            config = (f'outputs:\n  lead: {{ exec: ["{script}", "{{message}}"], group_wait: 1s }}\n'
                      f'  ops: {{ exec: ["{script}", "{{message}}"] }}\n')
            with Daemon(rules={"50-tell.lua": NOTIFY}, shipped=False, config=config) as d:
                self.burst(d, folder)

    def burst(self, d, folder):
        d.ingest([{"type": "probe.tell", "id": f"n{i}"} for i in range(5)])
        d.ingest([{"type": "probe.tell", "id": "solo", "output": "ops"}])
        self.assertTrue(wait(lambda: stats(d)["outputs"]["lead"]["delivered"] == 5, timeout=15), d.log())
        time.sleep(0.5)
        lead = [r for r in runs(folder) if r["stdin"].get("digest") or "n" in r["message"][:7]]
        digests = [r for r in runs(folder) if r["stdin"].get("digest")]
        self.assertEqual(len(digests), 1, runs(folder))
        [dg] = digests
        self.assertEqual(dg["stdin"]["count"], 5)
        self.assertEqual([n["message"] for n in dg["stdin"]["notifications"]], [f"about n{i}" for i in range(5)])
        self.assertTrue(dg["message"].startswith("5 notifications: about n0; about n1"), dg["message"])
        self.assertEqual(len(lead), 1, "one run for the lead, not five")
        # an output without group_wait is unchanged: its own run, its own payload
        solo = [r for r in runs(folder) if r["message"] == "about solo"]
        self.assertEqual(len(solo), 1)
        self.assertNotIn("digest", solo[0]["stdin"])

    def test_what_a_silence_held_goes_as_one_digest_when_it_ends(self):
        config = "outputs:\n  erp: { dir: erp, group_wait: 1s }\n"
        with Daemon(rules={"50-tell.lua": NOTIFY}, shipped=False, config=config) as d:
            r = d.request({"op": "silence", "action": "add", "output": "erp", "until": "1h", "reason": "outage"})
            self.assertTrue(r["ok"], r)
            d.ingest([{"type": "probe.tell", "id": f"h{i}", "output": "erp"} for i in range(4)])
            self.assertTrue(wait(lambda: stats(d)["notifications_held_total"] == 4), d.log())
            time.sleep(1.5)  # past the group_wait: still held, held once each
            self.assertEqual(stats(d)["notifications_held_total"], 4)
            self.assertEqual(stats(d)["outputs"]["erp"]["delivered"], 0)
            d.request({"op": "silence", "action": "expire", "id": r["silence"]["id"]})
            self.assertTrue(wait(lambda: stats(d)["outputs"]["erp"]["delivered"] == 4, timeout=15), d.log())
            [name] = os.listdir(os.path.join(d.dir, "erp"))
            with open(os.path.join(d.dir, "erp", name)) as f:
                self.assertEqual(json.load(f)["count"], 4)

    def test_a_dir_output_with_group_wait_writes_one_file(self):
        config = "outputs:\n  erp: { dir: erp, group_wait: 1s }\n"
        with Daemon(rules={"50-tell.lua": NOTIFY}, shipped=False, config=config) as d:
            d.ingest([{"type": "probe.tell", "id": f"d{i}", "output": "erp"} for i in range(3)])
            folder = os.path.join(d.dir, "erp")
            self.assertTrue(wait(lambda: stats(d)["outputs"]["erp"]["delivered"] == 3, timeout=15), d.log())
            [name] = os.listdir(folder)
            with open(os.path.join(folder, name)) as f:
                digest = json.load(f)
            self.assertEqual((digest["digest"], digest["count"]), (True, 3))
            self.assertEqual(digest["message"], "3 notifications: about d0; about d1; about d2")


if __name__ == "__main__":
    unittest.main()
