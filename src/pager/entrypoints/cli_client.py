"""Client commands over HTTP: `pagerd alert`, `ack`, `unack`, `escalate`, `snooze`,
`reassign`, `note`, `healthy`, `status`, `oncall` and `doctor` talk to a running Pager
(`--url`, `--token`, or PAGER_URL and PAGER_TOKEN)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

import httpx
import typer
from rich.console import Console
from rich.table import Table

from pager.domain.policy import valid_id
from pager.entrypoints.cli_common import fail

commands = typer.Typer()

DEFAULT_URL = "http://127.0.0.1:8080"
TIMEOUT_SECONDS = 10.0
SHORT_ID = 8
"""Characters of an incident's id that `status` shows; `ack` takes them."""

UrlOption = Annotated[str, typer.Option("--url", envvar="PAGER_URL", help="Where Pager answers.")]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="PAGER_TOKEN",
        help="An API token (`pagerd token create`).",
        show_default=False,
    ),
]
AlertTokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        envvar="PAGER_TOKEN",
        help="An API token (`pagerd token create`), or the service's integration key.",
        show_default=False,
    ),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the server's answer as JSON, for scripts.")
]


class PagerClient:
    """One Pager server, called with one credential. Every failure becomes `fail(...)`."""

    def __init__(self, url: str, token: str | None) -> None:
        if not url.startswith(("http://", "https://")):
            raise fail(f"--url must start with http:// or https://, not {url!r}")
        if not token:
            raise fail(
                "no API token: pass --token or set PAGER_TOKEN (an admin makes one with "
                "`pagerd token create --user EMAIL`)"
            )
        if not (token.isascii() and token.isprintable()):
            raise fail("the API token holds characters that no token has: check PAGER_TOKEN")
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}

    def call(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
    ) -> Any:
        try:
            with httpx.Client(headers=self._headers, timeout=TIMEOUT_SECONDS) as client:
                answer = client.request(method, self.url + path, json=body, params=params)
        except httpx.TimeoutException:
            raise fail(f"Pager at {self.url} did not answer within {TIMEOUT_SECONDS:g} s") from None
        except httpx.HTTPError as error:
            raise fail(f"cannot reach Pager at {self.url}: {_reason(error)}") from None
        if answer.is_success:
            try:
                return answer.json()
            except ValueError:
                raise fail(f"{self.url} did not answer as Pager does (no JSON)") from None
        raise fail(_refusal(answer))


def _reason(error: httpx.HTTPError) -> str:
    cause: BaseException = error
    while cause.__context__ is not None and not str(cause):
        cause = cause.__context__
    text = str(cause).strip() or type(error).__name__
    # "[Errno 111] Connection refused" -> "Connection refused"
    return text.split("] ", 1)[-1].splitlines()[0]


