-- Device authorization grant polling (RFC 8628 §3.4): devices whose user never decides, polling
-- POST /token with grant_type=urn:ietf:params:oauth:grant-type:device_code. DEVICE_CODES (comma
-- separated, from POST /device_authorization) are taken round robin; CLIENT_ID is the public
-- device client. Each answer is a 400 by design: `authorization_pending`, or `slow_down` for a
-- code polled again sooner than its interval (at this rate, most of them). Both are counted in
-- `expected` (which run.sh takes off wrk's non-2xx count), anything else stays an error.
local codes = {}
local next_code = 1
local headers = { ["Content-Type"] = "application/x-www-form-urlencoded" }
local client_id
expected = 0

function init(args)
  for code in string.gmatch(os.getenv("DEVICE_CODES") or "", "[^,]+") do
    table.insert(codes, code)
  end
  client_id = os.getenv("CLIENT_ID")
  -- Threads start at different codes so they do not poll in lockstep.
  next_code = (thread_id or 0) * 7 % math.max(#codes, 1) + 1
end

function request()
  local code = codes[next_code] or "no-device-codes"
  next_code = next_code % math.max(#codes, 1) + 1
  return wrk.format("POST", "/token", headers,
    "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&client_id=" .. client_id ..
    "&device_code=" .. code)
end

function response(status, hdrs, body)
  if status == 400 and (body:find('"authorization_pending"', 1, true) or
      body:find('"slow_down"', 1, true)) then
    expected = expected + 1
  end
end
