-- wrk: one request per connection every PACE_MS milliseconds (wrk has no rate limit of
-- its own). 2 connections × 2 ms ≈ 1,000 requests/s.
local pace = tonumber(os.getenv("PACE_MS") or "2")
function delay()
  return pace
end
