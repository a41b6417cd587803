"""`/ack/{token}`: acknowledge from the link in a notification, without signing in (the
signed link is the credential). GET only shows what would be acknowledged, because mail
scanners and link previews follow links; the button's POST acknowledges. The POST needs
no CSRF token: a page that could forge it would need the link itself."""

from __future__ import annotations

from fastapi import Request
from starlette.responses import Response

from pager.adapters.ack_links import AckClaim, ExpiredAckLink, InvalidAckLink
from pager.adapters.storage.codec import decode_target
from pager.application.queries import IncidentDetail
from pager.domain.errors import IncidentAlreadyResolved, IncidentNotFound
from pager.entrypoints.console import display, web
from pager.entrypoints.console.web import ConsoleDep

router = web.router()
MAX_BY = 200


@router.get("/ack/{token}")
def confirm(token: str, request: Request, c: ConsoleDep) -> Response:
    claim = _claim(request, c, token)
    if not isinstance(claim, AckClaim):
        return claim
    detail = c.queries.incident(claim.incident_id)
    if detail is None:
        return _page(request, c, "gone", 404)
    state = {"triggered": "confirm", "acknowledged": "acknowledged", "resolved": "resolved"}
    return _page(request, c, state.get(detail.incident.status, "resolved"), 200, detail, claim)


@router.post("/ack/{token}")
def acknowledge(token: str, request: Request, c: ConsoleDep) -> Response:
    claim = _claim(request, c, token)
    if not isinstance(claim, AckClaim):
        return claim
    detail = c.queries.incident(claim.incident_id)
    by = f"{_recipient(detail, claim)} (ack link)"[:MAX_BY]
    try:
        outcome = c.handlers.acknowledge(claim.incident_id, by)
    except IncidentNotFound:
        return _page(request, c, "gone", 404)
    except IncidentAlreadyResolved:
        return _page(request, c, "resolved", 409, c.queries.incident(claim.incident_id), claim)
    state = "done" if outcome.events else "acknowledged"
    return _page(request, c, state, 200, c.queries.incident(claim.incident_id), claim)


def _claim(request: Request, c: web.Console, token: str) -> AckClaim | Response:
    """The token's claim, or the page that says why it cannot be used."""
    try:
        return c.ack_links.verify(token)
    except ExpiredAckLink as expired:
        return _page(request, c, "expired", 410, claim=expired.claim)
    except InvalidAckLink:
        return _page(request, c, "invalid", 400)


def _page(
    request: Request,
    c: web.Console,
    state: str,
    status: int,
    detail: IncidentDetail | None = None,
    claim: AckClaim | None = None,
) -> Response:
    service = c.queries.service(detail.incident.service) if detail else None
    return web.render(
        request,
        "ack.html",
        status=status,
        anonymous=True,
        state=state,
        incident=detail.incident if detail else None,
        service_name=service.name if service else (detail.incident.service if detail else ""),
        recipient=_recipient(detail, claim) if claim else "",
        claim=claim,
        token=request.path_params.get("token", ""),
    )


def _recipient(detail: IncidentDetail | None, claim: AckClaim) -> str:
    """Who the link was sent to, as the notification it came in names them."""
    for notification in detail.notifications if detail else ():
        if notification.level != claim.level:
            continue
        try:
            target = decode_target(notification.target)
        except ValueError:
            continue
        if claim.names(target.key):
            return display.target(target)
    return f"a level {claim.level} contact"
