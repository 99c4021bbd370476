local util = require("util")
rule { name = "req", on = "*", action = function(ev) log.info(util.twice(ev.rating)) end }
rule { name = "bad-req", on = "*", action = function() require("../../etc/passwd") end }
rule { name = "missing-req", on = "*", action = function() require("nope.nothing") end }
