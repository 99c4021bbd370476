rule {
  name = "ops", on = "*",
  action = function(ev)
    local t = ticket.open { key = "ops:" .. ev.order_id, title = "ops", queue = "q", priority = "low" }
    t:tag("a"); pcall(t.tag, t, "a\0b"); t:assign("someone"); t:set { priority = "urgent", fields = { x = 1 } }
    local same = ticket.find("ops:" .. ev.order_id)
    local got = ticket.get(same and same.id or -1)
    pcall(ticket.open, { key = "typo", title = "x", priorty = "high" })
    pcall(ticket.open, { key = ("k"):rep(100000), title = ("t"):rep(100000) })
    notify(("lead"), "no such output") -- not a literal name: fails when it runs, not at load
    return got
  end,
}
