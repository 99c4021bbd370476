rule {
  name = "timers", on = "fuzz.a",
  action = function(ev)
    for i = 1, 1000 do schedule { after = i .. "m", event = { type = "fuzz.b", id = ev.id .. ":" .. i } } end
  end,
}
rule {
  name = "nudges", on = "message.new",
  action = function(ev)
    local t = ticket.open { key = "n:" .. ev.id, title = "nudges", due = "2h" }
    for i = 1, 500 do t:nudge { after = i .. "s", note = "n" .. i } end
    t:escalate { level = 2, reason = "slow" }
    t:close("done")
  end,
}
