"""What every endpoint reaches through `Depends(context)`: the container's parts."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from pager.application.accounts import Accounts
from pager.application.calendar_feeds import CalendarFeeds
from pager.application.group_commit import GroupCommitter
from pager.application.handlers import Handlers
from pager.application.queries import ReadModel
from pager.application.schedules import Schedules
from pager.bootstrap import App
from pager.entrypoints.http.limits import RateLimiter
from pager.entrypoints.http.opsgenie_requests import RequestIds


@dataclass(frozen=True, slots=True)
class Context:
    container: App
    limiter: RateLimiter
    """Per credential, per process."""

    @property
    def opsgenie_requests(self) -> RequestIds:
        return RequestIds(self.container.secret.value)

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

    @property
    def schedules(self) -> Schedules:
        return self.container.schedules

    @property
    def calendar_feeds(self) -> CalendarFeeds:
        return self.container.calendar_feeds


async def context(request: Request) -> Context:
    found: Context = request.app.state.pager
    return found
