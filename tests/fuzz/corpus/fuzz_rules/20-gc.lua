rule {
  name = "gc", on = "*",
  action = function()
    setmetatable({}, { __gc = function() while true do end end })
    setmetatable({}, { __mode = "k", __close = function() end })
  end,
}
