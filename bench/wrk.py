"""wrk (Debian's `wrk`, C on epoll) as a load generator: the same requests as `bench.ingest`'s
aiohttp one, sent closed-loop over the same connections, at a fraction of its CPU a request.

At one alert per request the Python generator spends about as much CPU a request as Pager
does, on a machine of two cores: what it takes, the servers do not get. wrk reads the
requests, built before the clock, from a file; each of its threads sends its own share of
them, in order, and stops when its share is answered, so no alert is sent twice.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

from bench.ingest import Request, Result

WRK = "wrk"
THREADS = 2
_FIELD = "\x01"
_HEADER = "\x02"

# Each thread (its own Lua state) loads every THREADS-th request, pre-formatted, then sends
# them round the file once; `done` prints what the threads counted, as one line of JSON.
_SCRIPT = r"""
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  local path, accepted = args[1], tonumber(args[2])
  local nthreads = tonumber(args[3])
  requests, sent, answered, failed, alerts = {}, 0, 0, 0, 0
  counts = {}
  expected = accepted
  local n = 0
  for line in io.lines(path) do
    if n % nthreads == id then
      local a = string.find(line, "\1", 1, true)
      local b = string.find(line, "\1", a + 1, true)
      local c = string.find(line, "\1", b + 1, true)
      local target = string.sub(line, 1, a - 1)
      local count = tonumber(string.sub(line, a + 1, b - 1))
      local headers = {}
      for pair in string.gmatch(string.sub(line, b + 1, c - 1), "[^\2]+") do
        local colon = string.find(pair, ":", 1, true)
        headers[string.sub(pair, 1, colon - 1)] = string.sub(pair, colon + 1)
      end
      table.insert(requests, wrk.format("POST", target, headers, string.sub(line, c + 1)))
      table.insert(counts, count)
    end
    n = n + 1
  end
end

function request()
  sent = sent + 1
  if sent > #requests then
    wrk.thread:stop()
    sent = #requests
  end
  return requests[sent]
end

function response(status, headers, body)
  answered = answered + 1
  if status == expected then
    alerts = alerts + (counts[answered] or 0)
  else
    failed = failed + 1
  end
  if answered >= #requests then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests_)
  local answered_, failed_, alerts_ = 0, 0, 0
  for _, thread in ipairs(threads) do
    answered_ = answered_ + thread:get("answered")
    failed_ = failed_ + thread:get("failed")
    alerts_ = alerts_ + thread:get("alerts")
  end
  local errors = summary.errors
  io.write(string.format(
    '{"answered": %d, "failed": %d, "alerts": %d, "micros": %d, "p50": %d, "p99": %d, ' ..
    '"socket_errors": %d}\n',
    answered_, failed_, alerts_, summary.duration, latency:percentile(50),
    latency:percentile(99), errors.connect + errors.read + errors.write + errors.timeout))
end
"""


def available() -> bool:
    return shutil.which(WRK) is not None


def run(
    name: str,
    url: str,
    requests: Iterator[Request],
    connections: int,
    seconds: float,
    accepted: int,
) -> tuple[Result, float]:
    """The requests sent by wrk to `url` for at most `seconds`; with the CPU wrk spent."""
    with tempfile.TemporaryDirectory(prefix="pager-wrk-") as directory:
        folder = Path(directory)
        lines = folder / "requests"
        with lines.open("w", encoding="utf-8") as out:
            for path, body, headers, count in requests:
                packed = _HEADER.join(f"{k}:{v}" for k, v in headers.items())
                out.write(f"{path}{_FIELD}{count}{_FIELD}{packed}{_FIELD}{body}\n")
        script = folder / "requests.lua"
        script.write_text(_SCRIPT, encoding="utf-8")
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        command = [WRK, f"-t{THREADS}", f"-c{connections}", f"-d{seconds:g}s", "--timeout", "10s"]
        command += ["-s", str(script), url, "--", str(lines), str(accepted), str(THREADS)]
        finished = subprocess.run(command, capture_output=True, text=True, check=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    said = json.loads(finished.stdout.strip().splitlines()[-1])
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    elapsed = said["micros"] / 1e6
    # wrk keeps percentiles, not each latency: the two stand in for the list.
    latencies = [said["p50"] / 1e6, said["p99"] / 1e6]
    errors = said["failed"] + said["socket_errors"]
    result = Result(name, said["answered"], said["alerts"], elapsed, latencies, errors)
    return result, cpu
