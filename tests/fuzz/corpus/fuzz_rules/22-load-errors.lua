rule { name = "dup", on = "*", action = function() end }
rule { name = "dup", on = "*", action = function() end }
rule { name = 42, on = 7, action = "not a function" }
rule { on = "*" }
