rule {
  name = "pcall-spin", on = "*",
  action = function()
    for i = 1, 100 do pcall(function() while true do end end) end
    ticket.open { key = "swallowed", title = "must not be kept" }
  end,
}
