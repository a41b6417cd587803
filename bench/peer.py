"""Pager against Prometheus Alertmanager 0.25, side by side: alerts/s, p50/p99 latency.

    python -m bench.peer [--quick] [--rounds N] [--seconds S] [--pairing P] [--profile DIR]
                         [--generator aiohttp|wrk]

One load generator (`bench.ingest`'s: aiohttp on uvloop, closed loop; or `bench.wrk`'s, the
same requests sent by wrk at a fraction of the CPU), 8 connections, on
this machine, Alertmanager being Debian's `prometheus-alertmanager`. Three pairings: Pager's
`POST /api/v1/alerts` at one alert per request against Alertmanager's `POST /api/v2/alerts`
at one per request; Pager's `POST /integrations/alertmanager` with webhooks of 100 new
alerts against Alertmanager's 100 alerts per request; and the same with each service's 100
alerts re-sent again and again, as they are while they fire.

`pagerd serve` on a fresh SQLite database (1,000 services, each with an integration key);
Alertmanager with a fresh storage path, no clustering, and one route (grouped by service,
as Pager opens an incident per service) to a receiver that sends nothing. Before the clock,
one alert on each service; then every alert is a new one (its own dedup key, fingerprint or
label set), spread over the 1,000 services, except in the re-sent pairing, where each
service's 100 are sent once before the clock and every alert measured is one that fires.
Each measurement starts a fresh server and runs for `--seconds`; Pager and Alertmanager
take turns (Pager first in odd rounds, Alertmanager in even ones), so that a drift in the
machine's speed weighs on both."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench import wrk
from bench.harness import (
    Process,
    Seeded,
    cpu_per_alert,
    free_port,
    percentile,
    py_spy,
    running,
    seed,
    temporary_sqlite,
)
from bench.ingest import Request, Result, alertmanager_webhooks, ceiling, run
from pager.adapters.storage import tables as t
from pager.adapters.storage.engine import create_engine

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
CONNECTIONS = 8
SERVICES = 1_000
PER_REQUEST = 100
ALERTNAMES = 40
CONFIG = {
    "route": {"receiver": "null", "group_by": ["service"]},
    "receivers": [{"name": "null"}],  # no integrations: Alertmanager sends nothing
}
TARGETS = {"pager": "Pager", "alertmanager": "Alertmanager"}
PAIRINGS = {
    "single": "1 alert/request",
    "batch": f"{PER_REQUEST} alerts/request",
    "resent": f"{PER_REQUEST} alerts/request, re-sent",
}
MOST_PER_SECOND = {"single": 20_000, "batch": 1_200, "resent": 5_000}
"""Requests a second that the requests built for a measurement last for: far above either
server's rate on this machine. A measurement whose requests run out before `--seconds`
ends early; its rate is still what it measured."""


@dataclass
class Server:
    url: str
    pid: int
    seeded: Seeded | None = None


@dataclass
class Side:
    result: Result
    cpu: float
    """The server's CPU per alert while the clock ran, in µs."""


@dataclass
class Measured:
    pairing: str
    pager: Side
    alertmanager: Side


