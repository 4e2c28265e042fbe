-- wrk: POST /todos with a unique title per request.
counter = 0
request = function()
  counter = counter + 1
  local body = "title=bench%20" .. counter .. "%20" .. math.random(1, 1e9)
  return wrk.format("POST", "/todos", { ["content-type"] = "application/x-www-form-urlencoded" }, body)
end
