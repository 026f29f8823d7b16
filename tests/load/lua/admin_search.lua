-- The admin console's user search: GET /api/v1/admin/users?search=<prefix> with a service
-- account's bearer token (ADMIN_TOKEN), over the users seed_users.py wrote. The prefixes are
-- what search-as-you-type sends while an administrator types a few usernames and addresses of
-- that seed (every prefix of each, one letter up to the whole), plus one that matches nobody:
-- mostly narrow searches, a few broad ones ("o", "wa", "go" match thousands, whose exact total is
-- the expensive part). Each request draws one at random.
local typed = { "olivia4800", "walker.noah4803", "lily1234", "gonzalez.mateo98765",
  "james77777", "scott.leo31337", "nobody" }
local prefixes = {}
for _, word in ipairs(typed) do
  for n = 1, #word do
    prefixes[#prefixes + 1] = word:sub(1, n)
  end
end
local headers = { ["Authorization"] = "Bearer " .. (os.getenv("ADMIN_TOKEN") or "") }

function init(args)
  math.randomseed(os.time() * 16 + thread_id)
end

function request()
  local prefix = prefixes[math.random(#prefixes)]
  return wrk.format("GET", "/api/v1/admin/users?search=" .. prefix, headers)
end
