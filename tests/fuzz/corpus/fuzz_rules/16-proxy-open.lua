rule {
  name = "proxy-open", on = "*",
  action = function(ev)
    local opts = setmetatable({}, {
      __index = function(t, k)
        collectgarbage = nil
        if k == "key" then return "proxy:" .. ev.id end
        if k == "title" then return ("t"):rep(10) end
      end,
      __len = function() while true do end end,
      __pairs = function() error("no pairs") end,
    })
    ticket.open(opts)
  end,
}
