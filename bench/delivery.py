"""Delivery at the scale on-call teams meet, with Pager's default settings: a mail server
that is down for minutes, and one that takes seconds to answer each message.

    python -m bench.delivery [--outage-seconds S] [--pages N] [--slow-seconds S] [--slow-pages N]

The real worker and dispatcher on a fresh SQLite database, a real SMTP server (aiosmtpd), the
default retry, lease and connection settings. First the outage: the server is down when an
alert pages `--pages` addresses (default 40) and comes back after `--outage-seconds`
(default 150, longer than the old limit of 8 attempts lasted); every page must be sent once
after it, none failed. Then the slow server: each message answered after `--slow-seconds`
(default 10), `--slow-pages` pages (default 80) for the 8 pooled connections, far past the
60 s lease; every page must arrive exactly once. It prints what each measured and how long
it took; about 5 minutes with the defaults."""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from collections import Counter

from tests.support.servers import SmtpSink
from tests.support.worker import notification_statuses, running_worker, wait_until

from pager.adapters.storage.engine import create_engine
from pager.adapters.storage.migrate import migrate
from pager.bootstrap import App, bootstrap
from pager.config import Settings
from pager.domain.policy import EmailTarget, EscalationPolicy, Level


class _Counted(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.levels: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        self.levels[record.levelname] += 1


def _pager(directory: str, pages: int, smtp: SmtpSink) -> App:
    url = f"sqlite:///{directory}/pager.db"
    engine = create_engine(url)
    migrate(engine)
    engine.dispose()
    app = bootstrap(Settings(database_url=url, smtp_url=smtp.url(), smtp_from="pager@example.com"))
    targets = tuple(EmailTarget(f"oncall{n:03d}@example.com") for n in range(pages))
    app.handlers.define_policy(
        EscalationPolicy("ops", "Ops", (Level(targets, ack_timeout_seconds=3600),))
    )
    app.handlers.define_service("db", "Database", "ops")
    return app


def _statuses(app: App) -> Counter[str]:
    return Counter(status for _, _, status, _ in notification_statuses(app))


def outage(pages: int, seconds: float) -> None:
    smtp = SmtpSink()
    smtp.start()
    counted = _Counted()
    logging.getLogger("pager").addHandler(counted)
    with tempfile.TemporaryDirectory(prefix="pager-bench-delivery-") as directory:
        app = _pager(directory, pages, smtp)
        smtp.stop()
        start = time.monotonic()
        with running_worker(app):
            app.handlers.receive_alert("db", "disk full")
            time.sleep(seconds)
            tries = [count for _, _, _, count in notification_statuses(app)]
            print(
                f"mail server down {seconds:.0f} s: {dict(_statuses(app))}, "
                f"{min(tries)}-{max(tries)} attempts each",
                flush=True,
            )
            smtp.start()  # the same port
            smtp.wait_for(pages, timeout=600)
            wait_until(lambda: _statuses(app) == {"sent": pages}, timeout=120, what="all sent")
            took = time.monotonic() - start
        after = dict(_statuses(app))
        app.engine.dispose()
    smtp.stop()
    logging.getLogger("pager").removeHandler(counted)
    print(
        f"  then {after} of {pages} pages, {len(smtp.messages)} emails, "
        f"the last {took - seconds:.0f} s after the server came back; "
        f"log lines: {dict(counted.levels)}",
        flush=True,
    )


def slow(pages: int, seconds: float) -> None:
    smtp = SmtpSink()
    smtp.answer_delay = seconds
    smtp.start()
    with tempfile.TemporaryDirectory(prefix="pager-bench-delivery-") as directory:
        app = _pager(directory, pages, smtp)
        start = time.monotonic()
        with running_worker(app):
            app.handlers.receive_alert("db", "disk full")
            smtp.wait_for(pages, timeout=pages * seconds + 120)
            wait_until(lambda: _statuses(app) == {"sent": pages}, timeout=120, what="all sent")
        took = time.monotonic() - start
        tries = Counter(count for _, _, _, count in notification_statuses(app))
        app.engine.dispose()
    smtp.stop()
    ids = Counter(mail.message["Message-ID"] for mail in smtp.messages)
    print(
        f"mail server answering after {seconds:.0f} s: {pages} pages, {len(smtp.messages)} "
        f"emails ({len(ids)} distinct), attempts {dict(tries)}, {took:.0f} s",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--outage-seconds", type=float, default=150.0)
    parser.add_argument("--pages", type=int, default=40)
    parser.add_argument("--slow-seconds", type=float, default=10.0)
    parser.add_argument("--slow-pages", type=int, default=80)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for handler in logging.getLogger().handlers:  # counted, not printed, below ERROR
        handler.setLevel(logging.ERROR)
    outage(args.pages, args.outage_seconds)
    slow(args.slow_pages, args.slow_seconds)


if __name__ == "__main__":
    main()
