-- cases.lua: Seller-Support cases, tracked one ticket per case ID.
--
-- Every follow-up must cite the case ID or it is queued as a new request,
-- and support answers are often templates that solve nothing (DOMAIN.md).
-- So: a case opens one ticket keyed by its ID; when support answers but the
-- case is not resolved, the team is nudged to check the answer and reply on
-- the case; when support closes a case without a resolution, the team is
-- nudged to reopen it quoting the ID; after NO_PROGRESS of business time in
-- TEAM's hours with no update, the ticket escalates: call Seller Support by
-- phone. A resolved case closes the ticket, which cancels all it had
-- pending. Each update also cancels the nudges about the case's earlier
-- status: once support has closed the case, "reply on the case" no longer
-- applies.
-- Opening too many cases gets accounts warned (sellers report 10-30 a day),
-- so more than CASES_PER_DAY cases opened by one account in 24 h opens a
-- warning ticket and notifies the lead (params: { cases.max_per_day: N } in
-- the config; 10 by default).

local QUEUE = "seller-support"
local TEAM = time.has_calendar("cn-support") and "cn-support" or "24x7"
local NO_PROGRESS = "16h"       -- business time without an update before phoning
local CHECK_ANSWER = "2h"       -- business time to judge support's answer
local CASES_PER_DAY = param("cases.max_per_day", 10)  -- params: in the config
local LEAD = has_output("lead") and "lead" or "journal"

local function key(ev) return "case:" .. ev.case_id end

-- (Re)arms the "no progress" escalation from this update.
local function watch_progress(t)
  t:cancel("escalate")
  t:escalate { after = NO_PROGRESS, calendar = TEAM, level = 1, notify = LEAD,
               reason = "No progress for " .. NO_PROGRESS .. " of support hours: call Seller Support by phone" }
end

local function open_case(ev)
  return ticket.open {
    key = key(ev),
    title = ("Case %s: %s"):format(ev.case_id, ev.subject or "(no subject)"),
    queue = QUEUE, priority = "normal", account = ev.account,
    fields = { case_id = ev.case_id, channel = ev.channel, marketplace = ev.marketplace },
  }
end

rule {
  name = "case-opened",
  description = "one ticket per case ID, watched for progress",
  on = "case.opened",
  when = function(ev) return ev.case_id ~= nil end,
  action = function(ev, ctx)
    local t = open_case(ev)
    watch_progress(t)
  end,
}

rule {
  name = "case-rate-guard",
  description = ("more than %d cases opened by an account in 24 h opens a warning ticket"):format(CASES_PER_DAY),
  on = "case.opened",
  when = function(ev) return ev.account ~= nil end,
  action = function(ev, ctx)
    local n = state.incr("cases-opened:" .. ev.account, { window = "24h" })
    if n <= CASES_PER_DAY then return end
    local t, created = ticket.open {
      key = "case-guard:" .. ev.account,
      title = ("%s opened %d cases in 24 h: opening too many gets accounts warned"):format(ev.account, n),
      queue = QUEUE, priority = "high", account = ev.account,
    }
    t:comment(("Case %s was the %dth in 24 h. Bundle questions into open cases; reply on them instead."):format(ev.case_id or "?", n))
    if created then notify(LEAD, "Case-opening rate guard: add to the open cases instead of opening new ones", t) end
  end,
}

rule {
  name = "case-update",
  description = "answered: check it; closed without resolution: reopen quoting the ID; resolved: close",
  on = "case.update",
  when = function(ev) return ev.case_id ~= nil end,
  action = function(ev, ctx)
    local t = ticket.find(key(ev)) or open_case(ev)
    if ev.status == "resolved" then
      t:close("resolved by Seller Support")
      return
    end
    t:comment(("Support update: %s%s"):format(ev.status or "?", ev.agent_reply and (": " .. ev.agent_reply) or ""))
    watch_progress(t)
    t:cancel("nudge")   -- nudges about the old status are stale
    if ev.status == "answered" then
      t:nudge { after = CHECK_ANSWER, calendar = TEAM,
                note = "Support answered: if it does not solve the problem, reply on the case citing its ID" }
    elseif ev.status == "closed" then
      t:set { priority = "high" }
      t:nudge { after = "1h", calendar = TEAM, notify = LEAD,
                note = "Support closed the case without a resolution: reopen it, or open a new case quoting its ID" }
    end
  end,
}
