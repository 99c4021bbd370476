rule {
  name = "strings", on = "*",
  action = function(ev)
    local s = ev.subject
    local r = s:gsub("%w+", function(w) return w:rep(3) end)
    pcall(string.format, "%99999999d", 1)
    pcall(string.rep, "x", -1)
    pcall(string.char, 256)
    local parts = {}
    for w in s:gmatch("%S+") do parts[#parts + 1] = w end
    return utf8 and utf8.len(r), #parts, ("%q"):format(s)
  end,
}
