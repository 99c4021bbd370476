-- feedback.lua: negative seller feedback opens a ticket.
--
-- Feedback under 3 stars is negative and hurts account health (DOMAIN.md).
-- The remedy is to contact the buyer through messaging and fix the problem
-- (replacement, refund) quickly, so every such feedback opens one
-- high-priority ticket per order, due 2 hours after the feedback was left.
-- Past those 2 hours the complaint is at risk: the ticket escalates and the
-- lead is told.
-- Copy this file and change RATING_BELOW, QUEUE or DUE to fit your team.

local RATING_BELOW = 3          -- ratings below this are negative
local QUEUE = "customer-care"
local DUE = "2h"                -- counted from the feedback's occurred_at
local PREFIX = "feedback:"      -- the key of every feedback ticket, in any queue
local LEAD = has_output("lead") and "lead" or "journal"

rule {
  name = "negative-feedback",
  description = "feedback under 3 stars: a high-priority ticket keyed by order",
  on = "feedback.new",
  when = function(ev)
    local rating = tonumber(ev.rating)
    return rating ~= nil and rating < RATING_BELOW
  end,
  action = function(ev, ctx)
    local order = ev.order_id or ev.id
    local t, created = ticket.open {
      key = PREFIX .. order,
      title = ("%d-star feedback on order %s"):format(tonumber(ev.rating), order),
      queue = QUEUE,
      priority = "high",
      due = DUE,
      tags = { "negative-feedback" },
      fields = {
        order_id = ev.order_id,
        rating = tonumber(ev.rating),
        marketplace = ev.marketplace,
        buyer = ev.buyer,
      },
    }
    if created then
      if ev.comment and ev.comment ~= "" then
        t:comment("Buyer wrote: " .. ev.comment)
      end
      t:comment("Contact the buyer through Buyer-Seller Messaging and fix the problem; never ask for a rating change.")
    end
  end,
}

rule {
  name = "negative-feedback-breached",
  description = "negative feedback not handled within 2 h escalates to the lead",
  on = "ticket.breached",
  action = function(ev, ctx)
    local t = ticket.get(ev.ticket_id)
    if not t or t.key:sub(1, #PREFIX) ~= PREFIX then return end
    t:tag("breached")
    -- the notification names the order, the buyer and the account itself
    t:escalate { level = 1, notify = LEAD,
                 reason = ("Not handled within %s: contact the buyer now"):format(DUE) }
  end,
}
