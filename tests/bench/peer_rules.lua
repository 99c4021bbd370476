-- The job of shared/bench/py_pipeline.py, as triaged rules, so the two can be
-- compared on equal work: negative feedback (2 stars or fewer) and messages
-- from the JP marketplace open (or update) one ticket per account and order.
-- Every event is stored and deduplicated either way.

rule {
  name = "negative_feedback",
  on = "feedback.new",
  when = function(ev) return (tonumber(ev.rating) or 5) <= 2 end,
  action = function(ev)
    ticket.open { key = ev.account .. ":" .. (ev.order_id or ev.id), title = "negative feedback",
                  queue = "bench", account = ev.account }
  end,
}

rule {
  name = "jp_message",
  on = "message.new",
  when = function(ev) return ev.marketplace == "JP" end,
  action = function(ev)
    ticket.open { key = ev.account .. ":" .. (ev.order_id or ev.id), title = "JP message",
                  queue = "bench", account = ev.account }
  end,
}
