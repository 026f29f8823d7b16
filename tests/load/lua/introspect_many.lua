-- Introspection over many distinct access tokens (`introspect_tokens`, prepended by run.sh from
-- seed.py tokens): each request introspects the next token, round robin, so a resource server
-- fleet's working set is seen rather than one hot token. The first pass verifies every token's
-- signature; later passes find it in the verified-token cache when it holds them all.
local headers = {}
local next_token = 1

function init(args)
  headers["Content-Type"] = "application/x-www-form-urlencoded"
  headers["Authorization"] = os.getenv("BASIC_AUTH")
  -- Threads start at different places in the list.
  next_token = (thread_id * 7919) % #introspect_tokens + 1
end

function request()
  local token = introspect_tokens[next_token]
  next_token = next_token % #introspect_tokens + 1
  return wrk.format("POST", "/introspect", headers, "token=" .. token)
end

function response(status, hdrs, body)
  -- An inactive answer is a 200 too: count it as an error, the scenario is for active tokens.
  if status == 200 and not body:find('"active":true', 1, true) then
    inactive = (inactive or 0) + 1
  end
end
