-- account.lua: account-health alerts open tickets for the people who can act.
--
-- Performance notifications are the most serious events (DOMAIN.md). A
-- suspension needs a Plan of Action (root cause, corrective actions,
-- preventive measures) within 72 hours, and related listings should be
-- frozen meanwhile: it opens an urgent ticket due 72 hours after the alert
-- and climbs the "suspension" escalation ladder: 1 h and 12 h in, then
-- 24 h and 4 h before the deadline, and every hour after that until it.
-- An ack (`triagectl ack`) holds the next early step back for the ladder's
-- ack_timeout; the countdown steps are anchored to the deadline, so no
-- ack pushes "submit now" past it. Closing the ticket ends the ladder. Policy warnings and listing removals open
-- high-priority tickets due in a day. One ticket per account and kind (and
-- ASIN when there is one) while it is open; repeated alerts are added to it.

local QUEUE = "account-health"
local LEAD = has_output("lead") and "lead" or "journal"

ladder {
  name = "suspension",
  ack_timeout = "4h",            -- an ack holds the next step back 4 h, never past the deadline
  levels = {
    { after = "1h",  notify = LEAD, note = "Suspension open for 1 h: assign an owner for the Plan of Action" },
    { after = "11h", notify = LEAD, note = "12 h in: Plan of Action draft due (root cause, corrective, preventive)" },
    -- the last steps count down to Amazon's 72 h deadline: no ack moves them
    { before_due = "24h", notify = LEAD, note = "24 h left to submit the Plan of Action" },
    { before_due = "4h",  notify = LEAD, note = "4 h left: submit the Plan of Action now" },
  },
  repeat_every = "1h", repeat_times = 3,   -- then every hour up to the deadline
}

local KINDS = {
  suspension      = { priority = "urgent", due = "72h", title = "Account suspended: submit a Plan of Action" },
  policy_warning  = { priority = "high",   due = "24h", title = "Policy warning" },
  listing_removed = { priority = "high",   due = "24h", title = "Listing removed" },
}

rule {
  name = "account-alert",
  description = "suspensions, policy warnings and listing removals open tickets",
  on = "account.alert",
  when = function(ev) return KINDS[ev.kind] ~= nil end,
  action = function(ev, ctx)
    local k = KINDS[ev.kind]
    local key = ("account:%s:%s:%s"):format(ev.account or "-", ev.kind, ev.asin or "-")
    local title = k.title .. " (" .. (ev.account or "?") .. " " .. (ev.marketplace or "") .. ")"
    if ev.asin then title = title .. " " .. ev.asin end
    local t, created = ticket.open {
      key = key,
      title = title,
      queue = QUEUE,
      priority = k.priority,
      due = k.due,
      tags = { ev.kind },
      fields = { kind = ev.kind, severity = ev.severity, asin = ev.asin, reason = ev.reason,
                 marketplace = ev.marketplace },
    }
    if not created then t:tag(ev.kind) end
    if ev.reason then t:comment("Amazon says: " .. ev.reason) end
    if ev.kind == "suspension" and created then
      t:comment("Plan of Action: root cause, corrective actions, preventive measures. Freeze the related listings now.")
      t:escalate { ladder = "suspension" }
      -- the daemon puts the ticket's title, account, marketplace and due time
      -- in front of every note about a ticket: say only what to do
      notify(LEAD, "Freeze the related listings and assign an owner for the Plan of Action", t)
    end
  end,
}
