-- Refresh-token rotation: every token is usable once, so each thread keeps a queue seeded with
-- its share of `seed_tokens` (prepended by run.sh); request() pops one, response() pushes the
-- rotated token. An empty queue sends a dead token, which fails and shows up as errors.
local queue, head, tail = {}, 1, 0
local headers = {}

function init(args)
  local nthreads = tonumber(args[1]) or 1
  for i, token in ipairs(seed_tokens) do
    if (i - 1) % nthreads == thread_id then
      tail = tail + 1
      queue[tail] = token
    end
  end
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["Authorization"] = os.getenv("BASIC_AUTH")
end

function request()
  local token = "pool-empty"
  if head <= tail then
    token = queue[head]
    queue[head] = nil
    head = head + 1
  end
  return wrk.format("POST", "/token", headers, "grant_type=refresh_token&refresh_token=" .. token)
end

function response(status, hdrs, body)
  if status == 200 then
    local token = body:match('"refresh_token":"([^"]+)"')
    if token then
      tail = tail + 1
      queue[tail] = token
    end
  end
end
