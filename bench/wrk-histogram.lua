-- Loaded into every wrk run of bench/run.sh. It defines only done(), so wrk keeps its fast path (no Lua per request).
-- At the end it prints wrk's whole latency histogram on one line, "latency-histogram: MICROS:COUNT ...", so that the
-- runs of several wrk processes against one system (one per gateway) can be merged into one distribution and its
-- percentiles computed as wrk computes them, instead of taking the worse of the processes' own percentiles.
done = function(summary, latency, requests)
  local parts = {}
  for i = 1, #latency do
    local micros, count = latency(i)
    parts[#parts + 1] = string.format("%d:%d", micros, count)
  end
  io.write("latency-histogram: " .. table.concat(parts, " ") .. "\n")
end
