"""Logs for journald (issue 20, STYLE "Errors"): every line carries a
syslog priority prefix, so journald keeps the level, and `info` holds one
line per notable action — a file read, a reload, a person's action — never
one per event."""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from harness import Daemon, wait  # noqa: E402

# A rule that opens a ticket per event and a rule that fails on some: the
# ticket is an event's ordinary work (debug at most); a failure is worth a
# warning line of its own.
RULES = '''
rule { name = "open", on = "probe.new", action = function(ev, ctx)
  ticket.open { key = "probe:" .. ev.id, title = "probe " .. ev.id }
end }
rule { name = "fails", on = "probe.bad", action = function(ev, ctx)
  error("no such thing")
end }
'''


def events(n, prefix, kind="probe.new"):
    return [{"type": kind, "id": f"{prefix}{i}", "account": "acme-us"} for i in range(n)]


def lines(log, since=0):
    return log[since:].splitlines()


class Journal(unittest.TestCase):
    def test_200_events_write_no_info_line_each(self):
        with Daemon(rules={"50-p.lua": RULES}, shipped=False) as d:
            mark = len(d.log())
            for k in range(4):  # four requests of 50, as a busy exporter sends
                r = d.ingest(events(50, f"e{k}-"))
                self.assertEqual(r["accepted"], 50, r)
            self.assertEqual(len(d.tickets()), 200)
            new = lines(d.log(), mark)
            info = [x for x in new if x.startswith("<6>")]
            self.assertLessEqual(len(info), 3, info)
            # a rule failing is worth its warning line, with the event named
            r = d.ingest(events(1, "bad", "probe.bad"))
            self.assertEqual(r["accepted"], 1, r)
            self.assertTrue(wait(lambda: re.search(r"(?m)^<4>rule fails failed on probe.bad bad0: ", d.log())),
                            d.log()[mark:])

    def test_a_file_of_200_rows_is_one_info_line(self):
        with Daemon(rules={"50-p.lua": RULES}, shipped=False, config="spool: { settle_ms: 100, rescan_ms: 200 }\n") as d:
            mark = len(d.log())
            incoming = os.path.join(d.dir, "state", "spool", "incoming")
            tmp = os.path.join(incoming, ".rows.ndjson.tmp")
            with open(tmp, "w") as f:
                for ev in events(200, "row"):
                    f.write(json.dumps(ev) + "\n")
            os.rename(tmp, os.path.join(incoming, "rows.ndjson"))
            done = os.path.join(d.dir, "state", "spool", "done", "rows.ndjson")
            self.assertTrue(wait(lambda: os.path.exists(done)), d.log())
            self.assertTrue(wait(lambda: len(d.tickets()) == 200))
            info = [x for x in lines(d.log(), mark) if x.startswith("<6>")]
            self.assertEqual(len(info), 1, info)
            self.assertRegex(info[0], r"^<6>spool: rows.ndjson -> \S+/done/rows.ndjson \(200 rows: 200 ok")

    def test_every_line_has_a_priority_and_actions_name_who(self):
        with Daemon(rules={"50-p.lua": RULES}, shipped=False) as d:
            d.stop()
            with open(d.config) as f:
                text = f.read()
            with open(d.config, "w") as f:
                f.write(text.replace("log: { level: info }", "log: { level: debug }"))
            d.start()
            d.ingest(events(5, "p"))
            p = d.ctl("reload")
            self.assertEqual(p.returncode, 0, p.stderr)
            d.stop()
            log = d.log()
            self.assertTrue(log.strip())
            for x in log.splitlines():
                self.assertRegex(x, r"^<[3467]>", x)  # err, warning, info, debug: what journald keeps apart
            self.assertRegex(log, r"(?m)^<6>reload by \S+")
            self.assertNotRegex(log, r"(?m)^<6>.*probe p\d")  # nothing about a single event at info


if __name__ == "__main__":
    unittest.main(verbosity=2)
