"""A local server that answers like Opsgenie's REST API v2, written from its published
reference (not from Pager's model): `{"data", "took", "requestId"}` bodies, offset/limit
paging with `paging.next` URLs, `GenieKey` authentication and its 401 body, 429s, and
`/v2/schedules/{id}/on-calls` computed by its own reading of Opsgenie's rotation rules."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from tests.support.servers import HttpServer, RecordedRequest, Reply

DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PERIOD = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class Organisation:
    """What the fake holds: plain Opsgenie objects, as its API gives them."""

    users: list[dict[str, Any]] = field(default_factory=list)
    contacts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    rules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    teams: list[dict[str, Any]] = field(default_factory=list)
    routing: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    schedules: list[dict[str, Any]] = field(default_factory=list)
    overrides: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    escalations: list[dict[str, Any]] = field(default_factory=list)
    integrations: list[dict[str, Any]] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    maintenance: list[dict[str, Any]] = field(default_factory=list)


class OpsgenieServer(HttpServer):
    def __init__(self, org: Organisation, api_key: str) -> None:
        super().__init__()
        self.org = org
        self.api_key = api_key
        self.max_limit = 100
        """Opsgenie's largest page; lower it to see paging on a small organisation."""
        self.malformed: set[str] = set()
        self.forbidden: set[str] = set()
        """Paths the key may not read (403), as on a plan without them."""
        """Paths answered with a body that is not Opsgenie's shape."""

    def answer(self, request: RecordedRequest) -> Reply:
        if request.header("authorization") != f"GenieKey {self.api_key}":
            return self._body(401, {"message": "Could not authenticate"})
        if request.method != "GET":
            return self._body(405, {"message": "Method not allowed"})
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        if split.path in self.forbidden:
            return self._body(403, {"message": "You are not authorized for this action"})
        if split.path in self.malformed:
            return Reply.json(200, {"data": {"surprise": True}, "took": 0.001})
        parts = split.path.strip("/").split("/")
        data = self._route(parts, query)
        if data is None:
            return self._body(404, {"message": f"{split.path} not found"})
        if isinstance(data, Reply):
            return data
        return self._body(200, {"data": data})

    def _body(self, status: int, body: dict[str, Any]) -> Reply:
        return Reply.json(status, {**body, "took": 0.002, "requestId": str(uuid.uuid4())})

    def _route(self, parts: list[str], query: dict[str, str]) -> Any:
        org = self.org
        match parts:
            case ["v2", "users"]:
                return self._page("/v2/users", org.users, query)
            case ["v2", "users", user_id, "contacts"]:
                return org.contacts.get(user_id, [])
            case ["v2", "users", user_id, "notification-rules"]:
                return [
                    {k: r[k] for k in ("id", "name", "actionType", "order", "enabled")}
                    for r in org.rules.get(user_id, [])
                ]
            case ["v2", "users", user_id, "notification-rules", rule_id]:
                return next((r for r in org.rules.get(user_id, []) if r["id"] == rule_id), None)
            case ["v2", "teams"]:
                return [{k: t[k] for k in ("id", "name", "description")} for t in org.teams]
            case ["v2", "teams", team_id]:
                return next((t for t in org.teams if t["id"] == team_id), None)
            case ["v2", "teams", team_id, "routing-rules"]:
                return org.routing.get(team_id, [])
            case ["v2", "schedules"]:
                expand = query.get("expand") == "rotation"
                return [s if expand else {**s, "rotations": []} for s in org.schedules]
            case ["v2", "schedules", schedule_id, "overrides"]:
                return org.overrides.get(schedule_id, [])
            case ["v2", "schedules", schedule_id, "on-calls"]:
                at = datetime.fromisoformat(query["date"].replace("Z", "+00:00"))
                schedule = next(s for s in org.schedules if s["id"] == schedule_id)
                parent = {k: schedule[k] for k in ("id", "name", "enabled")}
                return {"_parent": parent, "onCallRecipients": self.on_call(schedule_id, at)}
            case ["v2", "escalations"]:
                return org.escalations
            case ["v2", "integrations"]:
                return [
                    {k: i[k] for k in ("id", "name", "enabled", "type", "teamId") if k in i}
                    for i in org.integrations  # one with no owner team has no teamId
                ]
            case ["v2", "integrations", integration_id]:
                return next((i for i in org.integrations if i["id"] == integration_id), None)
            case ["v2", "heartbeats"]:
                return {"heartbeats": org.heartbeats}
            case ["v2", "maintenance"]:
                return [{k: v for k, v in m.items() if k != "rules"} for m in org.maintenance]
            case ["v2", "maintenance", maintenance_id]:
                return next((m for m in org.maintenance if m["id"] == maintenance_id), None)
        return None

    def _page(self, path: str, items: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        offset, limit = (
            int(query.get("offset", 0)),
            min(int(query.get("limit", 20)), self.max_limit),
        )
        page = items[offset : offset + limit]
        paging = {"first": f"{self.url}{path}?{urlencode({'offset': 0, 'limit': limit})}"}
        if offset + limit < len(items):
            after = {"offset": offset + limit, "limit": limit}
            paging["next"] = f"{self.url}{path}?{urlencode(after)}"
        return self._body(200, {"data": page, "paging": paging, "totalCount": len(items)})

    # -- Opsgenie's rotation rules, as its reference describes them

    def on_call(self, schedule_id: str, at: datetime) -> list[str]:
        schedule = next(s for s in self.org.schedules if s["id"] == schedule_id)
        for override in self.org.overrides.get(schedule_id, []):
            start = datetime.fromisoformat(override["startDate"].replace("Z", "+00:00"))
            end = datetime.fromisoformat(override["endDate"].replace("Z", "+00:00"))
            if start <= at < end:
                return [override["user"]["username"]]
        zone = ZoneInfo(schedule["timezone"])
        on_call: list[str] = []
        for rotation in schedule["rotations"]:
            person = _rotation_person(rotation, zone, at)
            if person is not None and person not in on_call:
                on_call.append(person)
        return on_call


def _rotation_person(rotation: dict[str, Any], zone: ZoneInfo, at: datetime) -> str | None:
    start = datetime.fromisoformat(rotation["startDate"].replace("Z", "+00:00"))
    if at < start or not _allowed(rotation.get("timeRestriction"), at.astimezone(zone)):
        return None
    length = _PERIOD[rotation["type"]] * rotation.get("length", 1)
    if rotation["type"] == "hourly":
        turns = (at - start) // length
    else:  # days and weeks hand over at the same time on the clock on the wall
        wall = at.astimezone(zone).replace(tzinfo=None)
        turns = (wall - start.astimezone(zone).replace(tzinfo=None)) // length
    participants = rotation["participants"]
    participant = participants[turns % len(participants)]
    return participant.get("username") if participant["type"] == "user" else None


def _allowed(restriction: dict[str, Any] | None, local: datetime) -> bool:
    if not restriction:
        return True
    minute = local.hour * 60 + local.minute
    if restriction["type"] == "time-of-day":
        r = restriction["restriction"]
        begin, end = r["startHour"] * 60 + r["startMin"], r["endHour"] * 60 + r["endMin"]
        return begin <= minute < end if begin < end else minute >= begin or minute < end
    week_minute = local.weekday() * 1440 + minute
    for r in restriction["restrictions"]:
        begin = DAYS.index(r["startDay"]) * 1440 + r["startHour"] * 60 + r["startMin"]
        end = DAYS.index(r["endDay"]) * 1440 + r["endHour"] * 60 + r["endMin"]
        inside = (
            begin <= week_minute < end if begin < end else week_minute >= begin or week_minute < end
        )
        if inside:
            return True
    return False


# -- a realistic organisation


def organisation(now: datetime) -> Organisation:
    """3 teams, 12 users (some without phones, one with a number written nationally), a
    weekly weekend rotation and a weekday one, a 12-hour daytime rotation, an override next
    week, a 3-step escalation with a repeat, 3 integrations, 2 heartbeats, a maintenance
    window."""
    org = Organisation()
    names = [
        "Ann Archer", "Bob Baker", "Cleo Cruz", "Dan Dorsey", "Eve Evans", "Fay Fox",
        "Gus Grant", "Hal Hughes", "Ivy Irwin", "Jon Jones", "Kim Kato", "Lee Lund",
    ]  # fmt: skip
    for n, name in enumerate(names, start=1):
        user_id = f"u{n:02d}-0000-4000-8000-{n:012d}"
        email = f"{name.split()[0].lower()}@example.com"
        role = {1: "Owner", 2: "Admin", 12: "Observer"}.get(n, "User")
        org.users.append(
            {
                "id": user_id,
                "username": email if n != 3 else "Cleo@Example.com",
                "fullName": name,
                "role": {"id": role.lower(), "name": role},
                "timeZone": {12: "Mars/Olympus"}.get(
                    n, "Europe/Berlin" if n % 2 else "Europe/London"
                ),
                "locale": "en_GB",
                "blocked": False,
                "verified": True,
                "createdAt": "2021-03-01T10:00:00.000Z",
            }
        )
        contacts = [_contact(f"c{n}e", "email", email)]
        if n <= 8:  # users 9 to 12 have no phone
            phone = f"1-41555501{n:02d}" if n != 5 else "44-(0)20 7946 0958"
            contacts += [_contact(f"c{n}s", "sms", phone), _contact(f"c{n}v", "voice", phone)]
        if n == 1:
            contacts.append(_contact("c1m", "mobile", "Pixel 8"))
        org.contacts[user_id] = contacts
        steps = [_step(f"s{n}a", 0, "email", email)]
        if n <= 8:
            steps += [_step(f"s{n}b", 0, "sms", phone), _step(f"s{n}c", 2, "voice", phone)]
        org.rules[user_id] = [
            {
                "id": f"r{n}a",
                "name": "New Alert",
                "actionType": "create-alert",
                "order": 1,
                "enabled": True,
                "criteria": {"type": "match-all"},
                "notificationTime": [],
                "steps": steps,
                "repeat": {"loopAfter": 90, "enabled": n == 2},
            },
            {
                "id": f"r{n}b",
                "name": "Closed Alert",
                "actionType": "closed-alert",
                "order": 2,
                "enabled": True,
                "criteria": {"type": "match-all"},
                "steps": [_step(f"s{n}d", 0, "email", email)],
            },
        ]
    user = {u["fullName"].split()[0]: u for u in org.users}

    def ref(first: str) -> dict[str, Any]:
        return {"type": "user", "id": user[first]["id"], "username": user[first]["username"]}

    def member(first: str, role: str = "user") -> dict[str, Any]:
        return {
            "user": {"id": user[first]["id"], "username": user[first]["username"]},
            "role": role,
        }

    org.teams = [
        _team("t-platform", "Platform", [member("Ann", "admin"), member("Bob"), member("Cleo")]),
        _team("t-payments", "Payments", [member("Gus", "admin"), member("Hal")]),
        _team("t-data", "Data", [member("Ivy", "admin"), member("Jon"), member("Kim")]),
    ]
    this_monday = now.astimezone(ZoneInfo("Europe/Berlin")) - timedelta(days=now.weekday())
    monday = this_monday.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(weeks=5)
    platform = {
        "id": "sch-platform",
        "name": "Platform On-Call",
        "description": "",
        "timezone": "Europe/Berlin",
        "enabled": True,
        "ownerTeam": {"id": "t-platform", "name": "Platform"},
        "rotations": [
            {
                "id": "rot-weekdays",
                "name": "Weekdays",
                "startDate": _iso(monday + timedelta(hours=9)),
                "type": "daily",
                "length": 1,
                "participants": [ref("Ann"), ref("Bob"), ref("Cleo")],
                "timeRestriction": {
                    "type": "weekday-and-time-of-day",
                    "restrictions": [
                        {
                            "startDay": "monday",
                            "startHour": 0,
                            "startMin": 0,
                            "endDay": "saturday",
                            "endHour": 0,
                            "endMin": 0,
                        },
                    ],
                },
            },
            {
                "id": "rot-weekend",
                "name": "Weekend",
                "startDate": _iso(monday + timedelta(days=5)),
                "type": "weekly",
                "length": 1,
                "participants": [ref("Dan"), ref("Eve")],
                "timeRestriction": {
                    "type": "weekday-and-time-of-day",
                    "restrictions": [
                        {
                            "startDay": "saturday",
                            "startHour": 0,
                            "startMin": 0,
                            "endDay": "monday",
                            "endHour": 0,
                            "endMin": 0,
                        },
                    ],
                },
            },
        ],
    }
    payments = {
        "id": "sch-payments",
        "name": "Payments On-Call",
        "description": "",
        "timezone": "Europe/London",
        "enabled": True,
        "ownerTeam": {"id": "t-payments", "name": "Payments"},
        "rotations": [
            {
                "id": "rot-day",
                "name": "Daytime",
                "startDate": _iso(monday + timedelta(hours=8)),
                "type": "hourly",
                "length": 12,
                "participants": [ref("Gus"), ref("Hal")],
                "timeRestriction": {
                    "type": "time-of-day",
                    "restriction": {"startHour": 8, "startMin": 0, "endHour": 20, "endMin": 0},
                },
            },
        ],
    }
    data = {
        "id": "sch-data",
        "name": "Data On-Call",
        "description": "",
        "timezone": "UTC",
        "enabled": True,
        "ownerTeam": {"id": "t-data", "name": "Data"},
        "rotations": [
            {
                "id": "rot-data",
                "name": "Best effort",
                "startDate": _iso(monday),
                "type": "weekly",
                "length": 2,
                "participants": [ref("Ivy"), {"type": "none"}, ref("Kim")],
            },
        ],
    }
    empty = {
        "id": "sch-empty",
        "name": "Empty",
        "description": "",
        "timezone": "UTC",
        "enabled": True,
        "rotations": [
            {
                "id": "rot-nobody",
                "name": "Nobody",
                "startDate": _iso(monday),
                "type": "weekly",
                "participants": [{"type": "escalation", "name": "Platform Escalation"}],
            }
        ],
    }
    org.schedules = [platform, payments, data, empty]
    next_week = monday + timedelta(weeks=6, days=2, hours=10)
    org.overrides["sch-platform"] = [
        {
            "alias": "fay-covers-wednesday",
            "user": ref("Fay"),
            "startDate": _iso(next_week),
            "endDate": _iso(next_week + timedelta(hours=30)),
            "rotations": [],
        },
        {
            "alias": "old-cover",
            "user": ref("Ann"),
            "startDate": _iso(monday),
            "endDate": _iso(monday + timedelta(days=1)),
            "rotations": [],
        },
    ]
    org.escalations = [
        {
            "id": "esc-platform",
            "name": "Platform Escalation",
            "description": "",
            "ownerTeam": {"id": "t-platform", "name": "Platform"},
            "rules": [
                _rule(0, {"type": "schedule", "id": "sch-platform", "name": "Platform On-Call"}),
                _rule(5, {"type": "user", **{k: ref("Jon")[k] for k in ("id", "username")}}),
                _rule(10, {"type": "team", "id": "t-data", "name": "Data"}, "all"),
            ],
            "repeat": {
                "waitInterval": 10,
                "count": 2,
                "resetRecipientStates": False,
                "closeAlertAfterAll": False,
            },
        },
        {
            "id": "esc-payments",
            "name": "Payments Escalation",
            "description": "",
            "ownerTeam": {"id": "t-payments", "name": "Payments"},
            "rules": [
                _rule(
                    0,
                    {"type": "schedule", "id": "sch-payments", "name": "Payments On-Call"},
                    "next",
                ),
                _rule(15, {"type": "user", **{k: ref("Gus")[k] for k in ("id", "username")}}),
                _rule(20, {"type": "schedule", "id": "sch-empty", "name": "Empty"}),
            ],
        },
    ]
    org.routing = {
        "t-platform": [
            _routing("default", True, "escalation", "esc-platform", "Platform Escalation")
        ],
        "t-payments": [
            _routing("vip", False, "schedule", "sch-payments", "Payments On-Call"),
            _routing("default", True, "escalation", "esc-payments", "Payments Escalation"),
        ],
        "t-data": [_routing("default", True, "none", None, None)],
    }
    org.integrations = [
        _integration("i-prom", "Platform Prometheus", "Prometheus", "t-platform", "Platform"),
        _integration("i-api", "Payments API", "API", "t-payments", "Payments"),
        _integration("i-mail", "Data Mail", "Email", "t-data", "Data"),
    ]
    org.heartbeats = [
        _heartbeat("nightly-backup", 1, "days", "t-platform", "Platform"),
        _heartbeat("Payments Sync", 10, "minutes", "t-payments", "Payments"),
    ]
    window = now.replace(microsecond=0) + timedelta(days=3)
    org.maintenance = [
        {
            "id": "m-upgrade",
            "status": "planned",
            "description": "Database upgrade",
            "time": {
                "type": "schedule",
                "startDate": _iso(window),
                "endDate": _iso(window + timedelta(hours=4)),
            },
            "rules": [{"state": "disabled", "entity": {"id": "i-prom", "type": "integration"}}],
        }
    ]
    return org


def _contact(contact_id: str, method: str, to: str) -> dict[str, Any]:
    return {"id": contact_id, "method": method, "to": to, "status": {"enabled": True}}


def _step(step_id: str, minutes: int, method: str, to: str) -> dict[str, Any]:
    return {
        "id": step_id,
        "sendAfter": {"timeAmount": minutes, "timeUnit": "minutes"},
        "contact": {"method": method, "to": to},
        "enabled": True,
    }


def _team(team_id: str, name: str, members: list[dict[str, Any]]) -> dict[str, Any]:
    return {"id": team_id, "name": name, "description": "", "members": members}


def _rule(minutes: int, recipient: dict[str, Any], notify: str = "default") -> dict[str, Any]:
    return {
        "condition": "if-not-acked",
        "notifyType": notify,
        "delay": {"timeAmount": minutes, "timeUnit": "minutes"},
        "recipient": recipient,
    }


def _routing(
    name: str, default: bool, kind: str, target_id: str | None, target: str | None
) -> dict[str, Any]:
    notify: dict[str, Any] = {"type": kind}
    if target_id is not None:
        notify |= {"id": target_id, "name": target}
    return {
        "id": f"rr-{name}-{kind}",
        "name": name,
        "isDefault": default,
        "order": 1 if default else 0,
        "criteria": {"type": "match-all"},
        "timezone": "UTC",
        "notify": notify,
    }


def _integration(
    integration_id: str, name: str, kind: str, team_id: str, team: str
) -> dict[str, Any]:
    return {
        "id": integration_id,
        "name": name,
        "enabled": True,
        "type": kind,
        "teamId": team_id,
        "ownerTeam": {"id": team_id, "name": team},
        "version": "v2",
        "apiKey": str(uuid.uuid5(uuid.NAMESPACE_URL, integration_id)),
    }


def _heartbeat(name: str, interval: int, unit: str, team_id: str, team: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": "",
        "interval": interval,
        "intervalUnit": unit,
        "enabled": True,
        "expired": False,
        "ownerTeam": {"id": team_id, "name": team},
        "alertMessage": f"HeartbeatName: {name} is expired",
        "alertTags": [],
        "alertPriority": "P3",
    }
