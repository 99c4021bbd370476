-- The runner itself: fixtures in three layers, notifications(), a
-- person's actions, and the rules whose `when` said no.
fixture { params = { ["layer.c"] = "lua" } }

test("the calendar and output come from fixture.yaml", function()
  local r = ingest { type = "alarm.raised", id = "a1", occurred_at = "2026-11-27T16:00:00Z" }
  eq(r.outcomes[1].status, "ok")
  -- 2 h of Mon-Fri 09-17 UTC from Friday 16:00: 1 h on Friday, 1 h on Monday
  eq(find("alarm:a1").due_at, "2026-11-30T10:00:00Z")
end)

test("layers: fixture.yaml, then runner.fixture.yaml, then fixture{}", function()
  ingest { type = "alarm.raised", id = "a2" }
  eq(notifications()[1].note, "alarm a2: folder file lua")
end)

test("notifications() lists what was notified, in order, until cleared", function()
  eq(notifications(), {})
  ingest { type = "alarm.raised", id = "n1" }
  ingest { type = "alarm.raised", id = "n2", level = "debug" }
  ingest { type = "alarm.raised", id = "n3" }
  local n = notifications()
  eq(#n, 3)
  eq(n[1].output, "pager")
  eq(n[1].ticket, find("alarm:n1").id)
  eq(n[1].event, { type = "alarm.raised", id = "n1" })
  eq(n[2].output, "journal")
  eq(n[2].message, "debug alarm n2")
  eq(n[2].ticket, nil)
  eq(n[3].ticket, find("alarm:n3").id)
  eq(#notifications { clear = true }, 3, "clear returns them once more")
  eq(notifications(), {}, "then they are gone")
  ingest { type = "alarm.raised", id = "n4" }
  eq(#notifications(), 1)
  eq(notifications()[1].event.id, "n4")
end)

test("a person acts on a ticket: assign, comment, ack, close, reopen", function()
  ingest { type = "alarm.raised", id = "p1" }
  local id = find("alarm:p1").id
  assign(id, "mei")
  comment(id, "looking at it")
  ack(id)
  eq(find("alarm:p1").assignee, "mei")
  close(id, "fixed the pump")
  local t = find("alarm:p1")
  eq(t.state, "closed")
  local actions = {}
  for _, h in ipairs(t.history) do
    if h.actor == "test" then actions[#actions + 1] = h.action end
  end
  eq(actions, { "assign", "comment", "ack", "close" })
  eq(t.history[#t.history].detail, "fixed the pump")
  eq(timers(), {}, "closing cancelled the due time's timers")
  reopen(id)
  eq(find("alarm:p1").state, "open")
  local ok_, err = pcall(reopen, id)
  ok(not ok_ and tostring(err):find("reopen"), "reopening an open ticket is refused")
  ok(not pcall(close, 999, "no such"), "an unknown ticket is an error")
  ok(not pcall(assign, id), "assign needs someone")
end)

test("ingest() says which rules' `when` declined the event", function()
  local r = ingest { type = "alarm.raised", id = "d1" }
  eq(#r.outcomes, 1)
  eq(r.declined, { { rule = "quiet" } })
  r = ingest { type = "alarm.raised", id = "d2", level = "debug" }
  eq(r.outcomes[1].rule, "quiet")
  eq(r.declined, { { rule = "page" } })
  r = ingest { type = "alarm.cleared", id = "d3" }
  eq(r.declined, { { rule = "quiet" } }, "page's `on` does not take it: not listed")
end)
