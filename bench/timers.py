"""Timers: N open incidents whose level-1 ack timers fall due over 60 s, handled by one
`pagerd worker`: lateness (fire time - due time) p50/p99/max, escalations/s, and the
worker's peak memory (VmHWM).

    python -m bench.timers [--quick] [--incidents N]

Seeding goes through the storage adapter (the same append path the handlers use) with a
clock set in the past, so the due times spread evenly over the window. Lateness is read
back from the events: each level-2 `LevelNotified` records when it fired, and the level-1
one before it when its timer was due."""

from __future__ import annotations

import argparse
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from bench.harness import (
    Process,
    create_services,
    env_for,
    pagerd,
    percentile,
    temporary_sqlite,
)
from pager.adapters.storage import tables as t
from pager.adapters.storage.codec import decode_event
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate
from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.handlers import Handlers
from pager.domain.events import LevelNotified
from pager.domain.policy import EmailTarget, EscalationPolicy, Level

TIMEOUT = 60  # seconds: the ack timeout, so that due times land in the future


class SetClock:
    def __init__(self) -> None:
        self.value = datetime.now(UTC)

    def now(self) -> datetime:
        return self.value


def seed(url: str, incidents: int, window: float, start: datetime) -> None:
    engine = create_engine(url)
    migrate(engine)
    clock = SetClock()
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)
    level = Level((EmailTarget("oncall@example.com"),), TIMEOUT)
    handlers.define_policy(EscalationPolicy("bench", "Bench", (level, level)))
    ids = [f"svc-{n:06d}" for n in range(incidents)]
    create_services(engine, ids, "bench")
    chunk = 200  # incidents whose timers fall due at the same instant
    for first in range(0, incidents, chunk):
        # Alerts "received" so that their timers fall due between start and start + window.
        clock.value = start + timedelta(seconds=window * first / incidents - TIMEOUT)
        handlers.execute(
            [handlers.alert_command(s, "disk full") for s in ids[first : first + chunk]]
        )
    engine.dispose()


def peak_memory_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def lateness(url: str) -> tuple[list[float], float]:
    engine = create_engine(url)
    due: dict[str, datetime] = {}
    fired: list[tuple[datetime, datetime]] = []
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.events.c.data).where(t.events.c.type == "LevelNotified")
        ).scalars()
        for data in rows:
            event = decode_event("LevelNotified", data)
            assert isinstance(event, LevelNotified)
            if event.level == 1:
                due[event.incident_id] = event.timer_due_at
            else:
                fired.append((due.get(event.incident_id, event.at), event.at))
    engine.dispose()
    late = [(at - due_at).total_seconds() for due_at, at in fired]
    span = (max(at for _, at in fired) - min(at for _, at in fired)).total_seconds()
    return late, span


def bench(incidents: int, window: float) -> str:
    with temporary_sqlite() as url:
        started = time.monotonic()
        start = datetime.now(UTC) + timedelta(seconds=30 + incidents / 2000)
        seed(url, incidents, window, start)
        seeded_in = time.monotonic() - started
        logs = Path(url.removeprefix("sqlite:///")).parent
        env = env_for(url, PAGER_LOG_LEVEL="ERROR")  # the log channel would print every page
        worker = Process(pagerd("worker"), env, logs / "worker.log")
        try:
            wait = (start - datetime.now(UTC)).total_seconds() + window + 5
            deadline = time.monotonic() + wait + 120
            time.sleep(max(0.0, wait))
            while time.monotonic() < deadline:
                engine = create_engine(url)
                with engine.connect() as conn:
                    left = conn.scalar(
                        sa.select(sa.func.count())
                        .select_from(t.timers)
                        .where(t.timers.c.level == 1)
                    )
                engine.dispose()
                if not left:
                    break
                time.sleep(1)
            memory = peak_memory_kib(worker.popen.pid)
        finally:
            worker.stop()
        late, span = lateness(url)
    return (
        f"{incidents:,} timers due over {window:.0f} s (seeded in {seeded_in:.0f} s): "
        f"fired {len(late):,}, lateness p50 {percentile(late, 50) * 1000:.0f} ms "
        f"p99 {percentile(late, 99) * 1000:.0f} ms max {max(late) * 1000:.0f} ms, "
        f"{len(late) / max(span, 1e-9):,.0f} escalations/s, "
        f"worker peak memory {memory / 1024:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 timers over 20 s")
    parser.add_argument("--incidents", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=60.0)
    args = parser.parse_args()
    if args.quick:
        args.incidents, args.window = 10_000, 20.0
    print(bench(args.incidents, args.window), flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PAGER_LOG_LEVEL", "ERROR")
    main()
