"""A running `pagerd serve` pages a Microsoft Teams and a Mattermost channel (real local
webhooks answering as those services do): each gets the incident, its link and an ack link
that acknowledges."""

from __future__ import annotations

import re

from tests.e2e.conftest import Pager
from tests.support.servers import MattermostReceiver, TeamsReceiver
from tests.support.worker import wait_until


def test_an_alert_pages_a_teams_and_a_mattermost_channel_whose_ack_link_acknowledges(
    pager: Pager,
) -> None:
    with TeamsReceiver() as teams, MattermostReceiver() as mattermost:
        targets = [
            {"type": "teams", "url": teams.hook_url},
            {"type": "mattermost", "url": mattermost.hook_url},
        ]
        policy_id = pager.policy(levels=[{"ack_timeout_seconds": 3600, "targets": targets}])
        service_id, key = pager.service(policy_id=policy_id)
        sent = pager.client(key).post(
            "/api/v1/alerts", json={"service": service_id, "message": "Queue depth > 10k"}
        )
        assert sent.status_code == 202, sent.text
        incident_id = sent.json()["incident_id"]
        teams.wait_for(1, timeout=15)
        (card,) = teams.cards
        (posted,) = mattermost.wait_for(1, timeout=15)

    shown = " ".join(e.get("text", "") for e in card["body"])
    assert "Queue depth > 10k" in shown
    actions = {a["title"]: a["url"] for a in card["actions"]}
    assert actions["Open incident"] == f"{pager.url}/incidents/{incident_id}"
    text = posted.json()["text"]
    assert r"Queue depth \> 10k" in text
    assert f"[Open incident]({pager.url}/incidents/{incident_id})" in text
    (mattermost_ack,) = re.findall(r"\[Acknowledge\]\(([^)]+)\)", text)
    assert mattermost_ack.startswith(f"{pager.url}/ack/")
    assert actions["Acknowledge"].startswith(f"{pager.url}/ack/")

    wait_until(
        lambda: {n["status"] for n in pager.incident(incident_id)["notifications"]} == {"sent"},
        15,
        "both pages recorded sent",
    )
    channels = sorted(n["channel"] for n in pager.incident(incident_id)["notifications"])
    assert channels == ["mattermost", "teams"]
    acknowledged = pager.anonymous.post(actions["Acknowledge"])
    assert acknowledged.status_code == 200, acknowledged.text
    incident = pager.incident(incident_id)
    assert incident["status"] == "acknowledged"
    assert "(ack link)" in incident["acknowledged_by"]
