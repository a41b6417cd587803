"""`pagerd demo`: Pager's escalation rules played out in the terminal, on a throw-away SQLite
database, with the real handlers and the real worker, a clock that runs fast, and channels
that record instead of sending."""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from pager.adapters.clock import FastClock
from pager.adapters.storage.codec import decode_target
from pager.application.ports import OutgoingNotification
from pager.application.queries import StreamEvent
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.policy import EmailTarget, EscalationPolicy, Level, SlackTarget, SmsTarget
from pager.entrypoints.cli_common import fail
from pager.entrypoints.worker import build_worker

commands = typer.Typer()

SPEED = 120
"""Demo seconds per real second: a 5-minute ack timeout runs out in 2.5 s."""
SERVICE = "checkout"
POLICY = EscalationPolicy(
    "checkout-oncall",
    "Checkout on call",
    (
        Level((EmailTarget("alice@example.com"), SmsTarget("+14155550100")), 5 * 60),
        Level(
            (
                EmailTarget("bob@example.com"),
                SlackTarget("https://hooks.slack.com/services/T0DEMO/B0DEMO/demo"),
            ),
            10 * 60,
        ),
    ),
)
STEP_TIMEOUT = 20.0
"""Real seconds any one step may take before the demo gives up."""


@dataclass
class RecordingChannel:
    """A channel that always succeeds and sends nothing: it only records."""

    clock: FastClock
    sent: list[tuple[datetime, OutgoingNotification]] = field(default_factory=list)

    async def send(self, notification: OutgoingNotification) -> str | None:
        self.sent.append((self.clock.now(), notification))
        return f"demo-{len(self.sent)}"


class DemoStuck(Exception):
    pass


class Timeline:
    """Prints the service's events and the notifications sent, in order, as they happen."""

    def __init__(self, console: Console, app: App, channel: RecordingChannel) -> None:
        self._console = console
        self._queries = app.queries
        self._channel = channel
        self._start = app.clock.now()
        self._version = 0
        self._shown_sent = 0
        self.events: list[StreamEvent] = []

    async def until(self, what: str, done: Callable[[], bool]) -> None:
        """Show what happens until `done()`; DemoStuck after STEP_TIMEOUT real seconds."""
        deadline = time.monotonic() + STEP_TIMEOUT
        with self._console.status(f"{what}..."):  # shown on a terminal only
            while True:
                await self._show_new()
                if done():
                    return
                if time.monotonic() > deadline:
                    raise DemoStuck(f"{what} did not happen within {STEP_TIMEOUT:.0f} s")
                await asyncio.sleep(0.05)

    def seen(self, type_: str, **data: Any) -> bool:
        return any(
            event.type == type_ and all(event.data.get(k) == v for k, v in data.items())
            for event in self.events
        )

    @property
    def sent(self) -> int:
        """How many notifications have been sent and shown."""
        return self._shown_sent

    def say(self, text: str) -> None:
        self._console.print(f"\n[italic]{text}[/]")

    async def _show_new(self) -> None:
        # Deliveries first, then events: a delivery seen now has its event committed already.
        sent = list(self._channel.sent)
        events = await asyncio.to_thread(self._queries.service_events, SERVICE, self._version)
        for event in events or ():
            self._version = event.version
            self.events.append(event)
            self._line(event.at, _describe_event(event))
        for at, notification in sent[self._shown_sent :]:
            self._line(at, f"  [green]sent[/]    {notification.target.label}")
        self._shown_sent = len(sent)

    def _line(self, at: datetime, text: str) -> None:
        self._console.print(f"[dim]{self.offset(at)}[/]  {text}", soft_wrap=True)

    def offset(self, at: datetime) -> str:
        minutes, seconds = divmod(int((at - self._start).total_seconds()), 60)
        return f"+{minutes:02d}:{seconds:02d}"


def _describe_event(event: StreamEvent) -> str:
    data = event.data
    match event.type:
        case "ServiceCreated":
            return f"[bold]service[/]   {data['service_id']} uses policy {data['policy_id']}"
        case "IncidentOpened":
            return (
                f"[bold red]alert[/]     {data['message']!r}: incident "
                f"{str(data['incident_id'])[:8]} opened, {SERVICE} is unhealthy"
            )
        case "LevelNotified":
            minutes = data["ack_timeout_seconds"] // 60
            targets = ", ".join(decode_target(t).label for t in data["targets"])
            return (
                f"[bold yellow]level {data['level']}[/]   paging {targets}; "
                f"acknowledge within {minutes} min"
            )
        case "AlertAttached":
            return (
                f"[bold cyan]alert[/]     {data['message']!r}: attached to the open incident, "
                "nobody paged"
            )
        case "Acknowledged":
            return f"[bold blue]ack[/]       by {data['by']}: the escalation stops"
        case "IncidentResolved":
            return f"[bold green]healthy[/]   {SERVICE} is healthy again: incident resolved"
        case "EscalationExhausted":
            return "[bold red]exhausted[/] the last level timed out: nobody left to page"
    return event.type


