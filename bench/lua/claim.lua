-- Workers' traffic: claim (POST /v1/events/next, wait 0) then walk the event through
-- analyzing -> fixing -> verifying -> resolved with its lease token (POST /v1/events/{id}/transition).
-- Five requests per event, all counted by wrk. wrk gives a script one Lua state per thread, not per
-- connection, so the chain lives in a per-thread list: a response queues the event's next move with
-- the token read from the claim, and the thread's next request (on whichever connection is free)
-- sends it; with nothing queued, the request is a new claim. Replies name the event's id and status
-- first, which is all the matching needs. done() prints one "BENCH ..." line for bench/queue.py.
local threads = {}
local next_tid = 1

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

claims, moves, resolved, empty, errors = 0, 0, 0, 0, 0
local pending = {}   -- stack of {event id, next state}
local tokens = {}    -- event id -> lease token
local NEXT = { processing = "analyzing", analyzing = "fixing", fixing = "verifying",
               verifying = "resolved" }
local headers = { ["Content-Type"] = "application/json" }
local claim_body

function init(args)
  claim_body = string.format('{"worker":"bench-%s-%d","wait":0,"lease":3600}', args[1] or "w", tid)
end

function request()
  local item = table.remove(pending)
  if item then
    local body = string.format('{"token":"%s","to":"%s","note":"bench"}', tokens[item[1]], item[2])
    return wrk.format("POST", "/v1/events/" .. item[1] .. "/transition", headers, body)
  end
  return wrk.format("POST", "/v1/events/next", headers, claim_body)
end

function response(status, hdrs, body)
  if status == 200 then
    local id = body:match('"id":"([^"]+)"')
    local state = body:match('"status":"(%a+)"')
    if state == "processing" then
      claims = claims + 1
      tokens[id] = body:match('"token":"([^"]+)"')
    else
      moves = moves + 1
    end
    if state == "resolved" then
      resolved = resolved + 1
      tokens[id] = nil
    else
      table.insert(pending, { id, NEXT[state] })
    end
  elseif status == 204 then
    empty = empty + 1
  else
    errors = errors + 1
    if errors <= 3 then io.stderr:write("claim: HTTP " .. status .. " " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local c, m, r, e, x = 0, 0, 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("claims")
    m = m + t:get("moves")
    r = r + t:get("resolved")
    e = e + t:get("empty")
    x = x + t:get("errors")
  end
  io.write(string.format("BENCH claims=%d moves=%d resolved=%d empty=%d errors=%d\n", c, m, r, e, x))
end
