while true do end
rule { name = "never", on = "*", action = function() end }
