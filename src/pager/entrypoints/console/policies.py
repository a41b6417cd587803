"""Escalation policies: everyone may read them; admins edit them in a form whose buttons add,
remove and move levels and targets (each a round trip, so it works without JavaScript), and
whose problems are shown next to the field they are about."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from pager.application.queries import PolicyView
from pager.domain.errors import PolicyInUse, ValidationFailed
from pager.domain.policy import ID_PATTERN
from pager.entrypoints.console import web
from pager.entrypoints.console.policy_form import TARGET_TYPES, PolicyDraft
from pager.entrypoints.console.web import AdminDep, ConsoleDep, FormDep, UserDep

router = web.router()


def _policy(c: web.Console, policy_id: str) -> PolicyView:
    view = c.queries.policy(policy_id) if ID_PATTERN.fullmatch(policy_id) else None
    if view is None:
        raise web.not_found("This escalation policy")
    return view


@router.get("/policies")
def policy_list(request: Request, _user: UserDep, c: ConsoleDep) -> Response:
    return web.render(request, "policies.html", policies=c.queries.policies())


@router.get("/policies/new")
def new_policy(request: Request, _user: AdminDep) -> Response:
    return _editor(request, PolicyDraft(), creating=True)


@router.post("/policies/new")
def create_policy(request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    return _submit(request, c, PolicyDraft.from_form(form), form, creating=True)


@router.get("/policies/{policy_id}")
def policy_page(policy_id: str, request: Request, _user: UserDep, c: ConsoleDep) -> Response:
    return web.render(request, "policy.html", view=_policy(c, policy_id))


@router.get("/policies/{policy_id}/edit")
def edit_policy(policy_id: str, request: Request, _user: AdminDep, c: ConsoleDep) -> Response:
    return _editor(request, PolicyDraft.of(_policy(c, policy_id).policy), creating=False)


@router.post("/policies/{policy_id}/edit")
def save_policy(
    policy_id: str, request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep
) -> Response:
    view = _policy(c, policy_id)
    return _submit(request, c, PolicyDraft.from_form(form, view.policy.id), form, creating=False)


@router.post("/policies/{policy_id}/delete")
def delete_policy(
    policy_id: str, request: Request, _user: AdminDep, _form: FormDep, c: ConsoleDep
) -> Response:
    view = _policy(c, policy_id)
    session = web.session_of(request)
    try:
        c.handlers.delete_policy(policy_id)
    except PolicyInUse as in_use:
        session.flash(
            f"{view.policy.name} is still used by {', '.join(in_use.services)}: "
            "give those services another policy first.",
            "error",
        )
        return web.redirect(request, f"/policies/{policy_id}")
    session.flash(f"Deleted {view.policy.name}.")
    return web.redirect(request, "/policies")


def _submit(
    request: Request, c: web.Console, draft: PolicyDraft, form: FormData, creating: bool
) -> Response:
    op = form.get("op", "save")
    if isinstance(op, str) and op != "save":
        draft.apply(op)
        return _editor(request, draft, creating=creating)
    stored = None if creating else c.queries.policy(draft.id)
    try:
        policy = draft.to_policy(
            stored.policy if stored else None, allow_private=c.handlers.allow_private_targets
        )
        if creating and c.queries.policy(policy.id) is not None:
            raise ValidationFailed((("id", "a policy with this id exists already"),))
        c.handlers.define_policy(policy)
    except ValidationFailed as failed:
        return _editor(request, draft, creating=creating, errors=failed.problems, status=422)
    web.session_of(request).flash(f"Saved {policy.name}.")
    return web.redirect(request, f"/policies/{policy.id}")


def _editor(
    request: Request,
    draft: PolicyDraft,
    *,
    creating: bool,
    errors: tuple[tuple[str, str], ...] = (),
    status: int = 200,
) -> Response:
    found: dict[str, str] = {}
    for where, what in errors:
        found[where] = f"{found[where]}; {what}" if where in found else what
    return web.render(
        request,
        "policy_edit.html",
        status=status,
        draft=draft,
        creating=creating,
        errors=found,
        target_types=TARGET_TYPES,
        action="/policies/new" if creating else f"/policies/{draft.id}/edit",
    )
