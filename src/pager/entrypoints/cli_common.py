"""What the command modules share. They cannot import cli.py, which imports them."""

from __future__ import annotations

from collections.abc import Sequence

import typer


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"pagerd: {message}", err=True)
    return typer.Exit(code)


def fail_with(message: str, problems: Sequence[tuple[str, str]], code: int = 1) -> typer.Exit:
    """`message`, then one line per (where, what) problem."""
    typer.echo(f"pagerd: {message}", err=True)
    for where, what in problems:
        typer.echo(f"  {where}: {what}", err=True)
    return typer.Exit(code)


def one_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
