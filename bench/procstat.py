"""CPU seconds of processes and threads from /proc (utime + stime), for the benchmarks
that report CPU per order per process (bench_matcher_rpc.py, stack.py)."""
from __future__ import annotations

import os

TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(path: str) -> float:
    """utime + stime in seconds of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat (0.0: gone)."""
    try:
        with open(path) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (each is listed under the thread that started it)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            out += [int(c) for c in open(f"/proc/{pid}/task/{tid}/children").read().split()]
        except OSError:
            pass
    return out


def tree(pid: int) -> list[int]:
    out = [pid]
    for c in children(pid):
        out += tree(c)
    return out


def role(pid: int) -> str:
    """``history_follower`` / ``kafka_follower`` / ``snapshot_follower`` for the matcher's
    children (``python -m matcher.….<name>_child``), else the program's name."""
    try:
        cmd = open(f"/proc/{pid}/cmdline").read().split("\0")
    except OSError:
        return "?"
    for arg in cmd:
        if arg.startswith("matcher.") and arg.endswith("_child"):
            return arg.rsplit(".", 1)[1].replace("_child", "_follower")
    return os.path.basename(cmd[0]) if cmd else "?"
