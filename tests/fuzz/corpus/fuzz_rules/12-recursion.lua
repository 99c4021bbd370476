local function f(n) return f(n + 1) + 1 end
rule { name = "recurse", on = "*", action = function() return f(1) end }
rule { name = "coro", on = "*", action = function()
  local co = coroutine.wrap(function() while true do coroutine.yield(1) end end)
  for i = 1, 1e9 do co() end
end }
