rule { name = "mutate", on = "*", priority = 9, action = function(ev) ev.id = nil; ev.n.k[1] = {}; setmetatable(ev, { __index = error }) end }
rule { name = "reads", on = "*", action = function(ev) assert(ev.id, "ev changed by an earlier rule") assert(ev.n.k[1] == 1) end }
