-- SPEC §5: rule state is one keyspace. These rules count, set and delete
-- keys; a probe reads a key back with state.get into a ticket's title, as
-- "<type> <value>" (a table: its length), so the tests see what a rule would see.
rule { name = "count-cases", on = "case.opened", action = function(ev)
  state.incr("cases:" .. ev.account, { window = "24h" })
end }
rule { name = "set", on = "probe.set", action = function(ev)
  state.set(ev.key, ev.value)   -- no value: nil, which deletes
end }
rule { name = "incr", on = "probe.incr", action = function(ev)
  state.incr(ev.key, ev.n or 1)
end }
rule { name = "read", on = "probe.read", action = function(ev)
  local v = state.get(ev.key)
  local shown = type(v) == "table" and #v or tostring(v)  -- a table by its length
  ticket.open { key = "read:" .. ev.id, title = ("%s %s"):format(type(v), shown) }
end }
