-- Rules for the test runner's own tests (runner.test.lua): they name a
-- calendar, an output and params that only the fixtures declare.
rule {
  name = "page",
  on = "alarm.raised",
  when = function(ev) return ev.level ~= "debug" end,
  action = function(ev)
    local t = ticket.open { key = "alarm:" .. ev.id, title = "Alarm " .. ev.id, queue = "ops" }
    t:due("2h", "team")
    notify("pager", ("alarm %s: %s %s %s"):format(ev.id, param("layer.a", "-"), param("layer.b", "-"),
                                                  param("layer.c", "-")), t)
    print("paged for " .. ev.id)
  end,
}

rule {
  name = "quiet",
  on = "alarm.*",
  when = function(ev) return ev.level == "debug" end,
  action = function(ev)
    notify("journal", "debug alarm " .. ev.id)
  end,
}
