"""Sum up a py-spy profile of collapsed stacks (`py-spy record -f raw`, as `--profile` in
`bench.ingest` records them): the share of samples in each part of Pager's path.

    python -m bench.profile FILE [--top N]
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

# The first of these found in a stack (innermost first) names the part it is spent in.
PARTS = (
    ("fsync / commit", ("commit (sqlalchemy", "do_commit", "_commit_impl")),
    ("SQL statements", ("do_executemany", "do_execute", "_execute_context")),
    ("load snapshots", ("load_many",)),
    ("projections", ("projections.py",)),
    ("decide/evolve (domain)", ("pager/domain/",)),
    ("group commit (rest)", ("group_commit.py",)),
    ("dispatcher / outbox", ("dispatcher.py", "outbox.py")),
    ("timers", ("timers.py",)),
    ("ingest fast path", ("ingest.py",)),
    ("FastAPI / Starlette", ("fastapi/", "starlette/")),
    ("uvicorn / HTTP parsing", ("uvicorn/", "httptools")),
    ("event loop", ("asyncio/", "uvloop")),
)


def part_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, needles in PARTS:
            if any(needle in frame for needle in needles):
                return name
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", type=Path)
    parser.add_argument("--top", type=int, default=15, help="the hottest leaf functions")
    args = parser.parse_args()
    parts: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in args.file.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack:
            continue
        count = int(count_text)
        total += count
        parts[part_of(stack)] += count
        leaves[stack.split(";")[-1]] += count
        threads[stack.split(";")[0]] += count
    print(f"{total:,} samples")
    for title, counter in (("threads", threads), ("parts", parts), ("hottest", leaves)):
        print(f"\n{title}:")
        for name, count in counter.most_common(args.top):
            print(f"  {count / total:6.1%}  {name}")


if __name__ == "__main__":
    main()
