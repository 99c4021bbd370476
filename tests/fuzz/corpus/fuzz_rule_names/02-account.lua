-- account.lua: account-health alerts open tickets for the people who can act.
--
-- Performance notifications are the most serious events (DOMAIN.md). A
-- suspension needs a Plan of Action (root cause, corrective actions,
-- preventive measures) within 72 hours, and related listings should be
-- frozen meanwhile: it opens an urgent ticket due 72 hours after the alert
-- and climbs the "suspension" escalation ladder until someone acknowledges
-- it (`triagectl ack`); an acknowledged ticket that sees no progress for
-- ACK_TIMEOUT resumes climbing; from the top step (68 h) the lead is
-- reminded every hour until the deadline. Policy warnings and listing removals open
-- high-priority tickets due in a day. One ticket per account and kind (and
-- ASIN when there is one) while it is open; repeated alerts are added to it.

local QUEUE = "account-health"
local LEAD = has_output("lead") and "lead" or "journal"

ladder {
  name = "suspension",
  ack_timeout = "4h",
  levels = {
    { after = "1h",  notify = LEAD, note = "Suspension open for 1 h: assign an owner for the Plan of Action" },
    { after = "11h", notify = LEAD, note = "12 h in: Plan of Action draft due (root cause, corrective, preventive)" },
    { after = "36h", notify = LEAD, note = "48 h in: 24 h left to submit the Plan of Action" },
    { after = "20h", notify = LEAD, note = "68 h in: submit the Plan of Action now" },
  },
  repeat_every = "1h", repeat_times = 3,   -- then every hour to the deadline, until acknowledged
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
      notify(LEAD, "Account suspended: " .. title, t)
    end
  end,
}
