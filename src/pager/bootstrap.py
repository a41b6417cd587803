"""The composition root: the one place that builds, from the settings, what the HTTP API,
the console, the CLI and the worker use: the database, the clock, the handlers and group
commit, the read side, accounts, the signing key, and the worker's parts (timer queue,
outbox, channels, dispatcher)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.engine import Engine

from pager.adapters.ack_links import AckLinks
from pager.adapters.clock import FastClock, SystemClock
from pager.adapters.handoff import Handoff
from pager.adapters.notify.dispatcher import Dispatcher, RetryPolicy
from pager.adapters.notify.email import SmtpChannel, SmtpSettings
from pager.adapters.notify.log import LogChannel
from pager.adapters.notify.mattermost import MattermostChannel
from pager.adapters.notify.slack import SlackChannel
from pager.adapters.notify.slack_app import SlackWebApi
from pager.adapters.notify.sms import TwilioSettings, TwilioSmsChannel, is_messaging_service
from pager.adapters.notify.teams import TeamsChannel
from pager.adapters.notify.voice import TwilioVoiceChannel
from pager.adapters.notify.webhook import WebhookChannel
from pager.adapters.reply_codes import ReplyCodes
from pager.adapters.storage.accounts import SqlAccountStore
from pager.adapters.storage.api_tokens import SqlApiTokens
from pager.adapters.storage.calendar_feeds import SqlCalendarFeedStore
from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate
from pager.adapters.storage.outbox import SqlOutbox
from pager.adapters.storage.pages import SqlSentPages
from pager.adapters.storage.queries import SqlQueries
from pager.adapters.storage.schedules import SqlScheduleStore
from pager.adapters.storage.secret_key import SecretKey
from pager.adapters.storage.timers import SqlTimerQueue
from pager.adapters.storage.uow import unit_of_work_factory
from pager.adapters.storage.verifications import SqlVerificationStore
from pager.adapters.wakeup import Wakeup
from pager.application.accounts import Accounts
from pager.application.calendar_feeds import CalendarFeeds
from pager.application.contact import ContactMethods
from pager.application.group_commit import GroupCommitter
from pager.application.handlers import Handlers
from pager.application.ports import Channel, ClaimedNotification, Clock, Messenger, SentPages
from pager.application.queries import ReadModel
from pager.application.schedules import Schedules
from pager.config import Settings
from pager.domain.policy import SmsTarget

logger = logging.getLogger("pager")


@dataclass
class WorkerParts:
    """What the background worker runs: due ack timers and the dispatcher."""

    timers: SqlTimerQueue
    dispatcher: Dispatcher


@dataclass
class App:
    settings: Settings
    engine: Engine
    clock: Clock
    wakeup: Wakeup
    handoff: Handoff
    handlers: Handlers
    queries: ReadModel
    accounts: Accounts
    api_tokens: SqlApiTokens
    secret: SecretKey

    @cached_property
    def commits(self) -> GroupCommitter:
        """Group commit: how the HTTP API's concurrent requests share transactions."""
        return GroupCommitter(self.handlers)

    @cached_property
    def schedules(self) -> Schedules:
        """On-call schedules and their overrides."""
        return Schedules(SqlScheduleStore(self.engine), self.clock)

    @cached_property
    def calendar_feeds(self) -> CalendarFeeds:
        """Users' and schedules' calendar feeds (their secret addresses)."""
        return CalendarFeeds(
            SqlCalendarFeedStore(self.engine), SqlScheduleStore(self.engine), self.clock
        )

    @cached_property
    def ack_links(self) -> AckLinks:
        settings = self.settings
        return AckLinks(
            self.secret.value,
            self.clock,
            settings.links_url,
            settings.ack_link_ttl_seconds,
        )

    @cached_property
    def reply_codes(self) -> ReplyCodes:
        """The codes SMS pages ask to be replied with."""
        return ReplyCodes(self.secret.value)

    @cached_property
    def sent_pages(self) -> SentPages:
        """Pages as Twilio's callbacks name them."""
        return SqlSentPages(self.engine)

    @cached_property
    def slack_app(self) -> SlackWebApi | None:
        """The Slack app's Web API, for answering button presses; None without a bot token."""
        return _slack_app(self.settings)

    @cached_property
    def contact_methods(self) -> ContactMethods:
        """Verification codes and test pages, through the channels the settings configure."""
        return ContactMethods(
            self.accounts,
            SqlVerificationStore(self.engine),
            build_messengers(self.settings),
            self.clock,
            self.secret.value,
        )

    def worker_parts(self, channels: Mapping[str, Channel] | None = None) -> WorkerParts:
        """The worker's timer queue and dispatcher, sending through `channels` (by default
        those the settings configure). Raises ValueError for a bad channel setting."""
        settings = self.settings
        public_url = settings.links_url
        self.secret.value()  # read (or made) now: the first page must not wait for it
        ack_links = self.ack_links

        def links(claimed: ClaimedNotification) -> tuple[str | None, str | None]:
            ack_url = ack_links.url(claimed.incident_id, claimed.level, claimed.target)
            return f"{public_url}/incidents/{claimed.incident_id}", ack_url

        reply_codes = self.reply_codes

        def reply_code(claimed: ClaimedNotification) -> str | None:
            if not isinstance(claimed.target, SmsTarget):
                return None
            return reply_codes.code(claimed.incident_id)

        timers = SqlTimerQueue(self.engine, settings.worker_lease_seconds)
        outbox = SqlOutbox(self.engine, settings.worker_lease_seconds)
        if self.engine.dialect.name == "sqlite":
            # One worker per SQLite database: claims left by a killed worker are its own.
            timers.release_all()
            outbox.release_all()
        retry = RetryPolicy(
            settings.delivery_max_seconds,
            settings.delivery_backoff_base_seconds,
            settings.delivery_backoff_max_seconds,
        )
        channels = channels or build_channels(settings)
        dispatcher = Dispatcher(outbox, channels, self.clock, retry, links, reply_code=reply_code)
        return WorkerParts(timers, dispatcher)


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
    if clock is None:
        clock = SystemClock() if settings.clock_speed == 1 else FastClock(settings.clock_speed)
    wakeup = Wakeup()
    handoff = Handoff()
    queries = SqlQueries(engine, clock)
    handlers = Handlers(
        unit_of_work_factory(engine, wakeup.notify, handoff),
        clock,
        incident_service=queries.incident_service,
        allow_private_targets=settings.allow_private_targets,
    )
    accounts = Accounts(
        SqlAccountStore(engine), clock, cache_seconds=settings.credential_cache_seconds
    )
    return App(
        settings=settings,
        engine=engine,
        clock=clock,
        wakeup=wakeup,
        handoff=handoff,
        handlers=handlers,
        queries=queries,
        accounts=accounts,
        api_tokens=SqlApiTokens(engine),
        secret=SecretKey(settings.secret_key, engine),
    )


