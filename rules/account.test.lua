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

test("a suspension climbs its escalation ladder until acknowledged", function()
  ingest { type = "account.alert", id = "s1", account = "acme-us", kind = "suspension",
           occurred_at = "2026-11-24T04:00:00Z" }
  local id = find("account:acme-us:suspension:-").id
  advance("2026-11-24T05:00:00Z")
  eq(find("account:acme-us:suspension:-").level, 1)
  advance("2026-11-24T16:00:00Z")
  eq(find("account:acme-us:suspension:-").level, 2)
  ack(id)
  advance("2026-11-24T19:59:00Z")
  eq(find("account:acme-us:suspension:-").level, 2, "paused while acknowledged")
  advance("2026-11-24T20:00:00Z")                     -- ack_timeout (4 h) passes: climbing resumes
  local t = find("account:acme-us:suspension:-")
  eq(t.history[#t.history - 0].action, "ack timed out")
  advance("2026-11-26T08:00:00Z")
  eq(find("account:acme-us:suspension:-").level, 3)
  advance("2026-11-27T04:00:00Z")
  eq(find("account:acme-us:suspension:-").level, 4)
  advance("2026-11-28T04:00:00Z")                     -- the top step repeats hourly, three times
  local repeats = 0
  for _, h in ipairs(find("account:acme-us:suspension:-").history) do
    if h.action == "escalate" and h.detail:find("(repeat", 1, true) then repeats = repeats + 1 end
  end
  eq(repeats, 3)
end)

test("closing the ticket cancels the ladder", function()
  ingest { type = "account.alert", id = "s2", account = "acme-jp", kind = "suspension" }
  local t = find("account:acme-jp:suspension:-")
  ok(#t.timers >= 4)
end)
