-- Tests for cases.lua: run with `triagectl test rules/cases.test.lua` (rules/fixture.yaml
-- declares the cn-support calendar, Mon-Fri 09:00-18:00 Asia/Shanghai).

local function case(kind, id, at, extra)
  local ev = { type = kind, id = id .. "@" .. at, case_id = id, account = "acme-us", marketplace = "US",
               subject = "Listing merged with wrong ASIN", channel = "email", occurred_at = at }
  for k, v in pairs(extra or {}) do ev[k] = v end
  return ingest(ev)
end

test("one ticket per case ID", function()
  case("case.opened", "171", "2026-11-23T02:00:00Z")
  case("case.update", "171", "2026-11-23T03:00:00Z", { status = "pending" })
  eq(#tickets(), 1)
  eq(find("case:171").fields.case_id, "171")
end)

test("support answered but not resolved: a nudge to check the answer", function()
  case("case.opened", "172", "2026-11-23T02:00:00Z")          -- Monday 10:00 CST
  case("case.update", "172", "2026-11-23T03:00:00Z", { status = "answered", agent_reply = "Use the flat file." })
  advance("2026-11-23T05:00:00Z")                               -- 2 business hours later
  local t = find("case:172")
  eq(t.history[#t.history].action, "nudge")
  ok(string.find(t.history[#t.history].detail, "citing its ID", 1, true))
end)

test("closed by support without resolution: a nudge to reopen quoting the case ID", function()
  case("case.opened", "173", "2026-11-23T02:00:00Z")
  case("case.update", "173", "2026-11-23T04:00:00Z", { status = "closed" })
  local t = find("case:173")
  eq(t.priority, "high")
  advance("2026-11-23T05:00:00Z")
  t = find("case:173")
  ok(string.find(t.history[#t.history].detail, "open a new case quoting its ID", 1, true), t.history[#t.history].detail)
end)

test("support closing the case cancels the nudge to reply on it", function()
  case("case.opened", "177", "2026-11-23T02:00:00Z")          -- Monday 10:00 CST
  case("case.update", "177", "2026-11-23T03:00:00Z", { status = "answered", agent_reply = "Use the flat file." })
  case("case.update", "177", "2026-11-23T03:30:00Z", { status = "closed" })
  advance("2026-11-23T09:00:00Z")                               -- past both nudges
  local reply, reopen = 0, 0
  for _, h in ipairs(find("case:177").history) do
    if h.action == "nudge" and string.find(h.detail, "citing its ID", 1, true) then reply = reply + 1 end
    if h.action == "nudge" and string.find(h.detail, "quoting its ID", 1, true) then reopen = reopen + 1 end
  end
  eq(reply, 0, "the case is closed: no reply on it")
  eq(reopen, 1, "reopen it instead")
end)

test("a reopened case cancels the nudge to reopen it", function()
  case("case.opened", "178", "2026-11-23T02:00:00Z")
  case("case.update", "178", "2026-11-23T03:00:00Z", { status = "closed" })
  case("case.update", "178", "2026-11-23T03:10:00Z", { status = "reopened" })
  for _, tm in ipairs(find("case:178").timers) do
    ok(tm.kind ~= "nudge", "no nudge pending")
  end
end)

test("a person closing the ticket cancels every nudge about the case", function()
  case("case.opened", "179", "2026-11-23T02:00:00Z")
  case("case.update", "179", "2026-11-23T03:00:00Z", { status = "answered" })
  local t = find("case:179")
  close(t.id, "solved by phone")
  eq(#find("case:179").timers, 0)
  eq(advance("2026-11-30T00:00:00Z"), 0, "nothing fires")
end)

test("no progress for 16 business hours: escalate to phone, counted in support hours", function()
  -- Friday 2026-11-27 10:00 CST: 8 h left Friday, 8 h on Monday -> Monday 17:00 CST (09:00Z)
  case("case.opened", "174", "2026-11-27T02:00:00Z")
  advance("2026-11-30T08:59:00Z")
  eq(find("case:174").level, 0)
  advance("2026-11-30T09:00:00Z")
  local t = find("case:174")
  eq(t.level, 1)
  ok(string.find(t.history[#t.history].detail, "phone", 1, true))
end)

test("an update re-arms the no-progress escalation", function()
  case("case.opened", "175", "2026-11-23T02:00:00Z")
  case("case.update", "175", "2026-11-24T02:00:00Z", { status = "pending" })
  local n = 0
  for _, tm in ipairs(find("case:175").timers) do
    if tm.kind == "escalate" then n = n + 1 end
  end
  eq(n, 1, "only the latest escalation is pending")
end)

test("resolved closes the ticket and cancels its timers", function()
  case("case.opened", "176", "2026-11-23T02:00:00Z")
  case("case.update", "176", "2026-11-23T03:00:00Z", { status = "resolved" })
  eq(find("case:176").state, "closed")
  eq(#find("case:176").timers, 0)
end)

test("more than 10 cases in a day opens a warning ticket", function()
  for i = 1, 10 do case("case.opened", "g" .. i, "2026-11-23T0" .. (i % 9) .. ":00:00Z") end
  ok(not find("case-guard:acme-us"), "10 is still fine")
  case("case.opened", "g11", "2026-11-23T09:30:00Z")
  local t = find("case-guard:acme-us")
  eq(t.priority, "high")
  ok(string.find(t.title, "11 cases", 1, true), t.title)
end)

test("the guard counts a sliding 24 h window", function()
  for i = 1, 10 do case("case.opened", "w" .. i, "2026-11-20T01:00:00Z") end
  case("case.opened", "w11", "2026-11-21T02:00:00Z")   -- a day later: the window has moved on
  ok(not find("case-guard:acme-us"))
end)
