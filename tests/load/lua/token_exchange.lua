-- Token exchange (RFC 8693 §2.1): a confidential chatbot trades a user's access token for one
-- addressed to an API, with its own client_credentials token as actor (delegation: the new
-- token carries `act`). Every request is the same exchange, which Gatehouse answers afresh each
-- time: both tokens verified (signature, denylist, client, the user still active), the target
-- and scope rules, a new token signed, and an audit event written. From the environment:
-- SUBJECT_TOKEN (the user's token, issued to the chatbot), ACTOR_TOKEN, AUDIENCE (one of the
-- chatbot's exchange audiences), SCOPE (within the subject token's), BASIC_AUTH (the chatbot's
-- `Basic ...` credentials). Anything but a 200 is an error.
local function encode(value)
  return (value:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local access_token_type = encode("urn:ietf:params:oauth:token-type:access_token")
local body = "grant_type=" .. encode("urn:ietf:params:oauth:grant-type:token-exchange") ..
  "&subject_token=" .. encode(os.getenv("SUBJECT_TOKEN") or "") ..
  "&subject_token_type=" .. access_token_type ..
  "&actor_token=" .. encode(os.getenv("ACTOR_TOKEN") or "") ..
  "&actor_token_type=" .. access_token_type ..
  "&audience=" .. encode(os.getenv("AUDIENCE") or "") ..
  "&scope=" .. encode(os.getenv("SCOPE") or "")
local headers = {
  ["Content-Type"] = "application/x-www-form-urlencoded",
  ["Authorization"] = os.getenv("BASIC_AUTH"),
}

function request()
  return wrk.format("POST", "/token", headers, body)
end
