-- Engine behaviour that needs rules of its own: timers that cancel each other
-- within one firing batch.
rule { name = "twin-nudges", on = "probe.twins", action = function(ev, ctx)
  local t = ticket.open { key = "twins", title = "twins" }
  t:nudge { at = ctx.time + 60, note = "first" }
  t:nudge { at = ctx.time + 60, note = "second" }
end }
rule { name = "close-on-nudge", on = "timer.nudge", action = function(ev)
  local t = ticket.get(ev.ticket_id)
  if t and t.state == "open" then t:close("closed by the first nudge") end
end }
