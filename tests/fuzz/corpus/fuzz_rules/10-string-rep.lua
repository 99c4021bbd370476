rule { name = "rep", on = "fuzz.a", action = function() local s = ("x"):rep(1 << 30) return #s end }
rule { name = "rep-sep", on = "fuzz.a", action = function() return ("ab"):rep(1 << 24, ",") end }
