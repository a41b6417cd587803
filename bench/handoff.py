"""What the group commit's hand-off costs a webhook: 100-alert Alertmanager webhooks called
in process (no server, no sockets) with 8 concurrent callers, in two modes:

- thread: Pager as built, the commands handed to the group-commit thread and awaited;
- inline: the same `Handlers.execute`, called on the event loop itself (the loop blocks
  while the transaction commits; a measurement, not a way Pager runs).

    python -m bench.handoff [--webhooks 1500] [--rounds 2] [--new] [--young N]

Re-sent alerts by default (each service's webhook again, every alert already firing: the
commit appends nothing); `--new` sends alerts that each join an open incident. Nothing is
asserted; it prints alerts/s, the CPU per alert of the event loop and of the commit
thread, and the time in the garbage collector, the modes alternating (the machine's speed
drifts). The heap is settled as `pagerd serve` settles it; `--young 700` collects the
youngest generation as often as CPython does by default."""

from __future__ import annotations

import argparse
import asyncio
import gc
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import uvloop

from bench.harness import Seeded, asgi_post, seed
from bench.ingest import Request, alertmanager_webhooks
from pager.application.handlers import Handlers, Result
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.domain.commands import ServiceCommand
from pager.entrypoints.cli import YOUNG_COLLECTION_THRESHOLD, settle_heap
from pager.entrypoints.http.app import create_app

MODES = ("thread", "inline")
SERVICES = 1000


class _Inline:
    """A committer that decides and commits on the caller's event loop."""

    def __init__(self, handlers: Handlers) -> None:
        self._handlers = handlers

    def submit_async(self, commands: Sequence[ServiceCommand]) -> asyncio.Future[list[Result]]:
        future: asyncio.Future[list[Result]] = asyncio.get_running_loop().create_future()
        future.set_result(self._handlers.execute(commands) if commands else [])
        return future

    def close(self) -> None:
        pass


async def _send(app: Any, requests: Sequence[Request], connections: int = 8) -> None:
    async def one(path: str, body: str, headers: dict[str, str]) -> None:
        pairs = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
        status = await asgi_post(app, path, body.encode(), pairs)
        assert status == 202, status

    queue = iter(requests)

    async def worker() -> None:
        for path, body, headers, _ in queue:
            await one(path, body, headers)

    await asyncio.gather(*(worker() for _ in range(connections)))


def _thread_cpu(name: str) -> float:
    for thread in threading.enumerate():
        if thread.name == name and thread.ident is not None:
            return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    return 0.0


def _requests(seeded: Seeded, webhooks: int, resent: bool) -> list[Request]:
    made = list(alertmanager_webhooks(seeded, webhooks * 100, 100, resent=resent))
    if resent:
        return made
    # Fingerprints of their own, not the warm-up's: each alert joins an open incident.
    return [(p, b.replace('"fingerprint": "', '"fingerprint": "n'), h, n) for p, b, h, n in made]


@contextmanager
def _collections() -> Iterator[list[float]]:
    """The seconds of each garbage collection meanwhile."""
    took: list[float] = []
    started = [0.0]

    def timed(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
        else:
            took.append(time.perf_counter() - started[0])

    gc.callbacks.append(timed)
    try:
        yield took
    finally:
        gc.callbacks.remove(timed)


def measure(
    mode: str, webhooks: int, resent: bool, young: int
) -> tuple[float, float, float, list[float]]:
    """(alerts/s, event-loop µs an alert, commit-thread µs an alert, each collection's s)."""
    with tempfile.TemporaryDirectory() as directory:
        url = f"sqlite:///{directory}/pager.db"
        seeded = seed(url, SERVICES, keys_for=SERVICES)
        container = bootstrap(
            Settings(database_url=url, rate_limit_per_second=0, log_level="WARNING")
        )
        app = create_app(container)
        if mode == "inline":
            container.commits = _Inline(container.handlers)  # type: ignore[assignment]
        # One alert on each service opens its incident; re-sent alerts are then sent once.
        warm = list(alertmanager_webhooks(seeded, SERVICES, 1))
        uvloop.run(_send(app, warm))
        if resent:
            uvloop.run(_send(app, _requests(seeded, SERVICES, True)))
        requests = _requests(seeded, webhooks, resent)
        alerts = len(requests) * 100
        settle_heap()  # as `pagerd serve` does before it serves
        gc.set_threshold(young, *gc.get_threshold()[1:])

        async def run() -> tuple[float, float, float, list[float]]:
            commit = _thread_cpu("pager-group-commit")
            with _collections() as collections:
                loop, wall = time.thread_time(), time.perf_counter()
                await _send(app, requests)
                loop, wall = time.thread_time() - loop, time.perf_counter() - wall
            commit = _thread_cpu("pager-group-commit") - commit
            return alerts / wall, loop / alerts * 1e6, commit / alerts * 1e6, collections

        try:
            return uvloop.run(run())
        finally:
            gc.unfreeze()  # the next measurement settles its own
            container.commits.close()
            container.engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--webhooks", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--new", action="store_true", help="new alerts, not re-sent ones")
    parser.add_argument(
        "--young",
        type=int,
        default=YOUNG_COLLECTION_THRESHOLD,
        help="the youngest generation's collection threshold (default: Pager's)",
    )
    args = parser.parse_args()
    kind = "new" if args.new else "re-sent"
    for round_ in range(1, args.rounds + 1):
        for mode in MODES:
            rate, loop, commit, collections = measure(mode, args.webhooks, not args.new, args.young)
            print(
                f"round {round_} {mode:<6} {kind}: {rate:9,.0f} alerts/s, event loop "
                f"{loop:5.1f} µs + commit thread {commit:5.1f} µs an alert; "
                f"{len(collections)} collections, {sum(collections) * 1000:,.0f} ms",
                flush=True,
            )


if __name__ == "__main__":
    main()
