"""`pagerd demo` as a user runs it: a process that shows the escalation rules and exits 0 in
well under 30 seconds."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path


def test_the_demo_plays_every_rule_and_exits_0(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PAGER_")}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "pager", "demo"],
        env={**env, "COLUMNS": "200", "TMPDIR": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert took < 30
    assert result.stderr == ""
    assert "Traceback" not in result.stdout

    timeline = [line for line in result.stdout.splitlines() if re.match(r"\+\d\d:\d\d  ", line)]
    steps = [line[8:].split()[0] for line in timeline]
    assert steps == [
        "service",
        "alert",  # opens the incident...
        "level",  # ...and pages level 1
        "sent",
        "sent",
        "level",  # the ack timeout escalates to level 2
        "sent",
        "sent",
        "alert",  # attaches, silently
        "ack",
        "healthy",
    ]
    assert re.search(r"alert .* incident [0-9a-f]{8} opened", timeline[1])
    assert "level 1   paging email alice@example.com, sms +14155550100" in timeline[2]
    assert sorted(line.split("sent")[1].strip() for line in timeline[3:5]) == [
        "email alice@example.com",
        "sms +14155550100",
    ]
    assert "level 2   paging email bob@example.com, slack hooks.slack.com" in timeline[5]
    assert "attached to the open incident, nobody paged" in timeline[8]
    assert "by bob@example.com" in timeline[9]
    assert "healthy again: incident resolved" in timeline[10]
    # The clock runs fast: level 2 comes 5 demo minutes after level 1, not 5 real ones.
    assert timeline[5].startswith("+05:")
    assert "Level 2's 10 minutes have passed: nobody was paged again." in result.stdout
    assert re.search(r"Demo finished in \d+\.\d s", result.stdout)
    assert list(tmp_path.iterdir()) == []  # the throw-away database is gone
