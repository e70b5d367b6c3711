"""Reliability figures: runs the long versions of the reliability suite and prints what each one measured.

    python benchmarks/reliability_figures.py [--examples N] [--citizens N] [--kills N] [--seed N]

It runs, with ``--run-slow``: the long fuzz runs (random events, and real intakes with junk in between), the
crash-recovery runs (SIGKILLs while citizens submit, and a kill at the worst moment), the access-control
matrix, the injection stories and the storage-fault stories; then prints the figure lines those tests wrote,
the pytest summary, and the wall time. The exit code is pytest's.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TESTS = [
    "tests/test_fuzz.py::test_random_events_long_run",
    "tests/test_fuzz.py::test_cases_are_created_only_by_pressing_send_long_run",
    "tests/test_crash_recovery.py",
    "tests/test_access_control.py",
    "tests/test_injection.py",
    "tests/test_storage_faults.py",
]
FIGURE = re.compile(r"^[.sxXFE]*((?:random events|intakes with junk|crash recovery|access control|code privacy"
                    r"|injection)[^:\n]*:[^\n]*)", re.MULTILINE)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--examples", type=int, default=1000, help="hypothesis examples per fuzz run (1000)")
    parser.add_argument("--citizens", type=int, default=40, help="citizens submitting during the crash run (40)")
    parser.add_argument("--kills", type=int, default=5, help="SIGKILLs during the crash run (5)")
    parser.add_argument("--seed", type=int, default=11, help="seed of the kill timing (11)")
    args = parser.parse_args(argv)
    env = dict(os.environ, PAKN_FUZZ_EXAMPLES=str(args.examples), PAKN_CRASH_CITIZENS=str(args.citizens),
               PAKN_CRASH_KILLS=str(args.kills), PAKN_CRASH_SEED=str(args.seed))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-s", "--run-slow", *TESTS]
    print("$ " + " ".join(["PAKN_FUZZ_EXAMPLES=" + str(args.examples), "PAKN_CRASH_CITIZENS=" + str(args.citizens),
                           "PAKN_CRASH_KILLS=" + str(args.kills), "PAKN_CRASH_SEED=" + str(args.seed),
                           *command[2:]]), flush=True)
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    for match in FIGURE.finditer(done.stdout):
        print(match.group(1))
    summary = [line for line in done.stdout.splitlines() if re.search(r"\d+ (passed|failed)", line)]
    print(summary[-1] if summary else done.stdout[-2000:])
    if done.returncode != 0:
        print(done.stdout[-6000:], file=sys.stderr)
        print(done.stderr[-2000:], file=sys.stderr)
    print(f"wall time {elapsed:.0f} s")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