def build_channels(settings: Settings) -> Mapping[str, Channel]:
    """Email, SMS and voice calls go to the log until they are configured (said once, in
    one line, with the Slack app when it is not); webhooks, Slack's incoming webhooks, Teams
    and Mattermost need no configuration of their own."""
    log = LogChannel()
    email: Channel = _smtp_channel(settings, keep_alive=True) or log
    sms: Channel = _twilio_channel(settings) or log
    voice: Channel = _twilio_voice_channel(settings) or log
    unconfigured = []
    if email is log:
        unconfigured.append("email (PAGER_SMTP_URL)")
    if sms is log:
        unconfigured.append(
            "SMS (PAGER_TWILIO_ACCOUNT_SID, PAGER_TWILIO_AUTH_TOKEN, PAGER_TWILIO_FROM)"
        )
    if voice is log:
        unconfigured.append(
            "voice calls (PAGER_TWILIO_ACCOUNT_SID, PAGER_TWILIO_AUTH_TOKEN and a phone number "
            "in PAGER_TWILIO_VOICE_FROM or PAGER_TWILIO_FROM: a Messaging Service cannot call)"
        )
    said = []
    if unconfigured:
        said.append(
            f"not configured: {' and '.join(unconfigured)}; their pages are written to the log "
            "(logger pager.notify) and recorded as logged, not sent"
        )
    slack_app = _slack_app(settings)
    if slack_app is None:
        said.append(
            "the Slack app is not configured (PAGER_SLACK_BOT_TOKEN): pages to Slack channel "
            "targets fail (incoming-webhook Slack targets work)"
        )
    if said:
        logger.warning("%s", "; ".join(said))
    private = settings.allow_private_targets
    return {
        "email": email,
        "sms": sms,
        "voice": voice,
        "webhook": WebhookChannel(allow_private=private),
        "slack": SlackChannel(allow_private=private, app=slack_app),
        "teams": TeamsChannel(allow_private=private),
        "mattermost": MattermostChannel(allow_private=private),
    }


def build_messengers(settings: Settings) -> Mapping[str, Messenger]:
    """The channels that send test pages and verification codes: email and SMS as pages
    take them (the log where they are not configured), a connection per message."""
    log = LogChannel()
    return {
        "email": _smtp_channel(settings, keep_alive=False) or log,
        "sms": _twilio_channel(settings) or log,
    }


def _smtp_channel(settings: Settings, *, keep_alive: bool) -> SmtpChannel | None:
    if settings.smtp_url is None:
        return None
    return SmtpChannel(
        SmtpSettings.from_url(settings.smtp_url.get_secret_value(), settings.smtp_from),
        keep_alive=keep_alive,
    )


def _slack_app(settings: Settings) -> SlackWebApi | None:
    token = settings.slack_bot_token
    if token is None or not token.get_secret_value().strip():
        return None
    return SlackWebApi(token.get_secret_value(), settings.slack_api_url)


def _twilio_channel(settings: Settings) -> TwilioSmsChannel | None:
    sid, token, sender = (
        settings.twilio_account_sid,
        settings.twilio_auth_token,
        settings.twilio_from,
    )
    if not (sid and token and sender):
        return None
    return TwilioSmsChannel(
        TwilioSettings(sid, token.get_secret_value(), sender, settings.twilio_base_url)
    )


def _twilio_voice_channel(settings: Settings) -> TwilioVoiceChannel | None:
    sid, token = settings.twilio_account_sid, settings.twilio_auth_token
    caller = settings.twilio_voice_from or settings.twilio_from
    if not (sid and token and caller) or is_messaging_service(caller):
        return None
    return TwilioVoiceChannel(
        TwilioSettings(sid, token.get_secret_value(), caller, settings.twilio_base_url),
        settings.links_url,
    )
