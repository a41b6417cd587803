"""Services: their state, policy, integration key (shown once, rotated by admins) and
recent incidents; marking one healthy; admins create, change and delete them."""

from __future__ import annotations

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from pager.application.accounts import IssuedKey
from pager.application.queries import ServiceView
from pager.domain.events import ServiceCreated
from pager.domain.policy import ID_PATTERN
from pager.domain.severity import SEVERITIES, Severity
from pager.entrypoints.console import maintenance, web
from pager.entrypoints.console.web import AdminDep, ConsoleDep, FormDep, UserDep

router = web.router()
MAX_NAME = 200


def _service(c: web.Console, service_id: str) -> ServiceView:
    view = c.queries.service(service_id) if ID_PATTERN.fullmatch(service_id) else None
    if view is None:
        raise web.not_found("This service")
    return view


def _page(
    request: Request,
    c: web.Console,
    view: ServiceView,
    *,
    issued: IssuedKey | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    policy = c.queries.policy(view.escalation_policy)
    return web.render(
        request,
        "service.html",
        status=status,
        service=view,
        policy=policy.policy if policy else None,
        policies=[p.policy for p in c.queries.policies()],
        key=c.accounts.integration_key(view.id),
        issued=issued,
        incidents=c.queries.incidents(view.id, limit=20),
        maintenance_log=maintenance.timeline(
            c.queries.maintenance_timeline(view.id, 20),
            getattr(request.state, "time_zone", "UTC"),
        ),
        heartbeats=c.queries.heartbeats(view.id),
        errors=errors or {},
        form={"name": view.name, "policy": view.escalation_policy},
        severities=SEVERITIES,
    )


@router.get("/services/new")
def new_service(request: Request, _user: AdminDep, c: ConsoleDep) -> Response:
    return _new_page(request, c, {"id": "", "name": "", "policy": ""}, (), {})


def _new_page(
    request: Request,
    c: web.Console,
    form: dict[str, str],
    low: tuple[Severity, ...],
    errors: dict[str, str],
    status: int = 200,
) -> Response:
    return web.render(
        request,
        "service_new.html",
        status=status,
        form=form,
        low=low,
        errors=errors,
        policies=[p.policy for p in c.queries.policies()],
        severities=SEVERITIES,
    )


def _low_urgency(form: FormData) -> tuple[Severity, ...]:
    """The severities ticked as low urgency, in the table's order; anything else is ignored."""
    chosen = form.getlist("low_urgency")
    return tuple(severity for severity in SEVERITIES if severity in chosen)


@router.post("/services")
def create_service(request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep) -> Response:
    values = {
        "id": web.field(form, "id", 100),
        "name": web.field(form, "name", 1000),
        "policy": web.field(form, "policy", 100),
    }
    low = _low_urgency(form)
    errors = _check(c, values)
    if not errors and c.queries.service(values["id"]) is not None:
        errors["id"] = "a service with this id exists already"
    if errors:
        return _new_page(request, c, values, low, errors, status=422)
    outcome = c.handlers.define_service(values["id"], values["name"], values["policy"], low)
    issued = None
    if any(isinstance(event, ServiceCreated) for event in outcome.events):
        issued = c.accounts.rotate_integration_key(values["id"])
    web.session_of(request).flash(f"Created {values['name']}.")
    return _page(request, c, _service(c, values["id"]), issued=issued)


def _check(c: web.Console, values: dict[str, str]) -> dict[str, str]:
    errors = {}
    if "id" in values and not ID_PATTERN.fullmatch(values["id"]):
        errors["id"] = (
            "use 1 to 63 lower-case letters, digits and dashes, starting with a letter or digit"
        )
    if not values["name"]:
        errors["name"] = "give the service a name"
    elif len(values["name"]) > MAX_NAME:
        errors["name"] = f"at most {MAX_NAME} characters"
    if not ID_PATTERN.fullmatch(values["policy"]) or c.queries.policy(values["policy"]) is None:
        errors["policy"] = "choose an escalation policy"
    return errors


@router.get("/services/{service_id}")
def service_page(service_id: str, request: Request, _user: UserDep, c: ConsoleDep) -> Response:
    return _page(request, c, _service(c, service_id))


@router.post("/services/{service_id}")
def change_service(
    service_id: str, request: Request, _user: AdminDep, form: FormDep, c: ConsoleDep
) -> Response:
    view = _service(c, service_id)
    values = {"name": web.field(form, "name", 1000), "policy": web.field(form, "policy", 100)}
    errors = _check(c, values)
    if errors:
        return _page(request, c, view, errors=errors, status=422)
    c.handlers.define_service(service_id, values["name"], values["policy"], _low_urgency(form))
    issued = c.accounts.ensure_integration_key(service_id)
    web.session_of(request).flash("Saved.")
    if issued is not None:  # a service made without a key (by `pagerd apply`) gets one now
        return _page(request, c, _service(c, service_id), issued=issued)
    return web.redirect(request, f"/services/{service_id}")


@router.post("/services/{service_id}/integration-key")
def rotate_key(
    service_id: str, request: Request, _user: AdminDep, _form: FormDep, c: ConsoleDep
) -> Response:
    view = _service(c, service_id)
    issued = c.accounts.rotate_integration_key(service_id)
    web.session_of(request).flash("New integration key made: the old one no longer works.")
    return _page(request, c, view, issued=issued)


@router.post("/services/{service_id}/healthy")
def mark_healthy(
    service_id: str, request: Request, user: UserDep, form: FormDep, c: ConsoleDep
) -> Response:
    view = _service(c, service_id)
    outcome = c.handlers.mark_healthy(service_id, user.email)
    message = "was already healthy" if not outcome.events else "is marked healthy"
    web.session_of(request).flash(f"{view.name} {message}.")
    return web.redirect(request, web.local_path(form.get("next"), f"/services/{service_id}"))


@router.post("/services/{service_id}/delete")
def delete_service(
    service_id: str, request: Request, _user: AdminDep, _form: FormDep, c: ConsoleDep
) -> Response:
    view = _service(c, service_id)
    c.handlers.delete_service(service_id)
    c.accounts.forget_integration_key(service_id)
    web.session_of(request).flash(f"Deleted {view.name}.")
    return web.redirect(request, "/")
