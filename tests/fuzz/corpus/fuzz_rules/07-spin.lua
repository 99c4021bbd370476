rule { name = "spin", on = "fuzz.a", action = function() while true do end end }
