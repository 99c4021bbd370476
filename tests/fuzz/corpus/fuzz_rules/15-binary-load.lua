rule {
  name = "binary", on = "*",
  action = function()
    local f = load(string.char(27, 76, 117, 97, 84, 0))
    local g = load(function() return nil end)
    local h, err = load("return 1", "x", "bt")
    return f, g, h, err
  end,
}
