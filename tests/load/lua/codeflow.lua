-- The authorization code flow without a browser: GET /authorize with a logged-in session cookie
-- (302 with the code), then POST /token. response() queues codes from the Location header;
-- request() exchanges a queued code, else starts another authorization. A flow is one 200 from
-- the token endpoint.
local codes, head, tail = {}, 1, 0
local authorize, token_headers
flows = 0

function init(args)
  authorize = wrk.format("GET", os.getenv("AUTHORIZE_PATH"),
    { ["Cookie"] = "gh_session=" .. os.getenv("SESSION_COOKIE") })
  token_headers = {
    ["Content-Type"] = "application/x-www-form-urlencoded",
    ["Authorization"] = os.getenv("BASIC_AUTH"),
  }
end

function request()
  if head <= tail then
    local code = codes[head]
    codes[head] = nil
    head = head + 1
    return wrk.format("POST", "/token", token_headers,
      "grant_type=authorization_code&code=" .. code .. "&redirect_uri=" .. os.getenv("REDIRECT_URI_ENC"))
  end
  return authorize
end

function response(status, hdrs, body)
  if status == 302 then
    local location = hdrs["location"] or hdrs["Location"] or ""
    local code = location:match("[?&]code=([^&]+)")
    if code then
      tail = tail + 1
      codes[tail] = code
    end
  elseif status == 200 then
    flows = flows + 1
  end
end
