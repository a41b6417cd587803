"""Schedules at scale: 1,000 schedules of 3 layers over 10,000 users (each with an email
contact method), on SQLite.

1. The arithmetic, per schedule: `on_call` at an instant and a 14-day `shifts`, p50/p99/max;
   then what reads every schedule from the database: who is on call on every schedule
   (`Schedules.on_call`, what /api/v1/oncall answers), and a user's and a schedule's
   calendar feed (8 weeks ahead, rendered as iCalendar).
2. Escalation, address targets against schedule targets in the same run: open incidents,
   half on a policy whose levels name an email address, half on policies whose levels name
   a schedule (100 policies, 100 schedules), whose level-1 ack timers fall due over a
   window, 100 of one kind at an instant and 100 of the other half a step later (which kind
   first alternates), handled by one `pagerd worker` (as `bench.timers` does): the lateness
   of each kind's level-2 step (fire time - due time) and its escalations/s; and the
   handlers' alert commands/s of each kind while seeding.

    python -m bench.schedules [--quick]
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import sqlalchemy as sa

from bench.harness import Process, create_services, env_for, pagerd, percentile, temporary_sqlite
from bench.timers import TIMEOUT, SetClock, peak_memory_kib
from pager.adapters import ical
from pager.adapters.storage import tables as t
from pager.adapters.storage.calendar_feeds import SqlCalendarFeedStore
from pager.adapters.storage.codec import decode_event, encode_methods
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate
from pager.adapters.storage.schedules import SqlScheduleStore
from pager.adapters.storage.uow import SqlUnitOfWork
from pager.application.calendar_feeds import CalendarFeeds, Owner
from pager.application.handlers import Handlers
from pager.application.schedules import Schedules
from pager.domain.events import LevelNotified
from pager.domain.people import ContactMethod
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, ScheduleTarget, Target
from pager.domain.schedule import (
    Layer,
    Override,
    Restriction,
    Schedule,
    ShiftLength,
    on_call,
    shifts,
)

LINKS = "https://pager.example.com"
SHIFTS: tuple[ShiftLength, ...] = (
    ShiftLength(1, "weeks"),
    ShiftLength(1, "days"),
    ShiftLength(12, "hours"),
    ShiftLength(8, "hours"),
)
ZONES = ("UTC", "Europe/Paris", "America/New_York", "Asia/Tokyo", "Australia/Sydney")
BUSINESS = (Restriction(("mon", "tue", "wed", "thu", "fri"), "09:00", "17:00"),)
NIGHTS = (Restriction(("mon", "tue", "wed", "thu", "fri", "sat", "sun"), "17:00", "09:00"),)


def email(n: int) -> str:
    return f"user-{n:05d}@example.com"


def make_schedules(count: int, users: int, now: datetime, rng: random.Random) -> list[Schedule]:
    """Three layers each (a rotation, a business-hours one and a nights one, 3 to 8 people
    each, shifts of a week to 8 hours), in five zones, one or two overrides on every tenth."""
    found = []
    for n in range(count):
        zone = ZONES[n % len(ZONES)]
        start = datetime(2025, 1, 6, 9, 0) + timedelta(hours=rng.randrange(0, 24 * 7))
        layers = tuple(
            Layer(
                tuple(email(rng.randrange(users)) for _ in range(rng.randint(3, 8))),
                rng.choice(SHIFTS),
                start,
                restrictions,
            )
            for restrictions in ((), BUSINESS, NIGHTS)
        )
        overrides: tuple[Override, ...] = ()
        if n % 10 == 0:
            overrides = tuple(
                Override(
                    f"o-{n}-{k}",
                    email(rng.randrange(users)),
                    now + timedelta(hours=rng.randrange(0, 300)),
                    now + timedelta(hours=rng.randrange(300, 340)),
                    now,
                )
                for k in range(1 + n % 2)
            )
        found.append(Schedule(f"sched-{n:04d}", f"Schedule {n}", zone, layers, overrides))
    return found


def add_users(engine: sa.Engine, count: int) -> None:
    now = datetime.now(UTC)
    rows = [
        {
            "id": f"{n:032x}",
            "email": email(n),
            "role": "responder",
            "created_at": now,
            "name": f"User {n}",
            "contact_methods": encode_methods((ContactMethod("work", "email", email(n)),)),
        }
        for n in range(count)
    ]
    with engine.begin() as conn:
        for first in range(0, count, 2000):
            conn.execute(t.users.insert(), rows[first : first + 2000])


def store_schedules(engine: sa.Engine, schedules: Sequence[Schedule]) -> None:
    store = SqlScheduleStore(engine)
    now = datetime.now(UTC)
    for schedule in schedules:
        store.put(schedule, now)
        for override in schedule.overrides:
            store.add_override(schedule.id, override, "bench@example.com")


def timed(run: Callable[[], object], times: int = 1) -> list[float]:
    spent = []
    for _ in range(times):
        started = time.perf_counter()
        run()
        spent.append(time.perf_counter() - started)
    return spent


def summary(label: str, seconds: Sequence[float], unit: float = 1e6, name: str = "µs") -> str:
    return (
        f"{label}: p50 {percentile(seconds, 50) * unit:,.0f} {name}  "
        f"p99 {percentile(seconds, 99) * unit:,.0f} {name}  max {max(seconds) * unit:,.0f} {name}"
    )


def arithmetic(url: str, schedules: list[Schedule], now: datetime) -> list[str]:
    lines = []
    rounds = 5
    on_calls = [
        s
        for _ in range(rounds)
        for schedule in schedules
        for s in timed(partial(on_call, schedule, now))
    ]
    lines.append(summary(f"on_call, {len(schedules):,} schedules x {rounds}", on_calls))
    end = now + timedelta(days=14)
    fortnights = [s for schedule in schedules for s in timed(partial(shifts, schedule, now, end))]
    lines.append(summary(f"shifts over 14 days, {len(schedules):,} schedules", fortnights))

    engine = create_engine(url)

    class Clock:
        def now(self) -> datetime:
            return now

    every = Schedules(SqlScheduleStore(engine), Clock())
    lines.append(
        summary(
            "who is on call on every schedule (read from the database, next change)",
            timed(every.on_call, 5),
            1e3,
            "ms",
        )
    )
    feeds = CalendarFeeds(SqlCalendarFeedStore(engine), SqlScheduleStore(engine), Clock())
    named = Counter(user for s in schedules for layer in s.layers for user in layer.users)
    busiest = named.most_common(1)[0][0]
    for owner in (Owner("user", busiest), Owner("schedule", schedules[0].id)):
        token = feeds.create(owner, "bench@example.com").token
        events = 0

        def feed(token: str = token) -> None:
            nonlocal events
            calendar = feeds.calendar(token)
            assert calendar is not None
            events = len(calendar.events)
            ical.render(calendar, LINKS)

        spent = timed(feed, 5)
        lines.append(summary(f"a {owner.kind}'s calendar feed ({events} events)", spent, 1e3, "ms"))
    engine.dispose()
    return lines


def seed_incidents(
    url: str, incidents: int, window: float, start: datetime, schedules: Sequence[Schedule]
) -> tuple[float, float]:
    """Half the incidents on the address policy, half on 100 schedule policies, their alerts
    interleaved in chunks due at the same instant; the alert commands/s of each kind."""
    engine = create_engine(url)
    clock = SetClock()
    handlers = Handlers(lambda: SqlUnitOfWork(engine), clock)

    def policy(policy_id: str, target: Target) -> None:
        level = Level((target,), TIMEOUT)
        handlers.define_policy(EscalationPolicy(policy_id, policy_id, (level, level)))

    policy("address", EmailTarget("oncall@example.com"))
    targeted = schedules[:100]
    for schedule in targeted:
        policy(f"p-{schedule.id}", ScheduleTarget(schedule.id))
    half = incidents // 2
    address = [f"svc-a-{n:06d}" for n in range(half)]
    scheduled = [f"svc-s-{n:06d}" for n in range(half)]
    create_services(engine, address, "address")
    for k, schedule in enumerate(targeted):
        create_services(engine, scheduled[k :: len(targeted)], f"p-{schedule.id}")
    spent = {"a": 0.0, "s": 0.0}
    chunk = 100  # of one kind, due at the same instant; the other kind's half a step later
    step = window * chunk / half
    for number, first in enumerate(range(0, half, chunk)):
        # Which kind comes first alternates: a worker that is behind claims both groups at
        # once, and the later one then looks half a step less late.
        kinds = (("a", address), ("s", scheduled))
        for offset, (kind, ids) in enumerate(kinds if number % 2 == 0 else kinds[::-1]):
            due = window * first / half + offset * step / 2
            clock.value = start + timedelta(seconds=due - TIMEOUT)
            commands = [handlers.alert_command(s, "disk full") for s in ids[first : first + chunk]]
            began = time.perf_counter()
            handlers.execute(commands)
            spent[kind] += time.perf_counter() - began
    engine.dispose()
    return half / spent["a"], half / spent["s"]


def lateness(url: str) -> dict[str, tuple[list[float], float]]:
    """Per kind ("address", "schedule"): each level-2 step's lateness and the span of time
    in which they fired."""
    engine = create_engine(url)
    due: dict[str, datetime] = {}
    fired: dict[str, list[tuple[datetime, datetime]]] = {"address": [], "schedule": []}
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(t.events.c.stream_id, t.events.c.data).where(
                t.events.c.type == "LevelNotified"
            )
        )
        for stream, data in rows:
            event = decode_event("LevelNotified", data)
            assert isinstance(event, LevelNotified)
            kind = "address" if stream.startswith("service:svc-a-") else "schedule"
            if event.level == 1:
                due[event.incident_id] = event.timer_due_at
            else:
                fired[kind].append((due.get(event.incident_id, event.at), event.at))
    engine.dispose()
    found = {}
    for kind, pairs in fired.items():
        late = [(at - due_at).total_seconds() for due_at, at in pairs]
        ats = [at for _, at in pairs]
        found[kind] = (late, (max(ats) - min(ats)).total_seconds() if ats else 0.0)
    return found


def level_two_pages(url: str) -> dict[str, int]:
    """Level-2 notifications of each kind: a schedule's go to whoever it had on call."""
    engine = create_engine(url)
    n = t.notifications.c
    kind = sa.case((n.service_id.like("svc-s-%"), "schedule"), else_="address")
    query = sa.select(kind, sa.func.count()).where(n.level == 2).group_by(kind)
    with engine.connect() as conn:
        found = {row[0]: int(row[1]) for row in conn.execute(query)}
    engine.dispose()
    return found


