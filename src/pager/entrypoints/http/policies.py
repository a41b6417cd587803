"""/api/v1/escalation-policies."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Response

from pager.domain.events import PolicyCreated
from pager.entrypoints.http.auth import AdminCaller, Caller, UserCaller
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import not_found, responses
from pager.entrypoints.http.schemas import ID_REGEX, PolicyIn, PolicyList, PolicyOut

router = APIRouter(prefix="/api/v1/escalation-policies", tags=["escalation policies"])
Ctx = Annotated[Context, Depends(context)]
PolicyId = Annotated[str, Path(pattern=ID_REGEX)]


def _admin(caller: Caller) -> bool:
    return caller.user is not None and caller.user.is_admin


@router.get("", responses=responses(401, 403, 429))
def list_policies(caller: UserCaller, ctx: Ctx) -> PolicyList:
    secrets = _admin(caller)
    return PolicyList(
        escalation_policies=[PolicyOut.of(view, secrets=secrets) for view in ctx.queries.policies()]
    )


@router.get("/{policy_id}", responses=responses(401, 403, 404, 422, 429))
def get_policy(policy_id: PolicyId, caller: UserCaller, ctx: Ctx) -> PolicyOut:
    """Webhook secrets are shown to admins only."""
    return _policy(ctx, policy_id, _admin(caller))


@router.put(
    "/{policy_id}",
    responses={
        **responses(400, 401, 403, 413, 422, 429),
        201: {"model": PolicyOut, "description": "Created"},
    },
)
def put_policy(
    policy_id: PolicyId, body: PolicyIn, _caller: AdminCaller, ctx: Ctx, response: Response
) -> PolicyOut:
    """Create (201) or replace (200) the policy. Services using it follow the change from
    their next escalation step."""
    events = ctx.handlers.define_policy(body.to_domain(policy_id))
    if any(isinstance(event, PolicyCreated) for event in events):
        response.status_code = 201
    return _policy(ctx, policy_id, secrets=True)


@router.delete("/{policy_id}", status_code=204, responses=responses(401, 403, 404, 409, 422, 429))
def delete_policy(policy_id: PolicyId, _caller: AdminCaller, ctx: Ctx) -> Response:
    """A policy that a service uses cannot be deleted (409)."""
    ctx.handlers.delete_policy(policy_id)
    return Response(status_code=204)


def _policy(ctx: Context, policy_id: str, secrets: bool) -> PolicyOut:
    view = ctx.queries.policy(policy_id)
    if view is None:
        raise not_found(f"escalation policy {policy_id!r} does not exist")
    return PolicyOut.of(view, secrets=secrets)
