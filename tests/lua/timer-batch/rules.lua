-- Engine behaviour that needs rules of its own: timers that cancel each other
-- within one firing batch.
rule { name = "twin-nudges", on = "probe.twins", action = function(ev, ctx)
  local t = ticket.open { key = "twins", title = "twins" }
  t:nudge { at = ctx.time + 60, note = "first" }
  t:nudge { at = ctx.time + 60, note = "second" }
end }
rule { name = "close-on-nudge", on = "timer.nudge", action = function(ev)
  local t = ticket.get(ev.ticket_id)
  if t and t.state == "open" and t.key == "twins" then t:close("closed by the first nudge") end
end }
-- A rule on a fired step's event that works on another ticket, then adds
-- a later step to the fired one: the fired ticket must still wake at its
-- next step (its due time), whatever the rule's changes made the store think.
rule { name = "chain-open", on = "probe.chain", action = function(ev, ctx)
  local t = ticket.open { key = "chain", title = "chain", due = ctx.time + 10800 }
  t:nudge { at = ctx.time + 60, note = "chain" }
end }
rule { name = "chain-renudge", on = "timer.nudge", when = function(ev) return ev.note == "chain" end,
  action = function(ev, ctx)
    ticket.open { key = "other", title = "other" }:nudge { at = ctx.now + 7200, note = "other's" }
    ticket.get(ev.ticket_id):nudge { at = ctx.now + 20000, note = "after the deadline" }
  end }
