"""`make mutation`: a fixed, seeded, stratified sample of mutmut's mutants of the code below
the domain, each run against the unit and integration tests that cover its function.

mutmut (configured in pyproject.toml, [tool.mutmut]) writes every mutant of
src/pager/application, src/pager/adapters and src/pager/entrypoints/http into mutants/;
this script sorts their names, files each under one stratum of the write path by the file
it mutates, draws a fixed number from each stratum with random.Random(SEED), and hands the
drawn names to `mutmut run`, which collects which tests call which function once and then
runs each mutant against those tests only, the fastest first, stopping at the first
failure. It prints the kill figure, per stratum and in all, and every mutant that lived.

    python -m tests.support.mutation [--seed N] [--per-stratum-scale F] [--list] [--again]

docs/testing.md explains the sample and lists the survivors of the latest run.
"""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import os
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

SEED = 13
MUTANTS = Path("mutants")

# (stratum, how many mutants to draw, the files it covers). A file belongs to the first
# stratum that names it; every mutated file is named by one.
STRATA: tuple[tuple[str, int, tuple[str, ...]], ...] = (
    (
        "handlers",
        40,
        (
            "src/pager/application/handlers.py",
            "src/pager/application/group_commit.py",
            "src/pager/application/queries.py",
            "src/pager/application/ports.py",
            "src/pager/entrypoints/http/alerting.py",
        ),
    ),
    ("outbox", 30, ("src/pager/adapters/storage/outbox.py",)),
    (
        "timers",
        25,
        (
            "src/pager/adapters/storage/timers.py",
            "src/pager/application/timers.py",
            "src/pager/application/heartbeats.py",
            "src/pager/adapters/wakeup.py",
            "src/pager/adapters/clock.py",
            "src/pager/adapters/handoff.py",
        ),
    ),
    ("dispatcher", 35, ("src/pager/adapters/notify/dispatcher.py",)),
    (
        "auth",
        40,
        (
            "src/pager/application/accounts.py",
            "src/pager/adapters/storage/accounts.py",
            "src/pager/adapters/storage/api_tokens.py",
            "src/pager/adapters/storage/secret_key.py",
            "src/pager/adapters/ack_links.py",
            "src/pager/adapters/reply_codes.py",
            "src/pager/entrypoints/http/auth.py",
        ),
    ),
    ("storage", 40, ("src/pager/adapters/storage/*",)),
    (
        "integrations",
        45,
        (
            "src/pager/entrypoints/http/ingest.py",
            "src/pager/entrypoints/http/alertmanager.py",
            "src/pager/entrypoints/http/opsgenie*.py",
            "src/pager/entrypoints/http/pagerduty.py",
            "src/pager/entrypoints/http/twilio.py",
            "src/pager/entrypoints/http/slack.py",
        ),
    ),
    (
        "people",
        30,
        (
            "src/pager/application/schedules.py",
            "src/pager/application/contact.py",
            "src/pager/application/calendar_feeds.py",
            "src/pager/adapters/ical.py",
        ),
    ),
    ("channels", 25, ("src/pager/adapters/notify/*",)),
    ("config", 20, ("src/pager/application/config_as_code.py",)),
    (
        "import",
        20,
        (
            "src/pager/application/importing.py",
            "src/pager/application/import_*.py",
            "src/pager/adapters/http_source.py",
        ),
    ),
    ("http", 30, ("src/pager/entrypoints/http/*",)),
)

# mutmut's exit codes (mutmut.stats.status_by_exit_code): a mutant is killed when a test
# failed or errored, or when it made them run past their time (a hang is caught too).
KILLED = {"killed", "timeout", "segfault"}


def stratum_of(source: str) -> str:
    for name, _, patterns in STRATA:
        if any(fnmatch.fnmatch(source, pattern) for pattern in patterns):
            return name
    raise SystemExit(f"{source}: no stratum of tests/support/mutation.py names this file")


