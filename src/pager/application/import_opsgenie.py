"""Opsgenie's REST API (v2) as a Pager configuration file: users with their contact methods and
notification rules, schedules (rotations, time restrictions, future overrides), escalations,
integrations as services (with their API keys if asked), heartbeats and maintenance windows.
What Pager has no shape for is mapped to the nearest one, or left behind, and reported."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from pager.application.importing import (
    DAY_MINUTES,
    MAX_LEVELS,
    MAX_TARGETS,
    WEEK_MINUTES,
    Ids,
    Imported,
    Report,
    Source,
    SourceError,
    at_most,
    bounded,
    clock,
    e164,
    email_of,
    time_zone,
    weekly_windows,
)
from pager.application.schedules import MAX_LAYER_USERS, MAX_LAYERS
from pager.domain.people import (
    MAX_CONTACT_METHODS,
    MAX_DELAY_MINUTES,
    MAX_REPEAT_MINUTES,
    MAX_RULES,
)
from pager.domain.policy import DEFAULT_ACK_TIMEOUT_SECONDS
from pager.domain.schedule import WEEKDAYS

_T = TypeVar("_T")
PAGE_LIMIT = "100"  # Opsgenie's largest page
MAX_REPEAT = 100
ADMIN_ROLES = ("owner", "admin")
# Integrations that send nothing Pager can take as an alert.
NOT_SENDERS = ("Email", "Slack", "SlackApp", "Jira", "JiraServiceDesk", "MicrosoftTeams", "Zoom")
_UNIT_MINUTES = {"minutes": 1, "hours": 60, "days": 1440}


def import_opsgenie(source: Source, now: datetime, *, keep_keys: bool = False) -> Imported:
    """Read everything through `source` (GETs only) and map it; raises SourceError, also
    when an answer does not have the shape of Opsgenie's API."""
    reader = _Reader(source)
    try:
        return _Mapping(reader, now, keep_keys).run()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise SourceError(
            f"{source.name} answered GET {reader.last} with something unexpected "
            f"({type(error).__name__}: {error})"
        ) from None


