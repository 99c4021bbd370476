rule {
  name = "meta", on = "*",
  action = function()
    local mt = getmetatable("")
    if mt then mt.__index = function() return "owned" end end
    string.upper = function() return "owned" end
    ticket.open = nil
  end,
}
rule { name = "after-meta", on = "*", action = function() assert(("x"):upper() == "X") end }
