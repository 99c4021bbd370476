rule { name = "noop", on = "fuzz.a", action = function() end }
