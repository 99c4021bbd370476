rule {
  name = "open",
  on = "message.new",
  action = function(ev)
    local t, created = ticket.open {
      key = "order:" .. ev.order_id, title = "Reply to " .. ev.id,
      queue = "care", priority = "high", due = "24h", tags = { "q" },
      fields = { order_id = ev.order_id, n = 1 },
    }
    if created then t:comment("new") end
    t:nudge { after = "12h", note = "reply soon" }
  end,
}
