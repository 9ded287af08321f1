"""Instructions per matcher-core command, counted by valgrind: a figure that does not move
with the load of a shared machine (docs/benchmarks.md, "Matcher core", step 11).

    .venv/bin/python bench/core_instructions.py [--commands 20000] [--no-events]

Runs this script twice under ``valgrind --tool=cachegrind --cache-sim=no``: once executing
the first N commands of bench_core's stream, once only generating them, and prints the
difference divided by N. Needs valgrind (Debian package ``valgrind``); ~20 s for 20,000.
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


def run(n, events, execute):
    import bench_core
    cmds = bench_core.gen_commands(n)
    bench_core.EVENTS = events
    e = bench_core.setup()
    if execute:
        t = bench_core.T0
        ex = e.execute
        for m, p in cmds:
            t += 10
            ex(m, p, t)


def count(n, events, execute):
    cmd = ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
           sys.executable, os.path.abspath(__file__), "--child", "--commands", str(n)]
    cmd += [] if events else ["--no-events"]
    cmd += [] if execute else ["--generate-only"]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stderr
    return int(re.search(r"I\s+refs:\s+([\d,]+)", out).group(1).replace(",", ""))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--commands", type=int, default=20_000)
    ap.add_argument("--no-events", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--generate-only", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.child:
        run(a.commands, not a.no_events, not a.generate_only)
        return
    total = count(a.commands, not a.no_events, True)
    base = count(a.commands, not a.no_events, False)
    print(f"events {'off' if a.no_events else 'on'}: {(total - base) / a.commands:,.0f} "
          f"instructions per command ({a.commands} commands)")


if __name__ == "__main__":
    main()
