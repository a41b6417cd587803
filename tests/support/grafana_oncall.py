"""A local server that answers like Grafana OnCall's public API (`/api/v1/`), written from its
published reference: `{"count", "next", "previous", "results", "page_size",
"current_page_number", "total_pages"}` pages with absolute `next` URLs, `Authorization:
<token>` and its 401 body, and who is on call by its own reading of OnCall's shift rules."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit
from zoneinfo import ZoneInfo

from tests.support.servers import HttpServer, RecordedRequest, Reply

_UNIT = {"hourly": timedelta(hours=1), "daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
_BY_DAY = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


class GrafanaOnCallServer(HttpServer):
    def __init__(self, token: str, now: datetime) -> None:
        super().__init__()
        self.token = token
        self.page_size = 50
        self.lists: dict[str, list[dict[str, Any]]] = organisation(now)

    def answer(self, request: RecordedRequest) -> Reply:
        if request.header("authorization") != self.token:
            return Reply.json(401, {"detail": "Invalid token."})
        if request.method != "GET":
            return Reply.json(405, {"detail": f'Method "{request.method}" not allowed.'})
        split = urlsplit(request.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        name = split.path.removeprefix("/api/v1/").strip("/")
        if name not in self.lists:
            return Reply.json(404, {"detail": "Not found."})
        items = self.lists[name]
        for key in ("user_id", "escalation_chain_id", "integration_id"):
            if key in query:
                items = [i for i in items if i.get(key) == query[key]]
        return self._page(split.path, items, query)

    def _page(self, path: str, items: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        page = int(query.get("page", 1))
        pages = max(1, -(-len(items) // self.page_size))
        shown = items[(page - 1) * self.page_size : page * self.page_size]
        rest = {k: v for k, v in query.items() if k != "page"}

        def link(number: int) -> str | None:
            if not 1 <= number <= pages:
                return None
            return f"{self.url}{path}?{urlencode({**rest, 'page': number})}"

        return Reply.json(
            200,
            {
                "count": len(items),
                "next": link(page + 1),
                "previous": link(page - 1),
                "results": shown,
                "page_size": self.page_size,
                "current_page_number": page,
                "total_pages": pages,
            },
        )

    # -- OnCall's shift rules, as its reference describes them

    def on_call(self, schedule_id: str, at: datetime) -> list[str]:
        schedule = next(s for s in self.lists["schedules"] if s["id"] == schedule_id)
        zone = ZoneInfo(schedule["time_zone"])
        shifts = [s for s in self.lists["on_call_shifts"] if s["id"] in schedule["shifts"]]
        emails = {u["id"]: u["email"] for u in self.lists["users"]}
        for shift in shifts:
            if shift["type"] == "override" and _occurrence(shift, zone, at, True) is not None:
                return [emails[shift["rolling_users"][0][0]]]
        best: tuple[int, list[str]] | None = None
        for shift in shifts:
            if shift["type"] != "rolling_users":
                continue
            turn = _occurrence(shift, zone, at)
            if turn is None:
                continue
            groups = shift["rolling_users"]
            group = groups[(turn + shift.get("start_rotation_from_user_index", 0)) % len(groups)]
            if best is None or shift["level"] > best[0]:
                best = (shift["level"], [emails[u] for u in group])
        return [] if best is None else best[1]


def _occurrence(
    shift: dict[str, Any], zone: ZoneInfo, at: datetime, single: bool = False
) -> int | None:
    """Which occurrence of the shift `at` falls in (counting from 0), or None."""
    zone = ZoneInfo(shift.get("time_zone") or zone.key)
    start = datetime.fromisoformat(shift["start"]).replace(tzinfo=zone)
    duration = timedelta(seconds=shift["duration"])
    if single:
        return 0 if start <= at < start + duration else None
    step = _UNIT[shift["frequency"]] * shift.get("interval", 1)
    wall, first = at.astimezone(zone).replace(tzinfo=None), start.replace(tzinfo=None)
    if wall < first:
        return None
    count = (wall - first) // step
    for k in (count, count - 1):  # the occurrence that began last, or the one before
        begin = first + step * k
        if k >= 0 and begin <= wall < begin + duration:
            return int(k)
    return None


def organisation(now: datetime) -> dict[str, list[dict[str, Any]]]:
    """6 users, a schedule with a weekly day rotation and a nightly one that outranks it, an
    override next week, a 3-step chain that repeats, an integration with two routes."""
    names = ["Ann", "Bob", "Cleo", "Dan", "Eve", "Fay"]
    users = [
        {
            "id": f"U{n}AAAAAAAAAA",
            "email": f"{name.lower()}@example.com",
            "username": name.lower(),
            "name": f"{name} Example",
            "role": "admin" if n == 1 else "user",
            "timezone": "Europe/Berlin",
            "teams": [],
            "slack": None,
            "is_phone_number_verified": n < 4,
        }
        for n, name in enumerate(names, start=1)
    ]
    rules = []
    for user in users:
        steps = [("notify_by_email", None), ("wait", 300), ("notify_by_sms", None)]
        if user["id"] == "U1AAAAAAAAAA":
            steps.append(("notify_by_slack", None))
        for position, (kind, duration) in enumerate(steps):
            rule = {
                "id": f"N{user['id']}{position}",
                "user_id": user["id"],
                "position": position,
                "important": False,
                "type": kind,
            }
            if duration is not None:
                rule["duration"] = duration
            rules.append(rule)
        rules.append(
            {
                "id": f"N{user['id']}I",
                "user_id": user["id"],
                "position": 0,
                "important": True,
                "type": "notify_by_phone_call",
            }
        )
    berlin = ZoneInfo("Europe/Berlin")
    monday = now.astimezone(berlin).date() - timedelta(days=now.astimezone(berlin).weekday())
    first = datetime.combine(monday - timedelta(weeks=5), datetime.min.time())
    override = datetime.combine(monday + timedelta(weeks=1, days=2), datetime.min.time())
    shifts = [
        {
            "id": "OWEEK",
            "name": "Week",
            "type": "rolling_users",
            "team_id": None,
            "schedule": "SPRIMARY",
            "time_zone": "Europe/Berlin",
            "level": 0,
            "start": (first + timedelta(hours=9)).isoformat(),
            "rotation_start": (first + timedelta(hours=9)).isoformat(),
            "duration": 7 * 86400,
            "frequency": "weekly",
            "interval": 1,
            "week_start": "MO",
            "by_day": [],
            "until": None,
            "rolling_users": [["U1AAAAAAAAAA"], ["U2AAAAAAAAAA"], ["U3AAAAAAAAAA"]],
            "start_rotation_from_user_index": 0,
        },
        {
            "id": "ONIGHT",
            "name": "Nights",
            "type": "rolling_users",
            "team_id": None,
            "schedule": "SPRIMARY",
            "time_zone": "Europe/Berlin",
            "level": 1,
            "start": (first + timedelta(hours=20)).isoformat(),
            "rotation_start": (first + timedelta(hours=20)).isoformat(),
            "duration": 12 * 3600,
            "frequency": "daily",
            "interval": 1,
            "week_start": "MO",
            "by_day": [],
            "until": None,
            "rolling_users": [["U4AAAAAAAAAA"], ["U5AAAAAAAAAA"]],
            "start_rotation_from_user_index": 1,
        },
        {
            "id": "OCOVER",
            "name": "Fay covers",
            "type": "override",
            "team_id": None,
            "schedule": "SPRIMARY",
            "time_zone": "Europe/Berlin",
            "level": 0,
            "start": (override + timedelta(hours=10)).isoformat(),
            "duration": 4 * 3600,
            "rolling_users": [["U6AAAAAAAAAA"]],
        },
    ]
    schedules = [
        {
            "id": "SPRIMARY",
            "team_id": None,
            "name": "Primary",
            "type": "web",
            "time_zone": "Europe/Berlin",
            "on_call_now": [],
            "shifts": ["OWEEK", "ONIGHT", "OCOVER"],
            "slack": None,
        },
        {
            "id": "SLEGACY",
            "team_id": None,
            "name": "Legacy",
            "type": "ical",
            "time_zone": "UTC",
            "ical_url_primary": "https://calendar.example.com/legacy.ics",
            "on_call_now": [],
            "shifts": [],
        },
    ]
    chain = "FCHAIN"
    steps = [
        {"type": "notify_on_call_from_schedule", "notify_on_call_from_schedule": "SPRIMARY"},
        {"type": "wait", "duration": 300},
        {"type": "notify_persons", "persons_to_notify": ["U1AAAAAAAAAA"]},
        {"type": "wait", "duration": 600},
        {"type": "notify_persons", "persons_to_notify": ["U2AAAAAAAAAA", "U3AAAAAAAAAA"]},
        {"type": "wait", "duration": 300},
        {"type": "trigger_webhook", "action_to_trigger": "WEBHOOK1"},
        {"type": "repeat_escalation"},
    ]
    policies = [
        {"id": f"E{n}", "escalation_chain_id": chain, "position": n, "important": False, **step}
        for n, step in enumerate(steps)
    ]
    return {
        "users": users,
        "personal_notification_rules": rules,
        "on_call_shifts": shifts,
        "schedules": schedules,
        "escalation_chains": [{"id": chain, "team_id": None, "name": "Primary chain"}],
        "escalation_policies": policies,
        "integrations": [
            {
                "id": "CALERTS",
                "name": "Alertmanager",
                "team_id": None,
                "type": "alertmanager",
                "link": "https://oncall.example.com/integrations/v1/alertmanager/Zk9t3/",
                "default_route": {"id": "RDEFAULT", "escalation_chain_id": chain},
                "heartbeat": {
                    "link": "https://oncall.example.com/integrations/v1/alertmanager/Zk9t3/heartbeat/"
                },
            }
        ],
        "routes": [
            {
                "id": "RDB",
                "integration_id": "CALERTS",
                "escalation_chain_id": chain,
                "routing_type": "regex",
                "routing_regex": "team=db",
                "position": 0,
                "is_the_last_route": False,
            },
            {
                "id": "RDEFAULT",
                "integration_id": "CALERTS",
                "escalation_chain_id": chain,
                "routing_type": "regex",
                "routing_regex": ".*",
                "position": 1,
                "is_the_last_route": True,
            },
        ],
    }
