-- messages.lua: every buyer message gets an answer within 24 hours.
--
-- Amazon expects a reply to each buyer message within 24 hours, weekends
-- and holidays included (DOMAIN.md). A message opens one ticket per order
-- (buyers write through an anonymised relay; the order id links them), due
-- 24 hours after the first unanswered message. A reply (message.replied) or
-- a "No Response Needed" mark (message.no_response_needed) closes it.
-- Later messages on the same order while the ticket is open are added to it.
-- Messages are tagged by topic so the team can split the inbox.

local DEADLINE = "24h"          -- Amazon's clock, calendar time
local QUEUE = "messages"

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
  return "message:" .. (ev.order_id or ev.id)
end

rule {
  name = "message-reply-deadline",
  description = "a buyer message opens a ticket due 24 h later, one per order",
  on = "message.new",
  action = function(ev, ctx)
    local subject = ev.subject or "(no subject)"
    local t, created = ticket.open {
      key = key(ev),
      title = ("Reply to %s: %s"):format(ev.buyer or "buyer", subject),
      queue = QUEUE,
      priority = "normal",
      due = DEADLINE,
      fields = { order_id = ev.order_id, marketplace = ev.marketplace, message_id = ev.id },
    }
    local tag = topic(ev)
    if tag then t:tag(tag) end
    if not created then
      t:comment(("Another message (%s): %s"):format(ev.id, subject))
    end
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
