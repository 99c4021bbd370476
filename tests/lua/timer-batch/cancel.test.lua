test("a timer cancelled by another firing in the same batch is skipped", function()
  ingest { type = "probe.twins", id = "1", occurred_at = "2026-11-24T05:00:00Z" }
  eq(#find("twins").timers, 2)
  eq(advance("2026-11-24T06:00:00Z"), 1, "one instant")
  local t = find("twins")
  eq(t.state, "closed")
  local nudges = 0
  for _, h in ipairs(t.history) do if h.action == "nudge" then nudges = nudges + 1 end end
  eq(nudges, 1, "the second nudge was cancelled by the first one's rule")
end)
