"""Growth: what gets slower as history piles up, and what does not. A database with many
events and services (seeded through the storage adapter: services created, incidents opened
and resolved), then `pagerd serve` on it: latency of `GET /api/v1/incidents?status=open`
and of one alert, and the database's size — next to the same on a small database.

    python -m bench.growth [--quick]"""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta

import httpx

from bench.harness import percentile, running, seed, table_count, temporary_sqlite
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.handlers import Handlers
from pager.domain.commands import MarkHealthy


class SetClock:
    def __init__(self) -> None:
        self.value = datetime.now(UTC) - timedelta(days=365)

    def now(self) -> datetime:
        return self.value


def grow(url: str, services: list[str], events: int) -> None:
    """Incidents opened (2 events: opened, level 1 paged) and resolved (1 event), a year ago,
    until the database holds about `events` events."""
    engine = create_engine(url)
    clock = SetClock()
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    chunk = 2000
    while table_count(url, "events") < events:
        for first in range(0, len(services), chunk):
            part = services[first : first + chunk]
            clock.value += timedelta(minutes=1)
            handlers.execute([handlers.alert_command(s, "old outage") for s in part])
            clock.value += timedelta(minutes=1)
            handlers.execute([MarkHealthy(s) for s in part])
    engine.dispose()


def measure(url: str, token: str, services: list[str], samples: int) -> tuple[str, str]:
    headers = {"Authorization": f"Bearer {token}"}
    reads, writes = [], []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for n in range(samples):
            started = time.perf_counter()
            client.get("/api/v1/incidents", params={"status": "open"}).raise_for_status()
            reads.append(time.perf_counter() - started)
            started = time.perf_counter()
            body = {"service": services[n % len(services)], "message": f"new outage {n}"}
            client.post("/api/v1/alerts", json=body).raise_for_status()
            writes.append(time.perf_counter() - started)
    return _line(reads), _line(writes)


def _line(values: list[float]) -> str:
    return (
        f"p50 {percentile(values, 50) * 1000:6.1f} ms p99 {percentile(values, 99) * 1000:6.1f} ms"
    )


def run(services: int, events: int, samples: int) -> str:
    with temporary_sqlite() as url:
        started = time.monotonic()
        seeded = seed(url, services)
        grow(url, seeded.services, events)
        took = time.monotonic() - started
        count = table_count(url, "events")
        size = os.path.getsize(url.removeprefix("sqlite:///")) / 2**20
        with running(url, serve=True) as cluster:
            reads, writes = measure(cluster.urls[0], seeded.token, seeded.services, samples)
    return (
        f"{services:>7,} services {count:>9,} events {size:7.0f} MiB (seeded in {took:.0f} s): "
        f"open incidents {reads} | one alert {writes}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 services, 100,000 events")
    args = parser.parse_args()
    print(run(1_000, 5_000, 200), flush=True)
    if args.quick:
        print(run(10_000, 100_000, 200), flush=True)
    else:
        print(run(100_000, 1_000_000, 500), flush=True)


if __name__ == "__main__":
    main()
