"""What an alert says is kept on its event, within bounds: given / when / then."""

from __future__ import annotations

import pytest
from hypothesis import given as given_any
from hypothesis import settings
from hypothesis import strategies as st

from pager.adapters.storage.codec import decode_event, encode_event
from pager.domain.commands import ReceiveAlert
from pager.domain.content import (
    MAX_ENTITY,
    MAX_ENTRIES,
    MAX_KEY,
    MAX_LINK_TEXT,
    MAX_LINKS,
    MAX_TAG,
    MAX_TAGS,
    MAX_TOTAL,
    MAX_URL,
    MAX_VALUE,
    NO_CONTENT,
    AlertContent,
    ChangeLink,
    check_content,
    content_problems,
    followable,
)
from pager.domain.errors import ValidationFailed
from pager.domain.events import AlertAttached, IncidentOpened
from pager.domain.incident import decide_all
from tests.unit.scenario import ALICE as ALICE_TARGET
from tests.unit.scenario import (
    INCIDENT,
    POLICY,
    SERVICE,
    T0,
    at,
    created,
    given,
    page_level_1,
    stepped,
)

CONTENT = AlertContent(
    labels=(("alertname", "DiskFull"), ("instance", "db-1")),
    annotations=(
        ("summary", "disk full"),
        ("runbook_url", "https://runbooks.example.com/disk"),
        ("dashboard", "https://grafana.example.com/d/disk"),
    ),
    links=(ChangeLink("https://status.example.com", "Status page"),),
    details=(("free", '{"bytes":0}'),),
    tags=("db",),
    entity="db-1",
    source_url="http://prometheus:9090/graph",
)


def alert(content: AlertContent, *, key: str | None = None) -> ReceiveAlert:
    return ReceiveAlert(SERVICE, INCIDENT, "disk full", key, None, "alertmanager", content)


def problems(content: AlertContent) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as refused:
        check_content(content)
    return dict(refused.value.problems)


def test_the_alert_that_opens_an_incident_keeps_its_content() -> None:
    given(created()).when(alert(CONTENT), now=T0).then(
        IncidentOpened(INCIDENT, SERVICE, "disk full", None, None, "alertmanager", T0, CONTENT),
        stepped(INCIDENT, "ops", 1, 1, (ALICE_TARGET,), 60, at(60), T0),
    )


def test_an_alert_that_attaches_keeps_its_content() -> None:
    given(created(), *page_level_1()).when(alert(CONTENT, key="db-1"), now=at(5)).then(
        AlertAttached(INCIDENT, "disk full", "db-1", None, "alertmanager", at(5), CONTENT)
    )


def test_alerts_attached_as_one_run_keep_each_its_own_content() -> None:
    state = given(created(), *page_level_1()).state
    other = AlertContent(labels=(("instance", "db-2"),))
    decided = decide_all(
        state, [alert(CONTENT, key="a"), alert(other, key="b")], lambda _: POLICY, at(5)
    )

    assert [event.content for event in decided.events if isinstance(event, AlertAttached)] == [
        CONTENT,
        other,
    ]


def test_content_past_its_bounds_refuses_the_alert_and_nothing_happens() -> None:
    too_many = AlertContent(labels=tuple((f"l{i}", "v") for i in range(MAX_ENTRIES + 1)))
    refused = given(created()).when(alert(too_many)).raises(ValidationFailed)

    assert refused.problems == (("labels", f"must have at most {MAX_ENTRIES} entries"),)


def test_a_run_of_alerts_refuses_only_the_one_past_the_bounds() -> None:
    state = given(created(), *page_level_1()).state
    too_long = AlertContent(annotations=(("description", "x" * (MAX_VALUE + 1)),))
    decided = decide_all(
        state, [alert(too_long, key="a"), alert(CONTENT, key="b")], lambda _: POLICY, at(5)
    )

    assert isinstance(decided.results[0], ValidationFailed)
    assert [type(event) for event in decided.events] == [AlertAttached]
    assert decided.state.incident is not None
    assert decided.state.incident.open_keys == frozenset({"b"})


@pytest.mark.parametrize(
    ("content", "field"),
    [
        (AlertContent(annotations=(("a", "x" * (MAX_VALUE + 1)),)), "annotations.a"),
        (AlertContent(details=(("k" * (MAX_KEY + 1), "v"),)), "details"),
        (AlertContent(labels=(("", "v"),)), "labels"),
        (AlertContent(links=tuple(ChangeLink(f"https://x/{i}") for i in range(21))), "links"),
        (AlertContent(images=(ChangeLink(""),)), "images[0].href"),
        (
            AlertContent(links=(ChangeLink("https://x", "t" * (MAX_LINK_TEXT + 1)),)),
            "links[0].text",
        ),
        (AlertContent(tags=("",)), "tags"),
        (AlertContent(tags=tuple(f"t{i}" for i in range(MAX_TAGS + 1))), "tags"),
        (AlertContent(entity="e" * 513), "entity"),
        (AlertContent(source_url="https://x/" + "p" * 2048), "source_url"),
    ],
)
def test_each_bound_names_its_field(content: AlertContent, field: str) -> None:
    assert field in problems(content)


