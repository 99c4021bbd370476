-- Tests for account.lua: run with `triagectl test rules/account.test.lua`.

test("a suspension opens an urgent ticket with the plan of action due in 72 h", function()
  ingest { type = "account.alert", id = "a1", account = "acme-us", marketplace = "US", kind = "suspension",
           severity = "critical", reason = "Suspected inauthentic items", asin = "B0C7654321",
           occurred_at = "2026-11-24T04:00:00Z" }
  local t = find("account:acme-us:suspension:B0C7654321")
  eq(t.priority, "urgent")
  eq(t.queue, "account-health")
  eq(t.due_at, "2026-11-27T04:00:00Z")
  eq(t.tags[1], "suspension")
end)

test("the lead is told once, in words naming the ticket: no doubled prefix", function()
  ingest { type = "account.alert", id = "n1", account = "acme-us", marketplace = "US", kind = "suspension",
           severity = "critical", occurred_at = "2026-11-24T04:00:00Z" }
  local n = notifications()
  eq(#n, 1)
  eq(n[1].note, "Freeze the related listings and assign an owner for the Plan of Action")
  eq(n[1].message, "[urgent] Account suspended: submit a Plan of Action (acme-us US)"
                   .. " — due Fri 27 Nov 04:00 UTC (in 3 d)"
                   .. " — Freeze the related listings and assign an owner for the Plan of Action")
  advance("2026-11-24T05:00:00Z")                      -- the ladder's first level, an hour in
  n = notifications()
  eq(n[#n].message, "[urgent] Account suspended: submit a Plan of Action (acme-us US)"
                    .. " — due Fri 27 Nov 04:00 UTC (in 2 d 23 h)"
                    .. " — Escalated to level 1: Suspension open for 1 h: assign an owner for the Plan of Action")
end)

test("policy warnings and listing removals are high priority, due in a day", function()
  ingest { type = "account.alert", id = "a2", account = "acme-de", kind = "policy_warning",
           occurred_at = "2026-11-24T08:00:00Z" }
  ingest { type = "account.alert", id = "a3", account = "acme-us", kind = "listing_removed", asin = "B0C1112223",
           occurred_at = "2026-11-24T08:30:00Z" }
  eq(find("account:acme-de:policy_warning:-").priority, "high")
  eq(find("account:acme-us:listing_removed:B0C1112223").due_at, "2026-11-25T08:30:00Z")
end)

test("unknown alert kinds are left alone", function()
  local r = ingest { type = "account.alert", id = "a4", account = "acme-us", kind = "newsletter" }
  eq(#r.outcomes, 0)
  eq(#tickets(), 0)
end)

test("a repeated suspension alert joins the open ticket", function()
  ingest { type = "account.alert", id = "a5", account = "acme-us", kind = "suspension" }
  ingest { type = "account.alert", id = "a6", account = "acme-us", kind = "suspension", reason = "second notice" }
  eq(#tickets(), 1)
end)

local function escalations(key)
  local out = {}
  for _, h in ipairs(find(key).history) do
    if h.action == "escalate" then out[#out + 1] = h.at .. " " .. h.detail:match("^level %d+[^:]*") end
  end
  return out
end

-- The 72 h deadline is 2026-11-27T04:00:00Z for an alert at 11-24 04:00.
local ALERT = { type = "account.alert", account = "acme-us", kind = "suspension",
                occurred_at = "2026-11-24T04:00:00Z" }
local KEY = "account:acme-us:suspension:-"
local UNACKED = {
  "2026-11-24T05:00:00Z level 1", "2026-11-24T16:00:00Z level 2",
  "2026-11-26T04:00:00Z level 3", "2026-11-27T00:00:00Z level 4",
  "2026-11-27T01:00:00Z level 4 (repeat 1)", "2026-11-27T02:00:00Z level 4 (repeat 2)",
  "2026-11-27T03:00:00Z level 4 (repeat 3)",
}

test("a suspension climbs its ladder to the 72 h deadline, the last steps counting down to it", function()
  ALERT.id = "s1"
  ingest(ALERT)
  advance("2026-11-28T00:00:00Z")
  eq(escalations(KEY), UNACKED)
  local t = find(KEY)
  eq(t.level, 4)
  eq(t.tags[#t.tags], "suspension")
  -- every step came before the deadline, and the lead heard each one
  local told = 0
  for _, n in ipairs(notifications()) do
    if n.output == "lead" and n.note:find("^Escalated to level") then told = told + 1 end
  end
  eq(told, #UNACKED)
end)

test("an ack holds the early steps back for 4 h but never moves the countdown to the deadline", function()
  ALERT.id = "s2"
  ingest(ALERT)
  local id = find(KEY).id
  advance("2026-11-24T13:00:00Z")
  ack(id)                                              -- level 2 (16:00) waits until 17:00
  local paused = find(KEY).timers[1]
  eq(paused.kind, "escalate")
  eq(paused.due_at, "2026-11-24T17:00:00Z")
  ok(paused.paused, "shown as paused")
  eq(paused.scheduled_at, "2026-11-24T16:00:00Z")
  advance("2026-11-27T00:30:00Z")
  ack(id)                                              -- near the deadline: the countdown stays
  advance("2026-11-28T00:00:00Z")
  eq(escalations(KEY), {
    "2026-11-24T05:00:00Z level 1", "2026-11-24T17:00:00Z level 2",
    "2026-11-26T04:00:00Z level 3", "2026-11-27T00:00:00Z level 4",
    "2026-11-27T01:00:00Z level 4 (repeat 1)", "2026-11-27T02:00:00Z level 4 (repeat 2)",
    "2026-11-27T03:00:00Z level 4 (repeat 3)",
  })
  local resumed = false
  for _, h in ipairs(find(KEY).history) do
    if h.action == "escalate" and h.detail:find("resumed: acknowledged at 2026-11-24T13:00:00Z", 1, true) then
      resumed = true
    end
  end
  ok(resumed, "the history says the level resumed after the ack")
end)

test("a suspension alert exported late sends the latest step only, and no reminder twice", function()
  ALERT.id = "s3"
  ALERT.occurred_at = "2026-11-24T04:00:00Z"
  advance("2026-11-27T01:30:00Z")                      -- 69.5 h after the alert, as an ERP export
  notifications { clear = true }
  ingest(ALERT)
  advance("2026-11-27T01:31:00Z")
  local t = find(KEY)
  eq(t.level, 4)
  local skipped, sent = 0, 0
  for _, h in ipairs(t.history) do
    if h.action == "skipped" then skipped = skipped + 1 end
  end
  for _, n in ipairs(notifications()) do
    if n.note:find("^Escalated") then sent = sent + 1 end
  end
  eq(skipped, 3, "levels 1 to 3 are recorded as skipped")
  eq(sent, 1, "one escalation now, not five in a second")
  advance("2026-11-27T05:00:00Z")
  eq(escalations(KEY)[#escalations(KEY)], "2026-11-27T03:00:00Z level 4 (repeat 3)")
end)

test("closing the ticket cancels the ladder", function()
  ingest { type = "account.alert", id = "s2", account = "acme-jp", kind = "suspension" }
  local t = find("account:acme-jp:suspension:-")
  ok(#t.timers >= 4)
end)
