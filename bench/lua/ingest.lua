-- Failure reports, POST /v1/events. Arguments (after wrk's --): TAG MODE [FAILURES]
--   MODE distinct: every request is a new failure (a spec/test pair never sent before: the run's
--                  TAG, the wrk thread and a per-thread counter), so each one creates an event.
--   MODE repeat:   every request is one of FAILURES known failures (default 50) from one of 20
--                  nodes, so after the first few each one merges into the open event.
-- done() prints one "BENCH created=.. merged=.. errors=.." line that bench/queue.py reads.
local threads = {}
local next_tid = 1

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
  table.insert(threads, thread)
end

local n = 0
local tag, mode, failures
created, merged, errors = 0, 0, 0
local headers = { ["Content-Type"] = "application/json" }

function init(args)
  tag = args[1] or "run"
  mode = args[2] or "distinct"
  failures = tonumber(args[3] or "50")
  math.randomseed(tid * 7919)
end

local fmt = '{"node":"node-%d","source":"playwright","spec":"%s","test":"%s",'
  .. '"message":"expect(locator).toBeVisible() failed: waiting for getByRole(button, name: Pay)",'
  .. '"stack":"Error: expect failed\\n    at tests/e2e/checkout.spec.ts:42:31","priority":3}'

function request()
  n = n + 1
  local spec, test
  if mode == "distinct" then
    spec = string.format("tests/e2e/%s/t%d/area%d.spec.ts", tag, tid, n % 40)
    test = string.format("case %d-%d still fails", tid, n)
  else
    local k = math.random(failures)
    spec = string.format("tests/e2e/%s/flaky%d.spec.ts", tag, k % 10)
    test = string.format("flaky case %d", k)
  end
  local body = string.format(fmt, math.random(20), spec, test)
  return wrk.format("POST", "/v1/events", headers, body)
end

function response(status, hdrs, body)
  if status == 201 then
    created = created + 1
  elseif status == 200 then
    merged = merged + 1
  else
    errors = errors + 1
    if errors <= 3 then io.stderr:write("ingest: HTTP " .. status .. " " .. body .. "\n") end
  end
end

function done(summary, latency, requests)
  local c, m, e = 0, 0, 0
  for _, t in ipairs(threads) do
    c = c + t:get("created")
    m = m + t:get("merged")
    e = e + t:get("errors")
  end
  io.write(string.format("BENCH created=%d merged=%d errors=%d\n", c, m, e))
end
