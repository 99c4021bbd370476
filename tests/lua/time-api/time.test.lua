-- The time table's layouts, zones and last_open's "no time left" answer.

test("a layout writes the weekday, the clock and the zone's name", function()
  eq(time.format(0, "Asia/Shanghai", "%a %H:%M %Z"), "Thu 08:00 Asia/Shanghai")
  -- Friday evening in Los Angeles is Saturday in UTC: the weekday is the zone's
  local t = time.parse("2026-11-28T03:00:00Z")
  eq(time.format(t, "America/Los_Angeles", "%Y-%m-%d %a %H:%M:%S %z"), "2026-11-27 Fri 19:00:00 -08:00")
  eq(time.format(t, nil, "%a %H:%M %Z %z 100%%"), "Sat 03:00 UTC Z 100%")
  eq(time.format(-86400, nil, "%a %Y-%m-%d"), "Wed 1969-12-31")
  eq(time.format(t, "Asia/Tokyo"), "2026-11-28T12:00:00+09:00", "no layout: RFC 3339")
end)

test("an unknown conversion is an error that lists the known ones", function()
  local ok1, err = pcall(time.format, 0, nil, "%q")
  ok(not ok1 and string.find(err, "unknown conversion '%q'", 1, true), err)
  ok(string.find(err, "%a", 1, true), err)
  local ok2, err2 = pcall(time.format, 0, nil, "50%")
  ok(not ok2 and string.find(err2, "lone", 1, true), err2)
end)

test("a calendar's zone, UTC for 24x7", function()
  eq(time.zone("24x7"), "UTC")
  eq(time.zone(), "UTC")
  ok(not pcall(time.zone, "no-such-calendar"))
  ingest { type = "probe.stamp", id = "1", occurred_at = "2026-11-24T05:00:00Z" }
  eq(find("stamp").title, "Tue 05:00 UTC")
end)

test("last_open: nil when no moment with the margin is left from now", function()
  clock("2026-11-28T10:00:00Z")
  eq(time.last_open("2026-11-28T11:00:00Z", "24x7", "1h"), time.parse("2026-11-28T10:00:00Z"))
  local m, why = time.last_open("2026-11-28T11:00:00Z", "24x7", "2h")
  eq(m, nil)
  eq(why, "no open time left before the deadline")
  eq(time.last_open("2026-11-28T09:00:00Z", "24x7"), nil, "a deadline already past")
end)
