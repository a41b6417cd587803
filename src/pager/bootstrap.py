"""The composition root: the one place that builds the database, clock, handlers, channels
and worker from the settings."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy.engine import Engine

from pager.adapters.ack_links import AckLinks
from pager.adapters.clock import SystemClock
from pager.adapters.notify.dispatcher import Dispatcher, RetryPolicy
from pager.adapters.notify.email import SmtpChannel, SmtpSettings
from pager.adapters.notify.handoff import Handoff
from pager.adapters.notify.log import LogChannel
from pager.adapters.notify.outbox import ClaimedNotification, SqlOutbox
from pager.adapters.notify.slack import SlackChannel
from pager.adapters.notify.sms import TwilioSettings, TwilioSmsChannel
from pager.adapters.notify.webhook import WebhookChannel
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate
from pager.adapters.storage.secret_key import SecretKey
from pager.adapters.storage.uow import unit_of_work_factory
from pager.adapters.timers import SqlTimerQueue
from pager.adapters.wakeup import Wakeup
from pager.application.handlers import Handlers
from pager.application.ports import Channel, Clock
from pager.config import Settings
from pager.entrypoints.worker import DispatcherModule, Module, TimersModule, Worker

logger = logging.getLogger("pager")


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    handlers: Handlers
    wakeup: Wakeup = field(default_factory=Wakeup)
    handoff: Handoff = field(default_factory=Handoff)


def bootstrap(
    settings: Settings | None = None,
    *,
    clock: Clock | None = None,
    engine: Engine | None = None,
    run_migrations: bool = False,
) -> App:
    settings = settings or Settings()
    engine = engine or create_engine(settings.database_url)
    if run_migrations:
        migrate(engine)
    clock = clock or SystemClock()
    wakeup = Wakeup()
    handoff = Handoff()
    handlers = Handlers(unit_of_work_factory(engine, wakeup.notify, handoff), clock)
    return App(settings, engine, clock, handlers, wakeup, handoff)


def build_channels(settings: Settings) -> Mapping[str, Channel]:
    """Email and SMS go to the log until they are configured; webhooks and Slack need no
    configuration of their own."""
    log = LogChannel()
    email: Channel = log
    sms: Channel = log
    if settings.smtp_url is not None:
        email = SmtpChannel(
            SmtpSettings.from_url(settings.smtp_url.get_secret_value(), settings.smtp_from),
            keep_alive=True,
        )
    else:
        logger.warning("PAGER_SMTP_URL is not set: email notifications go to the log")
    sid, token, sender = (
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from,
    )
    if sid and token and sender:
        sms = TwilioSmsChannel(
            TwilioSettings(sid, token.get_secret_value(), sender, settings.twilio_base_url)
        )
    else:
        logger.warning("PAGER_TWILIO_* are not all set: SMS notifications go to the log")
    return {"email": email, "sms": sms, "webhook": WebhookChannel(), "slack": SlackChannel()}


def build_worker(app: App, channels: Mapping[str, Channel] | None = None) -> Worker:
    settings = app.settings
    public_url = settings.public_url.rstrip("/")

    # Read (or made) now, not on the first page: that one must not wait for it.
    secret = SecretKey(settings.secret_key, app.engine)
    secret.value()
    ack_links = AckLinks(secret.value, app.clock, public_url, settings.ack_link_ttl_seconds)

    def links(claimed: ClaimedNotification) -> tuple[str | None, str | None]:
        ack_url = ack_links.url(claimed.incident_id, claimed.level, claimed.target)
        return f"{public_url}/incidents/{claimed.incident_id}", ack_url

    timers = SqlTimerQueue(app.engine, settings.worker_lease_seconds)
    outbox = SqlOutbox(app.engine, settings.worker_lease_seconds)
    if app.engine.dialect.name == "sqlite":
        # One worker per SQLite database: claims left by a killed worker are its own.
        timers.release_all()
        outbox.release_all()
    retry = RetryPolicy(
        settings.delivery_max_attempts,
        settings.delivery_max_seconds,
        settings.delivery_backoff_base_seconds,
        settings.delivery_backoff_max_seconds,
    )
    dispatcher = Dispatcher(outbox, channels or build_channels(settings), app.clock, retry, links)
    modules: list[Module] = [
        TimersModule(timers, app.handlers, app.clock),
        DispatcherModule(dispatcher, app.handoff, timedelta(seconds=settings.worker_lease_seconds)),
    ]
    return Worker(modules, app.clock, app.wakeup, app.engine, settings.worker_poll_seconds)
