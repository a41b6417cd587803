"""The Slack app with real parts: a server on 127.0.0.1 that speaks Slack's Web API and posts
signed button presses, the worker posting pages through it, and the HTTP app (FastAPI's
TestClient) answering the presses, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from slack_sdk.signature import SignatureVerifier

from pager.adapters.notify.slack import SlackChannel
from pager.adapters.notify.slack_app import NOT_CONFIGURED, SlackWebApi
from pager.adapters.storage import tables as t
from pager.application.ports import DeliveryFailed, OutgoingNotification
from pager.bootstrap import App, bootstrap, build_channels
from pager.config import Settings
from pager.domain.policy import EscalationPolicy, Level, SlackTarget, Target
from pager.entrypoints.http.app import create_app
from pager.entrypoints.http.errors import ApiError
from pager.entrypoints.http.slack import verify
from tests.support.clock import FakeClock
from tests.support.servers import (
    Reply,
    SignedPress,
    SlackApiServer,
    SlackMessage,
    SlackReceiver,
    SlackUser,
    Unresponsive,
    free_port,
)
from tests.support.worker import running_worker, wait_until

CHANNEL, SECOND = "C0PAGER01", "C0PAGER02"
ALICE = SlackUser("U0ALICE01", "alice", "Alice@Example.com")  # Slack's case, not Pager's
STRANGER = SlackUser("U0STRANGER", "stranger", "stranger@elsewhere.example")
NO_EMAIL = SlackUser("U0NOEMAIL", "noemail")
ACTIONS = "/integrations/slack/actions"


@pytest.fixture
def slack() -> Iterator[SlackApiServer]:
    channels = {CHANNEL: "oncall", SECOND: "oncall-escalations"}
    with SlackApiServer(channels=channels, users=[ALICE, STRANGER, NO_EMAIL]) as server:
        yield server


def settings_for(database_url: str, slack: SlackApiServer, **more: object) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="https://pager.example.com",
        slack_bot_token=slack.token,
        slack_signing_secret=slack.signing_secret,
        slack_api_url=slack.api_url,
        delivery_backoff_base_seconds=0.1,
        delivery_backoff_max_seconds=0.2,
        **more,  # type: ignore[arg-type]
    )


@pytest.fixture
def app(database_url: str, slack: SlackApiServer) -> Iterator[App]:
    app = bootstrap(settings_for(database_url, slack))
    app.accounts.add_user("alice@example.com")
    app.handlers.define_policy(
        EscalationPolicy(
            "ops",
            "Ops",
            (
                Level((SlackTarget(channel=CHANNEL),), ack_timeout_seconds=3600),
                Level((SlackTarget(channel=SECOND),), ack_timeout_seconds=3600),
            ),
        )
    )
    app.handlers.define_service("db", "Database", "ops")
    yield app
    app.engine.dispose()


@pytest.fixture
def client(app: App) -> Iterator[TestClient]:
    with running_worker(app), TestClient(create_app(app)) as test_client:
        yield test_client


def page(app: App, slack: SlackApiServer, message: str = "disk full on db-1") -> SlackMessage:
    incident_id = app.handlers.receive_alert("db", message).incident_id
    assert incident_id is not None
    return slack.message_for(incident_id)


def press(client: TestClient, signed: SignedPress) -> int:
    answer = client.post(ACTIONS, content=signed.body, headers=signed.headers)
    return answer.status_code


def incident(app: App, message: SlackMessage) -> dict[str, object]:
    incident_id = message.buttons()["pager_ack"]["value"]
    detail = app.queries.incident(incident_id)
    assert detail is not None
    view = detail.incident
    events = [entry.type for entry in detail.timeline]
    return {
        "status": view.status,
        "acknowledged_by": view.acknowledged_by,
        "resolved_by": view.resolved_by,
        "level": view.level,
        "acknowledged": events.count("Acknowledged"),
    }


# --- posting --------------------------------------------------------------------------------


def test_a_page_to_a_channel_is_posted_with_the_three_buttons(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    incident_id = message.buttons()["pager_ack"]["value"]
    assert message.channel == CHANNEL
    assert {k: (b["text"]["text"], b["value"]) for k, b in message.buttons().items()} == {
        "pager_ack": ("Acknowledge", incident_id),
        "pager_resolve": ("Resolve", incident_id),
        "pager_escalate": ("Escalate", incident_id),
    }
    shown = message.mrkdwn()
    assert "*Database*: disk full on db-1" in shown
    assert "Level 1 · 1 alert · opened " in shown
    assert f"<https://pager.example.com/incidents/{incident_id}|Open incident>" in shown
    assert re.search(r"<https://pager\.example\.com/ack/[^|]+\|Acknowledge>", shown)
    assert "disk full on db-1" in message.text  # the fallback for notifications
    (request,) = [r for r in slack.requests if r.path == "/api/chat.postMessage"]
    assert request.header("Authorization") == f"Bearer {slack.token}"
    # The message's id in Slack is the attempt's provider id.
    wait_until(lambda: _provider_ids(app), what="the attempt recorded")
    assert _provider_ids(app) == [("sent", f"{CHANNEL}/{message.ts}")]


def _provider_ids(app: App) -> list[tuple[str, str | None]]:
    a = t.notification_attempts
    with app.engine.connect() as conn:
        return [tuple(row) for row in conn.execute(sa.select(a.c.outcome, a.c.provider_id))]  # type: ignore[misc]


def test_an_incoming_webhook_slack_target_still_works(database_url: str) -> None:
    with SlackReceiver() as hook:
        app = bootstrap(Settings(database_url=database_url, public_url="https://p.example"))
        app.handlers.define_policy(
            EscalationPolicy("ops", "Ops", (Level((SlackTarget(hook.hook_url),), 3600),))
        )
        app.handlers.define_service("db", "Database", "ops")
        with running_worker(app):
            app.handlers.receive_alert("db", "disk full")
            (request,) = hook.wait_for(1)
        app.engine.dispose()
    text = request.json()["text"]
    assert "*Database*: disk full" in text
    assert "|Acknowledge>" in text
    assert "blocks" not in request.json()


def test_without_a_bot_token_a_channel_page_fails_for_good_and_the_start_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="pager"):
        channels = build_channels(Settings(smtp_url="smtp://127.0.0.1:1"))
    (said,) = [r.getMessage() for r in caplog.records if "Slack app" in r.getMessage()]
    assert "the Slack app is not configured (PAGER_SLACK_BOT_TOKEN)" in said
    failed = failure(channels["slack"], notification(SlackTarget(channel=CHANNEL)))
    assert (failed.reason, failed.transient) == (NOT_CONFIGURED, False)


def notification(target: Target, **changes: object) -> OutgoingNotification:
    base = OutgoingNotification(
        id="0b9e4f7a-2c6d-4e8f-8a1b-3c5d7e9f1a2b",
        incident_id="7f3a9c2e-5b1d-4c8e-9a0f-1e2d3c4b5a69",
        service_id="checkout",
        service_name="Checkout <API>",
        message="HTTP 5xx above 5% & rising",
        level=2,
        round=3,
        target=target,
        attempt=1,
        opened_at=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        alert_count=3,
        incident_url="https://pager.example.com/incidents/7f3a9c2e",
        ack_url="https://pager.example.com/ack/token",
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def send(channel: SlackChannel | SlackWebApi, outgoing: OutgoingNotification) -> str | None:
    async def send_and_settle() -> str | None:
        try:
            if isinstance(channel, SlackWebApi):
                return await channel.post_page(outgoing)
            return await channel.send(outgoing)
        finally:
            await asyncio.sleep(0.02)  # let aiohttp close its connection on this loop

    return asyncio.run(send_and_settle())


def failure(channel: object, outgoing: OutgoingNotification) -> DeliveryFailed:
    with pytest.raises(DeliveryFailed) as raised:
        send(channel, outgoing)  # type: ignore[arg-type]
    return raised.value


def test_the_message_escapes_what_the_alert_says_and_names_the_round(
    slack: SlackApiServer,
) -> None:
    api = SlackWebApi(slack.token, slack.api_url)
    provider_id = send(SlackChannel(app=api), notification(SlackTarget(channel=CHANNEL)))
    (message,) = slack.messages
    assert provider_id == f"{CHANNEL}/{message.ts}"
    shown = message.mrkdwn()
    assert "*Checkout &lt;API&gt;*: HTTP 5xx above 5% &amp; rising" in shown
    assert "Level 2, round 3 · 3 alerts · opened 2024-05-01 12:00:00 UTC" in shown


@pytest.mark.parametrize(
    ("setup", "reason", "transient", "retry_after"),
    [
        (
            "unknown channel",
            "Slack chat.postMessage: channel C0NOWHERE1 was not found: check its id, and invite "
            "the app to a private one (channel_not_found)",
            False,
            None,
        ),
        (
            "not a member",
            "Slack chat.postMessage: the app is not in channel C0PAGER01: invite it (/invite "
            "@app) or add chat:write.public (not_in_channel)",
            False,
            None,
        ),
        (
            "wrong token",
            "Slack chat.postMessage: the bot token was refused: check PAGER_SLACK_BOT_TOKEN "
            "(invalid_auth)",
            False,
            None,
        ),
        (
            "rate-limited",
            "Slack chat.postMessage: rate-limited by Slack (ratelimited)",
            True,
            7.0,
        ),
        ("HTTP 500", "Slack chat.postMessage answered HTTP 500", True, None),
        ("HTTP 502 text", "Slack chat.postMessage answered HTTP 502", True, None),
        ("HTTP 404", "Slack chat.postMessage answered HTTP 404", False, None),
    ],
)
def test_slack_api_errors_are_clear_and_classified(
    slack: SlackApiServer, setup: str, reason: str, transient: bool, retry_after: float | None
) -> None:
    token, channel = slack.token, CHANNEL
    match setup:
        case "unknown channel":
            channel = "C0NOWHERE1"
        case "not a member":
            slack.not_member.add(CHANNEL)
        case "wrong token":
            token = "xoxb-revoked"
        case "rate-limited":
            slack.script(SlackApiServer.error("ratelimited", 429, {"Retry-After": "7"}))
        case "HTTP 500":
            slack.script(Reply.text(500, "Internal Server Error", {"Content-Type": "text/html"}))
        case "HTTP 502 text":
            slack.script(Reply.text(502, "Bad Gateway"))
        case "HTTP 404":
            slack.script(Reply.text(404, "<html>no</html>", {"Content-Type": "text/html"}))
    api = SlackWebApi(token, slack.api_url)
    failed = failure(SlackChannel(app=api), notification(SlackTarget(channel=channel)))
    assert (failed.reason, failed.transient, failed.retry_after) == (
        reason,
        transient,
        retry_after,
    )
    assert token not in failed.reason
    assert not slack.messages


def test_slack_unreachable_or_silent_is_transient() -> None:
    refused = failure(
        SlackWebApi("xoxb-t", f"http://127.0.0.1:{free_port()}/api/"),
        notification(SlackTarget(channel=CHANNEL)),
    )
    assert refused.transient
    assert refused.reason.startswith("Slack chat.postMessage: could not connect (")
    with Unresponsive() as silent:
        api = SlackWebApi("xoxb-t", silent.url + "/api/", timeout=1)
        started = time.monotonic()
        timed_out = failure(api, notification(SlackTarget(channel=CHANNEL)))
        assert time.monotonic() - started < 5  # bounded by the timeout, not hung
    assert (timed_out.reason, timed_out.transient) == ("Slack chat.postMessage: timed out", True)


def test_a_failed_post_is_a_failed_attempt_on_the_incident(
    database_url: str, slack: SlackApiServer
) -> None:
    app = bootstrap(settings_for(database_url, slack))
    app.handlers.define_policy(
        EscalationPolicy("ops", "Ops", (Level((SlackTarget(channel="C0GONE0001"),), 3600),))
    )
    app.handlers.define_service("db", "Database", "ops")
    with running_worker(app):
        incident_id = app.handlers.receive_alert("db", "x").incident_id
        assert incident_id is not None

        def failed() -> str | None:
            detail = app.queries.incident(incident_id)
            assert detail is not None
            (found,) = detail.notifications
            return found.last_error if found.status == "failed" else None

        wait_until(failed, what="the page failed")
    assert "channel C0GONE0001 was not found" in (failed() or "")
    app.engine.dispose()


# --- presses --------------------------------------------------------------------------------


def test_acknowledge_acts_as_the_pager_user_with_the_slack_email_and_updates_the_message(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    signed = slack.signed_press(message, "pager_ack", ALICE.id)
    # Signed exactly as Slack signs, by slack_sdk's own reckoning.
    assert SignatureVerifier(slack.signing_secret).is_valid(
        signed.body, signed.timestamp, signed.signature
    )
    assert press(client, signed) == 200
    assert incident(app, message) == {
        "status": "acknowledged",
        "acknowledged_by": "alice@example.com",
        "resolved_by": None,
        "level": 1,
        "acknowledged": 1,
    }
    (update,) = slack.updates.wait_for(1)
    assert (update.channel, update.ts) == (message.channel, message.ts)
    assert re.search(
        r":white_check_mark: Acknowledged by alice@example\.com at \d\d:\d\d UTC", update.mrkdwn()
    )
    assert "*Database*: disk full on db-1" in update.mrkdwn()
    assert set(update.buttons()) == {"pager_resolve", "pager_escalate"}
    assert "Acknowledged by alice@example.com" in update.text


def test_a_slack_user_with_no_pager_account_is_recorded_as_that_slack_user(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    assert press(client, slack.signed_press(message, "pager_ack", STRANGER.id)) == 200
    assert incident(app, message)["acknowledged_by"] == "@stranger (Slack U0STRANGER)"
    (update,) = slack.updates.wait_for(1)
    assert "Acknowledged by @stranger (Slack U0STRANGER) at " in update.mrkdwn()


def test_a_slack_user_whose_email_slack_does_not_give_is_that_slack_user(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    assert press(client, slack.signed_press(message, "pager_ack", NO_EMAIL.id)) == 200
    assert incident(app, message)["acknowledged_by"] == "@noemail (Slack U0NOEMAIL)"


def test_resolve_resolves_and_leaves_no_buttons(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    assert press(client, slack.signed_press(message, "pager_resolve", ALICE.id)) == 200
    found = incident(app, message)
    assert (found["status"], found["resolved_by"]) == ("resolved", "alice@example.com")
    (update,) = slack.updates.wait_for(1)
    assert update.buttons() == {}
    assert ":large_green_circle: Resolved by alice@example.com at " in update.mrkdwn()


def test_escalate_pages_the_next_level_now(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    assert press(client, slack.signed_press(message, "pager_escalate", ALICE.id)) == 200
    _, second = slack.messages.wait_for(2)
    assert (second.channel, second.buttons()["pager_ack"]["value"]) == (
        SECOND,
        message.buttons()["pager_ack"]["value"],
    )
    assert "Level 2 · 1 alert" in second.mrkdwn()
    assert incident(app, message)["level"] == 2
    (update,) = slack.updates.wait_for(1)
    assert ":arrow_double_up: Escalated from level 1 by alice@example.com at " in update.mrkdwn()
    assert set(update.buttons()) == {"pager_ack", "pager_resolve", "pager_escalate"}
    # Past the last level there is nothing to escalate to: the presser alone is told.
    assert press(client, slack.signed_press(second, "pager_escalate", ALICE.id)) == 200
    (told,) = slack.ephemerals.wait_for(1)
    assert (told["channel"], told["user"]) == (SECOND, ALICE.id)
    assert "no next level to escalate to" in told["text"]
    assert incident(app, message)["level"] == 2


def test_two_presses_by_one_user_look_them_up_once(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    assert press(client, slack.signed_press(message, "pager_ack", ALICE.id)) == 200
    slack.updates.wait_for(1)
    assert press(client, slack.signed_press(message, "pager_resolve", ALICE.id)) == 200
    assert incident(app, message)["resolved_by"] == "alice@example.com"
    assert list(slack.lookups) == [ALICE.id]


def test_a_presser_slack_cannot_look_up_acts_by_their_slack_name_and_is_logged(
    app: App, client: TestClient, slack: SlackApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    message = page(app, slack)
    with caplog.at_level(logging.WARNING, logger="pager"):
        assert press(client, slack.signed_press(message, "pager_ack", "U0GONE0001")) == 200
    assert incident(app, message)["acknowledged_by"] == "@u0gone0001 (Slack U0GONE0001)"
    said = [r.getMessage() for r in caplog.records if "look up" in r.getMessage()]
    assert said == [
        "could not look up Slack user U0GONE0001: Slack users.info: refused (user_not_found)"
    ]


def test_a_refusal_slack_would_not_show_the_presser_is_logged_and_the_message_still_fixed(
    app: App, client: TestClient, slack: SlackApiServer, caplog: pytest.LogCaptureFixture
) -> None:
    first = page(app, slack)
    assert press(client, slack.signed_press(first, "pager_ack", ALICE.id)) == 200
    slack.updates.wait_for(1)  # the presser is looked up now, and known after
    app.handlers.resolve(first.buttons()["pager_ack"]["value"], "api")
    message = page(app, slack, "disk full on db-2")
    app.handlers.resolve(message.buttons()["pager_ack"]["value"], "api")
    slack.script(SlackApiServer.error("channel_not_found"))  # the ephemeral message
    with caplog.at_level(logging.WARNING, logger="pager"):
        assert press(client, slack.signed_press(message, "pager_ack", ALICE.id)) == 200
        slack.updates.wait_for(2)
    told = [r.getMessage() for r in caplog.records if "could not tell" in r.getMessage()]
    assert told == [
        f"could not tell Slack user {ALICE.id}: Slack chat.postEphemeral: channel {message.channel}"
        " was not found: check its id, and invite the app to a private one (channel_not_found)"
    ]


def test_pressing_a_stale_button_of_a_resolved_incident_says_so_and_fixes_the_message(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    app.handlers.resolve(message.buttons()["pager_ack"]["value"], "api")
    assert press(client, slack.signed_press(message, "pager_ack", ALICE.id)) == 200
    (told,) = slack.ephemerals.wait_for(1)
    assert "is already resolved" in told["text"]
    (update,) = slack.updates.wait_for(1)
    assert update.buttons() == {}
    assert ":large_green_circle: Resolved by api at " in update.mrkdwn()


UNSIGNED = "not signed by Slack: X-Slack-Request-Timestamp and X-Slack-Signature are required"
NOT_VERIFIED = "X-Slack-Signature does not verify with the signing secret"


@pytest.mark.parametrize(
    ("forgery", "said"),
    [
        pytest.param(forgery, said, id=forgery)
        for forgery, said in [
            ("unsigned", UNSIGNED),
            ("no timestamp", UNSIGNED),
            ("wrong secret", NOT_VERIFIED),
            ("body changed", NOT_VERIFIED),
            ("not a time", "X-Slack-Request-Timestamp is not a Unix time"),
            ("other time", NOT_VERIFIED),
        ]
    ],
)
def test_a_missing_or_wrong_signature_is_403_saying_why_and_changes_nothing(
    app: App, client: TestClient, slack: SlackApiServer, forgery: str, said: str
) -> None:
    message = page(app, slack)
    signed = slack.signed_press(message, "pager_ack", ALICE.id)
    headers, body = dict(signed.headers), signed.body
    match forgery:
        case "unsigned":
            del headers["X-Slack-Signature"]
        case "no timestamp":
            del headers["X-Slack-Request-Timestamp"]
        case "wrong secret":
            headers = slack.signed_press(message, "pager_ack", ALICE.id, secret="guess").headers
        case "body changed":
            body = body.replace(b"pager_ack", b"pager_resolve")
        case "not a time":
            headers["X-Slack-Request-Timestamp"] = "soon"
        case "other time":  # the signature is over the timestamp too
            headers["X-Slack-Request-Timestamp"] = str(int(signed.timestamp) - 1)
    answer = client.post(ACTIONS, content=body, headers=headers)
    assert answer.status_code == 403, answer.text
    assert answer.json()["error"] == {"code": "forbidden", "message": said}
    assert incident(app, message)["status"] == "triggered"
    assert not slack.lookups
    assert not slack.updates


def test_a_request_signed_more_than_5_minutes_ago_is_refused(
    app: App, client: TestClient, slack: SlackApiServer
) -> None:
    message = page(app, slack)
    replayed = slack.signed_press(message, "pager_ack", ALICE.id, timestamp=int(time.time()) - 360)
    assert (
        SignatureVerifier(slack.signing_secret).generate_signature(
            timestamp=replayed.timestamp, body=replayed.body
        )
        == replayed.signature
    )  # signed right, only too long ago
    answer = client.post(ACTIONS, content=replayed.body, headers=replayed.headers)
    assert answer.status_code == 403
    assert "more than 5 minutes" in answer.json()["error"]["message"]
    assert incident(app, message)["status"] == "triggered"


def test_the_window_is_5_minutes_of_pagers_clock(slack: SlackApiServer) -> None:
    clock = FakeClock()
    signed_at = int(clock.now().timestamp())
    message = SlackMessage(CHANNEL, "1.000100", "x", [_button("pager_ack", "inc-1")])
    signed = slack.signed_press(message, "pager_ack", ALICE.id, timestamp=signed_at)
    clock.advance(299)
    verify(slack.signing_secret, clock, signed.body, signed.headers)
    clock.advance(2)
    with pytest.raises(ApiError) as refused:
        verify(slack.signing_secret, clock, signed.body, signed.headers)
    assert refused.value.status == 403


def _button(action_id: str, value: str) -> dict[str, object]:
    element = {"type": "button", "action_id": action_id, "value": value, "text": {"text": "x"}}
    return {"type": "actions", "elements": [element]}


@pytest.mark.parametrize(
    ("button", "said"),
    [
        (
            _button("pager_ack", "no-such-incident"),
            f"Slack press pager_ack by {ALICE.id} names no incident (no-such-incident)",
        ),
        (
            _button("pager_ack", "not an id!"),
            f"Slack press pager_ack by {ALICE.id} names no incident ('not an id!')",
        ),
        (
            _button("someone_elses_button", "x"),
            f"Slack action 'someone_elses_button' by {ALICE.id} is not a Pager button; ignored",
        ),
    ],
    ids=["an unknown incident", "no incident id", "another app's button"],
)
def test_a_press_that_is_no_pager_press_is_answered_200_and_changes_nothing(
    app: App,
    client: TestClient,
    slack: SlackApiServer,
    caplog: pytest.LogCaptureFixture,
    button: dict[str, object],
    said: str,
) -> None:
    paged = page(app, slack)
    message = SlackMessage(CHANNEL, "1.000001", "another app's message", [button])
    (action_id,) = message.buttons()
    with caplog.at_level(logging.INFO, logger="pager.slack"):
        assert press(client, slack.signed_press(message, action_id, ALICE.id)) == 200
    # What the operator reads to learn why a press did nothing (Slack tells the presser less).
    assert said in [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert incident(app, paged)["status"] == "triggered"
    assert not slack.updates


@pytest.mark.parametrize(
    "body",
    [b"payload=%7Bnot+json", b"nothing=here", b"payload=%5B%5D", b"\xff\xfe", b""],
)
def test_a_signed_body_that_is_not_slacks_shape_is_a_400(
    client: TestClient, slack: SlackApiServer, body: bytes
) -> None:
    timestamp = str(int(time.time()))
    signature = SignatureVerifier(slack.signing_secret).generate_signature(
        timestamp=timestamp, body=body.decode("latin-1")
    )
    headers = {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature or ""}
    if body == b"\xff\xfe":  # not UTF-8: slack_sdk cannot even sign it
        answer = client.post(ACTIONS, content=body, headers=headers)
        assert answer.status_code == 403
        return
    answer = client.post(ACTIONS, content=body, headers=headers)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["code"] == "bad_request"


def test_without_a_signing_secret_the_endpoint_says_the_app_is_not_configured(
    database_url: str,
) -> None:
    app = bootstrap(Settings(database_url=database_url))
    with TestClient(create_app(app)) as test_client:
        answer = test_client.post(ACTIONS, content=b"payload=%7B%7D")
    app.engine.dispose()
    assert answer.status_code == 404
    assert "PAGER_SLACK_SIGNING_SECRET" in answer.json()["error"]["message"]


def test_the_user_cache_is_bounded(slack: SlackApiServer) -> None:
    api = SlackWebApi(slack.token, slack.api_url, cache_size=2)

    async def look_up(*user_ids: str) -> None:
        for user_id in user_ids:
            await api.user(user_id)
        await asyncio.sleep(0.02)

    asyncio.run(look_up(ALICE.id, STRANGER.id, ALICE.id, NO_EMAIL.id, STRANGER.id, ALICE.id))
    # Alice was used last when No-email came in, so Stranger went; then Alice.
    assert list(slack.lookups) == [ALICE.id, STRANGER.id, NO_EMAIL.id, STRANGER.id, ALICE.id]


def test_concurrent_lookups_of_one_user_share_one_call(slack: SlackApiServer) -> None:
    api = SlackWebApi(slack.token, slack.api_url)

    async def look_up() -> list[str | None]:
        found = await asyncio.gather(*(api.user(ALICE.id) for _ in range(20)))
        await asyncio.sleep(0.02)
        return [user.email for user in found]

    assert asyncio.run(look_up()) == [ALICE.email] * 20
    assert list(slack.lookups) == [ALICE.id]


def test_a_failed_lookup_is_not_kept(slack: SlackApiServer) -> None:
    api = SlackWebApi(slack.token, slack.api_url)
    slack.script(SlackApiServer.error("ratelimited", 429, {"Retry-After": "1"}))

    async def look_up() -> list[str | None]:
        first, second = await api.user(ALICE.id), await api.user(ALICE.id)
        await asyncio.sleep(0.02)
        return [first.email, second.email]

    assert asyncio.run(look_up()) == [None, ALICE.email]
