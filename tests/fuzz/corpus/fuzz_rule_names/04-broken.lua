notify("a", "unfinished
notify(((((((((("b"
--[==[ never closed