rule {
  name = "deep", on = "*",
  action = function()
    local t = {}
    local cur = t
    for i = 1, 500 do cur.x = {}; cur = cur.x end
    state.set("deep", t)
    local cyc = {}; cyc.self = cyc
    pcall(state.set, "cycle", cyc)
    ticket.open { key = "deep", title = "deep", fields = { t = t } }
  end,
}
