"""The incident page shows each alert, firing or resolved, with its labels as chips and its
links (only web addresses as links)."""

from __future__ import annotations

import html
from collections.abc import Iterator

import pytest

from pager.domain.content import AlertContent, ChangeLink
from tests.integration.test_console import Console, make_console
from tests.support.clock import FakeClock


@pytest.fixture
def console(database_url: str, clock: FakeClock) -> Iterator[Console]:
    with make_console(database_url, clock) as console:
        yield console


def test_the_incident_page_lists_its_alerts_with_labels_and_links(console: Console) -> None:
    handlers = console.app.handlers
    said = AlertContent(
        labels=(("alertname", "DiskFull"), ("instance", "db-1:9100")),
        annotations=(("runbook_url", "https://runbooks.example.com/disk"),),
        links=(ChangeLink("javascript:alert(1)", "Sneaky <b>"),),
    )
    first = handlers.receive_alert("db", "disk full", dedup_key="a", content=said)
    handlers.receive_alert(
        "db", "disk still full", dedup_key="b", content=AlertContent(labels=(("disk", "sdb"),))
    )
    handlers.resolve_alert("db", "a")

    page = console.admin.get(f"/incidents/{first.incident_id}").text

    alerts = page[page.index('id="alerts-heading"') : page.index('id="notifications-heading"')]
    assert alerts.index("disk full") < alerts.index("disk still full")
    assert '<li class="alert resolved">' in alerts
    assert '<li class="alert firing">' in alerts
    for chip in ("alertname=DiskFull", "instance=db-1:9100", "disk=sdb"):
        assert f"<li>{chip}</li>" in alerts
    assert 'href="https://runbooks.example.com/disk"' in alerts
    assert 'href="javascript:' not in alerts
    assert html.escape("Sneaky <b>") in alerts