async def _play(console: Console, app: App, channel: RecordingChannel) -> None:
    handlers, timeline = app.handlers, Timeline(console, app, channel)
    handlers.define_policy(POLICY)
    handlers.define_service(SERVICE, "Checkout API", POLICY.id)
    await timeline.until("creating the service", lambda: timeline.seen("ServiceCreated"))

    timeline.say("The checkout service starts failing, and its monitoring sends an alert.")
    outcome = await asyncio.to_thread(
        handlers.receive_alert, SERVICE, "HTTP 5xx above 5% for 2 minutes", dedup_key="5xx"
    )
    await timeline.until(
        "paging level 1", lambda: timeline.seen("LevelNotified", level=1) and timeline.sent == 2
    )

    timeline.say("Nobody acknowledges within 5 minutes, so Pager escalates to level 2.")
    await timeline.until(
        "escalating to level 2",
        lambda: timeline.seen("LevelNotified", level=2) and timeline.sent == 4,
    )

    timeline.say("A second alert for the same service joins the open incident, silently.")
    await asyncio.to_thread(
        handlers.receive_alert, SERVICE, "p99 latency above 2 s", dedup_key="latency"
    )
    await timeline.until("attaching the second alert", lambda: timeline.seen("AlertAttached"))

    timeline.say("Bob acknowledges: the escalation stops; nobody else is paged.")
    await asyncio.to_thread(handlers.acknowledge, outcome.incident_id, "bob@example.com")
    await timeline.until("acknowledging", lambda: timeline.seen("Acknowledged"))
    level_2_due = app.clock.now() + timedelta(seconds=POLICY.level(2).ack_timeout_seconds)
    await timeline.until("waiting out level 2", lambda: app.clock.now() > level_2_due)
    if timeline.sent != 4:
        raise DemoStuck("somebody was paged after the acknowledgement")
    timeline.say("Level 2's 10 minutes have passed: nobody was paged again.")

    timeline.say("The fix is deployed; the monitoring says the service is healthy.")
    await asyncio.to_thread(handlers.mark_healthy, SERVICE, "monitoring")
    await timeline.until("resolving", lambda: timeline.seen("IncidentResolved"))


async def _run(console: Console, app: App, channel: RecordingChannel) -> None:
    worker = build_worker(app, dict.fromkeys(("email", "sms", "webhook", "slack"), channel))
    running = asyncio.create_task(worker.run())
    try:
        await _play(console, app, channel)
    finally:
        worker.stop()
        await running


def _introduce(console: Console, directory: str) -> None:
    console.print(
        Panel(
            f"A throw-away database in {directory}, the real handlers and worker, and a clock "
            f"that runs {SPEED}x: one second here is {SPEED // 60} minutes. Notifications are "
            "recorded, not sent.",
            title="Pager demo",
            expand=False,
        )
    )
    table = Table(title=f"Escalation policy {POLICY.id!r} for service {SERVICE!r}")
    table.add_column("level")
    table.add_column("targets")
    table.add_column("ack timeout")
    for number, level in enumerate(POLICY.levels, start=1):
        targets = ", ".join(target.label for target in level.targets)
        table.add_row(str(number), targets, f"{level.ack_timeout_seconds // 60} min")
    console.print(table)


def _summarize(console: Console, channel: RecordingChannel, took: float) -> None:
    table = Table(title="Notifications sent")
    for column in ("level", "to", "incident"):
        table.add_column(column)
    for _, notification in channel.sent:
        target = notification.target.label
        table.add_row(str(notification.level), target, notification.incident_id[:8])
    console.print()
    console.print(table)
    console.print(f"Demo finished in {took:.1f} s; its database is gone.")


@commands.command("demo")
def demo() -> None:
    """Watch an escalation happen, in about ten seconds.

    On a throw-away SQLite database with the real handlers and worker and a clock that runs
    120 times faster: an alert pages level 1, the ack timeout escalates to level 2, a second
    alert attaches silently, an acknowledgement stops the escalation, and a healthy event
    resolves the incident. Nothing is sent anywhere; the database is deleted at the end.
    """
    console = Console(highlight=False)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="pager-demo-") as directory:
        clock = FastClock(SPEED)
        settings = Settings(
            database_url=f"sqlite:///{Path(directory) / 'demo.db'}", worker_poll_seconds=0.05
        )
        app = bootstrap(settings, clock=clock, run_migrations=True)
        channel = RecordingChannel(clock)
        try:
            _introduce(console, directory)
            asyncio.run(_run(console, app, channel))
        except DemoStuck as stuck:
            raise fail(f"the demo went wrong: {stuck}") from None
        finally:
            app.engine.dispose()
    _summarize(console, channel, time.monotonic() - started)
