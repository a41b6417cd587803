"""The README's snippets, by name (`<!-- snippet: NAME -->` before a fenced block), so that
tests run exactly what the README shows."""

from __future__ import annotations

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
