-- What a rule reads with state.get after another counted, set or deleted.

local n = 0
local function read(key, at)
  n = n + 1
  ingest { type = "probe.read", id = "r" .. n, key = key, occurred_at = at }
  return find("read:r" .. n).title
end

local function case(id, at)
  local r = ingest { type = "case.opened", id = id, account = "acme-us", occurred_at = at }
  eq(r.outcomes[1].status, "ok")
end

test("state.get reads what state.incr counted, in the window it counted with", function()
  case("c1", "2026-11-24T05:00:00Z")
  case("c2", "2026-11-24T06:00:00Z")
  case("c3", "2026-11-24T07:00:00Z")
  eq(read("cases:acme-us", "2026-11-24T07:00:00Z"), "number 3")
  -- 24.5 h after the first case: it has left the 24 h window
  eq(read("cases:acme-us", "2026-11-25T05:30:00Z"), "number 2")
  -- two days on, nothing is left in the window: as if never counted
  eq(read("cases:acme-us", "2026-11-26T08:00:00Z"), "nil nil")
  eq(read("cases:acme-de", "2026-11-24T07:00:00Z"), "nil nil")
end)

test("a value replaces a counter, and a set to nil deletes either kind", function()
  ingest { type = "probe.incr", id = "i1", key = "k", n = 4 }
  eq(read("k"), "number 4")
  ingest { type = "probe.set", id = "s1", key = "k", value = "hello" }
  eq(read("k"), "string hello")
  ingest { type = "probe.set", id = "s2", key = "k" }
  eq(read("k"), "nil nil")
  ingest { type = "probe.incr", id = "i2", key = "k" }
  eq(read("k"), "number 1", "a deleted counter starts from nothing")
  ingest { type = "probe.set", id = "s3", key = "k" }
  eq(read("k"), "nil nil")
end)

test("a whole number set before counts on; any other value is an error naming the key", function()
  ingest { type = "probe.set", id = "s1", key = "budget", value = 10 }
  ingest { type = "probe.incr", id = "i1", key = "budget", n = -3 }
  eq(read("budget"), "number 7")
  ingest { type = "probe.set", id = "s2", key = "seen", value = { "o1", "o2" } }
  local r = ingest { type = "probe.incr", id = "i2", key = "seen" }
  eq(r.outcomes[1].status, "error")
  ok(r.outcomes[1].error:find('key "seen" holds a value that is not a whole number', 1, true), r.outcomes[1].error)
  eq(read("seen"), "table 2", "the value is left as it was")
end)
