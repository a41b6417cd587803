"""The Slack app end to end: `pagerd serve` pointed at the Slack-speaking server of
tests/support/servers.py (PAGER_SLACK_API_URL, a bot token, a signing secret), which also
presses the buttons of what Pager posted, signed as Slack signs. Policies, services and
users are made over the API, as an operator would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Pager, start_pager
from tests.support.db import (
    SKIP_MESSAGE,
    postgres_server_url,
    running_in_ci,
    temporary_postgres_database,
)
from tests.support.servers import SlackApiServer, SlackMessage, SlackReceiver, SlackUser
from tests.support.worker import wait_until

CHANNEL, SECOND = "C0PAGER01", "C0PAGER02"
ALICE = SlackUser("U0ALICE01", "alice", "alice@example.com")
STRANGER = SlackUser("U0STRANGER", "stranger", "stranger@elsewhere.example")
RUSH = [SlackUser(f"U0RUSH{i:04d}", f"rush{i}", f"rush{i}@elsewhere.example") for i in range(5)]
ACTIONS = "/integrations/slack/actions"


@pytest.fixture(scope="module")
def slack() -> Iterator[SlackApiServer]:
    channels = {CHANNEL: "oncall", SECOND: "oncall-escalations"}
    with SlackApiServer(channels=channels, users=[ALICE, STRANGER, *RUSH]) as server:
        yield server


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def pager(
    request: pytest.FixtureRequest,
    slack: SlackApiServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Pager]:
    """A Pager of its own that knows the Slack app, with alice as a Pager user."""
    env = {
        "PAGER_SLACK_API_URL": slack.api_url,
        "PAGER_SLACK_BOT_TOKEN": slack.token,
        "PAGER_SLACK_SIGNING_SECRET": slack.signing_secret,
        "PAGER_WORKER_POLL_SECONDS": "0.2",
        "PAGER_DELIVERY_BACKOFF_BASE_SECONDS": "0.1",
        "PAGER_DELIVERY_BACKOFF_MAX_SECONDS": "0.5",
    }
    workdir = tmp_path_factory.mktemp(f"pager-slack-{request.param}")
    if request.param == "sqlite":
        yield from _started(f"sqlite:///{workdir / 'pager.db'}", workdir, env)
        return
    server = postgres_server_url()
    if server is None:
        if running_in_ci():
            pytest.fail(f"CI must run the PostgreSQL tests: {SKIP_MESSAGE}")
        pytest.skip(SKIP_MESSAGE)
    with temporary_postgres_database(server) as url:
        yield from _started(url, workdir, env)


def _started(url: str, workdir: Any, env: dict[str, str]) -> Iterator[Pager]:
    for pager in start_pager(url, workdir, env):
        made = pager.admin.post("/api/v1/users", json={"email": ALICE.email, "role": "responder"})
        assert made.status_code == 201, made.text
        yield pager


def channel_service(pager: Pager, *channels: str) -> str:
    """A service whose policy pages these Slack channels, one level each."""
    levels = [
        {"ack_timeout_seconds": 3600, "targets": [{"type": "slack", "channel": channel}]}
        for channel in channels
    ]
    service_id, _ = pager.service(policy_id=pager.policy(levels=levels))
    return service_id


def alert(pager: Pager, service_id: str, message: str = "disk full on db-1") -> str:
    answer = pager.admin.post("/api/v1/alerts", json={"service": service_id, "message": message})
    assert answer.status_code == 202, answer.text
    incident_id: str = answer.json()["incident_id"]
    return incident_id


def updates_of(slack: SlackApiServer, message: SlackMessage) -> list[SlackMessage]:
    return [u for u in slack.updates if (u.channel, u.ts) == (message.channel, message.ts)]


def shown(slack: SlackApiServer, message: SlackMessage, text: str) -> SlackMessage:
    """The message once an update of it shows `text`."""
    wait_until(
        lambda: text in slack.current(message).mrkdwn(), what=f"the message to show {text!r}"
    )
    return slack.current(message)


def events(pager: Pager, incident_id: str, kind: str) -> list[dict[str, Any]]:
    return [e for e in pager.incident(incident_id)["timeline"] if e["type"] == kind]


# Scripted replies go to whatever calls the Slack server next: first, while nothing else does.
def test_slack_api_errors_become_clear_failed_and_retried_attempts(
    pager: Pager, slack: SlackApiServer
) -> None:
    gone = channel_service(pager, "C0GONE0001")
    incident_id = alert(pager, gone)

    def notification() -> dict[str, Any]:
        (found,) = pager.incident(incident_id)["notifications"]
        return dict(found)

    wait_until(lambda: notification()["status"] == "failed", what="the page failed")
    assert (
        "Slack chat.postMessage: channel C0GONE0001 was not found" in (notification()["last_error"])
    )

    slack.script(SlackApiServer.error("ratelimited", 429, {"Retry-After": "1"}))
    limited = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(limited, timeout=10)

    def attempts() -> list[dict[str, Any]]:
        return [e["data"] for e in events(pager, limited, "NotificationAttempted")]

    wait_until(lambda: len(attempts()) == 2, what="the retry recorded sent")
    assert [a["outcome"] for a in attempts()] == ["retry", "sent"]
    assert attempts()[0]["error"] == "Slack chat.postMessage: rate-limited by Slack (ratelimited)"
    assert message.buttons()["pager_ack"]["value"] == limited


def test_a_press_of_acknowledge_acts_as_the_pager_user_and_updates_the_message(
    pager: Pager, slack: SlackApiServer
) -> None:
    incident_id = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(incident_id)
    assert set(message.buttons()) == {"pager_ack", "pager_resolve", "pager_escalate"}
    assert slack.press(pager.url, message, "pager_ack", ALICE.id).status_code == 200
    found = pager.incident(incident_id)
    assert (found["status"], found["acknowledged_by"]) == ("acknowledged", ALICE.email)
    now = shown(slack, message, "Acknowledged by alice@example.com at ")
    assert set(now.buttons()) == {"pager_resolve", "pager_escalate"}
    assert time.strftime("%H:", time.gmtime()) in now.mrkdwn()  # when, in UTC


def test_a_press_by_a_slack_user_with_no_pager_account_is_recorded_as_them(
    pager: Pager, slack: SlackApiServer
) -> None:
    incident_id = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(incident_id)
    assert slack.press(pager.url, message, "pager_ack", STRANGER.id).status_code == 200
    assert pager.incident(incident_id)["acknowledged_by"] == "@stranger (Slack U0STRANGER)"
    shown(slack, message, "Acknowledged by @stranger (Slack U0STRANGER) at ")


def test_resolve_resolves_and_takes_the_buttons_away(pager: Pager, slack: SlackApiServer) -> None:
    incident_id = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(incident_id)
    assert slack.press(pager.url, message, "pager_resolve", ALICE.id).status_code == 200
    found = pager.incident(incident_id)
    assert (found["status"], found["resolved_by"]) == ("resolved", ALICE.email)
    assert shown(slack, message, "Resolved by alice@example.com at ").buttons() == {}


def test_escalate_pages_the_next_level(pager: Pager, slack: SlackApiServer) -> None:
    incident_id = alert(pager, channel_service(pager, CHANNEL, SECOND))
    message = slack.message_for(incident_id)
    assert slack.press(pager.url, message, "pager_escalate", ALICE.id).status_code == 200

    def posted_to_second() -> list[SlackMessage]:
        return [
            m
            for m in slack.messages
            if m.channel == SECOND and m.buttons()["pager_ack"]["value"] == incident_id
        ]

    wait_until(posted_to_second, what="level 2 paged")
    assert "Level 2 · 1 alert" in posted_to_second()[0].mrkdwn()
    (escalated,) = events(pager, incident_id, "Escalated")
    assert escalated["data"]["by"] == ALICE.email
    shown(slack, message, "Escalated from level 1 by alice@example.com at ")


@pytest.mark.parametrize("forgery", ["unsigned", "wrong secret", "body changed"])
def test_a_missing_or_wrong_signature_is_403_and_changes_nothing(
    pager: Pager, slack: SlackApiServer, forgery: str
) -> None:
    incident_id = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(incident_id)
    signed = slack.signed_press(
        message, "pager_ack", ALICE.id, secret="guessed" if forgery == "wrong secret" else None
    )
    headers, body = dict(signed.headers), signed.body
    if forgery == "unsigned":
        del headers["X-Slack-Signature"], headers["X-Slack-Request-Timestamp"]
    if forgery == "body changed":
        body = body.replace(b"alice", b"mallory")
    answer = httpx.post(pager.url + ACTIONS, content=body, headers=headers)
    assert answer.status_code == 403, answer.text
    assert pager.incident(incident_id)["status"] == "triggered"
    time.sleep(0.2)  # an update, had there been one, is sent right after the answer
    assert updates_of(slack, message) == []


def test_a_request_signed_more_than_5_minutes_ago_is_refused(
    pager: Pager, slack: SlackApiServer
) -> None:
    incident_id = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(incident_id)
    replayed = slack.press(
        pager.url, message, "pager_ack", ALICE.id, timestamp=int(time.time()) - 6 * 60
    )
    assert replayed.status_code == 403
    assert "more than 5 minutes" in replayed.json()["error"]["message"]
    assert pager.incident(incident_id)["status"] == "triggered"


def test_two_presses_by_one_user_look_them_up_once(pager: Pager, slack: SlackApiServer) -> None:
    user = RUSH[0]
    before = len(slack.lookups)  # the server outlives each Pager (and its cache)
    incident_id = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(incident_id)
    assert slack.press(pager.url, message, "pager_ack", user.id).status_code == 200
    shown(slack, message, "Acknowledged by ")
    assert slack.press(pager.url, message, "pager_resolve", user.id).status_code == 200
    assert pager.incident(incident_id)["resolved_by"] == f"@{user.name} (Slack {user.id})"
    assert [u for u in slack.lookups[before:] if u == user.id] == [user.id]


def test_50_concurrent_presses_give_one_acknowledgement(
    pager: Pager, slack: SlackApiServer
) -> None:
    incident_id = alert(pager, channel_service(pager, CHANNEL))
    message = slack.message_for(incident_id)
    users = [RUSH[1 + i % 4] for i in range(50)]  # four users, none looked up by this Pager
    before = len(slack.lookups)
    presses = [slack.signed_press(message, "pager_ack", user.id) for user in users]

    async def press_all() -> list[int]:
        async with httpx.AsyncClient(base_url=pager.url, timeout=30) as client:
            answers = await asyncio.gather(
                *(client.post(ACTIONS, content=p.body, headers=p.headers) for p in presses)
            )
        return [answer.status_code for answer in answers]

    assert asyncio.run(press_all()) == [200] * 50
    (acknowledged,) = events(pager, incident_id, "Acknowledged")
    assert acknowledged["data"]["by"] in {f"@{u.name} (Slack {u.id})" for u in users}
    # Each user was looked up once, however many of their presses came at once.
    assert sorted(u for u in slack.lookups[before:] if u in {u.id for u in users}) == sorted(
        {u.id for u in users}
    )
    shown(slack, message, f"Acknowledged by {acknowledged['data']['by']} at ")
    # Updates of one message are folded together rather than made once per press.
    time.sleep(0.5)
    assert 1 <= len(updates_of(slack, message)) < 50


def test_an_incoming_webhook_slack_target_still_works(pager: Pager) -> None:
    with SlackReceiver() as hook:
        level = {"ack_timeout_seconds": 3600, "targets": [{"type": "slack", "url": hook.hook_url}]}
        service_id, _ = pager.service(policy_id=pager.policy(levels=[level]))
        incident_id = alert(pager, service_id, "queue depth over 10k")
        (request,) = hook.wait_for(1, timeout=10)
    text = request.json()["text"]
    assert "queue depth over 10k" in text
    assert incident_id in text
    assert "|Acknowledge>" in text  # the ack link, which needs nothing from Slack


def test_without_a_bot_token_channel_pages_fail_for_good_and_the_start_says_so(
    pager: Pager, pager_sqlite: Pager
) -> None:
    assert "Slack app is not configured" not in pager.process.log()
    unconfigured = pager_sqlite  # started with no Slack settings
    log = unconfigured.process.log().splitlines()
    said = [line for line in log if "pages to Slack channel targets fail" in line]
    assert len(said) == 1, said
    assert "WARNING" in said[0]
    assert "; the Slack app is not configured (PAGER_SLACK_BOT_TOKEN)" in said[0]
    incident_id = alert(unconfigured, channel_service(unconfigured, CHANNEL))

    def notification() -> dict[str, Any]:
        (found,) = unconfigured.incident(incident_id)["notifications"]
        return dict(found)

    wait_until(lambda: notification()["status"] == "failed", what="the page failed")
    assert notification()["last_error"] == (
        "the Slack app is not configured (PAGER_SLACK_BOT_TOKEN)"
    )
    answer = httpx.post(unconfigured.url + ACTIONS, content=b"payload=%7B%7D")
    assert answer.status_code == 404
    assert "PAGER_SLACK_SIGNING_SECRET" in answer.json()["error"]["message"]
