-- wrk script for the project's own scenarios (bench/scenarios.py).
-- Same request shape as the yardstick's lib/wrk_report.lua, read from the environment:
--   WRK_METHOD (GET|POST), WRK_BODY (form body), WRK_AUTH (Authorization header value,
--   e.g. "Bearer <access token>" for userinfo)
-- At the end it prints one machine-readable summary line and the latency distribution:
--   WRKRESULT rps p50_ms p99_ms requests non2xx sockerr
--   WRKPCT <percentile> <ms>      (one line per percentile, for the latency plot)
wrk.method = os.getenv("WRK_METHOD") or "GET"
local body = os.getenv("WRK_BODY")
if body and body ~= "" then
  wrk.body = body
  wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
end
local auth = os.getenv("WRK_AUTH")
if auth and auth ~= "" then
  wrk.headers["Authorization"] = auth
end
wrk.headers["Accept"] = "application/json"

local PERCENTILES = { 0, 10, 25, 50, 75, 90, 95, 97.5, 99, 99.5, 99.9, 99.99, 100 }

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("WRKRESULT %.1f %.3f %.3f %d %d %d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000.0,
    latency:percentile(99) / 1000.0,
    summary.requests,
    e.status,
    e.connect + e.read + e.write + e.timeout))
  for _, p in ipairs(PERCENTILES) do
    local v
    if p == 0 then v = latency.min elseif p == 100 then v = latency.max else v = latency:percentile(p) end
    io.write(string.format("WRKPCT %g %.3f\n", p, v / 1000.0))
  end
end
