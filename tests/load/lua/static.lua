-- A fixed request from the environment: METHOD, PATH, BODY, and HEADER_<n> = "Name: value".
wrk.method = os.getenv("METHOD") or "GET"
wrk.path = os.getenv("REQ_PATH") or "/"
wrk.body = os.getenv("BODY")
for i = 1, 4 do
  local h = os.getenv("HEADER_" .. i)
  if h and h ~= "" then
    local name, value = h:match("^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
  end
end
