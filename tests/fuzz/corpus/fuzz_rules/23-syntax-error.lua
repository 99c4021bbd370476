rule { name = "broken", on = "*", action = function() if then end }
