"""Small builders for domain objects used across integration and end-to-end tests."""

from __future__ import annotations

from pager.domain.policy import EmailTarget, EscalationPolicy, Level, SmsTarget, Target


def two_level_policy(
    policy_id: str = "ops", timeout: int = 60, repeat: int = 0
) -> EscalationPolicy:
    return EscalationPolicy(
        policy_id,
        "Ops on call",
        (
            Level((EmailTarget("alice@example.com"), SmsTarget("+14155550100")), timeout),
            Level((EmailTarget("bob@example.com"),), timeout),
        ),
        repeat,
    )


def single_level_policy(policy_id: str, *targets: Target, timeout: int = 60) -> EscalationPolicy:
    return EscalationPolicy(policy_id, policy_id, (Level(tuple(targets), timeout),))
