-- every shape the scan knows, and what only looks like one
local LEAD = has_output("lead") and "lead" or "journal"
local TEAM = time.has_calendar("cn-support") and "cn-support" or "24x7"
ladder { name = "l", calendar = "cn-support", levels = {{ after = "1h", notify = "laed" }; { after = "2h", notify = 'lead' }} }
rule { name = "r", on = "a.b", action = function(ev)
  local t = ticket.open { key = "k", title = "t", queue = "q" }
  notify("lead", "x", t); notify "erp"; notify(LEAD .. "", "y"); x.notify("z"); o:notify("w")
  t:nudge { after = "1h", notify = "lead", calendar = "cn_support" }
  t:escalate { ladder = "suspention" }; t:escalate { ladder = [[suspension]] }
  t:due("8h", "cn-support"); t:due("8h", TEAM)
  local a = time.add(time.add(0, "1h", "x"), "2h", "cn-support") + time.last_open(0, "y", "1h")
  local b = time.is_open(0, "z") and time.next_open(0, "w") and time.zone("v")
  local s = "notify(\"no\")" .. [==[ notify("no") ]] ]==] .. 'le\x61d' .. "\z
             still a string"
  --[[ notify("no") ]] --[=[ notify("no") ]=]
  local calendar = "no"; t.calendar = "no"; if calendar == "no" then end
end }