def _refusal(answer: httpx.Response) -> str:
    """One line from an error answer: Pager's `{"error": {"code", "message"}}` if it is one."""
    try:
        message = str(answer.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return f"{answer.request.url} answered {answer.status_code} {answer.reason_phrase}"
    if answer.status_code == 401:
        return f"{message} (check --token or PAGER_TOKEN)"
    return message


def _service_id(service: str) -> str:
    if not valid_id(service):
        raise fail(f"{service!r} is not a service id (lower-case letters, digits and dashes)")
    return service


def _incident_id(pager: PagerClient, incident: str) -> str:
    """The open incident whose id starts with `incident` (as `pagerd status` shows them), if
    exactly one does; else `incident` as given, for the server to judge."""
    if not incident.strip():
        raise fail("the incident's id must not be empty")
    query = {"status": "open", "limit": "1000"}
    found = pager.call("GET", "/api/v1/incidents", params=query)["incidents"]
    matches = sorted({i["id"] for i in found if str(i["id"]).startswith(incident)})
    if len(matches) > 1:
        raise fail(f"{incident!r} could be any of {', '.join(matches)}: give more of the id")
    return matches[0] if matches else incident


def _print_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


@commands.command("alert")
def alert(
    service: Annotated[str, typer.Argument(help="The service's id.")],
    message: Annotated[str, typer.Argument(help="What is wrong, for the people paged.")],
    dedup_key: Annotated[
        str | None,
        typer.Option(
            "--dedup-key",
            help="Identifies the alert: re-sending a key that is still firing changes nothing.",
        ),
    ] = None,
    severity: Annotated[
        str | None, typer.Option("--severity", help="critical, error, warning or info.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: AlertTokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Send an alert for a service; print its incident's id.

    If the service is healthy, the alert opens an incident and pages the first level of
    the service's escalation policy; if not, it joins the open incident and nobody is paged
    again.
    """
    body: dict[str, Any] = {"service": _service_id(service), "message": message}
    if dedup_key is not None:
        body["dedup_key"] = dedup_key
    if severity is not None:
        body["severity"] = severity
    answer = PagerClient(url, token).call("POST", "/api/v1/alerts", body)
    if as_json:
        _print_json(answer)
    elif answer["action"] == "opened":
        typer.echo(f"opened incident {answer['incident_id']}")
    elif answer["action"] == "suppressed":
        typer.echo("recorded: the service is in maintenance, nobody was paged")
    else:
        typer.echo(f"attached to open incident {answer['incident_id']}")


@commands.command("ack")
def ack(
    incident: Annotated[
        str,
        typer.Argument(help="The incident's id, or the start of it that `pagerd status` shows."),
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who acknowledges; the token's user by default."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Acknowledge an incident: its escalation stops.

    Nobody else is paged for it. Acknowledging twice is harmless; a resolved incident
    cannot be acknowledged.
    """
    pager = PagerClient(url, token)
    incident_id = _incident_id(pager, incident)
    path = f"/api/v1/incidents/{quote(incident_id, safe='')}/acknowledge"
    answer = pager.call("POST", path, {"by": by} if by else {})
    if as_json:
        _print_json(answer)
        return
    typer.echo(
        f"incident {answer['id']} of {answer['service']} acknowledged by "
        f"{answer['acknowledged_by']}"
    )


@commands.command("escalate")
def escalate(
    incident: Annotated[
        str,
        typer.Argument(help="The incident's id, or the start of it that `pagerd status` shows."),
    ],
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who escalates; the token's user by default."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Page the next level of an incident now, without waiting for its timeout.

    An acknowledged incident is triggered again. Refused once every level has been paged.
    """
    pager = PagerClient(url, token)
    incident_id = _incident_id(pager, incident)
    path = f"/api/v1/incidents/{quote(incident_id, safe='')}/escalate"
    answer = pager.call("POST", path, {"by": by} if by else {})
    if as_json:
        _print_json(answer)
        return
    typer.echo(
        f"incident {answer['id']} of {answer['service']} escalated to level {answer['level']}"
    )


IncidentArgument = Annotated[
    str,
    typer.Argument(help="The incident's id, or the start of it that `pagerd status` shows."),
]


def _incident_path(pager: PagerClient, incident: str, action: str) -> str:
    return f"/api/v1/incidents/{quote(_incident_id(pager, incident), safe='')}/{action}"


@commands.command("unack")
def unack(
    incident: IncidentArgument,
    by: Annotated[
        str | None,
        typer.Option("--by", help="Who un-acknowledges; the token's user by default."),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Un-acknowledge an incident: it is triggered again.

    Its escalation resumes from its current level, whose timeout runs again from now (a
    snooze ends). Harmless on a triggered incident.
    """
    pager = PagerClient(url, token)
    answer = pager.call("POST", _incident_path(pager, incident, "unacknowledge"),
                        {"by": by} if by else {})  # fmt: skip
    if as_json:
        _print_json(answer)
        return
    typer.echo(
        f"incident {answer['id']} of {answer['service']} is {answer['status']} "
        f"at level {answer['level']}"
    )


_DURATION = re.compile(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?")


def _duration(text: str) -> timedelta:
    """`1h`, `90m`, `1h30m`, `2d`."""
    found = _DURATION.fullmatch(text.strip().lower())
    if found is None or not any(found.groups()):
        raise fail(f"--for {text!r} is not a duration such as 30m, 1h, 1h30m or 2d")
    days, hours, minutes = (int(part or 0) for part in found.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


@commands.command("snooze")
def snooze(
    incident: IncidentArgument,
    for_: Annotated[
        str | None,
        typer.Option("--for", help="How long: 30m, 1h, 1h30m, 2d.", show_default=False),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option(
            "--until",
            help="Until when, as ISO 8601 (2026-03-02T09:00+01:00; without an offset, UTC).",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who snoozes; the token's user by default.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Snooze an incident: acknowledged until then, then triggered again.

    At the time, level 1 of its escalation policy is paged again (the next round). At most
    7 days ahead; snoozing again moves the time.
    """
    if (for_ is None) == (until is None):
        raise fail("give exactly one of --for and --until")
    if for_ is not None:
        when = datetime.now(UTC) + _duration(for_)
    else:
        assert until is not None
        when = _instant(until, "--until")
    pager = PagerClient(url, token)
    body: dict[str, Any] = {"until": when.isoformat()}
    if by:
        body["by"] = by
    answer = pager.call("POST", _incident_path(pager, incident, "snooze"), body)
    if as_json:
        _print_json(answer)
        return
    typer.echo(
        f"incident {answer['id']} of {answer['service']} snoozed until "
        f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    )


@commands.command("reassign")
def reassign(
    incident: IncidentArgument,
    user: Annotated[
        str | None,
        typer.Option("--user", help="A user's email: paged now.", show_default=False),
    ] = None,
    schedule: Annotated[
        str | None,
        typer.Option(
            "--schedule",
            help="A schedule: whoever it has on call is paged now.",
            show_default=False,
        ),
    ] = None,
    by: Annotated[
        str | None, typer.Option("--by", help="Who reassigns; the token's user by default.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Page a user, or whoever a schedule has on call, for an incident now.

    An acknowledged incident is triggered again; its current level's timeout runs again
    from now, so the next level follows only if nobody acknowledges.
    """
    if (user is None) == (schedule is None):
        raise fail("give exactly one of --user and --schedule")
    body: dict[str, Any] = {"user": user} if user is not None else {"schedule": schedule}
    if by:
        body["by"] = by
    pager = PagerClient(url, token)
    answer = pager.call("POST", _incident_path(pager, incident, "reassign"), body)
    if as_json:
        _print_json(answer)
        return
    typer.echo(f"incident {answer['id']} of {answer['service']} reassigned to {user or schedule}")


@commands.command("note")
def note(
    incident: IncidentArgument,
    text: Annotated[str, typer.Argument(help="The note, for the incident's timeline.")],
    by: Annotated[
        str | None, typer.Option("--by", help="Who writes it; the token's user by default.")
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a note to an incident's timeline (open or resolved); it pages nobody."""
    body: dict[str, Any] = {"text": text}
    if by:
        body["by"] = by
    pager = PagerClient(url, token)
    answer = pager.call("POST", _incident_path(pager, incident, "notes"), body)
    if as_json:
        _print_json(answer)
        return
    typer.echo(f"note added to incident {answer['id']} of {answer['service']}")


@commands.command("healthy")
def healthy(
    service: Annotated[str, typer.Argument(help="The service's id.")],
    url: UrlOption = DEFAULT_URL,
    token: AlertTokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Say that a service is healthy again.

    Its open incident, if any, is resolved and its escalation stops. Harmless for a
    service that is healthy already.
    """
    pager = PagerClient(url, token)
    answer = pager.call("POST", f"/api/v1/services/{_service_id(service)}/healthy")
    if as_json:
        _print_json(answer)
        return
    typer.echo(f"service {answer['id']} is {answer['state']}")


@commands.command("status")
def status(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show the services with their state, and the open incidents."""
    pager = PagerClient(url, token)
    services = pager.call("GET", "/api/v1/services")["services"]
    incidents = pager.call("GET", "/api/v1/incidents", params={"status": "open"})["incidents"]
    if as_json:
        _print_json({"services": services, "incidents": incidents})
        return
    console = Console(highlight=False)
    console.print(_services_table(services))
    if incidents:
        console.print(_incidents_table(incidents))
    else:
        console.print("No open incidents.")


def _services_table(services: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Services ({len(services)})", title_justify="left")
    for column in ("service", "name", "state", "escalation policy", "open incident"):
        table.add_column(column)
    for service in services:
        state = service["state"]
        incident = service.get("open_incident") or {}
        table.add_row(
            service["id"],
            service["name"],
            (f"[red]{state}[/]" if state == "unhealthy" else f"[green]{state}[/]")
            + (" [yellow](in maintenance)[/]" if service.get("in_maintenance") else ""),
            service["escalation_policy"],
            str(incident.get("id", ""))[:SHORT_ID],
        )
    if not services:
        table.add_row("[dim](none yet: `pagerd apply` or PUT /api/v1/services/ID)[/]")
    return table


def _incidents_table(incidents: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Open incidents ({len(incidents)})", title_justify="left")
    for column in ("incident", "service", "status", "level", "alerts", "opened", "message"):
        table.add_column(column)
    now = datetime.now(UTC)
    for incident in incidents:
        status = incident["status"]
        if status == "acknowledged":
            status = f"acknowledged by {incident['acknowledged_by']}"
        else:
            status = f"[red]{status}[/]"
        if incident.get("urgency") == "low":
            status += ", low urgency"
        table.add_row(
            str(incident["id"])[:SHORT_ID],
            incident["service"],
            status,
            str(incident["level"])
            + (f" (round {incident['round']})" if incident["round"] > 1 else ""),
            str(incident["alert_count"]),
            _ago(now, incident["opened_at"]),
            incident["message"],
        )
    return table


def _ago(now: datetime, iso: str) -> str:
    try:
        seconds = int((now - datetime.fromisoformat(iso)).total_seconds())
    except (ValueError, TypeError):
        return iso
    if seconds < 60:
        return f"{max(seconds, 0)}s ago"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days}d {hours % 24}h ago"
    if hours:
        return f"{hours}h {minutes % 60}m ago"
    return f"{minutes}m ago"


# -- heartbeats


@commands.command("heartbeats")
def heartbeats(
    service: Annotated[
        str | None,
        typer.Option("--service", help="Only this service's heartbeats.", show_default=False),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show each heartbeat: its service, its interval, its state and its last ping.

    A heartbeat is `new` until its first ping, `ok` while pings come in time, `missed` once
    one did not (its service then has an alert, resolved by the next ping).
    """
    params = {} if service is None else {"service": _service_id(service)}
    found = PagerClient(url, token).call("GET", "/api/v1/heartbeats", params=params)
    if as_json:
        _print_json(found)
        return
    Console(highlight=False).print(_heartbeats_table(found["heartbeats"]))


_STATE_STYLE = {"missed": "red", "ok": "green", "new": "yellow"}


def _heartbeats_table(found: list[dict[str, Any]]) -> Table:
    table = Table(title=f"Heartbeats ({len(found)})", title_justify="left")
    for column in ("heartbeat", "service", "every", "state", "last ping", "due by"):
        table.add_column(column)
    now = datetime.now(UTC)
    for heartbeat in found:
        state = heartbeat["state"]
        every = _span(heartbeat["interval_seconds"])
        if heartbeat["grace_seconds"]:
            every += f" (+{_span(heartbeat['grace_seconds'])} grace)"
        last, due = heartbeat.get("last_ping_at"), heartbeat.get("due_at")
        table.add_row(
            heartbeat["id"],
            heartbeat["service"],
            every,
            f"[{_STATE_STYLE.get(state, 'white')}]{state}[/]",
            _ago(now, last) if last else "[dim]never[/]",
            _clock(due) if due else "",
        )
    if not found:
        table.add_row("[dim](none yet: `pagerd apply` or PUT /api/v1/heartbeats/ID)[/]")
    return table


def _span(seconds: int) -> str:
    """ "90s", "5m", "1h 30m", "2d": the largest units, without the zeros."""
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size:
            parts.append(f"{seconds // size}{unit}")
            seconds %= size
    return " ".join(parts) or "0s"


# -- who is on call


@commands.command("oncall")
def oncall(
    schedule: Annotated[
        str | None, typer.Argument(help="One schedule's id; every schedule by default.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="When, as ISO 8601 (2026-03-02T09:00+01:00; without an offset, UTC). "
            "Now by default.",
            show_default=False,
        ),
    ] = None,
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show who is on call on each schedule, until when, and who is next."""
    if schedule is not None and not valid_id(schedule):
        raise fail(f"{schedule!r} is not a schedule id (lower-case letters, digits and dashes)")
    params = {} if at is None else {"at": _instant(at, "--at").isoformat()}
    pager = PagerClient(url, token)
    found = pager.call("GET", "/api/v1/oncall", params=params)["oncall"]
    if schedule is not None:
        found = [entry for entry in found if entry["schedule"] == schedule]
        if not found:
            raise fail(f"there is no schedule {schedule!r} (`pagerd oncall` lists them all)")
    if as_json:
        _print_json({"oncall": found})
        return
    Console(highlight=False).print(_oncall_table(found, at))


def _instant(text: str, option: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise fail(f"{option} {text!r} is not a time such as 2026-03-02T09:00+01:00") from None
    return moment if moment.utcoffset() is not None else moment.replace(tzinfo=UTC)


def _oncall_table(entries: list[dict[str, Any]], at: str | None) -> Table:
    when = "now" if at is None else f"at {_instant(at, '--at').astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    table = Table(title=f"On call {when}", title_justify="left")
    for column in ("schedule", "on call", "until", "next"):
        table.add_column(column)
    for entry in entries:
        users = ", ".join(entry["users"]) or "[red]nobody[/]"
        until = entry["until"]
        table.add_row(
            f"{entry['schedule']} ({entry['name']})" if entry.get("name") else entry["schedule"],
            users,
            _clock(until) if until else "[dim]no change in 92 days[/]",
            (", ".join(entry["next"]) or "[red]nobody[/]") if until else "",
        )
    if not entries:
        table.add_row("[dim](no schedules yet: `pagerd apply` or PUT /api/v1/schedules/ID)[/]")
    return table


def _clock(iso: str) -> str:
    try:
        return f"{datetime.fromisoformat(iso).astimezone(UTC):%Y-%m-%d %H:%M} UTC"
    except ValueError:
        return iso


# -- readiness


@commands.command("doctor")
def doctor(
    url: UrlOption = DEFAULT_URL,
    token: TokenOption = None,
    as_json: JsonOption = False,
) -> None:
    """List what would page nobody in the next 14 days, and where to fix each.

    Gaps in the schedules that policies page, people on call (or named by a policy) without
    an enabled contact method, and levels that would page nobody. Exits 1 if there is any,
    so that a script or a cron job can tell.
    """
    found = PagerClient(url, token).call("GET", "/api/v1/oncall/problems")["problems"]
    if as_json:
        _print_json({"problems": found})
    elif not found:
        typer.echo("Nothing would page nobody in the next 14 days.")
    else:
        Console(highlight=False).print(_problems_table(found))
    if found:
        raise typer.Exit(1)


def _problems_table(problems: list[dict[str, Any]]) -> Table:
    table = Table(
        title=f"Would page nobody in the next 14 days ({len(problems)})", title_justify="left"
    )
    for column in ("what", "from", "to", "times", "fix it at"):
        table.add_column(column)
    for problem in problems:
        table.add_row(
            f"[red]{problem['message']}[/]",
            _clock(problem["start"]),
            _clock(problem["end"]),
            str(problem["count"]),
            problem["link"],
        )
    return table
