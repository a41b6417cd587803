"""Grafana OnCall's public API (`/api/v1/`) as a Pager configuration file: users and their
personal notification rules, web and calendar schedules from their shifts, escalation chains
from their steps, integrations as services on their default route's chain. What Pager has no
shape for is mapped to the nearest one, or left behind, and reported."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
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
    email_of,
    time_zone,
    weekly_windows,
)
from pager.application.schedules import MAX_LAYER_USERS, MAX_LAYERS
from pager.domain.people import MAX_DELAY_MINUTES, MAX_RULES
from pager.domain.policy import DEFAULT_ACK_TIMEOUT_SECONDS

ADMIN_ROLES = ("admin",)
MAX_CHAIN_REPEATS = 5  # Grafana OnCall repeats an escalation chain at most 5 times
_FREQUENCY = {
    "hourly": ("hours", 60),
    "daily": ("days", DAY_MINUTES),
    "weekly": ("weeks", WEEK_MINUTES),
}
_BY_DAY = {"MO": 0, "TU": 1, "WE": 2, "TH": 3, "FR": 4, "SA": 5, "SU": 6}
_NOTIFY_STEPS = ("notify_persons", "notify_person_next_each_time", "notify_on_call_from_schedule")


def import_grafana_oncall(source: Source, now: datetime) -> Imported:
    """Read everything through `source` (GETs only) and map it; raises SourceError, also
    when an answer does not have the shape of Grafana OnCall's API."""
    reader = _Reader(source)
    try:
        return _Mapping(reader, now).run()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as error:
        raise SourceError(
            f"{source.name} answered GET {reader.last} with something unexpected "
            f"({type(error).__name__}: {error})"
        ) from None


