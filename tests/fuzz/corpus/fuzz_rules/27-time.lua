rule {
  name = "time", on = "*",
  action = function()
    local t = time.now()
    local s = time.format(t, "Asia/Tokyo")
    local u = time.parse(s, "UTC")
    time.add(t, "4h", "24x7")
    pcall(time.add, t, "4h", "no-such-calendar")
    pcall(time.parse, ("9"):rep(100), "../../etc/passwd")
    pcall(os.date, ("%c"):rep(100000))
    return u
  end,
}
