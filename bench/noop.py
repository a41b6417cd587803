"""An ASGI app that reads the request and answers 202 with a small JSON body, doing nothing
else: what the load generator reaches against a server that costs nothing (its ceiling on
this machine).

    python -m uvicorn bench.noop:app --port PORT
"""

from __future__ import annotations

from typing import Any

ANSWER = b'{"incident_id":"0","action":"attached"}'


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    headers = [(b"content-type", b"application/json"), (b"content-length", b"39")]
    await send({"type": "http.response.start", "status": 202, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})
