rule {
  name = "proxy-fields", on = "*",
  action = function(ev)
    local fields = setmetatable({ a = 1 }, { __index = function() error("index") end, __len = function() return 1e9 end })
    local tags = setmetatable({}, { __len = function() return 1 << 40 end, __index = function(_, i) return "t" .. i end })
    ticket.open { key = "pf:" .. ev.id, title = "x", fields = fields, tags = tags }
  end,
}
