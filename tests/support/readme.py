"""The README's snippets, by name (`<!-- snippet: NAME -->` before a fenced block), so that
tests run exactly what the README shows."""

from __future__ import annotations

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"
_SNIPPET = re.compile(r"<!-- snippet: ([\w-]+) -->\n```\w*\n(.*?)```", re.DOTALL)


def snippets() -> dict[str, str]:
    return dict(_SNIPPET.findall(README.read_text()))


def snippet(name: str) -> str:
    found = snippets()
    assert name in found, f"README.md has no snippet {name!r}"
    return found[name]


def fresh_shell(**exported: str) -> dict[str, str]:
    """The environment of a new terminal on this machine (no virtual environment active, no
    PAGER_ setting), plus what the reader exported as the README says."""
    path = os.pathsep.join(
        entry
        for entry in os.environ.get("PATH", os.defpath).split(os.pathsep)
        if ".venv" not in Path(entry).parts
    )
    env = {"PATH": path, "HOME": os.environ.get("HOME", "/root"), "LANG": "C.UTF-8"}
    # Not the reader's: the tests' own way to run a checkout's code in place (a worktree).
    if "PYTHONPATH" in os.environ:
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return env | exported
