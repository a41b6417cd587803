"""The Teams and Mattermost channels against real local servers that answer as those
services do: a page reaches each with the incident, its link and the ack link (Teams as an
Adaptive Card its webhook accepts); refusals are permanent, throttling and outages retried,
and a host on this machine is refused unless allowed."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from pager.adapters.notify.mattermost import MattermostChannel
from pager.adapters.notify.slack import SlackChannel
from pager.adapters.notify.teams import TeamsChannel
from pager.application.ports import Channel
from pager.domain.policy import MattermostTarget, SlackTarget, Target, TeamsTarget
from tests.integration.test_channels import (
    ACK_URL,
    INCIDENT,
    INCIDENT_URL,
    failure,
    notification,
    send,
)
from tests.support.servers import (
    MattermostReceiver,
    Reply,
    TeamsReceiver,
    adaptive_card_problem,
    free_port,
)


@pytest.fixture
def teams() -> Iterator[TeamsReceiver]:
    with TeamsReceiver() as server:
        yield server


@pytest.fixture
def mattermost() -> Iterator[MattermostReceiver]:
    with MattermostReceiver() as server:
        yield server


def teams_channel() -> TeamsChannel:
    """Allowed to page this machine, where the test servers are."""
    return TeamsChannel(allow_private=True)


def mattermost_channel() -> MattermostChannel:
    return MattermostChannel(allow_private=True)


def card_text(card: dict[str, Any]) -> str:
    """Everything the card shows, as one string."""
    shown = []
    for element in card["body"]:
        if element["type"] == "TextBlock":
            shown.append(element["text"])
        else:
            shown += [f"{f['title']}: {f['value']}" for f in element["facts"]]
    return "\n".join(shown)


# --- Teams -----------------------------------------------------------------------------------


def test_teams_gets_an_adaptive_card_with_the_incident_and_both_links(
    teams: TeamsReceiver,
) -> None:
    assert send(teams_channel(), notification(TeamsTarget(teams.hook_url))) is None

    (request,) = teams.wait_for(1)
    assert request.header("Content-Type") == "application/json"
    assert request.header(
        "User-Agent",
    ).startswith("Pager/")  # type: ignore[union-attr]
    message = request.json()
    assert adaptive_card_problem(message) is None
    (attachment,) = message["attachments"]
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert (card["type"], card["version"]) == ("AdaptiveCard", "1.4")
    assert card["$schema"] == "http://adaptivecards.io/schemas/adaptive-card.json"
    assert card["body"][0] == {  # the service, large and red: something is wrong with it
        "type": "TextBlock",
        "text": "Checkout API",
        "size": "Large",
        "weight": "Bolder",
        "color": "Attention",
        "wrap": True,
    }
    shown = card_text(card)
    for expected in (
        "Checkout API",
        "HTTP 5xx above 5% for 5 minutes",
        "Service: Checkout API (checkout)",
        "Escalation: Level 2",
        "Alerts: 3",
        "Opened: 2024-05-01 12:00:00 UTC",
        f"Incident: {INCIDENT}",
    ):
        assert expected in shown
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Acknowledge", "url": ACK_URL},
        {"type": "Action.OpenUrl", "title": "Open incident", "url": INCIDENT_URL},
    ]
    assert teams.cards == [card]


def test_teams_card_without_links_has_no_actions_and_shows_the_round(
    teams: TeamsReceiver,
) -> None:
    outgoing = notification(TeamsTarget(teams.hook_url), ack_url=None, incident_url=None, round=3)
    send(teams_channel(), outgoing)

    (card,) = teams.cards
    assert "actions" not in card
    assert "Escalation: Level 2, round 3" in card_text(card)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"type": "Card"}, "AdaptiveCard"),
        ({"version": None}, "version"),
        ({"body": [{"type": "TextBlock"}]}, "TextBlock requires text"),
        ({"body": [{"type": "FactSet", "facts": [{"title": "x"}]}]}, "a title and a value"),
        ({"actions": [{"type": "Action.OpenUrl", "title": "Ack"}]}, "requires url"),
        ({"actions": [{"type": "Action.Submit"}]}, "Action.Submit"),
    ],
)
def test_the_teams_receiver_refuses_a_card_without_what_its_schema_requires(
    teams: TeamsReceiver, change: dict[str, Any], named: str
) -> None:
    """The check the tests above rely on can fail: each required field, taken out, is named."""
    send(teams_channel(), notification(TeamsTarget(teams.hook_url)))
    message = teams.wait_for(1)[0].json()
    message["attachments"][0]["content"].update(change)

    problem = adaptive_card_problem(message)

    assert problem is not None
    assert named in problem


def test_teams_webhook_that_was_removed_is_permanent_and_hides_the_url(
    teams: TeamsReceiver,
) -> None:
    gone = teams.url + "/webhookb2/REVOKEDxSECRET/IncomingWebhook/x/0"
    failed = failure(teams_channel(), notification(TeamsTarget(gone)))

    assert failed.transient is False
    assert failed.reason == "Teams answered HTTP 404: Webhook not found"
    assert "REVOKED" not in failed.reason


@pytest.mark.parametrize(
    ("reply", "transient", "retry_after", "reason"),
    [
        pytest.param(
            Reply.text(400, "Summary or Text is required."),
            False,
            None,
            "Teams answered HTTP 400: Summary or Text is required.",
            id="connector-400",
        ),
        pytest.param(
            Reply.json(
                400,
                {"error": {"code": "TriggerInputSchemaMismatch", "message": "Bad input."}},
            ),
            False,
            None,
            "Teams answered HTTP 400: TriggerInputSchemaMismatch: Bad input.",
            id="workflow-400",
        ),
        pytest.param(
            Reply.json(
                404,
                {"error": {"code": "WorkflowNotFound", "message": "The workflow was not found."}},
            ),
            False,
            None,
            "Teams answered HTTP 404: WorkflowNotFound: The workflow was not found.",
            id="workflow-removed",
        ),
        pytest.param(
            Reply.text(429, "Too many requests", {"Retry-After": "30"}),
            True,
            30.0,
            "Teams answered HTTP 429: Too many requests",
            id="throttled",
        ),
        pytest.param(
            Reply.text(503, "Service Unavailable"),
            True,
            None,
            "Teams answered HTTP 503: Service Unavailable",
            id="outage",
        ),
    ],
)
def test_teams_failures_are_classified(
    teams: TeamsReceiver,
    reply: Reply,
    transient: bool,
    retry_after: float | None,
    reason: str,
) -> None:
    teams.script(reply)
    failed = failure(teams_channel(), notification(TeamsTarget(teams.hook_url)))

    assert (failed.transient, failed.retry_after, failed.reason) == (transient, retry_after, reason)


def test_a_teams_connector_throttling_with_a_200_is_retried(teams: TeamsReceiver) -> None:
    teams.script(Reply.text(200, TeamsReceiver.THROTTLED))
    failed = failure(teams_channel(), notification(TeamsTarget(teams.hook_url)))

    assert failed.transient is True
    assert failed.reason.startswith("Teams refused the message: Webhook message delivery failed")
    assert send(teams_channel(), notification(TeamsTarget(teams.hook_url))) is None
    assert len(teams.cards) == 2


def test_a_teams_connector_refusing_with_a_200_is_permanent(teams: TeamsReceiver) -> None:
    teams.script(
        Reply.text(
            200,
            "Webhook message delivery failed with error: Microsoft Teams endpoint "
            "returned HTTP error 413 with ContextId tcid=0",
        )
    )
    failed = failure(teams_channel(), notification(TeamsTarget(teams.hook_url)))

    assert failed.transient is False
    assert "HTTP error 413" in failed.reason


def test_a_teams_workflow_accepting_with_202_and_no_body_is_a_delivery(
    teams: TeamsReceiver,
) -> None:
    teams.script(Reply(202))
    assert send(teams_channel(), notification(TeamsTarget(teams.hook_url))) is None


# --- Mattermost ------------------------------------------------------------------------------


def test_mattermost_gets_a_message_with_the_incident_and_both_links(
    mattermost: MattermostReceiver,
) -> None:
    outgoing = notification(
        MattermostTarget(mattermost.hook_url), message="p99 > 2s *and* [rising]\nfast_path"
    )
    assert send(mattermost_channel(), outgoing) is None

    (request,) = mattermost.wait_for(1)
    payload = request.json()
    assert payload["username"] == "Pager"
    text = payload["text"]
    first, second, links = text.split("\n")
    assert first == (r":rotating_light: **Checkout API**: p99 \> 2s \*and\* \[rising\] fast\_path")
    assert second == (
        f"Level 2 · 3 alerts · opened 2024-05-01 12:00:00 UTC · incident `{INCIDENT}`"
    )
    assert links == f"[Acknowledge]({ACK_URL}) · [Open incident]({INCIDENT_URL})"


def test_mattermost_without_links_still_says_what_is_wrong(
    mattermost: MattermostReceiver,
) -> None:
    send(
        mattermost_channel(),
        notification(MattermostTarget(mattermost.hook_url), ack_url=None, incident_url=None),
    )

    (request,) = mattermost.wait_for(1)
    text = request.json()["text"]
    assert "HTTP 5xx above 5% for 5 minutes" in text
    assert "](" not in text


def test_mattermost_webhook_that_was_deleted_is_permanent_with_its_message(
    mattermost: MattermostReceiver,
) -> None:
    gone = mattermost.url + "/hooks/REVOKEDxSECRET"
    failed = failure(mattermost_channel(), notification(MattermostTarget(gone)))

    assert failed.transient is False
    assert failed.reason == "Mattermost answered HTTP 400: Invalid webhook."
    assert "REVOKED" not in failed.reason


@pytest.mark.parametrize(
    ("reply", "transient", "reason"),
    [
        pytest.param(
            MattermostReceiver.error(
                403, "web.incoming_webhook.channel_locked.app_error",
                "This webhook is not permitted to post to the requested channel.",
            ),
            False,
            "Mattermost answered HTTP 403: "
            "This webhook is not permitted to post to the requested channel.",
            id="403",
        ),
        pytest.param(
            MattermostReceiver.error(404, "api.context.404.app_error", "Sorry, we could not "
                                     "find the page."),
            False,
            "Mattermost answered HTTP 404: Sorry, we could not find the page.",
            id="404",
        ),
        pytest.param(
            Reply.text(502, "Bad Gateway"),
            True,
            "Mattermost answered HTTP 502: Bad Gateway",
            id="502",
        ),
        pytest.param(
            MattermostReceiver.error(500, "app.post.save.app_error", "Unable to save the post."),
            True,
            "Mattermost answered HTTP 500: Unable to save the post.",
            id="500",
        ),
    ],
)  # fmt: skip
def test_mattermost_failures_are_classified(
    mattermost: MattermostReceiver, reply: Reply, transient: bool, reason: str
) -> None:
    mattermost.script(reply)
    failed = failure(mattermost_channel(), notification(MattermostTarget(mattermost.hook_url)))

    assert (failed.transient, failed.reason) == (transient, reason)


def test_mattermost_down_is_transient() -> None:
    nobody = f"http://127.0.0.1:{free_port()}/hooks/x"
    failed = failure(mattermost_channel(), notification(MattermostTarget(nobody)))

    assert failed.transient is True


# --- both ------------------------------------------------------------------------------------

REFUSED = (
    r"(Teams|Mattermost): not sent, "
    r"(localhost resolves to (127\.0\.0\.1|::1), which|127\.0\.0\.1) is a loopback address; "
    r"set PAGER_ALLOW_PRIVATE_TARGETS=true on the server to allow it"
)


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
@pytest.mark.parametrize("kind", ["teams", "mattermost"])
def test_a_host_that_is_this_machine_is_refused_for_good_unless_allowed(
    teams: TeamsReceiver, mattermost: MattermostReceiver, host: str, kind: str
) -> None:
    server = teams if kind == "teams" else mattermost
    url = f"http://{host}:{server.port}{server.HOOK_PATH}"
    target: Target = TeamsTarget(url) if kind == "teams" else MattermostTarget(url)
    refusing: Channel = TeamsChannel() if kind == "teams" else MattermostChannel()

    failed = failure(refusing, notification(target))

    assert failed.transient is False
    assert re.fullmatch(REFUSED, failed.reason), failed.reason
    assert not server.requests
    allowed = teams_channel() if kind == "teams" else mattermost_channel()
    assert send(allowed, notification(target)) is None
    assert len(server.wait_for(1)) == 1


@pytest.mark.parametrize(
    ("channel", "target", "said"),
    [
        (teams_channel(), SlackTarget("http://127.0.0.1:1/"), "the Teams channel"),
        (mattermost_channel(), SlackTarget("http://127.0.0.1:1/"), "the Mattermost channel"),
        (SlackChannel(allow_private=True), TeamsTarget("http://127.0.0.1:1/"), "the Slack channel"),
        # Neither a webhook nor a channel (the domain refuses one; a stored row might not).
        (SlackChannel(allow_private=True), SlackTarget(), "the Slack channel"),
    ],
    ids=["teams", "mm", "slack", "slack-nowhere"],
)
def test_each_refuses_another_channels_target(channel: Channel, target: Target, said: str) -> None:
    failed = failure(channel, notification(target))

    assert failed.transient is False
    assert failed.reason == f"{said} cannot send to a {target.type} target"
