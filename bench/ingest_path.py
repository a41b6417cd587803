"""The ingest path against the alternatives: the event loop's CPU per `POST /api/v1/alerts`,
called in process (no server, no sockets), the commits on their own thread as in `pagerd
serve`. Three ways to answer the same request with the same code below them:

- ingest: Pager as it is built (`entrypoints/http/ingest.py` in front of FastAPI);
- fastapi: a FastAPI endpoint with the route's body model and credential dependency;
- starlette: a plain Starlette route inside the app (FastAPI's middleware and routing, no
  dependency solving or response validation).

    python -m bench.ingest_path [--requests 20000] [--rounds 2]

Nothing is asserted; it prints microseconds of event-loop CPU per request for each, in
alternating rounds (the machine's speed drifts)."""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from collections.abc import Callable
from typing import Annotated, Any

import uvloop
from fastapi import Depends, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bench.harness import asgi_post, seed
from pager.bootstrap import bootstrap
from pager.config import Settings
from pager.entrypoints.http.app import create_app
from pager.entrypoints.http.auth import AnyCaller, identify
from pager.entrypoints.http.context import Context, context
from pager.entrypoints.http.incidents import accept_alert
from pager.entrypoints.http.schemas import AlertAccepted, AlertIn

MODES = ("ingest", "fastapi", "starlette")


def _app(mode: str, database_url: str) -> tuple[Callable[..., Any], Callable[[], None]]:
    container = bootstrap(
        Settings(database_url=database_url, rate_limit_per_second=0, log_level="WARNING")
    )
    api = create_app(container)
    if mode == "ingest":
        return api, container.commits.close
    ctx: Context = api.state.pager
    if mode == "fastapi":

        async def endpoint(
            body: AlertIn, caller: AnyCaller, ctx: Annotated[Context, Depends(context)]
        ) -> AlertAccepted:
            return await accept_alert(ctx, body, caller)

        route: Any = APIRoute("/api/v1/alerts", endpoint, methods=["POST"], status_code=202)
    else:

        async def plain(request: Request) -> Response:
            secret = request.headers["authorization"].partition(" ")[2]
            body = AlertIn.model_validate_json(await request.body())
            answer = await accept_alert(ctx, body, identify(ctx, secret))
            return Response(answer.model_dump_json(), 202, media_type="application/json")

        route = Route("/api/v1/alerts", plain, methods=["POST"])
    api.router.routes.insert(0, route)
    api.middleware_stack = None  # built again, with the route
    return FastAPI.__call__.__get__(api), container.commits.close  # past the ingest path


async def _measure(
    app: Callable[..., Any], bodies: list[bytes], token: str, connections: int
) -> float:
    headers = [
        (b"authorization", f"Bearer {token}".encode()),
        (b"content-type", b"application/json"),
    ]

    async def one(body: bytes) -> None:
        status = await asgi_post(app, "/api/v1/alerts", body, headers)
        assert status == 202, status

    queue = iter(bodies)

    async def worker() -> None:
        for body in queue:
            await one(body)

    started = time.thread_time()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return (time.thread_time() - started) / len(bodies) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    for round_ in range(1, args.rounds + 1):
        for mode in MODES:
            with tempfile.TemporaryDirectory() as directory:
                url = f"sqlite:///{directory}/pager.db"
                seeded = seed(url, 1000)
                bodies = [
                    json.dumps(
                        {
                            "service": seeded.services[n % 1000],
                            "message": f"m{n}",
                            "dedup_key": f"k{n}",
                        }
                    ).encode()
                    for n in range(args.requests)
                ]
                app, close = _app(mode, url)
                cpu = uvloop.run(_measure(app, bodies, seeded.token, args.connections))
                close()
            print(
                f"round {round_} {mode:<10} {cpu:7.1f} us of event-loop CPU per request", flush=True
            )


if __name__ == "__main__":
    main()