class _Reader:
    def __init__(self, source: Source) -> None:
        self._source = source
        self.last = ""

    def items(self, path: str, params: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Every result of a list, following `next` to the last page."""
        items: list[dict[str, Any]] = []
        url: str | None = path
        query = params
        seen: set[str] = set()
        while url and url not in seen:
            seen.add(url)
            self.last = url
            answer = self._source.get(url, query)
            results = answer["results"]
            if not isinstance(results, list):
                raise TypeError("results is not a list")
            for item in results:
                if not isinstance(item, dict):
                    raise TypeError(f"{item!r} is not an object")
                items.append(item)
            url, query = answer.get("next"), None
        return items


@dataclass(slots=True)
class _Mapping:
    reader: _Reader
    now: datetime
    report: Report = field(default_factory=Report)
    ids: Ids = field(default_factory=Ids)
    users: dict[str, str] = field(default_factory=dict)
    """Grafana OnCall user id -> email."""
    schedules: dict[str, str] = field(default_factory=dict)
    policies: dict[str, str] = field(default_factory=dict)

    def run(self) -> Imported:
        users = self._users()
        schedules = self._schedules()
        policies = self._policies()
        services = self._services()
        data: dict[str, Any] = {"version": 1, "users": users, "schedules": schedules}
        data["escalation_policies"] = policies
        data["services"] = services
        return Imported(data, self.report)

    # -- users

    def _users(self) -> list[dict[str, Any]]:
        out = []
        listed = sorted(self.reader.items("/api/v1/users/"), key=lambda u: str(u["email"]).lower())
        for user in listed:
            email = email_of(user["email"])
            if email is None or email in self.users.values():
                why = "another user has it" if email else "not an email address"
                self.report.left("user", str(user["email"]), why)
                continue
            self.users[str(user["id"])] = email
            role = str(user.get("role") or "user")
            data: dict[str, Any] = {
                "email": email,
                "role": "admin" if role in ADMIN_ROLES else "responder",
            }
            if user.get("name") or user.get("username"):
                data["name"] = str(user.get("name") or user["username"])
            data["time_zone"] = time_zone(user.get("timezone"), self.report, "user", email)
            data["contact_methods"] = [
                {"id": "email", "type": "email", "address": email, "enabled": True}
            ]
            data["notification_rules"] = self._rules(user, email)
            self.report.moved("user", email)
            out.append(data)
        return out

    def _rules(self, user: dict[str, Any], email: str) -> list[dict[str, Any]]:
        listed = self.reader.items("/api/v1/personal_notification_rules/", {"user_id": user["id"]})
        rules = sorted((r for r in listed if not r.get("important")), key=lambda r: r["position"])
        if len(rules) != len(listed):
            self.report.left(
                "notification rules", f"{email} important", "Pager has one set of rules a person"
            )
        out, delay = [], 0
        for rule in rules:
            kind = str(rule["type"])
            if kind == "wait":
                delay += int(rule.get("duration") or 0) // 60
            elif kind == "notify_by_email":
                late = at_most(delay, MAX_DELAY_MINUTES, self.report, "user", email, "a delay of")
                out.append({"delay_minutes": late, "contact_method": "email"})
            else:
                reason = (
                    "the public API does not give phone numbers"
                    if kind in ("notify_by_sms", "notify_by_phone_call")
                    else "Pager pages by email, SMS and voice only"
                )
                self.report.left("notification step", f"{email} {kind}", reason)
        if any(r["type"] in ("notify_by_sms", "notify_by_phone_call") for r in rules):
            self.report.changed(
                "user", email, "add the phone numbers in Pager: the public API does not give them"
            )
        unique = {(r["delay_minutes"], r["contact_method"]): r for r in out}
        kept = [unique[k] for k in sorted(unique)]
        return bounded(kept, MAX_RULES, self.report, "user", email, "notification steps")

    def _email(self, user_id: Any) -> str | None:
        return self.users.get(str(user_id))

    # -- schedules

    def _schedules(self) -> list[dict[str, Any]]:
        shifts_by_id = {str(s["id"]): s for s in self.reader.items("/api/v1/on_call_shifts/")}
        out = []
        for schedule in sorted(
            self.reader.items("/api/v1/schedules/"), key=lambda s: str(s["name"])
        ):
            name = str(schedule["name"])
            if schedule.get("type") == "ical":
                self.report.left("schedule", name, "an iCal schedule: its calendar is not read")
                continue
            pager_id = self.ids.of("schedule", str(schedule["id"]), name)
            self.schedules[str(schedule["id"])] = pager_id
            zone_name = time_zone(schedule.get("time_zone"), self.report, "schedule", name)
            shifts = [
                shifts_by_id[str(i)] for i in schedule.get("shifts") or [] if str(i) in shifts_by_id
            ]
            shifts += [
                s for s in shifts_by_id.values()
                if s.get("schedule") == schedule["id"] and s not in shifts
            ]  # fmt: skip
            layers, overrides = self._shifts(name, shifts, ZoneInfo(zone_name))
            if not layers:
                self.schedules.pop(str(schedule["id"]))
                self.report.left("schedule", name, "no recurring shift with people in it")
                continue
            if schedule.get("ical_url_overrides"):
                self.report.left("overrides", name, "its iCal overrides calendar is not read")
            data: dict[str, Any] = {
                "id": pager_id,
                "name": name,
                "time_zone": zone_name,
                "layers": layers,
            }
            if overrides:
                data["overrides"] = overrides
            self.report.moved("schedule", name)
            out.append(data)
        return sorted(out, key=lambda s: str(s["id"]))

    def _shifts(
        self, schedule: str, shifts: list[dict[str, Any]], zone: ZoneInfo
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        layered: list[tuple[int, str, dict[str, Any]]] = []
        overrides: list[dict[str, Any]] = []
        for shift in shifts:
            what = f"{schedule} / {shift.get('name') or shift['id']}"
            if shift["type"] in ("single_event", "override"):
                overrides += self._override(what, shift, zone)
                continue
            layer = self._layer(what, shift, zone)
            if layer is not None:
                layered.append((int(shift.get("level") or 0), str(shift["id"]), layer))
        levels = [level for level, _, _ in layered]
        if len(set(levels)) != len(levels):
            self.report.changed(
                "schedule", schedule, "shifts of one level: where they overlap the later one wins"
            )
        # A higher level wins where shifts overlap, as a later layer does in Pager.
        layers = [layer for _, _, layer in sorted(layered, key=lambda x: (x[0], x[1]))]
        layers = bounded(layers, MAX_LAYERS, self.report, "schedule", schedule, "shifts")
        return layers, sorted(overrides, key=lambda o: (o["start"], o["id"]))

    def _layer(self, what: str, shift: dict[str, Any], zone: ZoneInfo) -> dict[str, Any] | None:
        until = shift.get("until")
        shift_zone = ZoneInfo(str(shift.get("time_zone") or zone.key))
        if until and _local(until, shift_zone) <= self.now:
            self.report.left("shift", what, f"it ended at {until}")
            return None
        if until:
            self.report.changed("shift", what, f"Pager layers do not end: it goes on after {until}")
        frequency = str(shift.get("frequency") or "")
        if frequency not in _FREQUENCY:
            self.report.left(
                "shift", what, f"a {frequency or 'one-off'} recurrence Pager has no shape for"
            )
            return None
        users = self._rotation(what, shift)
        if not users:
            self.report.left("shift", what, "no user in it")
            return None
        unit, unit_minutes = _FREQUENCY[frequency]
        interval = int(shift.get("interval") or 1)
        start = _local(shift.get("rotation_start") or shift["start"], shift_zone)
        if shift_zone.key != zone.key:
            self.report.changed(
                "shift", what, f"hands over by the schedule's zone {zone.key}, not {shift_zone.key}"
            )
        local = start.astimezone(zone)
        layer: dict[str, Any] = {
            "users": users,
            "shift": {unit: interval},
            "start": local.replace(tzinfo=None).isoformat(),
        }
        restrictions = self._windows(what, shift, local, unit_minutes * interval)
        if restrictions:
            layer["restrictions"] = restrictions
        self.report.moved("shift", what)
        return layer

    def _rotation(self, what: str, shift: dict[str, Any]) -> list[str]:
        if shift["type"] == "rolling_users":
            groups = [list(g) for g in shift.get("rolling_users") or []]
        else:
            groups = [list(shift.get("users") or [])]
        if any(len(g) > 1 for g in groups):
            self.report.changed(
                "shift", what, "several people on one turn: the first of each is on call"
            )
        users = [email for g in groups if g and (email := self._email(g[0])) is not None]
        users = bounded(users, MAX_LAYER_USERS, self.report, "shift", what, "turns")
        first = int(shift.get("start_rotation_from_user_index") or 0)
        return users[first % len(users) :] + users[: first % len(users)] if users else []

    def _windows(
        self, what: str, shift: dict[str, Any], start: datetime, period: int
    ) -> list[dict[str, Any]]:
        """A shift shorter than its period, or on some weekdays only, as weekly windows."""
        duration = int(shift.get("duration") or period * 60) // 60
        begin = start.hour * 60 + start.minute
        days = [_BY_DAY[d] for d in shift.get("by_day") or []]
        if days:
            self.report.changed(
                "shift", what, "turns follow the calendar, not each on-call day in turn"
            )
            length = min(duration, DAY_MINUTES)
            return weekly_windows(
                (d * DAY_MINUTES + begin, d * DAY_MINUTES + begin + length) for d in days
            )
        if duration >= period:
            return []
        if period == DAY_MINUTES:
            return weekly_windows(
                (d * DAY_MINUTES + begin, d * DAY_MINUTES + begin + duration) for d in range(7)
            )
        if period == WEEK_MINUTES:
            begin += start.weekday() * DAY_MINUTES
            return weekly_windows([(begin, begin + duration)])
        self.report.changed("shift", what, "on call for its whole period, not only its duration")
        return []

    def _override(self, what: str, shift: dict[str, Any], zone: ZoneInfo) -> list[dict[str, Any]]:
        shift_zone = ZoneInfo(str(shift.get("time_zone") or zone.key))
        start = _local(shift["start"], shift_zone)
        end = start + timedelta(seconds=int(shift["duration"]))
        if end <= self.now:
            return []
        users = [e for u in shift.get("users") or [] if (e := self._email(u)) is not None]
        if shift.get("rolling_users"):
            users = [e for g in shift["rolling_users"] for u in g[:1] if (e := self._email(u))]
        if not users:
            self.report.left("override", what, "no user in it")
            return []
        if len(users) > 1:
            self.report.changed("override", what, f"{users[0]} alone is on call")
        self.report.moved("override", what)
        override_id = self.ids.of(f"override {what}", str(shift["id"]), str(shift["id"]))
        return [{"id": override_id, "user": users[0], "start": _iso(start), "end": _iso(end)}]

    # -- escalation chains

    def _policies(self) -> list[dict[str, Any]]:
        out = []
        for chain in sorted(
            self.reader.items("/api/v1/escalation_chains/"), key=lambda c: str(c["name"])
        ):
            policy = self._policy(chain)
            if policy is not None:
                out.append(policy)
        return sorted(out, key=lambda p: str(p["id"]))

    def _policy(self, chain: dict[str, Any]) -> dict[str, Any] | None:
        name = str(chain["name"])
        steps = self.reader.items(
            "/api/v1/escalation_policies/", {"escalation_chain_id": chain["id"]}
        )
        at, repeat = 0, 0
        by_time: dict[int, list[dict[str, Any]]] = defaultdict(list)
        times: list[int] = []
        for step in sorted(steps, key=lambda s: s["position"]):
            kind = str(step["type"])
            if kind == "wait":
                at += int(step.get("duration") or 0)
            elif kind in _NOTIFY_STEPS:
                targets = self._targets(name, step)
                if targets:
                    by_time[at] += targets
                    times.append(at)
            elif kind == "repeat_escalation":
                repeat = MAX_CHAIN_REPEATS
                self.report.changed(
                    "escalation chain", name, f"repeats {repeat} times, as Grafana OnCall does"
                )
                break
            else:
                self.report.left(
                    "escalation step",
                    f"{name} #{step['position']} {kind}",
                    "Pager has no such step",
                )
        delays = sorted(set(times))
        if not delays:
            self.report.left("escalation chain", name, "no step that pages anybody Pager can page")
            return None
        if delays[0] > 0:
            self.report.changed(
                "escalation chain", name, f"level 1 pages at once, not after {delays[0]} s"
            )
        levels = []
        for n, delay in enumerate(delays):
            after = delays[n + 1] - delay if n + 1 < len(delays) else at - delay
            unique = {(t["type"], t.get("user") or t.get("schedule")): t for t in by_time[delay]}
            targets = bounded(
                list(unique.values()), MAX_TARGETS, self.report, "escalation chain", name, "targets"
            )
            timeout = after if after > 0 else DEFAULT_ACK_TIMEOUT_SECONDS
            levels.append({"ack_timeout_seconds": timeout, "targets": targets})
        levels = bounded(levels, MAX_LEVELS, self.report, "escalation chain", name, "levels")
        pager_id = self.ids.of("escalation policy", str(chain["id"]), name)
        self.policies[str(chain["id"])] = pager_id
        self.report.moved("escalation chain", name)
        return {"id": pager_id, "name": name, "repeat": repeat, "levels": levels}

    def _targets(self, chain: str, step: dict[str, Any]) -> list[dict[str, Any]]:
        what = f"{chain} #{step['position']}"
        if step["type"] == "notify_on_call_from_schedule":
            schedule = self.schedules.get(str(step.get("notify_on_call_from_schedule")))
            if schedule is None:
                self.report.left("escalation step", what, "its schedule does not move")
                return []
            return [{"type": "schedule", "schedule": schedule}]
        people = step.get("persons_to_notify") or step.get("persons_to_notify_next_each_time") or []
        if step["type"] == "notify_person_next_each_time":
            self.report.changed(
                "escalation step", what, "pages all of its people each time, not the next one"
            )
        emails = sorted({e for p in people if (e := self._email(p)) is not None})
        if not emails:
            self.report.left("escalation step", what, "no user that moves")
        return [{"type": "user", "user": email} for email in emails]

    # -- integrations

    def _services(self) -> list[dict[str, Any]]:
        out = []
        for integration in sorted(
            self.reader.items("/api/v1/integrations/"), key=lambda i: str(i["name"])
        ):
            name = str(integration["name"])
            route = integration.get("default_route") or {}
            policy = self.policies.get(str(route.get("escalation_chain_id")))
            for other in self.reader.items(
                "/api/v1/routes/", {"integration_id": integration["id"]}
            ):
                if other.get("is_the_last_route") or other.get("id") == route.get("id"):
                    continue
                self.report.left(
                    "route",
                    f"{name} / {other.get('routing_regex') or other['id']}",
                    "a Pager service routes every alert to one escalation policy",
                )
            if policy is None:
                self.report.left(
                    "integration", name, "its default route has no escalation chain that moves"
                )
                continue
            if integration.get("heartbeat"):
                self.report.left(
                    "heartbeat", name, "the public API does not give its interval: add it in Pager"
                )
            self.report.changed(
                "integration",
                name,
                f"senders post to Pager's endpoint for {integration.get('type')} with the "
                "service's integration key, not to its OnCall URL",
            )
            out.append({
                "id": self.ids.of("service", str(integration["id"]), name),
                "name": name,
                "escalation_policy": policy,
            })  # fmt: skip
        return sorted(out, key=lambda s: str(s["id"]))


def _local(text: Any, zone: ZoneInfo) -> datetime:
    """Grafana OnCall's start (a local date-time in the shift's zone, or an instant)."""
    at = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return at if at.utcoffset() is not None else at.replace(tzinfo=zone)


def _iso(at: datetime) -> str:
    return at.astimezone(ZoneInfo("UTC")).isoformat()
