-- messages.lua: every buyer message gets an answer within 24 hours.
--
-- Amazon expects a reply to each buyer message within 24 hours, weekends
-- and holidays included (DOMAIN.md). A message opens one ticket per order
-- (buyers write through an anonymised relay; the order id links them), due
-- 24 hours after the first unanswered message. The ticket is nudged at 12 h
-- and 20 h, escalated at 23 h, and breaches at 24 h (the engine emits
-- ticket.breached). Two clocks, one decision: Amazon's 24 h run on calendar
-- time, but the team works in TEAM's hours, so when the 23 h escalation
-- would fall outside them it happens at the team's last open moment with
-- MARGIN of work time left before the deadline instead (e.g. Friday 17:00
-- for a deadline at 03:00 on Saturday); when the team has no such moment
-- left (a message at Friday 19:00: its deadline is Saturday 19:00 and the
-- office is closed until Monday), it escalates at once and says so, for
-- out-of-hours cover.
-- A reply (message.replied) or a "No Response Needed" mark
-- (message.no_response_needed) closes the ticket and cancels what is
-- pending. Messages are tagged by topic so the team can split the inbox;
-- topics in ROUTES go to a sub-team's queue. A message ticket is known by
-- its key ("message:…"), not its queue, so a breach is handled wherever the
-- ticket was moved.

local DEADLINE = 24 * 3600      -- Amazon's clock, calendar time
local QUEUE = "messages"
local TEAM = "cn-support"       -- a calendar from the config, if declared
-- asked while the file loads, so that `triaged --check` warns when the
-- config lacks it (then only Amazon's clock counts)
local HAS_TEAM = time.has_calendar(TEAM)
local MARGIN = "1h"             -- work time the team needs before the deadline
local LEAD = has_output("lead") and "lead" or "journal"
local PREFIX = "message:"       -- the key of every message ticket

-- Sub-team queues by topic tag: return requests are handled by the returns
-- desk. Add or remove routes freely: the deadline goes with the ticket.
local ROUTES = { ["return-request"] = "returns" }

-- Topic tags: the first keyword found (English, Chinese, Japanese) wins.
local TOPICS = {
  { tag = "return-request", words = { "return", "refund", "退货", "退款", "返品", "返金" } },
  { tag = "shipping", words = { "where is", "tracking", "not arrived", "delivery", "物流", "没到", "届いていません", "配送" } },
  { tag = "damaged", words = { "damaged", "broken", "cracked", "破损", "壊れ", "破損" } },
}

local function topic(ev)
  local text = string.lower((ev.subject or "") .. " " .. (ev.body or ""))
  for _, t in ipairs(TOPICS) do
    for _, w in ipairs(t.words) do
      if string.find(text, w, 1, true) then return t.tag end
    end
  end
  return nil
end

local function key(ev)
  return PREFIX .. (ev.order_id or ev.id)
end

-- When to escalate, and why: 23 h after the message, or earlier if the team
-- is not at work then and would otherwise miss the deadline; at once (at =
-- nil) when the team has no working hour left before the deadline.
local function escalation(received)
  local deadline = received + DEADLINE
  local at = deadline - 3600
  -- a backfilled message whose deadline has passed: the breach speaks, and
  -- the engine skips the steps it superseded
  if deadline <= time.now() then return at, "The 24 h reply deadline is close and nobody has answered" end
  if HAS_TEAM and not time.is_open(at, TEAM) then
    local last = time.last_open(deadline, TEAM, MARGIN)
    if not last then
      local when = time.format(deadline, time.zone(TEAM), "%a %H:%M %Z")   -- "Sat 19:00 Asia/Shanghai"
      return nil, "no team hours left before the deadline at " .. when .. ": out-of-hours cover"
    end
    if last < at then at = last end
  end
  return at, "The 24 h reply deadline is close and nobody has answered"
end

rule {
  name = "message-reply-deadline",
  description = "a buyer message opens a ticket due 24 h later, one per order, nudged and escalated",
  on = "message.new",
  action = function(ev, ctx)
    local subject = ev.subject or "(no subject)"
    local tag = topic(ev)
    local t, created = ticket.open {
      key = key(ev),
      title = ("Reply to %s: %s"):format(ev.buyer or "buyer", subject),
      queue = ROUTES[tag] or QUEUE,
      priority = "normal",
      due = ctx.time + DEADLINE,
      tags = { tag },
      fields = { order_id = ev.order_id, marketplace = ev.marketplace, message_id = ev.id },
    }
    if not created then
      if tag then t:tag(tag) end
      if ROUTES[tag] then t:set { queue = ROUTES[tag] } end   -- e.g. a follow-up asks for a return
      t:comment(("Another message (%s): %s"):format(ev.id, subject))
      return
    end
    t:nudge { after = "12h", note = "Unanswered for 12 h" }
    t:nudge { after = "20h", note = "4 h left to reply to the buyer", notify = LEAD }
    local at, reason = escalation(ctx.time)
    t:escalate { at = at, level = 1, notify = LEAD, reason = reason }   -- at = nil: now
  end,
}

rule {
  name = "message-answered",
  description = "a reply or a No Response Needed mark closes the order's message ticket",
  on = { "message.replied", "message.no_response_needed" },
  action = function(ev, ctx)
    local t = ticket.find(key(ev))
    if not t then return end
    if ev.type == "message.replied" then
      t:close("replied")
    else
      t:close("no response needed")
    end
  end,
}

rule {
  name = "message-breached",
  description = "a message ticket past its 24 h deadline becomes urgent and tells the lead",
  on = "ticket.breached",
  action = function(ev, ctx)
    local t = ticket.get(ev.ticket_id)
    if not t or t.key:sub(1, #PREFIX) ~= PREFIX then return end   -- in any queue
    t:set { priority = "urgent" }
    t:tag("breached")
    notify(LEAD, "Reply deadline missed: answer the buyer now", t)   -- the title and order come with it
  end,
}
