"""Alert to page: the time from an alert's HTTP request to its email arriving at an SMTP
server (aiosmtpd, in a process of its own: `bench.smtp_sink`) on 127.0.0.1, p50/p99, at a
steady 10 and 200 alerts/s.

    python -m bench.alert_to_page [--quick]

`pagerd serve` on SQLite; each alert opens an incident on a service of its own, so each one
pages level 1 by email."""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from contextlib import nullcontext
from pathlib import Path

import aiohttp

from bench.harness import free_port, percentile, py_spy, running, seed, temporary_sqlite


class Arrivals:
    """When each probe's email arrived (time.monotonic, the same clock in every process),
    read from the SMTP sink's output."""

    def __init__(self, port: int) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()
        self.sink = subprocess.Popen(
            [sys.executable, "-m", "bench.smtp_sink", str(port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.sink.stdout is not None
        if self.sink.stdout.readline().strip() != "ready":
            raise RuntimeError("the SMTP sink did not start")
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.sink.stdout is not None
        for line in self.sink.stdout:
            probe, _, arrived = line.rpartition(" ")
            with self.lock:
                self.at.setdefault(probe, float(arrived))

    def stop(self) -> None:
        self.sink.terminate()
        self.sink.wait(timeout=30)


async def steady(url: str, token: str, services: list[str], rate: float) -> dict[str, float]:
    """Send one alert per service at `rate` a second; return each message's send time."""
    sent: dict[str, float] = {}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session:

        async def one(service: str) -> None:
            message = f"latency probe {service}"
            sent[message] = time.monotonic()
            body = json.dumps({"service": service, "message": message})
            async with session.post(f"{url}/api/v1/alerts", data=body, headers=headers) as r:
                await r.read()

        tasks = []
        start = time.monotonic()
        for n, service in enumerate(services):
            delay = start + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(service)))
        await asyncio.gather(*tasks)
    return sent


def measure(
    rate: float, count: int, arrivals: Arrivals, url: str, token: str, ids: list[str]
) -> str:
    sent = asyncio.run(steady(url, token, ids, rate))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with arrivals.lock:
            if sum(1 for message in sent if message in arrivals.at) >= count:
                break
        time.sleep(0.1)
    with arrivals.lock:
        latencies = [arrivals.at[m] - t for m, t in sent.items() if m in arrivals.at]
    p50, p99 = percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000
    return (
        f"alert to email at {rate:>5.0f} alerts/s: {len(latencies)}/{count} delivered, "
        f"p50 {p50:6.1f} ms  p99 {p99:6.1f} ms  max {max(latencies, default=0) * 1000:6.1f} ms"
    )


def bench(quick: bool, profile: Path | None = None) -> list[str]:
    plan = [(10.0, 50 if quick else 200), (200.0, 400 if quick else 2000)]
    total = sum(count for _, count in plan)
    port = free_port()
    arrivals = Arrivals(port)
    lines = []
    try:
        with temporary_sqlite() as url:
            seeded = seed(url, total)
            env = {"PAGER_SMTP_URL": f"smtp://127.0.0.1:{port}", "PAGER_SMTP_FROM": "p@example.com"}
            with running(url, serve=True, **env) as cluster:
                offset = 0
                for rate, count in plan:
                    ids = seeded.services[offset : offset + count]
                    offset += count
                    spy = (
                        py_spy(profile, cluster.pids, "alert-to-page")
                        if profile and rate > 10
                        else nullcontext()
                    )
                    with spy:
                        line = measure(rate, count, arrivals, cluster.urls[0], seeded.token, ids)
                    lines.append(line)
                    print(lines[-1], flush=True)
    finally:
        arrivals.stop()
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (for make bench)")
    parser.add_argument(
        "--profile", metavar="DIR", type=Path, help="record a py-spy profile of Pager at 200/s"
    )
    args = parser.parse_args()
    bench(args.quick, args.profile)


if __name__ == "__main__":
    main()
