rule { name = "boom", on = "fuzz.a", action = function(ev) error("boom: " .. ev.id) end }
rule { name = "after", on = "fuzz.a", action = function() ticket.open { key = "after", title = "still runs" } end }
