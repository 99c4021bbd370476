rule {
  name = "counter",
  on = "*",
  action = function(ev)
    local n = state.incr("seen:" .. ev.account, { window = "24h" })
    state.set("last", { id = ev.id, n = n, list = { 1, 2, 3 } })
    local v = state.get("last")
    if n > 3 then log.info("many", n, v and v.id) end
  end,
}
