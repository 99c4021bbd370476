-- Tests for messages.lua: run with `triagectl test rules/messages.test.lua`.

local function message(id, order, at, extra)
  local ev = { type = "message.new", id = id, account = "acme-us", marketplace = "US",
               order_id = order, buyer = "Chris", subject = "Where is my order?",
               body = "Tracking has not moved.", occurred_at = at }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ingest(ev)
end

test("a buyer message opens a ticket due 24 h later, weekends included", function()
  -- Saturday 10:00 UTC: the deadline is Sunday 10:00, not Monday
  message("m1", "113-1", "2026-11-28T10:00:00Z")
  local t = find("message:113-1")
  eq(t.state, "open")
  eq(t.queue, "messages")
  eq(t.due_at, "2026-11-29T10:00:00Z")
  eq(t.tags[1], "shipping")
end)

test("a reply closes the order's ticket", function()
  message("m2", "113-2", "2026-11-24T05:00:00Z")
  local r = ingest { type = "message.replied", id = "m2-r1", order_id = "113-2", occurred_at = "2026-11-24T07:00:00Z" }
  eq(r.outcomes[1].rule, "message-answered")
  local t = find("message:113-2")
  eq(t.state, "closed")
  eq(t.close_reason, "replied")
end)

test("No Response Needed closes it too", function()
  message("m3", "113-3", "2026-11-24T05:00:00Z", { subject = "Thanks!", body = "Got it, thanks!" })
  ingest { type = "message.no_response_needed", id = "m3-n", order_id = "113-3" }
  eq(find("message:113-3").close_reason, "no response needed")
end)

