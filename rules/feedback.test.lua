-- Tests for feedback.lua: run with `triagectl test rules/feedback.test.lua`.

local function feedback(id, order, rating, extra)
  local ev = { type = "feedback.new", id = id, account = "acme-us", marketplace = "US",
               order_id = order, rating = rating, occurred_at = "2026-11-24T06:00:00Z" }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ingest(ev)
end

test("a 1-star feedback opens a high-priority ticket due 2 h later", function()
  local r = feedback("f1", "113-1", 1, { comment = "Never arrived" })
  eq(r.accepted, true)
  eq(r.outcomes[1].rule, "negative-feedback")
  eq(r.outcomes[1].status, "ok")
  local t = find("feedback:113-1")
  eq(t.priority, "high")
  eq(t.queue, "customer-care")
  eq(t.state, "open")
  eq(t.due_at, "2026-11-24T08:00:00Z")
  eq(t.fields.rating, 1)
  eq(t.tags[1], "negative-feedback")
  eq(t.history[1].action, "opened")
  ok(string.find(t.history[2].detail, "Never arrived", 1, true), "the buyer's comment is on the ticket")
end)

test("2 stars is negative, 3 stars is not", function()
  feedback("f2", "113-2", 2)
  local r = feedback("f3", "113-3", 3)
  eq(#r.outcomes, 0, "no rule acts on 3 stars")
  eq(#tickets(), 1)
  ok(find("feedback:113-2"), "the 2-star order has a ticket")
end)

test("ratings written as text count", function()
  feedback("f4", "113-4", "1")
  eq(find("feedback:113-4").fields.rating, 1)
end)

test("a second feedback on the same order adds to the open ticket", function()
  feedback("f5", "113-5", 1)
  local r = feedback("f6", "113-5", 2)
  eq(r.outcomes[1].effects[1].op, "ticket.match")
  eq(#tickets(), 1)
end)

test("the same feedback twice is one event", function()
  feedback("f7", "113-7", 1)
  local r = feedback("f7", "113-7", 1)
  eq(r.duplicate, true)
  eq(#tickets(), 1)
end)

test("not handled within 2 h: the ticket escalates and the lead is told", function()
  feedback("f8", "113-8", 1)
  advance("2026-11-24T07:59:00Z")
  eq(find("feedback:113-8").level, 0)
  advance("2026-11-24T08:00:00Z")
  local t = find("feedback:113-8")
  eq(t.level, 1)
  eq(t.tags[#t.tags], "breached")
  eq(t.history[#t.history].action, "escalate")
  ok(string.find(t.history[#t.history].detail, "contact the buyer now", 1, true), t.history[#t.history].detail)
  local n = notifications()
  eq(#n, 1)
  eq(n[1].output, "lead")
  eq(n[1].ticket, t.id)
  -- the lead reads which order, account and deadline without opening the board
  eq(n[1].message, "[high] 1-star feedback on order 113-8 — acme-us (US) — due Tue 24 Nov 08:00 UTC (now)"
                   .. " — Escalated to level 1: Not handled within 2h: contact the buyer now")
end)
