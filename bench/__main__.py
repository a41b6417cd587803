"""`make bench`: the short version of every benchmark, one after the other. Each script
also runs alone, longer, without --quick: see docs/benchmarks.md."""

from __future__ import annotations

import platform
import subprocess
import sys
import time

SCRIPTS = [
    "bench.ingest",
    "bench.peer",
    "bench.alert_to_page",
    "bench.timers",
    "bench.growth",
    "bench.schedules",
]


def main() -> None:
    print(f"# {time.strftime('%Y-%m-%d %H:%M')} {platform.platform()}, {platform.python_version()}")
    for script in SCRIPTS:
        print(f"\n## python -m {script} --quick", flush=True)
        subprocess.run([sys.executable, "-m", script, "--quick"], check=False)


if __name__ == "__main__":
    main()
