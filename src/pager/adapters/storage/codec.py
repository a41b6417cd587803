"""JSON forms of events, snapshots and policies. pydantic stays here, out of the domain."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from functools import lru_cache
from typing import Any, get_args

from pydantic import TypeAdapter
from pydantic_core import from_json, to_json

from pager.domain.content import NO_CONTENT, AlertContent
from pager.domain.events import PolicyEvent, ServiceEvent
from pager.domain.incident import ServiceState
from pager.domain.people import ContactMethod, NotificationRule, Person
from pager.domain.policy import Address, EscalationPolicy, Level
from pager.domain.policy_stream import PolicyState
from pager.domain.schedule import Layer, Override, Schedule

Event = ServiceEvent | PolicyEvent

_EVENT_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls for cls in (*get_args(ServiceEvent), *get_args(PolicyEvent))
}
_ADAPTERS: dict[type[Any], TypeAdapter[Any]] = {
    cls: TypeAdapter(cls) for cls in _EVENT_TYPES.values()
}
_service_state = TypeAdapter(ServiceState)
_policy_state = TypeAdapter(PolicyState)
_levels = TypeAdapter(tuple[Level, ...])
_address = TypeAdapter(Address)
_content = TypeAdapter(AlertContent)


# Events and snapshots are written as JSON text (pydantic encodes it directly, faster than
# json.dumps of its Python output). Snapshots are read back as text on both databases
# (PostgreSQL's JSONB cast to text); events from text (SQLite) or from the driver's decoded
# JSON (PostgreSQL).


def encode_event(event: Event) -> tuple[str, str]:
    return type(event).__name__, _ADAPTERS[type(event)].dump_json(event).decode()


def decode_event(type_name: str, data: str | dict[str, Any]) -> Event:
    adapter = _ADAPTERS[_EVENT_TYPES[type_name]]
    event: Event = (
        adapter.validate_json(data) if isinstance(data, str) else adapter.validate_python(data)
    )
    return event


def decode_content(data: Any) -> AlertContent:
    """An alert's content as its event holds it (absent in events from before it was kept)."""
    return NO_CONTENT if not data else _content.validate_python(data)


def decode_datetime(text: str) -> datetime:
    """An instant as an event's JSON holds it."""
    return datetime.fromisoformat(text)


def encode_content(content: AlertContent) -> dict[str, Any]:
    data: dict[str, Any] = _content.dump_python(content, mode="json")
    return data


def encode_service_state(state: ServiceState) -> str:
    return _service_state.dump_json(state).decode()


def decode_service_state(text: str) -> ServiceState:
    return _service_state.validate_json(text)


def encode_keys(keys: Collection[str]) -> str:
    """An incident's firing dedup keys as JSON text, in no particular order (for its
    read-model row, rewritten with every alert that attaches: sorting a storm's keys each
    time cost more than deciding the alert)."""
    return to_json(keys).decode()


def encode_policy_state(state: PolicyState) -> str:
    return _policy_state.dump_json(state).decode()


def decode_policy_state(text: str) -> PolicyState:
    return _policy_state.validate_json(text)


def encode_levels(levels: tuple[Level, ...]) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _levels.dump_python(levels, mode="json")
    return data


def decode_policy(id_: str, name: str, repeat: int, levels: Any) -> EscalationPolicy:
    if isinstance(levels, str):
        return _policy_from_text(id_, name, repeat, levels)
    return EscalationPolicy(id_, name, _levels.validate_python(levels), repeat)


@lru_cache(maxsize=256)
def _policy_from_text(id_: str, name: str, repeat: int, levels: str) -> EscalationPolicy:
    """Every incident opened reads its policy; keyed by the row as stored, like snapshots."""
    return EscalationPolicy(id_, name, _levels.validate_json(levels), repeat)


def encode_target(target: Address) -> dict[str, Any]:
    """A page's address, for its notification row."""
    data: dict[str, Any] = _address.dump_python(target, mode="json")
    return data


def decode_target(data: Any) -> Address:
    target: Address = _address.validate_python(data)
    return target


# People and schedules: rows whose lists are the domain's values as JSON.

_methods = TypeAdapter(tuple[ContactMethod, ...])
_rules = TypeAdapter(tuple[NotificationRule, ...])
_layers = TypeAdapter(tuple[Layer, ...])


def encode_methods(methods: tuple[ContactMethod, ...]) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _methods.dump_python(methods, mode="json")
    return data


def encode_rules(rules: tuple[NotificationRule, ...]) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _rules.dump_python(rules, mode="json")
    return data


def decode_person(email: str, name: str, time_zone: str, methods: Any, rules: Any) -> Person:
    return Person(
        email,
        name,
        time_zone,
        _methods.validate_python(_json(methods)),
        _rules.validate_python(_json(rules)),
    )


def encode_layers(layers: tuple[Layer, ...]) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = _layers.dump_python(layers, mode="json")
    return data


def decode_schedule(
    id_: str, name: str, time_zone: str, layers: Any, overrides: tuple[Override, ...]
) -> Schedule:
    return Schedule(id_, name, time_zone, _layers.validate_python(_json(layers)), overrides)


def _json(value: Any) -> Any:
    """A JSON column as SQLite (text) or PostgreSQL (decoded) returns it, decoded."""
    return from_json(value) if isinstance(value, str) else value
