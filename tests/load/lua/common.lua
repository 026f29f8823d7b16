-- Shared by every scenario: one machine-readable line for run.sh.
-- Errors are wrk's: status >= 400 ("Non-2xx or 3xx") plus connect/read/write/timeout errors.
local threads = {}

function setup(thread)
  thread:set("thread_id", #threads)
  table.insert(threads, thread)
end

-- A scenario whose answers are >= 400 by design (device polling's authorization_pending)
-- counts them in the thread global `expected`; they are not errors. One whose 200s can still be
-- wrong (introspection saying `"active":false`) counts those in `inactive`; they are.
function done(summary, latency, requests)
  local flows, expected, inactive = 0, 0, 0
  for _, t in ipairs(threads) do
    flows = flows + (t:get("flows") or 0)
    expected = expected + (t:get("expected") or 0)
    inactive = inactive + (t:get("inactive") or 0)
  end
  local e = summary.errors
  io.write(string.format(
    "RESULT requests=%d duration_us=%d p50_us=%d p99_us=%d status_errors=%d socket_errors=%d flows=%d expected=%d\n",
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status - expected + inactive, e.connect + e.read + e.write + e.timeout, flows, expected))
end
