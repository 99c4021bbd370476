"""Who did what (issue 20, SPEC §6): a person's action through the socket or
triagectl is recorded under the caller's user name from SO_PEERCRED, in the
ticket's history and in the daemon's log line; a uid with no user name is
recorded as "uid:N"."""
import os
import pwd
import re
import sys
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, TRIAGECTL  # noqa: E402
import subprocess  # noqa: E402

FEEDBACK = {"type": "feedback.new", "id": "fb-actor-1", "occurred_at": "2026-11-24T06:00:00Z",
            "account": "acme-us", "marketplace": "amazon.com", "order_id": "111-0000000-0000001",
            "rating": 1, "buyer": "B01"}

# A uid that has no entry in the password database of any sane machine.
NAMELESS_UID = 3999999


def history(d, tid):
    r = d.request({"op": "ticket", "id": tid})
    assert r["ok"], r
    return [(h["actor"], h["action"]) for h in r["ticket"]["history"]]


class Actor(unittest.TestCase):
    def test_actions_are_recorded_under_the_callers_user_name(self):
        me = pwd.getpwuid(os.getuid()).pw_name
        with Daemon() as d:
            self.assertEqual(d.ingest([FEEDBACK])["accepted"], 1)
            [t] = d.tickets()
            r = d.request({"op": "ticket.update", "id": t["id"], "action": "comment", "text": "called the buyer"})
            self.assertTrue(r["ok"], r)
            p = d.ctl("ack", str(t["id"]))
            self.assertEqual(p.returncode, 0, p.stderr)
            h = history(d, t["id"])
            self.assertIn((me, "comment"), h)
            self.assertIn((me, "ack"), h)
            self.assertFalse([a for a, _ in h if a.startswith("uid:")], h)
            # the log line names the person too, at info (a notable action)
            self.assertRegex(d.log(), r"<6>ticket %d: ack by %s\b" % (t["id"], re.escape(me)))
            p = d.ctl("reload")
            self.assertEqual(p.returncode, 0, p.stderr)
            self.assertIn(f"<6>reload by {me}", d.log())

    @unittest.skipUnless(os.getuid() == 0, "running a client under another uid needs root")
    def test_a_uid_without_a_user_name_is_recorded_as_uid_n(self):
        try:
            pwd.getpwuid(NAMELESS_UID)
            self.skipTest(f"uid {NAMELESS_UID} has a user name here")
        except KeyError:
            pass
        with Daemon() as d:
            self.assertEqual(d.ingest([FEEDBACK])["accepted"], 1)
            [t] = d.tickets()
            # let the nameless caller reach the socket (the daemon's folder is private)
            os.chmod(d.dir, 0o755)
            os.chmod(d.socket, 0o666)
            p = subprocess.run([TRIAGECTL, "--socket", d.socket, "comment", str(t["id"]), "from nobody known"],
                               capture_output=True, text=True, timeout=60,
                               preexec_fn=lambda: (os.setgroups([]), os.setgid(NAMELESS_UID), os.setuid(NAMELESS_UID)))
            self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
            self.assertIn((f"uid:{NAMELESS_UID}", "comment"), history(d, t["id"]))


if __name__ == "__main__":
    unittest.main(verbosity=2)
