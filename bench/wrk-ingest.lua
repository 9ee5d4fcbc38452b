-- A second opinion on `gt bench ingest`: the same signed issue_comment deliveries,
-- driven by wrk, pointed at any receiver (gt, another bot, a floor server).
--
--   PAYLOAD=../shared/fixtures/github/issue_comment/created.1.json
--   SIG=sha256=$(openssl dgst -sha256 -hmac "$SECRET" -hex < "$PAYLOAD" | sed 's/^.* //')
--   RUN=$RANDOM PAYLOAD=$PAYLOAD SIG=$SIG \
--     wrk -t1 -c16 -d5s --latency -s bench/wrk-ingest.lua http://127.0.0.1:8080/webhooks/github
--
-- RUN keeps delivery ids unique across runs (a repeated id is a duplicate, answered 200).
--
-- Each request is built when wrk asks for it, from the bytes around its delivery id, so
-- the client holds one request, not one per delivery. An earlier version built them all
-- before the run (N of them, ~15 KB each: gigabytes for a fast server), and that cost
-- more than it saved, measured on a 2-core VM:
--   * reading a prebuilt request from cold memory is slower than building it from hot
--     bytes: against the null floor, 48k req/s and a 0.088 ms p50 at one connection,
--     against 55k req/s and 0.049 ms built on demand;
--   * the run after a big one measured the previous client's freeing of gigabytes (this
--     VM hands freed pages back to its host): 13-25 ms p99 for whichever server came
--     next, 1.4-2.3 ms for the same server once it no longer followed such a run.
-- N, which sized that prebuilt batch, is read by nobody now; scripts may still set it.

local f = assert(io.open(assert(os.getenv("PAYLOAD"), "set PAYLOAD"), "rb"))
local body = f:read("*a")
f:close()
local run = os.getenv("RUN") or tostring(os.time())

-- The whole request once, with a marker where the delivery id goes.
local marker = "\0delivery\0"
local template = wrk.format("POST", nil, {
  ["Content-Type"] = "application/json",
  ["X-GitHub-Event"] = "issue_comment",
  ["X-Hub-Signature-256"] = assert(os.getenv("SIG"), "set SIG"),
  ["X-GitHub-Delivery"] = marker,
}, body)
local at = assert(template:find(marker, 1, true), "wrk.format dropped the delivery header")
local before = template:sub(1, at - 1) .. run .. "-"
local after = template:sub(at + #marker)

local sent = 0
request = function()
  sent = sent + 1
  return before .. sent .. after
end