def generate() -> dict[str, list[str]]:
    """Every mutant's name, by the source file it mutates (mutmut's own generation)."""
    from mutmut.__main__ import (
        copy_also_copy_files,
        copy_src_dir,
        create_mutants,
        setup_source_paths,
    )
    from mutmut.configuration import config

    MUTANTS.mkdir(exist_ok=True)
    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet):  # a line a file
        copy_src_dir()
        copy_also_copy_files()
        setup_source_paths()
        create_mutants(os.cpu_count() or 2)
    by_source: dict[str, list[str]] = {}
    for meta in sorted(MUTANTS.glob("src/**/*.py.meta")):
        source = str(meta.relative_to(MUTANTS)).removesuffix(".meta")
        if not config().should_mutate(source):
            continue
        names = sorted(json.loads(meta.read_text())["exit_code_by_key"])
        if names:
            by_source[source] = names
    return by_source


def draw(by_source: dict[str, list[str]], seed: int, scale: float) -> dict[str, list[str]]:
    """The sample: per stratum, `count` names drawn without replacement from its sorted
    names with one random.Random(seed) that walks the strata in their fixed order."""
    pool: dict[str, list[str]] = {name: [] for name, _, _ in STRATA}
    for source, names in by_source.items():
        pool[stratum_of(source)].extend(names)
    rng = random.Random(seed)
    sample: dict[str, list[str]] = {}
    for name, count, _ in STRATA:
        names = sorted(pool[name])
        sample[name] = sorted(rng.sample(names, min(len(names), round(count * scale))))
    return sample


def results() -> dict[str, str]:
    from mutmut.stats import status_by_exit_code

    status: dict[str, str] = {}
    for meta in MUTANTS.glob("src/**/*.py.meta"):
        for name, code in json.loads(meta.read_text())["exit_code_by_key"].items():
            status[name] = status_by_exit_code[code]
    return status


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument(
        "--per-stratum-scale",
        type=float,
        default=1.0,
        help="draw this multiple of each stratum's count (a quick look: 0.1)",
    )
    parser.add_argument("--list", action="store_true", help="print the sample and stop")
    parser.add_argument(
        "--again",
        action="store_true",
        help="run only the drawn mutants that the last run (kept in mutants/) did not kill: "
        "after tests were added, a killed mutant stays killed",
    )
    parser.add_argument("--max-children", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()

    started = time.monotonic()
    by_source = generate()
    sample = draw(by_source, args.seed, args.per_stratum_scale)
    names = [name for names in sample.values() for name in names]
    total = sum(len(v) for v in by_source.values())
    print(f"mutation: {len(names)} of {total} mutants, seed {args.seed}", flush=True)
    if args.list:
        for stratum, drawn in sample.items():
            for name in drawn:
                print(stratum, name)
        return 0

    to_run = names
    if args.again:
        last = results()
        to_run = [name for name in names if last.get(name, "not checked") not in KILLED]
        print(f"mutation: again, the {len(to_run)} that the last run did not kill", flush=True)
    if to_run:
        command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(args.max_children)]
        run = subprocess.run([*command, *to_run], stdout=subprocess.DEVNULL, check=False)
        if run.returncode != 0:
            print(f"mutation: mutmut run exited {run.returncode}", file=sys.stderr)
            return run.returncode

    status = results()
    killed_all = 0
    survivors: list[tuple[str, str, str]] = []
    print(f"{'stratum':<14}{'killed':>8}{'total':>7}{'%':>7}")
    for stratum, drawn in sample.items():
        counts = Counter(status.get(name, "not checked") for name in drawn)
        killed = sum(counts[s] for s in KILLED)
        killed_all += killed
        share = 100 * killed / len(drawn) if drawn else 100.0
        print(f"{stratum:<14}{killed:>8}{len(drawn):>7}{share:>6.1f}%")
        survivors += [
            (stratum, status.get(n, "not checked"), n)
            for n in drawn
            if status.get(n, "not checked") not in KILLED
        ]
    share = 100 * killed_all / len(names)
    minutes = (time.monotonic() - started) / 60
    print(f"{'all':<14}{killed_all:>8}{len(names):>7}{share:>6.1f}%")
    print(f"mutation: {killed_all}/{len(names)} killed ({share:.1f} %) in {minutes:.1f} min")
    for stratum, state, name in survivors:
        print(f"  {stratum:<13}{state:<12}{name}")
    print("(`mutmut show NAME` prints a survivor's diff)")
    return 0 if share >= 85 else 1


if __name__ == "__main__":
    raise SystemExit(main())
