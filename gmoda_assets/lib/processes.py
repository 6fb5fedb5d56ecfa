"""When a process started, to tell it from a later process given the same id, and how to kill it with the
processes it started (Linux ``/proc``)."""

from __future__ import annotations

import os
import signal
from pathlib import Path


def process_start(pid: int) -> str | None:
    """When the process started, in clock ticks since boot; None where there is no ``/proc`` or no such process,
    or it is a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return None if fields[0] == "Z" else fields[19]


def process_started_at(pid: int) -> float | None:
    """``process_start`` in seconds since the epoch, to the second (the kernel gives its boot time in whole seconds)."""
    ticks = process_start(pid)
    if ticks is None:
        return None
    boot = next(int(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines() if line.startswith("btime"))
    return boot + int(ticks) / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` now; none where there is no ``/proc``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, IndexError, ValueError):  # a process that has just ended
            continue
    return found


def kill_with_children(pid: int) -> None:
    """SIGKILL the process and its children, stopped first so that it starts no more while they are looked for."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return
    for process in (*children(pid), pid):
        try:
            os.kill(process, signal.SIGKILL)
        except ProcessLookupError:  # a child that has just ended
            pass
