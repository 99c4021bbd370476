-- A rule that shows a time the way a team reads it: time.format with a
-- layout, in the zone of a calendar (time.zone).
rule {
  name = "stamp",
  on = "probe.stamp",
  action = function(ev, ctx)
    ticket.open { key = "stamp", title = time.format(ctx.time, time.zone("24x7"), "%a %H:%M %Z") }
  end,
}
