"""An escalation policy's own stream: created, changed, deleted."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import assert_never

from pager.domain.commands import DefinePolicy, DeletePolicy, PolicyCommand
from pager.domain.errors import PolicyInUse, PolicyNotFound, ValidationFailed
from pager.domain.events import PolicyChanged, PolicyCreated, PolicyDeleted, PolicyEvent
from pager.domain.paging import NO_ONE, Directory, unknown_references
from pager.domain.policy import EscalationPolicy, validate_policy


@dataclass(frozen=True, slots=True)
class PolicyState:
    policy_id: str
    policy: EscalationPolicy | None = None


def decide_policy(
    state: PolicyState,
    command: PolicyCommand,
    now: datetime,
    *,
    allow_private: bool = False,
    directory: Directory = NO_ONE,
) -> tuple[PolicyEvent, ...]:
    """`allow_private`: whether a policy may page private addresses (`target_problem`);
    every user and schedule a policy names must be in `directory`."""
    match command:
        case DefinePolicy(policy=policy):
            validate_policy(policy, allow_private=allow_private)
            unknown = unknown_references(policy, directory)
            if unknown:
                raise ValidationFailed(unknown)
            if state.policy is None:
                return (PolicyCreated(policy, now),)
            if state.policy == policy:
                return ()
            return (PolicyChanged(policy, now),)
        case DeletePolicy(policy_id=policy_id, used_by=used_by):
            if state.policy is None:
                raise PolicyNotFound(policy_id)
            if used_by:
                raise PolicyInUse(policy_id, used_by)
            return (PolicyDeleted(policy_id, now),)
        case _:
            assert_never(command)


def evolve_policy(state: PolicyState, event: PolicyEvent) -> PolicyState:
    match event:
        case PolicyCreated(policy=policy) | PolicyChanged(policy=policy):
            return PolicyState(state.policy_id, policy)
        case PolicyDeleted():
            return PolicyState(state.policy_id)
        case _:
            assert_never(event)
