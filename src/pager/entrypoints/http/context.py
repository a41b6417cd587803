"""What every endpoint reaches through `Depends(context)`: the container's parts."""

from __future__ import annotations

from dataclasses import dataclass, field

from fastapi import Request

from pager.application.accounts import Accounts
from pager.application.group_commit import GroupCommitter
from pager.application.handlers import Handlers
from pager.application.queries import ReadModel
from pager.bootstrap import App
from pager.entrypoints.http.limits import RateLimiter
from pager.entrypoints.http.opsgenie_requests import RequestLog


@dataclass(frozen=True, slots=True)
class Context:
    container: App
    limiter: RateLimiter
    """Per credential, per process."""
    opsgenie_requests: RequestLog = field(default_factory=RequestLog)
    """The outcomes of the Opsgenie requests this process answered."""

    @property
    def handlers(self) -> Handlers:
        return self.container.handlers

    @property
    def commits(self) -> GroupCommitter:
        return self.container.commits

    @property
    def accounts(self) -> Accounts:
        return self.container.accounts

    @property
    def queries(self) -> ReadModel:
        return self.container.queries


async def context(request: Request) -> Context:
    found: Context = request.app.state.pager
    return found
