local x = param and param("cases.max_per_day", 10)
_ENV = setmetatable({}, { __index = function(_, k) return nil end })
rule { name = "env", on = "*", action = function() end }
