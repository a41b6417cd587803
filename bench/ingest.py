"""Alert ingest: alerts/s accepted and request latency p50/p99, from an async load generator
(aiohttp, many connections, one process) on this machine.

    python -m bench.ingest [--quick]

Two set-ups: `pagerd serve` on SQLite, and 2 x `pagerd api` + 1 x `pagerd worker` on
PostgreSQL. Two shapes: one alert per request (POST /api/v1/alerts) and Alertmanager webhooks
of 100 alerts per request (POST /integrations/alertmanager). 1,000 services; a mix of alerts
that open incidents and alerts that attach to open ones."""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import aiohttp
import uvloop

from bench.harness import (
    Seeded,
    cpu_per_alert,
    free_port,
    percentile,
    py_spy,
    running,
    seed,
    table_count,
    temporary_postgres,
    temporary_sqlite,
)

BACKENDS = ("sqlite", "postgres")
SHAPES = ("single", "alertmanager")


@dataclass
class Result:
    name: str
    requests: int
    alerts: int
    seconds: float
    latencies: list[float]
    errors: int

    def line(self) -> str:
        return (
            f"{self.name:<56} {self.alerts / self.seconds:>9,.0f} alerts/s "
            f"{self.requests / self.seconds:>8,.0f} req/s  "
            f"p50 {percentile(self.latencies, 50) * 1000:6.1f} ms  "
            f"p99 {percentile(self.latencies, 99) * 1000:6.1f} ms  errors {self.errors}"
        )


Request = tuple[str, str, dict[str, str], int]  # url path, body, headers, alerts in it


async def load(
    urls: list[str],
    requests: Iterator[Request],
    total: int,
    connections: int,
    duration: float | None = None,
    accepted: int = 202,
    on_start: Callable[[], object] | None = None,
) -> tuple[int, list[float], int, float]:
    """Send every request, `connections` at a time (each connection sends its next request
    when the answer to the last one is in), or until `duration` seconds have passed. The
    requests are made before the clock starts, so that the load generator spends its time
    sending, not building JSON. An answer with status `accepted` counts the request's
    alerts; `on_start` is called just before the clock starts."""
    ready = [
        (base + path, body.encode(), headers, count)
        for (path, body, headers, count), base in zip(requests, itertools.cycle(urls))
    ]
    queue = iter(ready)  # one event loop: taking the next item needs no lock
    latencies: list[float] = []
    errors = 0
    alerts = 0
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one_connection() -> None:
            nonlocal errors, alerts
            for url, body, headers, count in queue:
                started = time.perf_counter()
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    ok = response.status == accepted
                ended = time.perf_counter()
                latencies.append(ended - started)
                if ok:
                    alerts += count
                else:
                    errors += 1
                if ended >= deadline:
                    break

        if on_start is not None:
            on_start()
        started = time.perf_counter()
        deadline = started + duration if duration is not None else float("inf")
        await asyncio.gather(*(one_connection() for _ in range(connections)))
        seconds = time.perf_counter() - started
    return alerts, latencies, errors, seconds


def single_alerts(seeded: Seeded, total: int, attach_ratio: float) -> Iterator[Request]:
    """One alert per request. About `attach_ratio` of them go to a service that already
    has an open incident (hot services), the rest each open an incident on a fresh one."""
    headers = {"Authorization": f"Bearer {seeded.token}", "Content-Type": "application/json"}
    fresh = iter(seeded.services[100:])
    hot = seeded.services[:100]
    rng = random.Random(7)
    for n in range(total):
        service = next(fresh, None) if rng.random() > attach_ratio else None
        service = service or rng.choice(hot)
        body = json.dumps({"service": service, "message": f"alert {n}", "dedup_key": f"k{n}"})
        yield "/api/v1/alerts", body, headers, 1


