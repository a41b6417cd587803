"""`pagerd import opsgenie` and `pagerd import grafana-oncall`: another tool's users,
schedules, escalations, integrations, heartbeats and maintenance as a `pager.yaml` on standard
output, for `pagerd apply --dry-run` to review; what moved, changed and stayed behind on
standard error. Read only: GETs."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
import yaml

from pager.adapters.clock import SystemClock
from pager.adapters.http_source import ReadOnlyHttpSource
from pager.application import config_as_code as cac
from pager.application.import_grafana_oncall import import_grafana_oncall
from pager.application.import_opsgenie import import_opsgenie
from pager.application.importing import Imported, Source, SourceError
from pager.domain.errors import ValidationFailed
from pager.entrypoints import config_file
from pager.entrypoints.cli_common import fail, fail_with

commands = typer.Typer(
    help="Move in from another tool: print a pager.yaml made from its API (read only).",
    no_args_is_help=True,
)

OPSGENIE_URL = "https://api.opsgenie.com"
# Sections that `pagerd apply` learns with heartbeats and maintenance windows.
ReportJson = Annotated[
    Path | None,
    typer.Option("--report-json", help="Also write the report to this file, as JSON."),
]


@commands.command("opsgenie")
def opsgenie(
    api_key_env: Annotated[
        str,
        typer.Option(
            "--api-key-env",
            help="The environment variable that holds an Opsgenie API key (read access: "
            "configuration). The key itself is never an argument.",
        ),
    ],
    api_url: Annotated[
        str,
        typer.Option("--api-url", help="Opsgenie's API (https://api.eu.opsgenie.com in the EU)."),
    ] = OPSGENIE_URL,
    keep_keys: Annotated[
        bool,
        typer.Option(
            "--keep-keys",
            help="Write each API integration's key as its service's integration_key, so that "
            "senders change only the host. The file then holds secrets: keep it private.",
        ),
    ] = False,
    report_json: ReportJson = None,
) -> None:
    """Read Opsgenie (users, contact methods, notification rules, teams, schedules with
    rotations, restrictions and future overrides, escalations, integrations, heartbeats,
    maintenance) and print a pager.yaml.

    Only GET requests are sent. The report names every object moved, changed (and how) or
    left behind (and why). Running it again gives the same file, so that a second import at
    cut-over shows only what changed since.
    """
    api_url, key = _url(api_url), _secret(api_key_env)
    headers = {"Authorization": f"GenieKey {key}"}
    _run(
        "Opsgenie",
        lambda: ReadOnlyHttpSource("Opsgenie", api_url, headers, api_key_env),
        lambda source: import_opsgenie(source, SystemClock().now(), keep_keys=keep_keys),
        report_json,
    )


@commands.command("grafana-oncall")
def grafana_oncall(
    api_url: Annotated[
        str,
        typer.Option(
            "--api-url",
            help="Grafana OnCall's API URL, as its settings page shows it (up to, not "
            "including, /api/v1).",
        ),
    ],
    token_env: Annotated[
        str,
        typer.Option(
            "--token-env",
            help="The environment variable that holds a Grafana OnCall API token.",
        ),
    ],
    report_json: ReportJson = None,
) -> None:
    """Read Grafana OnCall (users, personal notification rules, schedules and their shifts,
    escalation chains and their steps, integrations and their routes) and print a pager.yaml.

    Only GET requests are sent. The report names every object moved, changed (and how) or
    left behind (and why). Running it again gives the same file.
    """
    api_url, token = _url(api_url), _secret(token_env)
    _run(
        "Grafana OnCall",
        lambda: ReadOnlyHttpSource("Grafana OnCall", api_url, {"Authorization": token}, token_env),
        lambda source: import_grafana_oncall(source, SystemClock().now()),
        report_json,
    )


def _url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise fail(f"--api-url {url!r} is not an http(s) URL such as https://api.opsgenie.com")
    return url


def _secret(name: str) -> str:
    value = os.environ.get(name, "").strip()
    if not value:
        raise fail(f"the environment variable {name} is not set")
    return value


def _run(
    source_name: str,
    connect: Callable[[], ReadOnlyHttpSource],
    read: Callable[[Source], Imported],
    report_json: Path | None,
) -> None:
    """Read, check, report; print the file last, and only if all of it is ready."""
    source = connect()
    try:
        imported = read(source)
    except SourceError as error:
        raise fail(f"import from {source_name} failed, nothing was written: {error}") from None
    finally:
        source.close()
    text = render(source_name, imported.data)
    _check(text)
    for line in imported.report.lines():
        typer.echo(line, err=True)
    if report_json is not None:
        body = json.dumps(imported.report.json(source_name), indent=2, ensure_ascii=False)
        try:
            report_json.write_text(body + "\n", encoding="utf-8")
        except OSError as error:
            raise fail(f"cannot write {report_json}: {error.strerror or error}") from None
    typer.echo(text, nl=False)


def render(source_name: str, data: dict[str, Any]) -> str:
    header = (
        f"# Pager configuration imported from {source_name} by `pagerd import`; review it with\n"
        "# `pagerd apply --dry-run -f FILE`, then apply it with `pagerd apply -f FILE`.\n"
    )
    if any("integration_key" in service for service in data.get("services") or ()):
        header += "# It holds integration keys (--keep-keys): keep it private.\n"
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)
    return header + body


def _check(text: str) -> None:
    """The file must be one that `pagerd apply` accepts on a fresh Pager: else it is a fault
    of the importer."""
    try:
        config = config_file.load(text, {})
        cac.check(config, cac.Config((), (), (), (), ()), prune=False)
    except ValidationFailed as invalid:
        raise fail_with(
            "the imported file would not apply (please report this); nothing was written:",
            invalid.problems,
        ) from None
