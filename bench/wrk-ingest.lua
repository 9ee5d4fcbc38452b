-- A second opinion on `gt bench ingest`: the same signed issue_comment deliveries,
-- driven by wrk. Every request is built before the run, so the measurement does not
-- include Lua allocating a 15 KB string per request.
--
--   PAYLOAD=../shared/fixtures/github/issue_comment/created.1.json
--   SIG=sha256=$(openssl dgst -sha256 -hmac "$SECRET" -hex < "$PAYLOAD" | sed 's/^.* //')
--   RUN=$RANDOM PAYLOAD=$PAYLOAD SIG=$SIG \
--     wrk -t1 -c16 -d5s --latency -s bench/wrk-ingest.lua http://127.0.0.1:8080/webhooks/github
--
-- RUN keeps delivery ids unique across runs (a repeated id is a duplicate, answered 200);
-- N (default 80000) is how many requests are built, at ~15 KB each.

local f = assert(io.open(os.getenv("PAYLOAD"), "rb"))
local body = f:read("*a")
f:close()
local run = os.getenv("RUN") or tostring(os.time())
local n = tonumber(os.getenv("N") or "80000")
local headers = {
  ["Content-Type"] = "application/json",
  ["X-GitHub-Event"] = "issue_comment",
  ["X-Hub-Signature-256"] = assert(os.getenv("SIG"), "set SIG"),
}
local requests = {}
for i = 1, n do
  headers["X-GitHub-Delivery"] = run .. "-" .. i
  requests[i] = wrk.format("POST", "/webhooks/github", headers, body)
end
collectgarbage("collect")
collectgarbage("stop")

local sent = 0
request = function()
  sent = sent + 1
  return assert(requests[sent], "out of prepared requests: raise N")
end
