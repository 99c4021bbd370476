test("a rule that adds steps while a step fires does not cost the ticket its next wake", function()
  ingest { type = "probe.chain", id = "1", occurred_at = "2026-11-24T05:00:00Z" }
  advance("2026-11-24T05:01:00Z")                     -- the nudge fires; the rule adds two steps
  eq(#find("chain").timers, 2, "the due time and the new nudge")
  advance("2026-11-24T08:00:00Z")                     -- the due time: the breach must come
  local breached = false
  for _, h in ipairs(find("chain").history) do if h.action == "breached" then breached = true end end
  ok(breached, "the ticket woke at its due time")
end)
