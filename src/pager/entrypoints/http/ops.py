"""/healthz, /readyz and /metrics: for load balancers, orchestrators and Prometheus."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.errors import ApiError, responses
from pager.entrypoints.http.schemas import Status
from pager.metrics import OPEN_INCIDENTS

router = APIRouter(tags=["operations"])
Ctx = Annotated[Context, Depends(context)]


@router.get("/healthz")
def healthz() -> Status:
    """The process is up (it says nothing of the database)."""
    return Status(status="ok")


@router.get("/readyz", responses=responses(503))
def readyz(ctx: Ctx) -> Status:
    """The database answers and its schema is the newest."""
    problem = ctx.queries.ready()
    if problem is not None:
        raise ApiError(503, "not_ready", problem)
    return Status(status="ready")


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
def metrics(ctx: Ctx) -> Response:
    """Prometheus metrics of this process; open incidents are counted in the database."""
    try:
        OPEN_INCIDENTS.set(ctx.queries.open_incident_count())
    except Exception:  # still serve the process's counters when the database is down
        OPEN_INCIDENTS.set(float("nan"))
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
