"""Typed domain errors: each maps to one clear answer at the edge (HTTP status, CLI message)."""

from __future__ import annotations

from collections.abc import Mapping


class DomainError(Exception):
    """Base class. `code` is stable and machine-readable; the message is for people."""

    code = "domain_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ValidationFailed(DomainError):
    """Input that breaks a domain rule. `problems` are (where, what) pairs."""

    code = "invalid"

    def __init__(self, problems: tuple[tuple[str, str], ...]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{where}: {what}" for where, what in problems))

    def renamed(self, names: Mapping[str, str]) -> ValidationFailed:
        """The same refusal with each field named as a caller's body names it (`names` maps
        the domain's names to the body's; a field it does not list keeps its name)."""
        return ValidationFailed(
            tuple((names.get(where, where), what) for where, what in self.problems)
        )


class NotFound(DomainError):
    code = "not_found"


class ServiceNotFound(NotFound):
    def __init__(self, service_id: str) -> None:
        super().__init__(f"service {service_id!r} does not exist")
        self.service_id = service_id


class PolicyNotFound(NotFound):
    def __init__(self, policy_id: str) -> None:
        super().__init__(f"escalation policy {policy_id!r} does not exist")
        self.policy_id = policy_id


class IncidentNotFound(NotFound):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"incident {incident_id!r} does not exist")
        self.incident_id = incident_id


class MaintenanceNotFound(NotFound):
    def __init__(self, service_id: str, window_id: str) -> None:
        super().__init__(
            f"service {service_id!r} has no maintenance window {window_id!r} (or it has ended)"
        )
        self.window_id = window_id


class HeartbeatNotFound(NotFound):
    def __init__(self, heartbeat_id: str) -> None:
        super().__init__(f"heartbeat {heartbeat_id!r} does not exist")
        self.heartbeat_id = heartbeat_id


class Conflict(DomainError):
    code = "conflict"


class IncidentAlreadyResolved(Conflict):
    def __init__(self, incident_id: str) -> None:
        super().__init__(f"incident {incident_id!r} is already resolved")
        self.incident_id = incident_id


class NothingToEscalateTo(Conflict):
    def __init__(self, incident_id: str) -> None:
        super().__init__(
            f"incident {incident_id!r} has paged every level of its policy: there is no next "
            "level to escalate to (it stays open)"
        )
        self.incident_id = incident_id


class PolicyInUse(Conflict):
    def __init__(self, policy_id: str, services: tuple[str, ...]) -> None:
        names = ", ".join(services)
        super().__init__(f"escalation policy {policy_id!r} is used by: {names}")
        self.policy_id = policy_id
        self.services = services