def alertmanager_webhooks(
    seeded: Seeded, total_alerts: int, per_request: int, resent: bool = False
) -> Iterator[Request]:
    """Alertmanager webhook messages of `per_request` distinct alerts each, round-robin over
    the services that have integration keys. `resent`: each service's message carries the
    same alerts every time round, as Alertmanager re-sends a group whose alerts still fire."""
    services = list(seeded.keys)
    for batch in range(total_alerts // per_request):
        service = services[batch % len(services)]
        group = batch % len(services) if resent else batch
        alerts = [
            {
                "status": "firing",
                "labels": {"alertname": "HighLatency", "instance": f"host-{group}-{n}"},
                "annotations": {"summary": "p99 latency above 1s"},
                "startsAt": "2026-11-28T10:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
                "generatorURL": "http://prometheus/graph",
                "fingerprint": f"{group:08x}{n:08x}",
            }
            for n in range(per_request)
        ]
        body = json.dumps(
            {
                "version": "4",
                "groupKey": f"{{}}:{{service={service!r}}}",
                "status": "firing",
                "receiver": "pager",
                "groupLabels": {},
                "commonLabels": {},
                "commonAnnotations": {},
                "externalURL": "http://alertmanager",
                "alerts": alerts,
            }
        )
        headers = {
            "Authorization": f"Bearer {seeded.keys[service]}",
            "Content-Type": "application/json",
        }
        yield "/integrations/alertmanager", body, headers, per_request


def run(
    name: str,
    urls: list[str],
    make: Callable[[], Iterator[Request]],
    total_requests: int,
    connections: int,
    duration: float | None = None,
    accepted: int = 202,
    on_start: Callable[[], object] | None = None,
) -> Result:
    # A short warm-up on other data would skew the mix; the first requests are counted.
    uvloop.install()  # the faster event loop, as `pagerd serve` runs on: more load per core
    alerts, latencies, errors, seconds = asyncio.run(
        load(urls, make(), total_requests, connections, duration, accepted, on_start)
    )
    return Result(name, len(latencies), alerts, seconds, latencies, errors)


@contextmanager
def noop_server() -> Iterator[str]:
    """uvicorn serving `bench.noop` (as `pagerd serve` runs uvicorn), on a free port."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", "bench.noop:app", "--port", str(port)]
    args += ["--log-level", "warning", "--no-access-log"]
    server = subprocess.Popen(args)
    try:
        wait_until_listening(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=30)


def wait_until_listening(port: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port}")


def ceiling(quick: bool, connections: int) -> Result:
    """The load generator against a server that does nothing: the most it can measure."""
    total = 3_000 if quick else 20_000
    seeded = Seeded("", "token", [f"svc-{n:06d}" for n in range(1_000)], {})
    with noop_server() as url:
        make = partial(single_alerts, seeded, total, 0.5)
        return run("no-op server (the load generator's ceiling)", [url], make, total, connections)


P99_BOUND = 0.020
"""The target's latency bound for one alert per request: the sweep reports the most alerts/s
measured under it."""


def bench(
    quick: bool,
    backends: Sequence[str] = BACKENDS,
    shapes: Sequence[str] = SHAPES,
    connections: Sequence[int] = (32,),
    profile: Callable[[list[int], str], AbstractContextManager[object]] | None = None,
) -> list[Result]:
    """Each backend: one alert per request at each number of `connections` (each on a fresh
    database, so every step starts from the same state), and Alertmanager webhooks after
    the first step, on its database."""
    single = 3_000 if quick else 20_000
    webhook_alerts = 10_000 if quick else 50_000
    results = []
    if "single" in shapes:
        results.append(ceiling(quick, connections[0]))
        print(results[-1].line(), flush=True)
    for backend in backends:
        steps: list[list[tuple[str, int]]] = []
        if "single" in shapes:
            steps = [[("single", count)] for count in connections]
        if "alertmanager" in shapes:
            if steps:
                steps[0].append(("alertmanager", 8))
            else:
                steps = [[("alertmanager", 8)]]
        label = "serve, SQLite" if backend == "sqlite" else "2 api + 1 worker, PostgreSQL"
        sweep: list[tuple[Result, int]] = []
        for step in steps:
            temporary = temporary_sqlite if backend == "sqlite" else temporary_postgres
            with temporary() as url:
                seeded = seed(url, 1_000, keys_for=100)
                shape = {"serve": True} if backend == "sqlite" else {"apis": 2, "workers": 1}
                with running(url, **shape) as cluster:
                    for kind, parallel in step:
                        if kind == "single":
                            name = f"{label}: 1 alert/request, {parallel} conns"
                            make = partial(single_alerts, seeded, single, 0.5)
                            requests = single
                        else:
                            name = f"{label}: Alertmanager, 100 alerts/request"
                            make = partial(alertmanager_webhooks, seeded, webhook_alerts, 100)
                            requests = webhook_alerts // 100
                        spy = (
                            profile(cluster.pids, f"{backend}-{kind}-{parallel}")
                            if profile
                            else nullcontext()
                        )
                        labels = ["serve"] if backend == "sqlite" else ["api 1", "api 2", "worker"]
                        cpu = cpu_per_alert(cluster.pids, labels, lambda: results[-1].alerts)
                        with spy, cpu:
                            results.append(run(name, cluster.urls, make, requests, parallel))
                            print(results[-1].line(), flush=True)
                        if kind == "single":
                            sweep.append((results[-1], parallel))
                events = table_count(url, "events")
                print(f"  ({events:,} events committed in the {backend} database)", flush=True)
        if len(sweep) > 1:
            print(f"  {best_under_bound(sweep)}", flush=True)
    return results


def best_under_bound(sweep: Sequence[tuple[Result, int]]) -> str:
    under = [
        (result.alerts / result.seconds, count)
        for result, count in sweep
        if percentile(result.latencies, 99) < P99_BOUND
    ]
    bound = f"p99 under {P99_BOUND * 1000:.0f} ms"
    if not under:
        return f"one alert per request: no step with {bound}"
    rate, count = max(under)
    return f"one alert per request, most with {bound}: {rate:,.0f} alerts/s ({count} conns)"


def connection_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: numbers, comma-separated") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: each at least 1")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a short run (for make bench)")
    parser.add_argument("--backend", choices=BACKENDS, action="append", help="only this one")
    parser.add_argument("--shape", choices=SHAPES, action="append", help="only this one")
    parser.add_argument(
        "--connections",
        type=connection_counts,
        metavar="N[,N...]",
        help="for one alert per request, each on a fresh database (default 32,48,64; "
        "with --quick 32): the sweep prints the most alerts/s with p99 under 20 ms",
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="record a py-spy profile of each Pager process here"
    )
    args = parser.parse_args()
    profile = partial(py_spy, Path(args.profile)) if args.profile else None
    bench(
        args.quick,
        args.backend or BACKENDS,
        args.shape or SHAPES,
        args.connections or ([32] if args.quick else [32, 48, 64]),
        profile,
    )


if __name__ == "__main__":
    main()
