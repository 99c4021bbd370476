rule {
  name = "flood", on = "*",
  action = function(ev)
    for i = 1, 10000 do log.info(("line %d "):format(i) .. ("x"):rep(4096)) end
    print("printed", 1, nil, {})
    log.error(ev)
  end,
}
