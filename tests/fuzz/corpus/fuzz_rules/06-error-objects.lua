rule { name = "tbl", on = "*", action = function() error({ code = 1 }) end }
rule { name = "nil", on = "*", action = function() error(nil) end }
rule { name = "assert", on = "*", action = function() assert(false, "assertion text") end }
rule { name = "index", on = "*", action = function(ev) return ev.nothing.deeper end }
rule { name = "when-fails", on = "*", when = function(ev) return ev.missing.x end, action = function() end }