@contextmanager
def alertmanager() -> Iterator[Server]:
    """Alertmanager on a free port of 127.0.0.1, with its own configuration and storage in a
    temporary directory, and no cluster listener (no gossip); stopped by its pid."""
    with tempfile.TemporaryDirectory(prefix="pager-bench-alertmanager-") as directory:
        config = Path(directory) / "alertmanager.yml"
        config.write_text(json.dumps(CONFIG))  # JSON is YAML
        port = free_port()
        args = [
            ALERTMANAGER,
            f"--config.file={config}",
            f"--storage.path={Path(directory) / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ]
        process = Process(args, dict(os.environ), Path(directory) / "alertmanager.log")
        try:
            url = f"http://127.0.0.1:{port}"
            wait_ready(f"{url}/-/ready")
            yield Server(url, process.popen.pid)
        finally:
            process.stop()


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer 200")


@contextmanager
def pager() -> Iterator[Server]:
    """`pagerd serve` on a fresh SQLite database, as `bench.ingest` runs it."""
    with temporary_sqlite() as database_url:
        seeded = seed(database_url, SERVICES, keys_for=SERVICES)
        with running(database_url, serve=True) as cluster:
            yield Server(cluster.urls[0], cluster.pids[0], seeded)


def pager_alerts(seeded: Seeded, total: int, prefix: str = "k") -> Iterator[Request]:
    """One alert per request, each with its own dedup key, round-robin over the services."""
    headers = {"Authorization": f"Bearer {seeded.token}", "Content-Type": "application/json"}
    for n in range(total):
        service = seeded.services[n % len(seeded.services)]
        message = f"alert {prefix}{n}"
        body = json.dumps({"service": service, "message": message, "dedup_key": f"{prefix}{n}"})
        yield "/api/v1/alerts", body, headers, 1


def alertmanager_alerts(
    total_alerts: int, per_request: int, prefix: str = "host", resent: bool = False
) -> Iterator[Request]:
    """Alertmanager's API v2 alerts, `per_request` a request, each with a label set of its
    own, over `ALERTNAMES` alert names and the services (one service a request). `resent`:
    each service's request carries the same alerts every time round, as Prometheus re-sends
    the alerts that still fire."""
    headers = {"Content-Type": "application/json"}
    starts = datetime.now(UTC).isoformat()
    for request in range(total_alerts // per_request):
        service = f"svc-{request % SERVICES:06d}"
        batch = request % SERVICES if resent else request
        alerts = [
            {
                "labels": {
                    "alertname": f"Alert{(batch * per_request + n) % ALERTNAMES}",
                    "service": service,
                    "instance": f"{prefix}-{batch}-{n}",
                },
                "annotations": {"summary": "p99 latency above 1s"},
                "startsAt": starts,
            }
            for n in range(per_request)
        ]
        yield "/api/v2/alerts", json.dumps(alerts), headers, per_request


def warm_up(server: Server, pairing: str) -> None:
    """One alert on each service before the clock, and on Pager the pages of the incidents
    they open sent: the alerts measured then each join an open incident (Pager) or an
    aggregation group (Alertmanager), however long the run. For re-sent alerts, each
    service's alerts are then sent once, so that every alert measured is one already
    firing."""
    resend = partial(requests_for, server, "resent", SERVICES)
    if server.seeded is None:
        make = partial(alertmanager_alerts, SERVICES, 1, "warm")
        run("warm-up", [server.url], make, SERVICES, CONNECTIONS, accepted=200)
        if pairing == "resent":
            run("warm-up", [server.url], resend(), SERVICES, CONNECTIONS, accepted=200)
        return
    make = partial(pager_alerts, server.seeded, SERVICES, "warm")
    run("warm-up", [server.url], make, SERVICES, CONNECTIONS)
    if pairing == "resent":
        run("warm-up", [server.url], resend(), SERVICES, CONNECTIONS)
    engine = create_engine(server.seeded.database_url)
    queued = sa.select(sa.func.count()).where(t.notifications.c.status == "queued")
    deadline = time.monotonic() + 60
    with engine.connect() as conn:
        while conn.scalar(queued) and time.monotonic() < deadline:
            conn.rollback()
            time.sleep(0.1)
    engine.dispose()


def process_cpu(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, its ended threads too (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def requests_for(server: Server, pairing: str, requests: int) -> Callable[[], Iterator[Request]]:
    per_request = 1 if pairing == "single" else PER_REQUEST
    resent = pairing == "resent"
    if server.seeded is None:
        return partial(alertmanager_alerts, requests * per_request, per_request, resent=resent)
    if pairing == "single":
        return partial(pager_alerts, server.seeded, requests)
    return partial(
        alertmanager_webhooks, server.seeded, requests * per_request, per_request, resent
    )


def measure(
    target: str,
    pairing: str,
    seconds: float,
    profile: Callable[[list[int], str], AbstractContextManager[object]] | None,
    label: str,
    generator: str = "aiohttp",
) -> Side:
    """One measurement on a fresh server (`target`: "pager" or "alertmanager"); then the CPU
    the server and the load generator spent per alert while the clock ran."""
    requests = int(MOST_PER_SECOND[pairing] * seconds)
    name = f"{TARGETS[target]}, {PAIRINGS[pairing]}"
    with pager() if target == "pager" else alertmanager() as server:
        warm_up(server, pairing)
        make = requests_for(server, pairing, requests)
        is_pager = server.seeded is not None
        spy = profile([server.pid], label) if profile and is_pager else nullcontext()
        marks: list[tuple[float, float]] = []

        def mark() -> None:
            marks.append((process_cpu(server.pid), time.process_time()))

        by_thread = (
            cpu_per_alert([server.pid], ["serve"], lambda: result.alerts)
            if is_pager
            else nullcontext()
        )
        with spy, by_thread:
            accepted = 202 if is_pager else 200
            if generator == "wrk":
                mark()
                result, client = wrk.run(name, server.url, make(), CONNECTIONS, seconds, accepted)
                mark()
                marks[1] = (marks[1][0], marks[0][1] + client)
            else:
                result = run(
                    name, [server.url], make, requests, CONNECTIONS, seconds, accepted, mark
                )
                mark()
            print(result.line(), flush=True)
    (server_before, client_before), (server_after, client_after) = marks
    alerts = max(result.alerts, 1)
    cpu = (server_after - server_before) / alerts * 1e6
    print(
        f"  CPU per alert: {TARGETS[target]} {cpu:.0f} µs, load generator ({generator}) "
        f"{(client_after - client_before) / alerts * 1e6:.0f} µs; {result.seconds:.1f} s",
        flush=True,
    )
    return Side(result, cpu)


def bench(
    rounds: int,
    seconds: float,
    quick: bool,
    pairings: list[str],
    profile: Callable[[list[int], str], AbstractContextManager[object]] | None = None,
    generator: str = "aiohttp",
) -> list[Measured]:
    """The load generator's ceiling, then `rounds` rounds of each pairing, Pager and
    Alertmanager taking turns."""
    if generator == "aiohttp":
        print(ceiling(quick, CONNECTIONS).line(), flush=True)
    measured = []
    for n in range(rounds):
        for pairing in pairings:
            order = ("pager", "alertmanager") if n % 2 == 0 else ("alertmanager", "pager")
            got = {
                target: measure(
                    target, pairing, seconds, profile, f"peer-{pairing}-{n + 1}", generator
                )
                for target in order
            }
            measured.append(Measured(pairing, got["pager"], got["alertmanager"]))
    return measured


def rate(result: Result) -> float:
    return result.alerts / result.seconds


def summary(measured: list[Measured]) -> None:
    """Each pairing: Pager / Alertmanager in each round (the two measured one after the
    other), then each side's alerts/s, p99 and CPU per alert over the rounds."""
    print(f"\nPager / Alertmanager, {CONNECTIONS} connections:")
    for pairing, title in PAIRINGS.items():
        pairs = [m for m in measured if m.pairing == pairing]
        if not pairs:
            continue
        ratios = [rate(m.pager.result) / rate(m.alertmanager.result) for m in pairs]
        print(f"  {title}: " + ", ".join(f"{ratio:.2f}" for ratio in ratios), flush=True)
        for target, name in TARGETS.items():
            sides: list[Side] = [getattr(m, target) for m in pairs]
            rates = spread([rate(side.result) for side in sides])
            p99 = spread([percentile(side.result.latencies, 99) * 1000 for side in sides], ".1f")
            cpu = spread([side.cpu for side in sides])
            print(f"    {name}: {rates} alerts/s, p99 {p99} ms, CPU per alert {cpu} µs")


def spread(values: list[float], form: str = ",.0f") -> str:
    low, high = min(values), max(values)
    return f"{low:{form}}" if low == high else f"{low:{form}}-{high:{form}}"


def version() -> str:
    answer = subprocess.run([ALERTMANAGER, "--version"], capture_output=True, text=True)
    return (answer.stdout or answer.stderr).splitlines()[0]


def positive(kind: Callable[[str], float]) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r}: more than 0, please")
        return value

    return parse


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 round of 2 s (for make bench)")
    parser.add_argument("--rounds", type=positive(int), help="of the four (default 2)")
    parser.add_argument("--seconds", type=positive(float), help="of each measurement (default 10)")
    parser.add_argument(
        "--pairing", choices=PAIRINGS, action="append", help="only this one (default: all)"
    )
    parser.add_argument(
        "--profile", metavar="DIR", help="record a py-spy profile of the Pager process here"
    )
    parser.add_argument(
        "--generator",
        choices=("wrk", "aiohttp"),
        help="the load generator: bench.ingest's (aiohttp, the default) or wrk",
    )
    args = parser.parse_args()
    if shutil.which(ALERTMANAGER) is None:
        sys.exit(f"{ALERTMANAGER} is missing: apt-get install prometheus-alertmanager")
    print(f"# {version()}", flush=True)
    rounds = args.rounds or (1 if args.quick else 2)
    seconds = args.seconds or (2.0 if args.quick else 10.0)
    profile = partial(py_spy, Path(args.profile)) if args.profile else None
    generator = args.generator or "aiohttp"
    if generator == "wrk" and not wrk.available():
        sys.exit("wrk is missing: apt-get install wrk")
    print(f"# load generator: {generator}", flush=True)
    pairings = args.pairing or list(PAIRINGS)
    summary(bench(rounds, seconds, args.quick, pairings, profile, generator))


if __name__ == "__main__":
    main()
