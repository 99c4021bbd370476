rule {
  name = "sort", on = "*",
  action = function()
    local t = {}
    for i = 1, 2000 do t[i] = (i * 7919) % 2003 end
    table.sort(t, function(a, b) return true end)
    local p = setmetatable({}, { __len = function() return 1 << 24 end, __index = function(_, i) return i end })
    table.sort(p, function(a, b) while true do end end)
  end,
}