test("later messages on the same order join the open ticket", function()
  message("m4", "113-4", "2026-11-24T05:00:00Z")
  message("m5", "113-4", "2026-11-24T09:00:00Z", { subject = "Any news?" })
  eq(#tickets(), 1)
  local t = find("message:113-4")
  eq(t.due_at, "2026-11-25T05:00:00Z", "the first unanswered message sets the deadline")
  eq(t.history[#t.history].action, "comment")
end)

test("after a reply, a new message opens a new ticket", function()
  message("m6", "113-6", "2026-11-24T05:00:00Z")
  ingest { type = "message.replied", id = "m6-r", order_id = "113-6" }
  message("m7", "113-6", "2026-11-25T05:00:00Z")
  eq(#tickets { state = "open" }, 1)
  eq(#tickets { state = "closed" }, 1)
end)

test("a reply with no open ticket does nothing", function()
  local r = ingest { type = "message.replied", id = "lonely", order_id = "999" }
  eq(r.outcomes[1].status, "ok")
  eq(#tickets(), 0)
end)

test("Japanese and Chinese messages are tagged by topic", function()
  message("m8", "503-1", "2026-11-24T05:30:00+09:00", { subject = "返品したい", body = "サイズが合わないので返品したいです。" })
  eq(find("message:503-1").tags[1], "return-request")
  eq(find("message:503-1").due_at, "2026-11-24T20:30:00Z")
  message("m9", "113-9", "2026-11-24T05:00:00Z", { subject = "商品破损", body = "收到的商品外包装破损" })
  eq(find("message:113-9").tags[1], "damaged")
end)

test("nudged at 12 h and 20 h, escalated at 23 h, breached at 24 h", function()
  -- Tuesday 05:00Z = 13:00 in Shanghai; the 23 h escalation (Wed 12:00 CST) is in office hours
  message("t1", "113-t1", "2026-11-24T05:00:00Z")
  local t = find("message:113-t1")
  eq(#t.timers, 4, "two nudges, an escalation and the due time")
  advance("2026-11-24T17:00:00Z")
  t = find("message:113-t1")
  eq(t.history[#t.history].action, "nudge")
  eq(t.history[#t.history].detail, "Unanswered for 12 h")
  advance("2026-11-25T01:00:00Z")
  eq(find("message:113-t1").history[#find("message:113-t1").history].detail, "4 h left to reply to the buyer")
  advance("2026-11-25T04:00:00Z")
  t = find("message:113-t1")
  eq(t.level, 1)
  eq(t.history[#t.history].action, "escalate")
  advance("2026-11-25T05:00:00Z")
  t = find("message:113-t1")
  eq(t.priority, "urgent", "a breached message ticket becomes urgent")
  eq(t.tags[#t.tags], "breached")
  eq(#t.timers, 0)
end)

test("the lead's nudge and breach name the buyer, the order, the deadline and the time left", function()
  message("w1", "113-w1", "2026-11-24T05:00:00Z")
  advance("2026-11-25T01:00:00Z")                      -- 20 h in
  local n = notifications()
  eq(#n, 1, "the 12 h nudge stays on the ticket; the 20 h one tells the lead")
  eq(n[1].note, "4 h left to reply to the buyer")
  eq(n[1].message, "[normal] Reply to Chris: Where is my order? — acme-us (US), order 113-w1"
                   .. " — due Wed 25 Nov 05:00 UTC (in 4 h) — 4 h left to reply to the buyer")
  notifications { clear = true }
  advance("2026-11-25T05:00:00Z")
  n = notifications()
  eq(n[#n].message, "[urgent] Reply to Chris: Where is my order? — acme-us (US), order 113-w1"
                    .. " — due Wed 25 Nov 05:00 UTC (now) — Reply deadline missed: answer the buyer now")
end)

test("a reply cancels what is pending", function()
  message("t2", "113-t2", "2026-11-24T05:00:00Z")
  ingest { type = "message.replied", id = "t2-r", order_id = "113-t2", occurred_at = "2026-11-24T06:00:00Z" }
  eq(#find("message:113-t2").timers, 0)
  eq(advance("2026-11-26T00:00:00Z"), 0, "nothing fires")
end)

test("when the deadline falls outside office hours, escalate at the team's last open moment", function()
  -- Friday 2026-11-27 03:00 CST (Thursday 19:00Z): the deadline is Saturday
  -- 03:00 CST and the 23 h mark, Saturday 02:00 CST, is outside Mon-Fri
  -- 09:00-18:00; the last moment with 1 h of office time before the deadline
  -- is Friday 17:00 CST.
  clock("2026-11-26T19:00:00Z")
  message("t3", "113-t3", "2026-11-26T19:00:00Z")
  local esc
  for _, tm in ipairs(find("message:113-t3").timers) do
    if tm.kind == "escalate" then esc = tm end
  end
  eq(esc.due_at, "2026-11-27T09:00:00Z", "Friday 17:00 in Shanghai")
end)

test("every breach is handled, also after earlier timers fired and were deleted", function()
  message("r1", "113-r1", "2026-11-24T05:00:00Z")
  advance("2026-11-25T06:00:00Z")
  eq(find("message:113-r1").priority, "urgent")
  message("r2", "113-r2", "2026-11-25T06:00:00Z")   -- its timers may get the ids of the fired ones
  advance("2026-11-26T07:00:00Z")
  eq(find("message:113-r2").priority, "urgent")
  eq(find("message:113-r2").level, 1)
end)

test("a timer cancelled by one firing just before it in the same batch does not fire", function()
  -- the breach makes the ticket urgent; a rule closing it on breach would cancel
  -- the rest; here the reply arrives, and all timers of the ticket are due at once
  message("c1", "113-c1", "2026-11-24T05:00:00Z")
  ingest { type = "message.replied", id = "c1-r", order_id = "113-c1", occurred_at = "2026-11-24T06:00:00Z" }
  eq(advance("2026-11-27T00:00:00Z"), 0)
end)

test("no team hours left before the deadline: escalate at once, and say why", function()
  -- Friday 2026-11-27 19:00 CST (11:00Z): the office (Mon-Fri 09:00-18:00) has
  -- closed for the weekend and the deadline is Saturday 19:00 CST: nobody in
  -- the team can answer in time, so out-of-hours cover is called now, while
  -- 24 h remain, not at a "last open moment" that is already past.
  clock("2026-11-27T11:00:00Z")
  message("t4", "113-t4", "2026-11-27T11:00:00Z")
  local t = find("message:113-t4")
  eq(t.level, 1, "escalated at once")
  eq(t.history[#t.history].action, "escalate")
  eq(t.history[#t.history].detail,
     "level 1: no team hours left before the deadline at Sat 19:00 Asia/Shanghai: out-of-hours cover")
  for _, tm in ipairs(t.timers) do
    ok(tm.kind ~= "escalate", "no second escalation pending")
  end
  local n = notifications()
  eq(n[1].output, "lead", "the lead hears of it now")
  ok(string.find(n[1].message, "out-of-hours cover", 1, true), n[1].message)
  advance("2026-11-28T11:00:00Z")
  eq(find("message:113-t4").priority, "urgent", "the breach is still handled")
end)

test("a ticket moved to another queue is still handled at its breach", function()
  -- A follow-up asking for a refund moves the ticket to the returns desk;
  -- the 24 h deadline goes with it.
  message("q1", "113-q1", "2026-11-24T05:00:00Z")
  message("q2", "113-q1", "2026-11-24T06:00:00Z", { subject = "Refund", body = "I want a refund." })
  eq(find("message:113-q1").queue, "returns")
  notifications { clear = true }
  advance("2026-11-25T05:00:00Z")
  local t = find("message:113-q1")
  eq(t.priority, "urgent")
  eq(t.tags[#t.tags], "breached")
  local n = notifications()
  eq(n[#n].output, "lead")
  ok(string.find(n[#n].message, "Reply deadline missed", 1, true), n[#n].message)
end)

test("a ticket opened in a sub-team's queue is handled at its breach too", function()
  message("q3", "113-q3", "2026-11-24T05:00:00Z", { subject = "Return", body = "Can I return this?" })
  eq(find("message:113-q3").queue, "returns")
  advance("2026-11-25T05:00:00Z")
  eq(find("message:113-q3").priority, "urgent")
end)
