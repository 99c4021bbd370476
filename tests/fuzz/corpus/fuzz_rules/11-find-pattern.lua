rule {
  name = "find", on = "fuzz.a",
  action = function()
    local s = ("a"):rep(4000)
    return s:find(("a?"):rep(4000) .. ("a"):rep(4000))
  end,
}
