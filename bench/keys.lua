-- bench/keys.lua: spreads wrk's requests over many keys, round robin, one key per request in a header.
-- Environment: KEYS (10000), KEY_HEADER (X-Key), KEY_PATH (/api/hello), KEY_OFFSET (0: where this wrk process
-- starts). Each wrk thread starts at its own offset and walks all keys in order, so with T threads (over all wrk
-- processes) every key sees about T requests per KEYS requests of one thread.
-- At the end it prints wrk's latency histogram on one line, "latency-histogram: MICROS:COUNT ...", as
-- bench/wrk-histogram.lua does, so that the runs of several wrk processes can be merged before taking percentiles.
local keys = tonumber(os.getenv("KEYS") or "10000")
local header = os.getenv("KEY_HEADER") or "X-Key"
local path = os.getenv("KEY_PATH") or "/api/hello"
local offset = tonumber(os.getenv("KEY_OFFSET") or "0")
local threads = 0

function setup(thread)
  thread:set("first", offset + threads * 7919)
  threads = threads + 1
end

function init(args)
  n = first or 0
end

function request()
  n = n + 1
  wrk.headers[header] = "k" .. (n % keys)
  return wrk.format(nil, path)
end

function done(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local micros, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", micros, count)
  end
  io.write("latency-histogram: " .. table.concat(parts, " ") .. "\n")
end