def test_content_within_each_bound_but_too_large_in_all_is_refused() -> None:
    big = tuple((f"k{i}", "v" * (MAX_VALUE - 10)) for i in range(MAX_TOTAL // MAX_VALUE + 1))

    assert problems(AlertContent(annotations=big)) == {
        "content": f"must be at most {MAX_TOTAL} characters in all"
    }


def around(bound: int) -> st.SearchStrategy[int]:
    return st.sampled_from((0, 1, bound, bound + 1))


def text(bound: int) -> st.SearchStrategy[str]:
    return around(bound).map(lambda n: "x" * n)


def pairs(prefix: str) -> st.SearchStrategy[tuple[tuple[str, str], ...]]:
    entry = st.tuples(text(MAX_KEY), text(MAX_VALUE))
    few = st.lists(entry, max_size=3)
    many = around(MAX_ENTRIES).map(lambda n: tuple((f"{prefix}{i}", "") for i in range(n)))
    return st.one_of(few.map(tuple), many)


def change_links() -> st.SearchStrategy[tuple[ChangeLink, ...]]:
    link = st.builds(ChangeLink, text(MAX_URL), st.none() | text(MAX_LINK_TEXT))
    many = around(MAX_LINKS).map(lambda n: tuple(ChangeLink(f"https://x/{i}") for i in range(n)))
    return st.one_of(st.lists(link, max_size=3).map(tuple), many)


contents = st.builds(
    AlertContent,
    labels=pairs("l"),
    annotations=pairs("a"),
    details=pairs("d"),
    links=change_links(),
    images=change_links(),
    tags=st.one_of(
        st.lists(text(MAX_TAG), max_size=3).map(tuple),
        around(MAX_TAGS).map(lambda n: tuple(f"t{i}" for i in range(n))),
    ),
    entity=st.none() | text(MAX_ENTITY),
    source_url=st.none() | text(MAX_URL),
)


@settings(max_examples=300, deadline=None)
@given_any(contents)
def test_content_is_refused_exactly_when_a_bound_is_broken_and_names_each(
    content: AlertContent,
) -> None:
    # The quick check every alert of a webhook passes through, and the one that names the
    # fields, must agree: content the first refuses has something to name.
    found = content_problems(content)
    if not found:
        check_content(content)
        return
    with pytest.raises(ValidationFailed) as refused:
        check_content(content)
    assert refused.value.problems == tuple(found)


def test_a_sender_may_name_the_fields_its_own_way() -> None:
    with pytest.raises(ValidationFailed) as refused:
        check_content(
            AlertContent(details=tuple((f"d{i}", "") for i in range(65))),
            {"details": "payload.custom_details"},
        )
    assert refused.value.problems[0][0] == "payload.custom_details"


def test_content_at_its_bounds_is_kept_whole() -> None:
    content = AlertContent(
        labels=tuple((f"l{i}", "v") for i in range(MAX_ENTRIES)),
        links=tuple(ChangeLink(f"https://x/{i}") for i in range(MAX_LINKS)),
    )
    check_content(content)
    check_content(NO_CONTENT)


def test_runbook_dashboard_and_references_come_from_annotations_and_links() -> None:
    assert CONTENT.runbook == "https://runbooks.example.com/disk"
    assert CONTENT.dashboard == "https://grafana.example.com/d/disk"
    assert [(link.text, link.href) for link in CONTENT.references()] == [
        ("Runbook", "https://runbooks.example.com/disk"),
        ("Dashboard", "https://grafana.example.com/d/disk"),
        ("Status page", "https://status.example.com"),
        ("Source", "http://prometheus:9090/graph"),
    ]
    runbook_twice = AlertContent(
        annotations=(("runbook_url", "https://runbooks/disk"),),
        links=(ChangeLink("https://runbooks/disk", "Runbook again"),),
    )
    assert [link.text for link in runbook_twice.references()] == ["Runbook"]
    dashboard_only = AlertContent(
        annotations=(("dashboard_url", "https://grafana/d/2"),),
        links=(ChangeLink("https://status"), ChangeLink("https://wiki", "Wiki")),
    )
    assert dashboard_only.runbook is None
    assert [link.text for link in dashboard_only.references()] == [
        "Dashboard",
        "https://status",
        "Wiki",
    ]
    grafana = AlertContent(links=(ChangeLink("https://grafana/d/1", "Dashboard"),))
    assert grafana.dashboard == "https://grafana/d/1"
    assert NO_CONTENT.runbook is None


def test_only_web_links_are_followable() -> None:
    assert followable("https://example.com") == "https://example.com"
    assert followable("javascript:alert(1)") is None
    assert followable(None) is None


def test_events_with_content_round_trip_and_old_events_decode_without_it() -> None:
    opened = IncidentOpened(INCIDENT, SERVICE, "disk full", None, None, "api", T0, CONTENT)
    assert decode_event(*encode_event(opened)) == opened

    old = {
        "incident_id": INCIDENT,
        "message": "disk full",
        "dedup_key": "k",
        "severity": None,
        "source": "api",
        "at": T0.isoformat(),
    }
    attached = decode_event("AlertAttached", old)
    assert isinstance(attached, AlertAttached)
    assert attached.content == NO_CONTENT
