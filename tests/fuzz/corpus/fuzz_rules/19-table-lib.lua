rule {
  name = "tables", on = "*",
  action = function()
    local big = setmetatable({}, { __len = function() return math.maxinteger end })
    pcall(table.insert, big, 1)
    pcall(table.remove, big)
    pcall(table.move, {1, 2, 3}, 1, math.maxinteger, 2)
    pcall(table.move, {1}, math.mininteger, math.maxinteger, 1, {})
    pcall(table.concat, big, ",")
    pcall(table.unpack, {}, 1, 1e8)
    return table.concat({ 1, 2, 3 }, ",")
  end,
}
