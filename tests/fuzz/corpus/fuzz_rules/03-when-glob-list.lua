rule { name = "glob", on = "fuzz.*", when = function(ev) return ev.rating > 2 end, action = function(ev) log.info("glob", ev.id) end }
rule { name = "list", on = { "message.new", "fuzz.a" }, priority = 5, action = function(ev, ctx) log.warn(ctx.rule or "x") end }