class _Reader:
    def __init__(self, source: Source) -> None:
        self._source = source
        self.last = ""

    def data(self, path: str, params: Mapping[str, str] | None = None) -> Any:
        self.last = path
        answer = self._source.get(path, params)
        if not isinstance(answer, dict) or "data" not in answer:
            raise ValueError("no data in the answer")
        return answer["data"]

    def items(self, path: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every item of a list, following `paging.next` to the last page."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        query: Mapping[str, str] | None = {"limit": PAGE_LIMIT, "offset": "0", **(params or {})}
        seen: set[str] = set()
        while url is not None and url not in seen:
            seen.add(url)
            self.last = url
            answer = self._source.get(url, query)
            data = answer["data"]
            if not isinstance(data, list):
                raise TypeError("data is not a list")
            items += [_mapping(item) for item in data]
            url = (answer.get("paging") or {}).get("next")
            query = None  # the next URL carries its own query
        return items


def _mapping(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{value!r} is not an object")
    return value


@dataclass(slots=True)
class _Mapping:
    reader: _Reader
    now: datetime
    keep_keys: bool
    report: Report = field(default_factory=Report)
    ids: Ids = field(default_factory=Ids)
    users: dict[str, str] = field(default_factory=dict)
    """Opsgenie user id -> email."""
    emails: set[str] = field(default_factory=set)
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedules: dict[str, str] = field(default_factory=dict)
    """Opsgenie schedule id and name -> Pager id."""
    policies: dict[str, str] = field(default_factory=dict)
    team_services: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Opsgenie integration id -> the service's data."""

    def run(self) -> Imported:
        users = self._users()
        self._teams()
        schedules = self._schedules()
        policies = self._policies()
        services = self._services()
        # Heartbeats are not on every plan: a key that may not read them loses only them.
        heartbeats = self._optional("heartbeats", self._heartbeats) or []
        self._optional("maintenance", self._maintenance)
        data: dict[str, Any] = {"version": 1, "users": users, "schedules": schedules}
        data["escalation_policies"] = policies
        data["services"] = sorted(services, key=lambda s: str(s["id"]))
        if heartbeats:
            data["heartbeats"] = heartbeats
        return Imported(data, self.report)

    def _optional(self, what: str, read: Callable[[], _T]) -> _T | None:
        try:
            return read()
        except SourceError as error:
            if error.status not in (403, 404):
                raise
            self.report.left(what, "all", str(error))
            return None

    # -- users

    def _users(self) -> list[dict[str, Any]]:
        out = []
        listed = sorted(self.reader.items("/v2/users"), key=lambda u: str(u["username"]).lower())
        for user in listed:
            email = email_of(user["username"])
            if email is None or email in self.emails:
                why = "another user has it" if email else "not an email address"
                self.report.left("user", str(user["username"]), why)
                continue
            self.users[str(user["id"])] = email
            self.emails.add(email)
            out.append(self._user(user, email))
        return out

    def _user(self, user: dict[str, Any], email: str) -> dict[str, Any]:
        role = str((user.get("role") or {}).get("name", "user")).lower()
        data: dict[str, Any] = {
            "email": email,
            "role": "admin" if role in ADMIN_ROLES else "responder",
        }
        if role not in (*ADMIN_ROLES, "user"):
            self.report.changed("user", email, f"Opsgenie role {role!r} is a responder in Pager")
        if user.get("fullName"):
            data["name"] = str(user["fullName"])
        data["time_zone"] = time_zone(user.get("timeZone"), self.report, "user", email)
        methods, by_address = self._methods(user, email)
        data["contact_methods"] = methods
        data["notification_rules"] = self._rules(user, email, by_address)
        self.report.moved("user", email)
        return data

    def _methods(
        self, user: dict[str, Any], email: str
    ) -> tuple[list[dict[str, Any]], dict[tuple[str, str], str]]:
        contacts = self.reader.data(f"/v2/users/{user['id']}/contacts")
        methods: list[dict[str, Any]] = []
        by_address: dict[tuple[str, str], str] = {}
        counts: dict[str, int] = defaultdict(int)
        for contact in sorted(map(_mapping, contacts), key=lambda c: (c["method"], c["to"])):
            kind, to = str(contact["method"]), str(contact["to"])
            enabled = bool((contact.get("status") or {}).get("enabled", True))
            if kind not in ("email", "sms", "voice"):
                self.report.left("contact method", f"{email} {kind} {to}", _NO_METHOD)
                continue
            address = to if kind == "email" else e164(to)
            if address is None:
                self.report.left("contact method", f"{email} {kind} {to}", "not a phone number")
                continue
            if address != to:
                self.report.changed("contact method", f"{email} {kind}", f"{to} -> {address}")
            counts[kind] += 1
            method_id = kind if counts[kind] == 1 else f"{kind}-{counts[kind]}"
            field_name = "address" if kind == "email" else "phone"
            if len(methods) == MAX_CONTACT_METHODS:
                self.report.left("contact method", f"{email} {kind} {to}", "Pager's limit a user")
                continue
            methods.append({"id": method_id, "type": kind, field_name: address, "enabled": enabled})
            by_address[(kind, to)] = method_id
        return methods, by_address

    def _rules(
        self, user: dict[str, Any], email: str, by_address: dict[tuple[str, str], str]
    ) -> list[dict[str, Any]]:
        path = f"/v2/users/{user['id']}/notification-rules"
        listed = sorted(map(_mapping, self.reader.data(path)), key=lambda r: r.get("order", 0))
        chosen = None
        for summary in listed:
            what = f"{email} {summary.get('name') or summary['id']}"
            if summary.get("actionType") != "create-alert" or not summary.get("enabled", True):
                reason = "Pager notifies people only when they are paged"
                if not summary.get("enabled", True):
                    reason = "disabled in Opsgenie"
                self.report.left("notification rule", what, reason)
            elif chosen is not None:
                self.report.left("notification rule", what, "Pager has one set of rules a person")
            else:
                chosen = self._rule_steps(path, summary, what, by_address)
        return chosen or []

    def _rule_steps(
        self,
        path: str,
        summary: dict[str, Any],
        what: str,
        by_address: dict[tuple[str, str], str],
    ) -> list[dict[str, Any]]:
        rule = _mapping(self.reader.data(f"{path}/{summary['id']}"))
        if (rule.get("criteria") or {}).get("type", "match-all") != "match-all":
            self.report.changed(
                "notification rule", what, "applies to every alert: criteria dropped"
            )
        if rule.get("timeRestriction"):
            self.report.changed(
                "notification rule", what, "applies at all times: time restriction dropped"
            )
        repeat = rule.get("repeat") or {}
        every = (
            int(repeat["loopAfter"]) if repeat.get("enabled") and repeat.get("loopAfter") else None
        )
        if every is not None:
            every = at_most(
                every, MAX_REPEAT_MINUTES, self.report, "notification rule", what, "repeats every"
            )
        if every is not None:
            self.report.changed(
                "notification rule",
                what,
                f"repeats each step every {every} min, not all steps in turn",
            )
        steps = []
        for step in map(_mapping, rule.get("steps") or []):
            contact = step["contact"]
            method_id = by_address.get((str(contact["method"]), str(contact["to"])))
            if not step.get("enabled", True) or method_id is None:
                reason = "disabled in Opsgenie" if method_id else "its contact method is not moved"
                self.report.left("notification step", f"{what} {contact['method']}", reason)
                continue
            delay = at_most(
                _minutes(step.get("sendAfter")),
                MAX_DELAY_MINUTES,
                self.report,
                "notification rule",
                what,
                "a delay of",
            )
            step_data: dict[str, Any] = {
                "delay_minutes": delay,
                "contact_method": method_id,
            }
            if every is not None:
                step_data["repeat_every_minutes"] = every
            steps.append(step_data)
        self.report.moved("notification rule", what)
        steps = sorted(steps, key=lambda s: (s["delay_minutes"], s["contact_method"]))
        return bounded(steps, MAX_RULES, self.report, "notification rule", what, "steps")

    # -- teams

    def _teams(self) -> None:
        teams = sorted(self.reader.data("/v2/teams"), key=lambda t: (str(t["name"]), str(t["id"])))
        for summary in teams:
            team = _mapping(self.reader.data(f"/v2/teams/{summary['id']}"))
            self.teams[str(team["id"])] = team
            self.teams[str(team["name"])] = team
            self.report.left(
                "team",
                str(team["name"]),
                "Pager has no teams: its members, schedules, escalations and integrations move "
                "on their own",
            )

    def _members(self, team: dict[str, Any], admins_only: bool = False) -> list[str]:
        members = []
        for member in team.get("members") or []:
            if admins_only and str(member.get("role", "")).lower() != "admin":
                continue
            email = self._email(member["user"])
            if email is not None:
                members.append(email)
        return sorted(set(members))

    def _email(self, ref: Mapping[str, Any]) -> str | None:
        email = self.users.get(str(ref.get("id"))) or str(ref.get("username", "")).lower()
        return email if email in self.emails else None

    # -- schedules

    def _schedules(self) -> list[dict[str, Any]]:
        listed = sorted(
            self.reader.data("/v2/schedules", {"expand": "rotation"}),
            key=lambda s: (str(s["name"]), str(s["id"])),
        )
        for schedule in listed:
            pager_id = self.ids.of("schedule", str(schedule["id"]), str(schedule["name"]))
            self.schedules[str(schedule["id"])] = self.schedules[str(schedule["name"])] = pager_id
        out = [self._schedule(_mapping(s)) for s in listed]
        return sorted((s for s in out if s is not None), key=lambda s: str(s["id"]))

    def _schedule(self, schedule: dict[str, Any]) -> dict[str, Any] | None:
        name = str(schedule["name"])
        zone_name = time_zone(schedule.get("timezone"), self.report, "schedule", name)
        zone = ZoneInfo(zone_name)
        rotations = list(map(_mapping, schedule.get("rotations") or []))
        layers = [layer for r in rotations if (layer := self._layer(name, r, zone)) is not None]
        layers = bounded(layers, MAX_LAYERS, self.report, "schedule", name, "rotations")
        if not layers:
            self.report.left("schedule", name, "no rotation with people in it")
            # Escalations that page it then leave that rule behind, and say so.
            self.schedules.pop(str(schedule["id"]), None)
            self.schedules.pop(name, None)
            return None
        if len(layers) > 1:
            self.report.changed(
                "schedule",
                name,
                "Opsgenie pages every rotation's on-call person at once; in Pager the later "
                "layer wins where layers overlap",
            )
        if not schedule.get("enabled", True):
            self.report.changed("schedule", name, "disabled in Opsgenie, in use in Pager")
        self.report.moved("schedule", name)
        data: dict[str, Any] = {
            "id": self.schedules[str(schedule["id"])],
            "name": name,
            "time_zone": zone_name,
            "layers": layers,
        }
        overrides = self._overrides(schedule)
        if overrides:
            data["overrides"] = overrides
        return data

    def _layer(
        self, schedule: str, rotation: dict[str, Any], zone: ZoneInfo
    ) -> dict[str, Any] | None:
        what = f"{schedule} / {rotation.get('name') or rotation.get('id')}"
        end = rotation.get("endDate")
        if end and _instant(end) <= self.now:
            self.report.left("rotation", what, f"it ended at {end}")
            return None
        if end:
            self.report.changed(
                "rotation", what, f"Pager layers do not end: it goes on after {end}"
            )
        users = []
        for participant in map(_mapping, rotation.get("participants") or []):
            email = self._email(participant) if participant.get("type") == "user" else None
            if email is None:
                kind = participant.get("type")
                label = participant.get("name") or participant.get("username") or kind
                self.report.changed(
                    "rotation",
                    what,
                    f"participant {label} ({kind}) is left out, so the others' turns come sooner",
                )
                continue
            users.append(email)
        if not users:
            self.report.left("rotation", what, "no user among its participants")
            return None
        users = bounded(users, MAX_LAYER_USERS, self.report, "rotation", what, "participants")
        unit = {"hourly": "hours", "daily": "days", "weekly": "weeks"}[str(rotation["type"])]
        start = _instant(rotation["startDate"]).astimezone(zone).replace(tzinfo=None)
        layer: dict[str, Any] = {
            "users": users,
            "shift": {unit: int(rotation.get("length") or 1)},
            "start": start.isoformat(),
        }
        restrictions = _restrictions(rotation.get("timeRestriction"))
        if restrictions:
            layer["restrictions"] = restrictions
        self.report.moved("rotation", what)
        return layer

    def _overrides(self, schedule: dict[str, Any]) -> list[dict[str, Any]]:
        out = []
        name = str(schedule["name"])
        for override in map(
            _mapping, self.reader.data(f"/v2/schedules/{schedule['id']}/overrides")
        ):
            alias = str(override.get("alias") or "")
            start, end = _instant(override["startDate"]), _instant(override["endDate"])
            what = f"{name} / {alias}"
            if end <= self.now:
                continue  # past: nothing to move
            email = (
                self._email(override["user"]) if override["user"].get("type") == "user" else None
            )
            if email is None:
                self.report.left("override", what, "its person is not a user that moves")
                continue
            if override.get("rotations"):
                self.report.changed("override", what, "covers every layer, not only its rotations")
            self.report.moved("override", what)
            out.append(
                {
                    "id": self.ids.of(f"override {name}", alias, alias),
                    "user": email,
                    "start": _iso(start),
                    "end": _iso(end),
                }
            )
        return sorted(out, key=lambda o: (o["start"], o["id"]))

    # -- escalations

    def _policies(self) -> list[dict[str, Any]]:
        out = []
        for escalation in sorted(
            self.reader.data("/v2/escalations"), key=lambda e: (str(e["name"]), str(e["id"]))
        ):
            policy = self._policy(_mapping(escalation))
            if policy is not None:
                out.append(policy)
        return sorted(out, key=lambda p: str(p["id"]))

    def _policy(self, escalation: dict[str, Any]) -> dict[str, Any] | None:
        name = str(escalation["name"])
        by_delay: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for rule in map(_mapping, escalation.get("rules") or []):
            if rule.get("condition", "if-not-acked") != "if-not-acked":
                self.report.changed(
                    "escalation", name, "rules stop at acknowledgement, not at close"
                )
            targets = self._targets(name, rule)
            by_delay[_minutes(rule.get("delay"))] += targets
        delays = sorted(d for d, targets in by_delay.items() if targets)
        if not delays:
            self.report.left("escalation", name, "no rule with anybody Pager can page")
            return None
        if delays[0] > 0:
            self.report.changed(
                "escalation", name, f"level 1 pages at once, not after {delays[0]} min"
            )
        repeat = escalation.get("repeat") or {}
        count = int(repeat.get("count") or 0) if repeat.get("waitInterval") is not None else 0
        wait = int(repeat.get("waitInterval") or 0)
        if count > MAX_REPEAT:
            self.report.changed("escalation", name, f"repeats {MAX_REPEAT} times, not {count}")
            count = MAX_REPEAT
        if repeat.get("closeAlertAfterAll"):
            self.report.changed("escalation", name, "the alert is not closed after the last repeat")
        levels = []
        for n, delay in enumerate(delays):
            after = delays[n + 1] - delay if n + 1 < len(delays) else (wait if count else 0)
            timeout = after * 60 if after > 0 else DEFAULT_ACK_TIMEOUT_SECONDS
            unique = {(t["type"], t.get("user") or t.get("schedule")): t for t in by_delay[delay]}
            targets = bounded(
                list(unique.values()), MAX_TARGETS, self.report, "escalation", name, "recipients"
            )
            levels.append({"ack_timeout_seconds": timeout, "targets": targets})
        levels = bounded(levels, MAX_LEVELS, self.report, "escalation", name, "levels")
        pager_id = self.ids.of("escalation policy", str(escalation["id"]), name)
        self.policies[str(escalation["id"])] = self.policies[name] = pager_id
        self.report.moved("escalation", name)
        return {"id": pager_id, "name": name, "repeat": count, "levels": levels}

    def _targets(self, escalation: str, rule: dict[str, Any]) -> list[dict[str, Any]]:
        recipient = _mapping(rule["recipient"])
        kind, notify = recipient.get("type"), str(rule.get("notifyType") or "default")
        label = str(recipient.get("name") or recipient.get("username") or recipient.get("id"))
        if kind == "user":
            email = self._email(recipient)
            if email is None:
                self.report.left(
                    "escalation rule", f"{escalation} -> {label}", "not a user that moves"
                )
                return []
            return [{"type": "user", "user": email}]
        if kind == "schedule":
            schedule = self.schedules.get(str(recipient.get("id"))) or self.schedules.get(label)
            if schedule is None:
                self.report.left(
                    "escalation rule", f"{escalation} -> {label}", "its schedule does not move"
                )
                return []
            if notify != "default":
                self.report.changed(
                    "escalation rule",
                    f"{escalation} -> {label}",
                    f"pages who is on call now, not the {notify} on-call person",
                )
            return [{"type": "schedule", "schedule": schedule}]
        if kind == "team":
            team = self.teams.get(str(recipient.get("id"))) or self.teams.get(label)
            members = [] if team is None else self._members(team, admins_only=notify == "admins")
            if not members:
                self.report.left(
                    "escalation rule", f"{escalation} -> {label}", "a team with no users"
                )
                return []
            self.report.changed(
                "escalation rule",
                f"{escalation} -> team {label}",
                f"pages its {'admins' if notify == 'admins' else 'members'} "
                f"({', '.join(members)}), not the team's own routing",
            )
            return [{"type": "user", "user": email} for email in members]
        self.report.left("escalation rule", f"{escalation} -> {label}", f"recipient type {kind!r}")
        return []

    # -- integrations, heartbeats, maintenance

    def _services(self) -> list[dict[str, Any]]:
        out = []
        listed = sorted(
            self.reader.data("/v2/integrations"), key=lambda i: (str(i["name"]), str(i["id"]))
        )
        for summary in map(_mapping, listed):
            name = str(summary["name"])
            if summary.get("type") in NOT_SENDERS:
                self.report.left(
                    "integration", name, f"Pager takes no alerts from {summary['type']}"
                )
                continue
            integration = _mapping(self.reader.data(f"/v2/integrations/{summary['id']}"))
            team = integration.get("ownerTeam") or {}
            policy = self._team_policy(name, team)
            if policy is None:
                continue
            service: dict[str, Any] = {
                "id": self.ids.of("service", str(summary["id"]), name),
                "name": name,
                "escalation_policy": policy,
            }
            key = integration.get("apiKey")
            if self.keep_keys and key:
                service["integration_key"] = str(key)
                self.report.changed("integration", name, "keeps its API key as the integration key")
            elif key:
                self.report.changed(
                    "integration", name, "gets a new integration key (--keep-keys keeps its own)"
                )
            if not summary.get("enabled", True):
                self.report.changed("integration", name, "disabled in Opsgenie, in use in Pager")
            self.report.moved("integration", name)
            self.services[str(summary["id"])] = service
            for team_key in (team.get("id"), team.get("name")):
                if team_key:
                    self.team_services[str(team_key)].append(service["id"])
            out.append(service)
        return out

    def _team_policy(self, integration: str, team: Mapping[str, Any]) -> str | None:
        """The escalation that the owner team's default routing rule notifies."""
        if not team.get("id"):
            self.report.left("integration", integration, "it has no owner team to route its alerts")
            return None
        rules = map(_mapping, self.reader.data(f"/v2/teams/{team['id']}/routing-rules"))
        for rule in rules:
            if not rule.get("isDefault"):
                self.report.left(
                    "routing rule",
                    f"{team.get('name')} / {rule.get('name') or rule.get('id')}",
                    "a Pager service routes every alert to one escalation policy",
                )
                continue
            notify = rule.get("notify") or {}
            policy = self.policies.get(str(notify.get("id"))) or self.policies.get(
                str(notify.get("name"))
            )
            if notify.get("type") == "escalation" and policy is not None:
                return policy
            self.report.left(
                "integration",
                integration,
                f"its team's default routing notifies {notify.get('type')} "
                f"{notify.get('name') or ''}, not an escalation that moves".rstrip(),
            )
            return None
        self.report.left("integration", integration, "its team has no default routing rule")
        return None

    def _heartbeats(self) -> list[dict[str, Any]]:
        out = []
        listed = self.reader.data("/v2/heartbeats")["heartbeats"]
        for heartbeat in sorted(map(_mapping, listed), key=lambda h: str(h["name"])):
            name = str(heartbeat["name"])
            team = heartbeat.get("ownerTeam") or {}
            services = sorted(
                self.team_services.get(str(team.get("id")), [])
                or self.team_services.get(str(team.get("name")), [])
            )
            if not heartbeat.get("enabled", True):
                self.report.left("heartbeat", name, "disabled in Opsgenie")
                continue
            if not services:
                self.report.left("heartbeat", name, "its owner team has no service that moves")
                continue
            heartbeat_id = self.ids.of("heartbeat", name, name)
            if heartbeat_id != name:
                self.report.changed(
                    "heartbeat", name, f"pinged as {heartbeat_id} (Pager ids are lower-case slugs)"
                )
            self.report.changed(
                "heartbeat", name, f"raises its alert on service {services[0]}, with 60 s grace"
            )
            unit = _UNIT_MINUTES[str(heartbeat.get("intervalUnit") or "minutes")]
            out.append(
                {
                    "id": heartbeat_id,
                    "service": services[0],
                    "interval_seconds": int(heartbeat["interval"]) * unit * 60,
                    "grace_seconds": 60,
                }
            )
        return sorted(out, key=lambda h: str(h["id"]))

    def _maintenance(self) -> None:
        listed = self.reader.data("/v2/maintenance", {"type": "non-expired"})
        for summary in sorted(map(_mapping, listed), key=lambda m: str(m["id"])):
            what = str(summary.get("description") or summary["id"])
            maintenance = _mapping(self.reader.data(f"/v2/maintenance/{summary['id']}"))
            time = maintenance["time"]
            start, end = time.get("startDate"), time.get("endDate")
            if not start or not end or _instant(end) <= self.now:
                self.report.left("maintenance", what, "it has no end, or has ended")
                continue
            for rule in map(_mapping, maintenance.get("rules") or []):
                entity = rule["entity"]
                service = self.services.get(str(entity.get("id")))
                if entity.get("type") != "integration" or service is None:
                    self.report.left(
                        "maintenance",
                        f"{what} / {entity.get('type')} {entity.get('id')}",
                        "Pager keeps maintenance windows on services (integrations) only",
                    )
                    continue
                if rule.get("state") != "disabled":
                    self.report.changed(
                        "maintenance", what, "pages nobody, rather than running as usual"
                    )
                window = {"start": _iso(_instant(start)), "end": _iso(_instant(end))}
                service.setdefault("maintenance", []).append(window)
                self.report.moved("maintenance", f"{what} / {service['id']}")


_NO_METHOD = "Pager pages by email, SMS and voice only"


def _minutes(amount: Any) -> int:
    if not amount:
        return 0
    return (
        int(amount.get("timeAmount") or 0) * _UNIT_MINUTES[str(amount.get("timeUnit") or "minutes")]
    )


def _instant(text: Any) -> datetime:
    at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    if at.utcoffset() is None:
        raise ValueError(f"{text!r} has no offset")
    return at


def _iso(at: datetime) -> str:
    return at.astimezone(ZoneInfo("UTC")).isoformat()


def _restrictions(restriction: Any) -> list[dict[str, Any]]:
    """Opsgenie's time restriction as Pager's weekly windows."""
    if not restriction:
        return []
    if restriction["type"] == "time-of-day":
        r = restriction["restriction"]
        start, end = r["startHour"] * 60 + r["startMin"], r["endHour"] * 60 + r["endMin"]
        if start == end:
            return []  # all day
        return [{"days": list(WEEKDAYS), "from": clock(start), "to": clock(end)}]
    spans = []
    for r in restriction["restrictions"]:
        start = _day(r["startDay"]) * DAY_MINUTES + r["startHour"] * 60 + r["startMin"]
        end = _day(r["endDay"]) * DAY_MINUTES + r["endHour"] * 60 + r["endMin"]
        spans.append((start, end if end > start else end + WEEK_MINUTES))
    return weekly_windows(spans)


def _day(name: str) -> int:
    return WEEKDAYS.index(name[:3].lower())
