rule {
  name = "escapes", on = "*",
  action = function()
    local found = {}
    for _, name in ipairs { "io", "os", "debug", "package", "dofile", "loadfile", "collectgarbage" } do
      if _G and _G[name] then found[#found + 1] = name end
    end
    assert(not (os and os.execute), "os.execute reachable")
    assert(not (string.dump), "string.dump reachable")
    local ok = pcall(load, "\27Lua", "b", "b")
    if package and package.loadlib then package.loadlib("/lib/x.so", "f") end
    if io and io.open then io.open("/etc/passwd") end
    return #found
  end,
}