def escalation(url: str, incidents: int, window: float, schedules: Sequence[Schedule]) -> list[str]:
    started = time.monotonic()
    start = datetime.now(UTC) + timedelta(seconds=30 + incidents / 1000)
    commands_per_second = seed_incidents(url, incidents, window, start, schedules)
    seeded_in = time.monotonic() - started
    env = env_for(url, PAGER_LOG_LEVEL="ERROR")  # the log channel would print every page
    logs = Path(url.removeprefix("sqlite:///")).parent
    worker = Process(pagerd("worker"), env, logs / "worker.log")
    try:
        wait = (start - datetime.now(UTC)).total_seconds() + window + 5
        deadline = time.monotonic() + wait + 120
        time.sleep(max(0.0, wait))
        while time.monotonic() < deadline:
            engine = create_engine(url)
            with engine.connect() as conn:
                left = conn.scalar(
                    sa.select(sa.func.count()).select_from(t.timers).where(t.timers.c.level == 1)
                )
            engine.dispose()
            if not left:
                break
            time.sleep(1)
        memory = peak_memory_kib(worker.popen.pid)
    finally:
        worker.stop()
    lines = [
        f"{incidents:,} timers due over {window:.0f} s, half to an address and half to a "
        f"schedule, in alternate groups of 100 (seeded in {seeded_in:.0f} s); worker peak memory "
        f"{memory / 1024:.0f} MiB"
    ]
    pages = level_two_pages(url)
    for (kind, (late, span)), rate in zip(lateness(url).items(), commands_per_second, strict=True):
        lines.append(
            f"  {kind:>8} targets: fired {len(late):,} ({pages.get(kind, 0):,} pages), "
            f"lateness p50 {percentile(late, 50) * 1000:.0f} ms "
            f"p99 {percentile(late, 99) * 1000:.0f} ms max {max(late, default=0) * 1000:.0f} ms, "
            f"{len(late) / max(span, 1e-9):,.0f} "
            f"escalations/s; seeding: {rate:,.0f} alert commands/s"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="200 schedules, 2,000 users, 4,000 timers over 10 s"
    )
    args = parser.parse_args()
    schedules, users, incidents, window = (
        (200, 2_000, 4_000, 10.0) if args.quick else (1_000, 10_000, 20_000, 30.0)
    )
    rng = random.Random(16)
    now = datetime.now(UTC).replace(microsecond=0)
    with temporary_sqlite() as url:
        engine = create_engine(url)
        migrate(engine)
        began = time.monotonic()
        add_users(engine, users)
        made = make_schedules(schedules, users, now, rng)
        store_schedules(engine, made)
        engine.dispose()
        print(
            f"{schedules:,} schedules of 3 layers, {users:,} users (stored in "
            f"{time.monotonic() - began:.0f} s)",
            flush=True,
        )
        for line in arithmetic(url, made, now):
            print(line, flush=True)
        for line in escalation(url, incidents, window, made):
            print(line, flush=True)


if __name__ == "__main__":
    os.environ.setdefault("PAGER_LOG_LEVEL", "ERROR")
    main()
